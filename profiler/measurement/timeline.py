"""A power timeline of bounded size, however long the run.

Intervals are summed into buckets of a fixed width; when ``max_points`` buckets are full, each
pair of neighbours merges into one and the width doubles. A 24-hour run at 10 Hz thus keeps at
most ``max_points`` buckets, and the energy in the timeline always sums exactly to the
energy measured: only time resolution is given up, never joules.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Bucket:
    start_s: float
    duration_s: float = 0.0
    energy_j: dict[str, float] = field(default_factory=dict)
    peak_power_w: float = 0.0  # highest total power of one sampling interval inside

    def absorb(self, other: Bucket) -> None:
        self.duration_s += other.duration_s
        for key, value in other.energy_j.items():
            self.energy_j[key] = self.energy_j.get(key, 0.0) + value
        self.peak_power_w = max(self.peak_power_w, other.peak_power_w)

    def power_w(self, domains: set[str] | None = None) -> float:
        if self.duration_s <= 0:
            return 0.0
        energy = sum(v for k, v in self.energy_j.items() if domains is None or k in domains)
        return energy / self.duration_s


class Timeline:
    def __init__(self, bucket_s: float = 0.1, max_points: int = 256) -> None:
        if max_points < 2 or max_points % 2:
            raise ValueError("max_points must be an even number >= 2")
        self.bucket_s = bucket_s
        self.max_points = max_points
        self._done: list[Bucket] = []
        self._open: Bucket | None = None

    def add(self, start_s: float, duration_s: float, energy_j: dict[str, float], power_w: float) -> None:
        interval = Bucket(start_s, duration_s, dict(energy_j), power_w)
        if self._open is None:
            self._open = interval
        else:
            self._open.absorb(interval)
        if self._open.duration_s >= self.bucket_s:
            self._done.append(self._open)
            self._open = None
            if len(self._done) >= self.max_points:
                self._halve()

    def _halve(self) -> None:
        merged: list[Bucket] = []
        for first, second in zip(self._done[0::2], self._done[1::2], strict=True):
            first.absorb(second)
            merged.append(first)
        self._done = merged
        self.bucket_s *= 2

    @property
    def buckets(self) -> list[Bucket]:
        return self._done + ([self._open] if self._open is not None else [])
