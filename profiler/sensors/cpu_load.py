"""Machine-wide CPU time from the OS (``/proc/stat``; psutil where there is none)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import NamedTuple

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CpuTimes(NamedTuple):
    """Seconds of CPU time summed over all logical CPUs since boot."""

    busy_s: float  # user + nice + system + irq + softirq (guest time is inside user/nice)
    total_s: float  # busy + idle + iowait + steal


class ProcStat:
    """Machine CPU times read from ``/proc/stat`` through a descriptor kept open: one
    ``pread`` of its first line per call, about ten times cheaper than psutil's parse (this
    runs at every sample). Falls back to psutil where ``/proc/stat`` cannot be opened."""

    def __init__(self, path: str = "/proc/stat") -> None:
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY)
        except OSError:
            self._fd = None

    def __call__(self) -> CpuTimes:
        if self._fd is None:
            return machine_cpu_times()
        # cpu  user nice system idle iowait irq softirq steal guest guest_nice (clock ticks)
        fields = os.pread(self._fd, 256, 0).split(None, 9)
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, fields[1:9])
        busy = user + nice + system + irq + softirq  # guest time is inside user and nice
        return CpuTimes(busy / _TICKS_PER_S, (busy + idle + iowait + steal) / _TICKS_PER_S)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class OnePerSample:
    """The machine's CPU times, read once per sample: ``renew()`` reads them (the sampler, as a
    sample begins), and every call until the next ``renew()`` returns that reading. The
    estimate's utilisation and the attribution's busy time are then one reading of one instant:
    read twice, a slow tree walk in between (a loaded machine) gave the attribution busy time
    from a later instant than the estimate's energy, up to twice what the interval could hold
    in one interval and too little in the next, and shares that no longer matched the energy."""

    def __init__(self, read: Callable[[], CpuTimes]) -> None:
        self._read = read
        self._value: CpuTimes | None = None

    def renew(self) -> CpuTimes:
        self._value = self._read()
        return self._value

    def __call__(self) -> CpuTimes:
        return self._value if self._value is not None else self.renew()

    def busy_s(self) -> float:
        """A new reading's busy seconds: the sampler's ``machine_busy_s``."""
        return self.renew().busy_s


def machine_cpu_times() -> CpuTimes:
    import psutil  # where /proc/stat cannot be read: rare, and psutil costs 8 ms to import

    t = psutil.cpu_times()
    busy = t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0)
    busy += getattr(t, "softirq", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0) + getattr(t, "steal", 0.0)
    return CpuTimes(busy_s=busy, total_s=busy + idle)


def logical_cpus() -> int:
    return os.cpu_count() or 1  # the logical CPUs, as psutil.cpu_count(logical=True) counts them


def cpus_allowed() -> int:
    """The logical CPUs this process may run on: its affinity, which a cgroup's cpuset, Slurm's
    task binding or ``taskset`` narrow (all of them where the platform cannot say)."""
    try:
        return len(os.sched_getaffinity(0)) or logical_cpus()
    except (AttributeError, OSError):
        return logical_cpus()


def memory_in_use_bytes() -> tuple[int, int]:
    """(bytes in use = total - available, total bytes), from the first lines of
    /proc/meminfo (psutil parses all fifty of them); psutil elsewhere."""
    try:
        with open("/proc/meminfo", "rb") as handle:
            head = handle.read(512)
        fields = {line.split(b":")[0]: int(line.split()[1]) * 1024 for line in head.splitlines()[:3]}
        total, available = fields[b"MemTotal"], fields[b"MemAvailable"]
    except (OSError, KeyError, IndexError, ValueError):
        import psutil

        vm = psutil.virtual_memory()
        total, available = vm.total, vm.available
    return total - available, total


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
