"""aicarbon's own cost: wall time added, CPU time used, memory over a (simulated) day.

    python benchmarks/overhead.py [--runs 3] [--seconds 5] [--codecarbon]

Prints figures; asserts nothing (tests never time anything). Targets: at most 0.3 s of wall
time added to ``sleep 5``; the sampling thread at most 0.5% of a core at the default 10 Hz for
a one-process command, with the tree followed through a cgroup and through /proc; at most 2%
of a core with 400 processes in the tree; under 100 MB RSS for a 24-hour run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

AICARBON = [sys.executable, "-m", "aicarbon", "run"]


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def mean_of(cmd: list[str], runs: int) -> tuple[float, float]:
    results = [timed(cmd) for _ in range(runs)]
    return statistics.mean(r[0] for r in results), statistics.mean(r[1] for r in results)


def overhead(runs: int, seconds: float) -> None:
    sleep = ["sleep", str(seconds)]
    timed([*AICARBON, "-q", "--", "true"])  # warm the page cache and .pyc files
    base_wall, base_cpu = mean_of(sleep, runs)
    wrapped_wall, wrapped_cpu = mean_of([*AICARBON, "--", *sleep], runs)
    short_wall, short_cpu = mean_of([*AICARBON, "--", "true"], runs)
    own_cpu = wrapped_cpu - base_cpu
    sampling_cpu = wrapped_cpu - short_cpu  # the loop only: start-up and report cancel out
    print(f"sleep {seconds:g}, {runs} runs each, report rendered (to /dev/null), default 0.1 s interval")
    print(f"  wall   sleep alone            {base_wall:7.3f} s")
    print(
        f"  wall   aicarbon run -- sleep  {wrapped_wall:7.3f} s   added {wrapped_wall - base_wall:+.3f} s  (target <= 0.3 s)"
    )
    print(
        f"  cpu    aicarbon, whole run    {own_cpu:7.3f} s   = {100 * own_cpu / wrapped_wall:.2f}% of wall (start-up included)"
    )
    print(
        f"  cpu    of which start-up + report (aicarbon run -- true) {short_cpu:.3f} s, wall {short_wall:.3f} s"
    )
    print(f"  cpu    sampling loop (difference of the two) {sampling_cpu:.3f} s; noisy, see below")
    for accounting in ("auto", "proc"):
        for label, command in (
            ("one process", ["sleep", str(seconds)]),
            ("400 processes", ["sh", "-c", f"for i in $(seq 400); do sleep {seconds} & done; wait"]),
        ):
            runs_cpu = [sampler_thread_cpu(command, accounting) for _ in range(runs)]
            cpu, method = statistics.median(r[0] for r in runs_cpu), runs_cpu[0][1]
            target = "0.5%" if label == "one process" else "2%"
            print(
                f"  cpu    sampling thread, {label:13s} {method[:18]:18s} median {cpu:.4f} s "
                f"= {100 * cpu / seconds:.2f}% of a core  (target <= {target}; "
                f"runs {', '.join(f'{r[0]:.4f}' for r in runs_cpu)})"
            )


def sampler_thread_cpu(command: list[str], accounting: str) -> tuple[float, str]:
    """The sampling thread's CPU time (thread_time(), kept in the record) and the method."""
    import json
    import os
    import tempfile
    from pathlib import Path

    env = {**os.environ, "AICARBON_TREE_ACCOUNTING": accounting}
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "run.json"
        subprocess.run([*AICARBON, "-q", "--json", str(record), "--", *command], check=True, env=env)
        data = json.loads(record.read_text())
        return float(data["sampling"]["sampler_cpu_s"]), data["attribution"]["method"]


def codecarbon_overhead(seconds: float) -> None:
    code = (
        "import subprocess, logging\n"
        "from codecarbon import OfflineEmissionsTracker\n"
        "t = OfflineEmissionsTracker(country_iso_code='FRA', measure_power_secs=1, save_to_file=False, log_level='error')\n"
        f"t.start(); subprocess.run(['sleep', '{seconds}']); t.stop()\n"
    )
    wall, cpu = timed([sys.executable, "-c", code])
    print(
        f"  codecarbon OfflineEmissionsTracker around sleep {seconds:g}: wall {wall:.3f} s "
        f"(added {wall - seconds:+.3f} s), cpu {cpu:.3f} s, sampling once per second"
    )


def day_memory() -> None:
    """Fast-forward 24 h at 10 Hz through the real accounting with four domains."""
    from aicarbon.measurement.accounting import Accumulator, Snapshot
    from aicarbon.measurement.timeline import Timeline
    from aicarbon.sensors.base import Domain, DomainKind, Method

    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    domains = [
        Domain("cpu:package-0", DomainKind.CPU, Method.MEASURED, "rapl", "CPU 0"),
        Domain("dram:0", DomainKind.DRAM, Method.MEASURED, "rapl", "DRAM 0"),
        Domain("gpu:0", DomainKind.GPU, Method.MEASURED, "nvml", "GPU 0"),
        Domain("gpu:1", DomainKind.GPU, Method.MEASURED, "nvml", "GPU 1"),
    ]
    before = rss_mb()
    acc = Accumulator(domains, Timeline(0.1, 256), 0.1)
    energy = dict.fromkeys((d.id for d in domains), 0.0)
    start = time.perf_counter()
    for i in range(864_000):
        for key, watts in (("cpu:package-0", 120.0), ("dram:0", 20.0), ("gpu:0", 650.0), ("gpu:1", 80.0)):
            energy[key] += watts * 0.1
        acc.add(
            Snapshot(
                i * 0.1,
                dict(energy),
                tree_cpu_s=i * 0.1,
                machine_busy_s=i * 0.2,
                gpus_in_use=frozenset({"gpu:0"}),
            )
        )
    took = time.perf_counter() - start
    print(f"24 h at 10 Hz (864,000 samples, 4 domains) fast-forwarded in {took:.1f} s:")
    print(
        f"  RSS {before:.1f} MB before, {rss_mb():.1f} MB after (target < 100 MB); "
        f"timeline {len(acc.timeline.buckets)} buckets of {acc.timeline.bucket_s:g} s; "
        f"{1e6 * took / 864_000:.1f} us of accounting per sample"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--codecarbon", action="store_true", help="also time codecarbon for comparison")
    args = parser.parse_args()
    overhead(args.runs, args.seconds)
    if args.codecarbon:
        codecarbon_overhead(args.seconds)
    day_memory()


if __name__ == "__main__":
    main()
