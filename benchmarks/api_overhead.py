"""What the in-process API costs the code it measures.

    python benchmarks/api_overhead.py

Prints the time of ``import aicarbon``, of ``add_units`` and ``phase`` per call (with and
without an active tracker), and of starting and stopping a tracker, on this machine.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def per_call_us(function, n: int) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for _ in range(n):
        function()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    imports = []
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t = time.perf_counter(); import aicarbon; print(time.perf_counter() - t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        imports.append(float(out.stdout) * 1e3)
    print(f"import aicarbon: median {statistics.median(imports):.1f} ms (5 fresh interpreters)")

    import aicarbon

    print(f"add_units, no tracker:   {per_call_us(lambda: aicarbon.add_units(1), 200_000):7.2f} µs per call")

    def empty_phase() -> None:
        with aicarbon.phase("p"):
            pass

    print(f"phase, no tracker:       {per_call_us(empty_phase, 100_000):7.2f} µs per call")
    start = time.perf_counter()
    tracker = aicarbon.track(interval_s=0.1)
    tracker.start()
    started = time.perf_counter() - start
    print(f"add_units, tracking:     {per_call_us(lambda: tracker.add_units(1), 200_000):7.2f} µs per call")
    print(
        f"phase, tracking:         {per_call_us(empty_phase, 2_000):7.2f} µs per phase (a sample at each end)"
    )
    start = time.perf_counter()
    tracker.stop()
    stopped = time.perf_counter() - start
    print(
        f"start a tracker:         {started * 1e3:7.1f} ms; stop it (record and impact): {stopped * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
