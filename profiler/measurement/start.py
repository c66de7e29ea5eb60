"""Where a run starts: the instant its command is started, read cheaply and exactly.

With a fast start (``command.MeasureOptions.fast_start``) the command starts before the sensors
are open; what is read here, just before it starts, is what the run's accounting needs to begin
there: the time (the sampler's monotonic clock, and UTC), the machine's busy CPU seconds, and
the tree's CPU seconds. The energy until the sensors' first reading is extrapolated
(``accounting.Accumulator``). Kept light on purpose: this runs before the command starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from ..sensors.cpu_load import ProcStat


class Start(NamedTuple):
    t_s: float  # monotonic seconds, the sampler's clock
    utc: str
    machine_busy_s: float  # cumulative busy CPU seconds of the machine then
    tree_cpu_s: float = 0.0  # the tree's cumulative CPU seconds then (0 before its command)


def start_now(tree_cpu_s: Callable[[], float]) -> Start:
    """The run's start, read just before its command is started."""
    proc_stat = ProcStat()
    try:
        busy = proc_stat().busy_s
    finally:
        proc_stat.close()
    return Start(time.monotonic(), utc_now(), busy, tree_cpu_s())


def utc_now() -> str:
    """ISO 8601 UTC to the millisecond: ``2026-12-07T10:15:36.123Z`` (no datetime import)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
