"""Turn successive snapshots of cumulative counters into energy per domain, attributed
energy, peak power and the bounded timeline. Pure arithmetic: no clock, no thread, no I/O,
so a 24-hour run can be fast-forwarded in a test."""

from __future__ import annotations

from dataclasses import dataclass, field

from .attribution import attributed_j, cpu_share
from .sensors.base import Domain
from .timeline import Timeline


@dataclass
class Snapshot:
    t_s: float  # monotonic seconds
    energy_j: dict[str, float]  # cumulative per domain
    bounds_j: dict[str, tuple[float, float]] = field(default_factory=dict)
    tree_cpu_s: float = 0.0  # cumulative CPU seconds of the measured tree
    machine_busy_s: float = 0.0  # cumulative busy CPU seconds of the machine
    gpus_in_use: frozenset[str] = frozenset()  # GPU domains where the tree holds a context


@dataclass
class DomainTotals:
    energy_j: float = 0.0
    attributed_j: float = 0.0


class Accumulator:
    def __init__(self, domains: list[Domain], timeline: Timeline, interval_s: float) -> None:
        self.domains = {d.id: d for d in domains}
        self.in_total = {d.id for d in domains if d.in_total}
        self.timeline = timeline
        self.interval_s = interval_s
        self.totals = {d.id: DomainTotals() for d in domains}
        self.first: Snapshot | None = None
        self.last: Snapshot | None = None
        self.samples = 0
        self.peak_power_w = 0.0
        self.tree_cpu_s = 0.0
        self.machine_busy_s = 0.0

    def add(self, snap: Snapshot) -> None:
        self.samples += 1
        prev, self.last = self.last, snap
        if prev is None:
            self.first = snap
            return
        dt = snap.t_s - prev.t_s
        if dt <= 0:
            return
        d_tree = max(snap.tree_cpu_s - prev.tree_cpu_s, 0.0)
        d_busy = max(snap.machine_busy_s - prev.machine_busy_s, 0.0)
        self.tree_cpu_s += d_tree
        self.machine_busy_s += d_busy
        share = cpu_share(d_tree, d_busy)
        gpus = snap.gpus_in_use | prev.gpus_in_use
        interval: dict[str, float] = {}
        for domain_id, domain in self.domains.items():
            d_energy = max(snap.energy_j.get(domain_id, 0.0) - prev.energy_j.get(domain_id, 0.0), 0.0)
            interval[domain_id] = d_energy
            totals = self.totals[domain_id]
            totals.energy_j += d_energy
            totals.attributed_j += attributed_j(domain.kind, d_energy, share, domain_id in gpus)
        power_w = sum(interval[k] for k in self.in_total) / dt
        # A very short interval (the final reading right after the previous one) gives a
        # noisy power figure: it counts for energy, not for the peak.
        if dt >= 0.5 * self.interval_s:
            self.peak_power_w = max(self.peak_power_w, power_w)
        self.timeline.add(prev.t_s - self.first.t_s, dt, interval, power_w)

    @property
    def duration_s(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return self.last.t_s - self.first.t_s

    def bounds_j(self, domain_id: str) -> tuple[float, float] | None:
        if self.first is None or self.last is None or domain_id not in self.last.bounds_j:
            return None
        low0, high0 = self.first.bounds_j.get(domain_id, (0.0, 0.0))
        low1, high1 = self.last.bounds_j[domain_id]
        return low1 - low0, high1 - high0
