"""``aicarbon watch``: one refresh of live power by domain and the processes drawing it."""

from __future__ import annotations

from dataclasses import dataclass, field

from .run import UnavailableRecord

# -- live power (aicarbon watch, made by watch.py) ------------------------------------------------------


@dataclass
class WatchDomain:
    id: str
    label: str
    method: str  # measured or estimated
    power_w: float | None  # over the last interval (None: not read, or failed)
    history_w: list[float]  # the last minute, oldest first
    in_total: bool = True


@dataclass
class CpuUser:
    pid: int
    name: str
    cpu_share: float  # of one logical CPU over the interval (1.0: a whole core)


@dataclass
class GpuUsers:
    domain: str
    label: str
    processes: list[tuple[int, str]]  # (pid, name), as NVML lists them
    unknown: str | None = None  # why the list could not be read


@dataclass
class WatchFrame:
    """One refresh of ``aicarbon watch``."""

    at_utc: str
    interval_s: float
    domains: list[WatchDomain]
    cpu_users: list[CpuUser]
    gpu_users: list[GpuUsers]
    logical_cpus: int
    unavailable: list[UnavailableRecord] = field(default_factory=list)

    @property
    def total_w(self) -> float:
        return sum(d.power_w or 0.0 for d in self.domains if d.in_total)

    @property
    def estimated(self) -> bool:
        return any(d.method == "estimated" for d in self.domains if d.in_total)
