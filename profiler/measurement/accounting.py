"""Turn successive snapshots of cumulative counters into energy per domain, attributed
energy, peak power and the bounded timeline. Pure arithmetic: no clock, no thread, no I/O,
so a 24-hour run can be fast-forwarded in a test."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sensors.base import Domain, DomainKind
from .attribution import CpuShares, GpuUse, attributed_j
from .start import Start
from .timeline import Timeline


@dataclass
class Snapshot:
    t_s: float  # monotonic seconds
    energy_j: dict[str, float]  # cumulative per domain
    bounds_j: dict[str, tuple[float, float]] = field(default_factory=dict)
    tree_cpu_s: float = 0.0  # cumulative CPU seconds of the measured tree
    machine_busy_s: float = 0.0  # cumulative busy CPU seconds of the machine
    gpus_in_use: frozenset[str] = frozenset()  # GPU domains where the tree holds a context
    gpus_used_by_others: frozenset[str] = frozenset()  # ... where other processes hold one
    gpus_owner_unknown: frozenset[str] = frozenset()  # ... where it could not be told


@dataclass
class _Gap:
    duration_s: float
    share: float  # the tree's CPU share over the gap (exact: CPU times are read at its start)


@dataclass
class DomainTotals:
    energy_j: float = 0.0
    attributed_j: float = 0.0


class Accumulator:
    def __init__(
        self, domains: list[Domain], timeline: Timeline, interval_s: float, start: Start | None = None
    ) -> None:
        self.start = start
        self._gap: _Gap | None = None
        self.extrapolated_s = 0.0  # seconds at the start whose energy was extrapolated
        self._gap_j: dict[str, float] = {}
        self.domains = {d.id: d for d in domains}
        self.in_total = {d.id for d in domains if d.in_total}
        self.timeline = timeline
        self.interval_s = interval_s
        self.totals = {d.id: DomainTotals() for d in domains}
        self.first: Snapshot | None = None
        self.last: Snapshot | None = None
        self.samples = 0
        self._peak_full_w: float | None = None  # over intervals of at least half the period
        self._peak_any_w = 0.0  # over every interval: for runs shorter than one period
        self.tree_cpu_s = 0.0
        self.machine_busy_s = 0.0
        self._cpu = CpuShares()
        self._gpus = {d.id: GpuUse() for d in domains if d.kind is DomainKind.GPU}
        self.finished = False

    def add(self, snap: Snapshot) -> None:
        self.samples += 1
        prev, self.last = self.last, snap
        if prev is None:
            self.first = snap
            if self.start is not None and snap.t_s > self.start.t_s:
                self._open_gap(snap)
            return
        dt = snap.t_s - prev.t_s
        if dt <= 0:
            return
        d_tree = max(snap.tree_cpu_s - prev.tree_cpu_s, 0.0)
        d_busy = max(snap.machine_busy_s - prev.machine_busy_s, 0.0)
        self.tree_cpu_s += d_tree
        self.machine_busy_s += d_busy
        share = self._cpu.share(d_tree, d_busy)
        tree_gpus = snap.gpus_in_use | prev.gpus_in_use
        unknown_gpus = (snap.gpus_owner_unknown | prev.gpus_owner_unknown) - tree_gpus
        other_gpus = snap.gpus_used_by_others | prev.gpus_used_by_others
        owners = (tree_gpus, unknown_gpus, other_gpus)
        interval = {
            domain_id: max(snap.energy_j.get(domain_id, 0.0) - prev.energy_j.get(domain_id, 0.0), 0.0)
            for domain_id in self.domains
        }
        if self._gap is not None:  # the fast start's gap, at this first interval's power
            self._close_gap(interval, dt, owners)
        self._charge(interval, prev.t_s - self.origin_s, dt, share, owners)

    def _charge(
        self,
        energy: dict[str, float],
        start_s: float,
        duration_s: float,
        share: float,
        owners: tuple[frozenset[str], frozenset[str], frozenset[str]],
    ) -> None:
        """Count one interval's energy per domain: totals, the tree's share (CPU time for CPU
        domains; GPU owners, ``owners`` = the tree's, unknown, others'), the peak, the timeline."""
        tree_gpus, unknown_gpus, other_gpus = owners
        for domain_id, domain in self.domains.items():
            e = energy.get(domain_id, 0.0)
            totals = self.totals[domain_id]
            totals.energy_j += e
            # A GPU whose owner could not be told is counted as the tree's (and flagged).
            in_use = domain_id in tree_gpus or domain_id in unknown_gpus
            totals.attributed_j += attributed_j(domain.kind, e, share, in_use)
            use = self._gpus.get(domain_id)
            if use is None:
                continue
            if domain_id in tree_gpus:
                use.tree_s += duration_s
            elif domain_id in unknown_gpus:
                use.unknown_s += duration_s
            elif domain_id in other_gpus:
                use.other_s += duration_s
            else:
                use.unowned_j += e
        power_w = sum(energy.get(k, 0.0) for k in self.in_total) / duration_s
        # A very short interval (the final reading right after the previous one) gives a
        # noisy power figure: it counts for energy, and for the peak only of a run that had
        # no full interval at all.
        self._peak_any_w = max(self._peak_any_w, power_w)
        if duration_s >= 0.5 * self.interval_s:
            self._peak_full_w = max(self._peak_full_w or 0.0, power_w)
        self.timeline.add(start_s, duration_s, energy, power_w)

    @property
    def origin_s(self) -> float:
        """When the run started: its ``start``, else the first snapshot."""
        if self.start is not None:
            return self.start.t_s
        assert self.first is not None  # set by the first snapshot
        return self.first.t_s

    def _open_gap(self, first: Snapshot) -> None:
        """The first reading came after the command started: its CPU figures are exact since
        ``start``; its energy waits for the first interval's power (``_close_gap``)."""
        assert self.start is not None
        d_tree = max(first.tree_cpu_s - self.start.tree_cpu_s, 0.0)
        d_busy = max(first.machine_busy_s - self.start.machine_busy_s, 0.0)
        self.tree_cpu_s += d_tree
        self.machine_busy_s += d_busy
        self._gap = _Gap(first.t_s - self.start.t_s, self._cpu.share(d_tree, d_busy))
        self.extrapolated_s = self._gap.duration_s

    def _close_gap(
        self,
        interval: dict[str, float],
        dt: float,
        owners: tuple[frozenset[str], frozenset[str], frozenset[str]],
    ) -> None:
        """Each domain's energy over the gap, at the power of the first interval; attributed
        with the gap's own CPU share, and the first interval's GPU owners."""
        gap, self._gap = self._gap, None
        assert gap is not None
        energy = {k: v / dt * gap.duration_s for k, v in interval.items()}
        self._gap_j = dict(energy)
        self._charge(energy, 0.0, gap.duration_s, gap.share, owners)

    def finish(self) -> None:
        """End-of-run attribution (see attribution): CPU time still carried is charged at the
        run's energy per busy CPU second; unowned GPU energy is split by use. Call once, after
        the last snapshot."""
        if self.finished:
            return
        self.finished = True
        if self._cpu.carry_s > 0 and self.machine_busy_s > 0:
            fraction = min(self._cpu.carry_s / self.machine_busy_s, 1.0)
            for domain_id, domain in self.domains.items():
                if domain.kind is not DomainKind.GPU:
                    totals = self.totals[domain_id]
                    totals.attributed_j = min(
                        totals.energy_j, totals.attributed_j + fraction * totals.energy_j
                    )
        for domain_id, use in self._gpus.items():
            totals = self.totals[domain_id]
            totals.attributed_j = min(
                totals.energy_j, totals.attributed_j + use.unowned_j * use.tree_fraction()
            )

    def gpu_owner_unknown_s(self, domain_id: str) -> float:
        """Seconds in which the GPU was in use but its owner could not be told."""
        use = self._gpus.get(domain_id)
        return use.unknown_s if use is not None else 0.0

    @property
    def peak_power_w(self) -> float:
        """The highest total power of one sampling interval, never below the run's average."""
        peak = self._peak_full_w if self._peak_full_w is not None else self._peak_any_w
        average = (
            sum(self.totals[k].energy_j for k in self.in_total) / self.duration_s if self.duration_s else 0.0
        )
        return max(peak, average)

    @property
    def duration_s(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return self.last.t_s - self.origin_s

    def bounds_j(self, domain_id: str) -> tuple[float, float] | None:
        if self.first is None or self.last is None or domain_id not in self.last.bounds_j:
            return None
        low0, high0 = self.first.bounds_j.get(domain_id, (0.0, 0.0))
        low1, high1 = self.last.bounds_j[domain_id]
        low, high = low1 - low0, high1 - high0
        gap = self._gap_j.get(domain_id, 0.0)
        measured = self.totals[domain_id].energy_j - gap
        if gap > 0 and measured > 0:  # the extrapolated start, with the same relative band
            scale = (measured + gap) / measured
            return low * scale, high * scale
        return low, high
