"""One line of ``aicarbon history``: what the history database keeps beside each run record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# -- the local history's listing (kept by store.py) ----------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """One line of ``aicarbon history``: what the database keeps beside each record."""

    id: int
    start_utc: str
    duration_s: float
    exit_status: int
    command: list[str]
    energy_j: float
    attributed_j: float
    method: str
    host: str
    name: str | None = None
    note: str | None = None
    units: float | None = None
    emissions_g: float | None = None
    nodes: int = 0  # a job's record: how many nodes it sums up (0: a plain run)
    embodied_low_g: float | None = None  # making the hardware, apart from emissions_g (None: not
    embodied_high_g: float | None = None  # computed, or no figure for the hardware)
    tags: list[str] = field(default_factory=list)

    @property
    def energy_per_unit_j(self) -> float | None:
        return self.energy_j / self.units if self.units else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start_utc": self.start_utc,
            "duration_s": self.duration_s,
            "exit_status": self.exit_status,
            "command": list(self.command),
            "energy_j": self.energy_j,
            "attributed_j": self.attributed_j,
            "method": self.method,
            "host": self.host,
            "name": self.name,
            "tags": list(self.tags),
            "note": self.note,
            "units": self.units,
            "energy_per_unit_j": self.energy_per_unit_j,
            "emissions_g": self.emissions_g,
            "nodes": self.nodes,
            "embodied_low_g": self.embodied_low_g,
            "embodied_high_g": self.embodied_high_g,
        }
