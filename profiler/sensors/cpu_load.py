"""Machine-wide CPU time from the OS (``/proc/stat`` through psutil)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class CpuTimes:
    """Seconds of CPU time summed over all logical CPUs since boot."""

    busy_s: float  # user + nice + system + irq + softirq (guest time is inside user/nice)
    total_s: float  # busy + idle + iowait + steal


def machine_cpu_times() -> CpuTimes:
    t = psutil.cpu_times()
    busy = t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0)
    busy += getattr(t, "softirq", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0) + getattr(t, "steal", 0.0)
    return CpuTimes(busy_s=busy, total_s=busy + idle)


def logical_cpus() -> int:
    return psutil.cpu_count(logical=True) or 1


def memory_in_use_bytes() -> tuple[int, int]:
    """(bytes in use = total - available, total bytes)."""
    vm = psutil.virtual_memory()
    return vm.total - vm.available, vm.total


class Throttled:
    """Calls ``read`` at most once per ``period_s`` and returns the last value in between.

    One ``/proc/stat`` read per sample serves both the estimate and attribution; memory in
    use changes slowly and is read about once a second."""

    def __init__(
        self, read: Callable[[], object], period_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read = read
        self._period_s = period_s
        self._clock = clock
        self._at = float("-inf")
        self._value: object = None

    def __call__(self):  # type: ignore[no-untyped-def]
        now = self._clock()
        if now - self._at >= self._period_s:
            self._value = self._read()
            self._at = now
        return self._value
