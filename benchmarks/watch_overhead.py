"""aicarbon watch's own CPU use: what one refresh costs (reading every sensor, one
/proc/PID/stat per process, the NVML process list, rendering the screen), and so the share of
one core it takes at an interval.

    python benchmarks/watch_overhead.py [refreshes]

Prints the CPU time per refresh, in process and for the whole command in plain mode, and the
resulting share of one core at the default 1 s interval (the issue's bound: under 2%).
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import time

from rich.console import Console


def in_process(refreshes: int) -> tuple[float, float, int]:
    from aicarbon.machine.watch import PowerWatch
    from aicarbon.report.watch_view import live_view, plain_line

    with PowerWatch(1.0) as power:
        console = Console(file=io.StringIO(), width=80, force_terminal=True)
        frame = power.frame()
        start = time.process_time()
        for _ in range(refreshes):
            frame = power.frame()
            console.print(live_view(frame, 1.0))
            plain_line(frame)
        per_frame = (time.process_time() - start) / refreshes
    processes = sum(1 for e in os.listdir("/proc") if e.isdigit())
    return per_frame, per_frame / 1.0, processes


def whole_command(refreshes: int, interval_s: float) -> float:
    """CPU seconds of `aicarbon watch` in plain mode per refresh, start-up excluded (the
    difference between a long and a one-refresh run)."""

    def cpu_of(count: int) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "aicarbon", "watch", "--interval", str(interval_s), "--count", str(count)],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    one = min(cpu_of(1) for _ in range(3))
    many = cpu_of(refreshes + 1)
    return (many - one) / refreshes


def main() -> None:
    refreshes = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    per_frame, share, processes = in_process(refreshes)
    print(f"processes on this machine: {processes}")
    print(f"one refresh in process (sensors, /proc scan, screen): {per_frame * 1000:.2f} ms CPU")
    print(f"  = {share * 100:.2f}% of one core at the default 1 s interval")
    per_tick = whole_command(min(refreshes, 20), 0.2)
    print(f"the whole command, plain mode, per refresh: {per_tick * 1000:.2f} ms CPU")
    print(f"  = {per_tick * 100:.2f}% of one core at 1 s, {per_tick / 0.2 * 100:.2f}% at 0.2 s")


if __name__ == "__main__":
    main()
