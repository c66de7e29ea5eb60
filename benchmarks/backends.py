"""The two backends and ``both`` on the same workloads, on this machine, in one run.

    python benchmarks/backends.py [--short 2] [--long 30] [--skip-long]

For each workload (a ``--short``-second and a ``--long``-second CPU job, each a busy Python
loop, and a simulated GPU run) and each backend (native, codecarbon, both), prints: the wall
time ``aicarbon run`` adds to the bare command, aicarbon's own CPU time (the process's CPU
minus the command's), the peak memory (largest resident set among the processes waited for:
aicarbon's), the samples taken, the energy each backend reported and their ratio.

The simulated GPU run is in-process (the Python API, ``aicarbon.track``) with a stand-in
``pynvml`` of one GPU drawing 100 W, because no GPU is here: aicarbon's NVML sensor reads the
stand-in; codecarbon's GPU code loads the real NVML library, finds none and measures CPU and
RAM only (said in its row). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKENDS = ("native", "codecarbon", "both")


def busy(seconds: float) -> list[str]:
    loop = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    return [sys.executable, "-c", loop]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s of the processes waited for, their peak RSS in MB), in a fresh child."""
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)\n"
        "wall = time.perf_counter() - t\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps([wall, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True, check=True
    )
    wall, cpu, rss = json.loads(out.stdout)
    return wall, cpu, rss


def energies(record: dict) -> tuple[float, float]:
    """(aicarbon's sensors' machine energy, codecarbon's) in joules; 0 where not measured."""
    native = sum(
        d["energy_j"]
        for d in record["energy"]["domains"]
        if d["in_total"] and not d["id"].endswith(":codecarbon")
    )
    theirs = sum(d["energy_j"] for d in record["energy"]["domains"] if d["id"].endswith(":codecarbon"))
    return native, theirs


def command_rows(label: str, seconds: float, env: dict[str, str], tmp: Path) -> None:
    bare_wall, bare_cpu, _ = timed(busy(seconds), env)
    for backend in BACKENDS:
        record = tmp / f"{backend}.json"
        argv = [sys.executable, "-m", "aicarbon", "run", "-q", "--no-save", "--backend", backend,
                "--json", str(record), "--", *busy(seconds)]  # fmt: skip
        wall, cpu, rss = timed(argv, env)
        data = json.loads(record.read_text())
        native_j, codecarbon_j = energies(data)
        ratio = f"{codecarbon_j / native_j:8.3f}" if native_j > 0 and codecarbon_j > 0 else "       -"
        print(
            f"{label:<10} {backend:<11} {wall - bare_wall:+8.3f} s {cpu - bare_cpu:8.3f} s {rss:8.1f} MB "
            f"{data['sampling']['samples']:6d} {native_j:10.2f} J {codecarbon_j:10.2f} J {ratio}",
            flush=True,
        )


GPU_RUN = """
import json, resource, sys, time
sys.path.insert(0, {tests!r})
from conftest import FakeGpu, make_fake_pynvml
sys.modules["pynvml_stand_in"] = make_fake_pynvml([FakeGpu(power_mw=100_000.0, step_mj=10_000.0)])
from aicarbon.measurement.session import Session, SessionOptions, ThisProcess
options = SessionOptions(0.1, None, nvml_module=sys.modules["pynvml_stand_in"], backend={backend!r})
cpu0, t0 = time.process_time(), time.perf_counter()
session = Session(options, ThisProcess())
session.start()
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    pass
run = session.stop(["simulated GPU run"])
wall = time.perf_counter() - t0
print(json.dumps([wall, time.process_time() - cpu0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, run.to_dict()]))
"""


def gpu_rows(seconds: float, env: dict[str, str]) -> None:
    for backend in BACKENDS:
        script = GPU_RUN.format(tests=str(HERE.parent / "tests"), backend=backend, seconds=seconds)
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        wall, cpu, rss, data = json.loads(out.stdout.strip().splitlines()[-1])
        native_j, codecarbon_j = energies(data)
        ratio = f"{codecarbon_j / native_j:8.3f}" if native_j > 0 and codecarbon_j > 0 else "       -"
        gpu = [d["id"] for d in data["energy"]["domains"] if d["kind"] == "gpu"]
        print(
            f"{'GPU (sim)':<10} {backend:<11} {wall - seconds:+8.3f} s {cpu - seconds:8.3f} s {rss:8.1f} MB "
            f"{data['sampling']['samples']:6d} {native_j:10.2f} J {codecarbon_j:10.2f} J {ratio}  gpu domains: {','.join(gpu) or 'none'}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=float, default=2.0)
    parser.add_argument("--long", type=float, default=30.0)
    parser.add_argument("--skip-long", action="store_true")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print(f"{os.cpu_count()} CPUs, {sys.version.split()[0]}; 'added' is against the bare command's wall time")
    print(f"{'workload':<10} {'backend':<11} {'added':>10} {'own CPU':>10} {'peak RSS':>11} {'samples':>6} "
          f"{'aicarbon':>12} {'codecarbon':>12} {'cc/ac':>8}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        command_rows(f"CPU {args.short:g} s", args.short, env, Path(tmp))
        if not args.skip_long:
            command_rows(f"CPU {args.long:g} s", args.long, env, Path(tmp))
    gpu_rows(args.short, env)
    print(
        "'own CPU' for GPU (sim): the process's CPU minus the busy loop's wall time (the loop is the process's own)."
    )


if __name__ == "__main__":
    main()
