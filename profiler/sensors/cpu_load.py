"""Machine-wide CPU time from the OS (``/proc/stat`` through psutil)."""

from __future__ import annotations

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
