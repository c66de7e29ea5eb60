"""The CI gate measured on this machine: false alarms, power, and what it costs.

* false alarms: A/A comparisons (``aicarbon ab`` with the same command in both arms) of a CPU
  workload of about 1.5 s, at the default settings; target: at most 1 in 20 flagged as a
  regression;
* power: trials in which the head arm does 1.15x and 1.3x the work; target: 1.3x caught in at
  least 9 of 10;
* cost: the wall time of one ``aicarbon ab`` at the defaults, against the workload alone.

    python benchmarks/gate.py [--aa 20] [--trials 10] [--seconds 1.5]

Prints the figures; takes about 20 minutes at the defaults on a 2-vCPU VM.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections import Counter

WORKLOAD = "import sys\nn = int(float(sys.argv[1]))\ns = 0\nfor i in range(n):\n    s += i * i\n"
AICARBON = [sys.executable, "-m", "aicarbon"]


def command(iterations: float) -> str:
    return shlex.join([sys.executable, "-c", WORKLOAD, str(int(iterations))])


def calibrate(seconds: float) -> float:
    """Iterations of the workload loop that take about ``seconds`` here."""
    iterations = 1_000_000.0
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(shlex.split(command(iterations)), check=True)
        took = time.perf_counter() - start
        iterations *= seconds / max(took, 0.05)
    return iterations


def ab(base: str, head: str) -> dict:
    out = subprocess.run(
        [*AICARBON, "ab", "--base", base, "--head", head, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode not in (0, 1):
        raise SystemExit(f"aicarbon ab failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)["comparisons"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa", type=int, default=20, help="A/A comparisons")
    parser.add_argument("--trials", type=int, default=10, help="trials per effect size")
    parser.add_argument("--seconds", type=float, default=1.5, help="the workload's length")
    args = parser.parse_args()

    iterations = calibrate(args.seconds)
    base = command(iterations)
    start = time.perf_counter()
    subprocess.run(shlex.split(base), check=True)
    alone_s = time.perf_counter() - start
    print(
        f"workload: {iterations:,.0f} loop iterations, {alone_s:.2f} s alone; defaults: 5 runs per arm, 1 warm-up"
    )

    verdicts: Counter[str] = Counter()
    walls, ratios, extended = [], [], 0
    for i in range(args.aa):
        start = time.perf_counter()
        c = ab(base, base)
        walls.append(time.perf_counter() - start)
        verdicts[c["verdict"]] += 1
        ratios.append(c["ratio"])
        extended += c["n_new"] > 5
        print(
            f"  A/A {i + 1:2d}: {c['verdict']:<12} ratio {c['ratio']:.3f} n {c['n_base']}/{c['n_new']}",
            flush=True,
        )
    regressions = verdicts["regression"]
    print(
        f"false alarms: {regressions} regression(s) in {args.aa} A/A comparisons (target <= {args.aa / 20:g}); "
        f"verdicts {dict(verdicts)}; {extended} extended to 10 runs; "
        f"ratios {min(ratios):.3f} to {max(ratios):.3f}"
    )
    print(
        f"cost: one 'aicarbon ab' took {min(walls):.1f} to {max(walls):.1f} s (median "
        f"{sorted(walls)[len(walls) // 2]:.1f} s) for a {alone_s:.2f} s workload, "
        f"{sorted(walls)[len(walls) // 2] / alone_s:.1f}x its length"
    )
    for factor in (1.15, 1.3):
        head = command(iterations * factor)
        caught: Counter[str] = Counter()
        for i in range(args.trials):
            c = ab(base, head)
            caught[c["verdict"]] += 1
            print(
                f"  x{factor} {i + 1:2d}: {c['verdict']:<12} ratio {c['ratio']:.3f} n {c['n_base']}/{c['n_new']}",
                flush=True,
            )
        print(
            f"power at {factor}x the work: {caught['regression']} of {args.trials} flagged as regressions "
            f"(verdicts {dict(caught)})"
        )


if __name__ == "__main__":
    main()
