"""The run record: everything one measured run produced, and its versioned JSON form.

The schema is documented in docs/run-record.md; ``SCHEMA`` changes its major number on any
change that a reader of the previous version would misread. Every renderer, the history
store and the CI gate read this record, never the sampler.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .impact import ImpactRecord
from .references import ComparisonRecord
from .sensors.host import HostInfo as HostRecord  # the record keeps the host facts as read

SCHEMA = "aicarbon.run/1"


class RecordError(ValueError):
    """A file that is not a run record this version can read."""


@dataclass
class DomainRecord:
    id: str
    kind: str  # cpu, dram, gpu, platform
    label: str
    method: str  # measured or estimated
    source: str
    in_total: bool
    energy_j: float
    attributed_j: float
    model: str | None = None  # estimated domains: the model
    low_j: float | None = None  # estimated domains: uncertainty band of energy_j
    high_j: float | None = None
    failed: str | None = None  # why the domain stopped answering during the run
    failed_at_s: float | None = None

    @property
    def estimated(self) -> bool:
        return self.method == "estimated"


@dataclass
class UnavailableRecord:
    sensor: str
    reason: str
    fix: str | None = None


@dataclass
class TimelineRecord:
    """Average power per domain over consecutive buckets of (about) ``bucket_s`` seconds."""

    bucket_s: float
    domains: list[str]
    t_s: list[float]  # bucket start, seconds from the run's start
    duration_s: list[float]
    power_w: list[list[float]]  # per bucket, one value per entry of ``domains``
    peak_power_w: list[float]  # per bucket, highest total power of one sampling interval

    def total_power_w(self, in_total: set[str]) -> list[float]:
        keep = [i for i, d in enumerate(self.domains) if d in in_total]
        return [sum(row[i] for i in keep) for row in self.power_w]


@dataclass
class Run:
    command: list[str]
    start_utc: str
    end_utc: str
    duration_s: float
    exit_status: int
    exit_signal: int | None
    received_signal: int | None
    host: HostRecord
    interval_s: float
    samples: int
    domains: list[DomainRecord]
    unavailable: list[UnavailableRecord]
    tree_cpu_s: float
    machine_busy_cpu_s: float
    peak_power_w: float
    timeline: TimelineRecord
    shared_gpus: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tool_version: str = ""
    sampler_cpu_s: float = 0.0  # CPU time of aicarbon's sampling thread: its own overhead
    impact: ImpactRecord | None = None  # emissions and water (None: not computed)
    comparison: ComparisonRecord | None = None  # reference tasks and equivalents

    # -- derived figures -----------------------------------------------------------------------

    @property
    def counted(self) -> list[DomainRecord]:
        return [d for d in self.domains if d.in_total]

    @property
    def machine_energy_j(self) -> float:
        return sum(d.energy_j for d in self.counted)

    @property
    def attributed_energy_j(self) -> float:
        return sum(d.attributed_j for d in self.counted)

    @property
    def average_power_w(self) -> float:
        return self.machine_energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def method(self) -> str:
        methods = {d.method for d in self.counted}
        return methods.pop() if len(methods) == 1 else ("mixed" if methods else "none")

    @property
    def cpu_share(self) -> float | None:
        if self.machine_busy_cpu_s <= 0:
            return None
        return min(self.tree_cpu_s / self.machine_busy_cpu_s, 1.0)

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "tool": {"name": "aicarbon", "version": self.tool_version},
            "command": list(self.command),
            "start_utc": self.start_utc,
            "end_utc": self.end_utc,
            "duration_s": self.duration_s,
            "exit": {
                "status": self.exit_status,
                "signal": self.exit_signal,
                "received_signal": self.received_signal,
            },
            "host": asdict(self.host),
            "sampling": {
                "interval_s": self.interval_s,
                "samples": self.samples,
                "sampler_cpu_s": self.sampler_cpu_s,
            },
            "energy": {
                "machine_j": self.machine_energy_j,
                "attributed_j": self.attributed_energy_j,
                "method": self.method,
                "average_power_w": self.average_power_w,
                "peak_power_w": self.peak_power_w,
                "domains": [asdict(d) for d in self.domains],
            },
            "attribution": {
                "tree_cpu_s": self.tree_cpu_s,
                "machine_busy_cpu_s": self.machine_busy_cpu_s,
                "cpu_share": self.cpu_share,
                "gpus_shared_with_other_processes": list(self.shared_gpus),
            },
            "unavailable": [asdict(u) for u in self.unavailable],
            "notes": list(self.notes),
            "timeline": asdict(self.timeline),
            "impact": asdict(self.impact) if self.impact else None,
            "comparison": asdict(self.comparison) if self.comparison else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        schema = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(schema, str) or not schema.startswith("aicarbon.run/"):
            raise RecordError("not an aicarbon run record (no 'schema': 'aicarbon.run/N' field)")
        if schema != SCHEMA:
            raise RecordError(f"run record schema {schema} is not supported (this version reads {SCHEMA})")
        try:
            energy, exit_ = data["energy"], data["exit"]
            return cls(
                command=list(data["command"]),
                start_utc=data["start_utc"],
                end_utc=data["end_utc"],
                duration_s=float(data["duration_s"]),
                exit_status=int(exit_["status"]),
                exit_signal=exit_["signal"],
                received_signal=exit_["received_signal"],
                host=HostRecord(**data["host"]),
                interval_s=float(data["sampling"]["interval_s"]),
                samples=int(data["sampling"]["samples"]),
                domains=[DomainRecord(**d) for d in energy["domains"]],
                unavailable=[UnavailableRecord(**u) for u in data["unavailable"]],
                tree_cpu_s=float(data["attribution"]["tree_cpu_s"]),
                machine_busy_cpu_s=float(data["attribution"]["machine_busy_cpu_s"]),
                peak_power_w=float(energy["peak_power_w"]),
                timeline=TimelineRecord(**data["timeline"]),
                shared_gpus=list(data["attribution"]["gpus_shared_with_other_processes"]),
                notes=list(data["notes"]),
                tool_version=data["tool"]["version"],
                sampler_cpu_s=float(data["sampling"]["sampler_cpu_s"]),
                impact=ImpactRecord.from_dict(data["impact"]) if data.get("impact") else None,
                comparison=ComparisonRecord.from_dict(data["comparison"]) if data.get("comparison") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"run record is incomplete or malformed: {exc!r}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: Path) -> None:
        """Write atomically: a half-written record never replaces a good one."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Run:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        return cls.from_dict(data)
