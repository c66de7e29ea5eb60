"""The run record: everything one measured run produced, and its versioned JSON form.

The schema is documented in docs/run-record.md; ``SCHEMA`` changes its major number on any
change that a reader of the previous version would misread. Every renderer, the history
store and the CI gate read this record, never the sampler.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints

from ..limits import MAX_FAILURE_CHARS, MAX_TIMELINE_POINTS, MAX_UNITS
from ..limits import MAX_OPEN_PHASES as MAX_OPEN
from ..limits import MAX_PHASES as MAX_RECORDS
from .codec import RecordError, dumps, read_json_file, take
from .output_file import write_text

SCHEMA = "aicarbon.run/3"
# Version 1 had ``phases`` and ``units_counted`` at the top level and no ``labels``; version 2
# moved them under ``work`` and added ``labels``; version 3 marks failed phases
# (``work.phases[].failed``: a version-2 reader would show them as finished) and records the
# extrapolated start (``sampling.extrapolated_start_s``). All three are read (``Run.from_dict``)
# and written back as version 3.
READABLE_SCHEMAS = ("aicarbon.run/1", "aicarbon.run/2", SCHEMA)
MAX_RECORD_BYTES = 64 << 20  # a day-long run's record is well under 1 MB


# -- the machine -------------------------------------------------------------------------------


@dataclass
class HostRecord:
    """Facts about the machine a run happened on, as read when it ran."""

    hostname: str
    os: str
    cpu_model: str
    logical_cpus: int
    ram_bytes: int
    gpus: list[str] = field(default_factory=list)
    virtualised: bool = False
    # Added after the first record version: what sensors depend on (RAPL names and bugs
    # change with the kernel and the CPU).
    kernel: str = ""
    cpu_id: str = ""  # "GenuineIntel family 6 model 143 stepping 8", or the Arm core part
    gpu_driver: str = ""  # the NVIDIA driver's version ("" without NVML)


# -- impact: emissions and water (computed by impact.py) ---------------------------------------------


@dataclass
class GridRecord:
    g_per_kwh: float
    label: str
    source: str
    year: int | None
    origin: str  # which setting chose it: --country, AICARBON_COUNTRY, a config file, default
    is_world_default: bool = False


@dataclass
class ContrastRecord:
    label: str
    g_per_kwh: float
    emissions_g: float


@dataclass
class WaterRecord:
    litres: float
    attributed_litres: float
    wue_l_per_kwh: float
    wue_origin: str
    electricity_l_per_kwh: float
    electricity_origin: str
    source: str
    method: str = "estimated"


@dataclass
class ImpactRecord:
    energy_kwh: float  # machine energy of the run
    attributed_kwh: float  # the process tree's share
    pue: float
    pue_origin: str
    grid: GridRecord
    emissions_g: float
    attributed_emissions_g: float
    water: WaterRecord
    contrast: list[ContrastRecord] = field(default_factory=list)


# -- comparison with reference tasks (computed by references.py) ---------------------------------------

EQUIVALENT_KEYS = (
    "smartphone_charges",
    "petrol_ml",
    "web_searches",
    "chatbot_queries",
    "image_generations",
    "text_generations",
)


@dataclass
class TaskComparison:
    key: str
    task: str
    mean_kwh_per_1000: float
    std_kwh_per_1000: float
    ratio_to_mean: float
    z: float
    share_of_models_below: float
    grade: str


@dataclass
class ScalePoint:
    label: str
    kwh_per_1000: float
    is_run: bool = False


@dataclass
class Equivalent:
    key: str
    label: str
    value: float  # for a range: the low end
    high: float | None
    source: str


@dataclass
class ComparisonRecord:
    study: str
    boundary: str
    energy_j: float  # the machine energy compared
    units: float | None = None
    unit_name: str = "inferences"
    energy_per_unit_j: float | None = None
    kwh_per_1000: float | None = None
    task: TaskComparison | None = None
    scale: list[ScalePoint] = field(default_factory=list)
    equivalents: list[Equivalent] = field(default_factory=list)

    def check(self) -> None:
        """What the report relies on, for a record read from a file."""
        if self.units is None:
            missing = set(EQUIVALENT_KEYS) - {e.key for e in self.equivalents}
            if missing:
                raise RecordError(f"comparison.equivalents: missing {', '.join(sorted(missing))}")
        elif self.units <= 0 or self.energy_per_unit_j is None or self.kwh_per_1000 is None:
            raise RecordError("comparison: units must be positive, with energy per unit and per 1,000")
        if self.task is not None and self.task.ratio_to_mean <= 0:
            raise RecordError("comparison.task.ratio_to_mean: must be positive")
        if any(p.kwh_per_1000 < 0 for p in self.scale) or any(e.value < 0 for e in self.equivalents):
            raise RecordError("comparison: a negative figure")


# -- the run -------------------------------------------------------------------------------------------


@dataclass
class ImplausibleRecord:
    """A reading that implied more power than the domain can draw: a sensor fault."""

    at_s: float  # when it was read, seconds from the run's start
    duration_s: float  # the interval it covered
    reported_j: float  # what the counter claimed for that interval
    counted_j: float  # what was counted instead: the last plausible power over the interval


@dataclass
class PhaseRecord:
    """A named interval of a tracked run (aicarbon.phase), measured on its own."""

    name: str
    depth: int  # 0 for a top-level phase, 1 inside another, ...
    start_s: float  # from the start of the run
    duration_s: float
    energy_j: float  # the machine's, over the phase
    attributed_j: float  # the measured code's
    units: float = 0.0  # counted while the phase was open
    # None: it finished. Else why not: the exception its body raised ("ValueError"), or
    # "not ended" (still open when the run stopped: a command killed mid-phase, a thread).
    failed: str | None = None

    @property
    def average_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0


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
    implausible_readings: int = 0  # sensor faults replaced (see ImplausibleRecord)
    implausible: list[ImplausibleRecord] = field(default_factory=list)  # the first 16 of them
    # GPUs: seconds in use with an owner that could not be told (counted as the command's),
    # and how the owner was told when not by PID, or why it could not be.
    owner_unknown_s: float = 0.0
    owner_note: str | None = None

    @property
    def estimated(self) -> bool:
        return self.method == "estimated"


@dataclass
class UnavailableRecord:
    sensor: str
    reason: str
    fix: str | None = None
    uncounted: bool = False  # a device that exists, whose energy is missing from the total


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

    def check(self, domain_ids: set[str]) -> None:
        if self.bucket_s <= 0:
            raise RecordError("timeline.bucket_s: must be positive")
        if not set(self.domains) <= domain_ids:
            raise RecordError("timeline.domains: names a domain that energy.domains does not have")
        n = len(self.t_s)
        if not len(self.duration_s) == len(self.power_w) == len(self.peak_power_w) == n:
            raise RecordError("timeline: t_s, duration_s, power_w and peak_power_w differ in length")
        width = len(self.domains)
        for i, row in enumerate(self.power_w):
            if len(row) != width:
                raise RecordError(f"timeline.power_w[{i}]: {len(row)} values for {width} domains")
        if any(d < 0 for d in self.duration_s) or any(p < 0 for row in self.power_w for p in row):
            raise RecordError("timeline: a negative duration or power")


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
    nvml_call_s: float | None = None  # one NVML energy-counter call, measured at start
    nvml_read_period_s: float | None = None  # GPU counters were read at most this often
    impact: ImpactRecord | None = None  # emissions and water (None: not computed)
    comparison: ComparisonRecord | None = None  # reference tasks and equivalents
    tree_method: str = "proc walk"  # how the tree's CPU time was followed (cgroup or /proc)
    descendants_left_running: int = 0  # processes of the tree still running when it ended
    # Seconds at the start, while the sensors opened beside the starting command, whose energy
    # was extrapolated from the first interval's power (0: read from the start).
    extrapolated_start_s: float = 0.0
    phases: list[PhaseRecord] = field(default_factory=list)  # aicarbon.phase() intervals
    units_counted: float = 0.0  # reported by the measured code (aicarbon.add_units)
    name: str | None = None  # labels given by the user (aicarbon.track(name=), --tag, --note)
    tags: list[str] = field(default_factory=list)
    note: str | None = None

    # -- derived figures -----------------------------------------------------------------------

    @property
    def command_line(self) -> str:
        """The command as a person would type it (untrusted text: escape it to show it)."""
        return shlex.join(self.command)

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
    def partial(self) -> bool:
        """True when the machine total misses energy: a device that exists could not be read,
        or a domain stopped answering during the run."""
        return any(u.uncounted for u in self.unavailable) or any(d.failed for d in self.counted)

    @property
    def method(self) -> str:
        methods = {d.method for d in self.counted}
        return methods.pop() if len(methods) == 1 else ("mixed" if methods else "none")

    @property
    def cpu_share(self) -> float | None:
        if self.machine_busy_cpu_s <= 0:
            return None
        return min(self.tree_cpu_s / self.machine_busy_cpu_s, 1.0) if self.tree_cpu_s > 0 else 0.0

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The record's JSON object, laid out by ``LAYOUT``."""
        data: dict[str, Any] = {"schema": SCHEMA}
        for at in LAYOUT:
            value = at.constant if at.field is None else getattr(self, at.field)
            _put(data, at.path, _plain(value))
        return data

    @classmethod
    def from_dict(cls, data: object, where: str = "the record") -> Run:
        """A run from parsed JSON, every field checked (``RecordError`` names the first bad one);
        versions 1 and 2 read through ``LAYOUT`` too (``since`` and ``v1_path``)."""
        schema = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(schema, str) or not schema.startswith("aicarbon.run/"):
            raise RecordError(f"{where} is not an aicarbon run record (no 'schema': 'aicarbon.run/N' field)")
        if schema not in READABLE_SCHEMAS:
            readable = ", ".join(READABLE_SCHEMAS)
            raise RecordError(f"run record schema {schema} is not supported (this version reads {readable})")
        assert isinstance(data, dict)  # the schema check above needs an object
        version = int(schema.rsplit("/", 1)[1])
        hints = _run_hints()
        try:
            # Before decoding them: a list far beyond what a writer produces costs its size.
            _refuse_long(data, "phases" if version == 1 else "work.phases", MAX_RECORDS)
            _refuse_long(data, "timeline.t_s", MAX_TIMELINE_POINTS)
            kwargs: dict[str, Any] = {}
            for at in LAYOUT:
                if at.field is None or at.derived:
                    continue  # a constant, or a figure recomputed from the fields
                if version < at.since:
                    kwargs[at.field] = _fresh(at.default)  # not in that version: its default
                    continue
                path = at.v1_path if version == 1 and at.v1_path else at.path
                kwargs[at.field] = take(
                    data, path, hints[at.field], *([] if at.default is _NEEDED else [at.default])
                )
            run = cls(**kwargs)
            run.check()
        except RecordError as exc:
            raise RecordError(f"{where} is not a valid run record: {exc}") from None
        return run

    def check(self) -> None:
        """The consistency a renderer relies on, beyond each field's type."""
        if not 0 <= self.exit_status <= 255:
            raise RecordError(f"exit.status: {self.exit_status} is not an exit status (0 to 255)")
        for name, signum in (("signal", self.exit_signal), ("received_signal", self.received_signal)):
            if signum is not None and not 1 <= signum <= 64:
                raise RecordError(f"exit.{name}: {signum} is not a signal number")
        if self.interval_s <= 0 or self.samples < 0:
            raise RecordError("sampling: the interval must be positive and the sample count not negative")
        figures = [("duration_s", self.duration_s), ("energy.peak_power_w", self.peak_power_w)]
        figures += [("attribution.tree_cpu_s", self.tree_cpu_s)]
        figures += [("attribution.machine_busy_cpu_s", self.machine_busy_cpu_s)]
        for i, d in enumerate(self.domains):
            figures += [(f"energy.domains[{i}].energy_j", d.energy_j)]
            figures += [(f"energy.domains[{i}].attributed_j", d.attributed_j)]
            figures += [(f"energy.domains[{i}].owner_unknown_s", d.owner_unknown_s)]
        figures += [("attribution.descendants_left_running", self.descendants_left_running)]
        figures += [("sampling.extrapolated_start_s", self.extrapolated_start_s)]
        for name in ("nvml_call_s", "nvml_read_period_s"):
            number = getattr(self, name)
            if number is not None:
                figures += [(f"sampling.{name}", number)]
        for name, number in figures:
            if number < 0:
                raise RecordError(f"{name}: {number:g} is negative")
        for i, p in enumerate(self.phases):
            for name in ("start_s", "duration_s", "energy_j", "attributed_j", "units"):
                if getattr(p, name) < 0:
                    raise RecordError(f"phases[{i}].{name}: {getattr(p, name):g} is negative")
        self._check_work()
        ids = [d.id for d in self.domains]
        if len(set(ids)) != len(ids):
            raise RecordError("energy.domains: two domains have the same id")
        self.timeline.check(set(ids))
        if self.comparison is not None:
            self.comparison.check()

    def _check_work(self) -> None:
        """The bounds every writer keeps (phases.PhaseBook): a record beyond them was not
        written by aicarbon, and rendering it could take minutes and gigabytes."""
        if len(self.phases) > MAX_RECORDS:
            raise RecordError(f"work.phases: {len(self.phases)} phases; aicarbon keeps at most {MAX_RECORDS}")
        for i, p in enumerate(self.phases):
            if not 0 <= p.depth < MAX_OPEN:
                raise RecordError(f"work.phases[{i}].depth: {p.depth} is not from 0 to {MAX_OPEN - 1}")
            if p.failed is not None and not 0 < len(p.failed) <= MAX_FAILURE_CHARS:
                raise RecordError(
                    f"work.phases[{i}].failed: must be 1 to {MAX_FAILURE_CHARS} characters, or null"
                )
            if p.units > MAX_UNITS:
                raise RecordError(f"work.phases[{i}].units: more than {MAX_UNITS:.0e}")
        if not 0 <= self.units_counted <= MAX_UNITS:
            raise RecordError(f"work.units_counted: {self.units_counted:g} is not from 0 to {MAX_UNITS:.0e}")
        if self.comparison is not None and (self.comparison.units or 0) > MAX_UNITS:
            raise RecordError(f"comparison.units: more than {MAX_UNITS:.0e}")

    def to_json(self) -> str:
        """Strict JSON (``NaN`` and infinities raise ``ValueError``: they are never written)."""
        return dumps(self.to_dict())

    def save(self, path: Path) -> None:
        """Write the record to ``path`` (see ``output_file``: a regular file is replaced
        atomically; a device, FIFO or standard stream is written through)."""
        write_text(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> Run:
        """Read and check a saved record; ``RecordError`` (one sentence) for anything else."""
        return cls.from_dict(read_json_file(path, "run record", MAX_RECORD_BYTES), str(path))


_NEEDED = object()  # a field every record of its versions has


@dataclass(frozen=True)
class At:
    """Where one figure of ``Run`` sits in the JSON record."""

    path: str  # dotted: "exit.status"
    field: str | None  # the Run attribute (None: ``constant``)
    derived: bool = False  # written, never read: recomputed from the fields (energy.machine_j)
    default: Any = _NEEDED  # for a record without it (a field added within a version)
    since: int = 1  # the schema version that added it (older ones get ``default``)
    v1_path: str | None = None  # where version 1 kept it
    constant: Any = None


# The record's JSON, in its order: to_dict and from_dict both follow this one table.
LAYOUT: tuple[At, ...] = (
    At("tool.name", None, constant="aicarbon"),
    At("tool.version", "tool_version"),
    At("command", "command"),
    At("start_utc", "start_utc"),
    At("end_utc", "end_utc"),
    At("duration_s", "duration_s"),
    At("exit.status", "exit_status"),
    At("exit.signal", "exit_signal"),
    At("exit.received_signal", "received_signal"),
    At("host", "host"),
    At("sampling.interval_s", "interval_s"),
    At("sampling.samples", "samples"),
    At("sampling.sampler_cpu_s", "sampler_cpu_s"),
    At("sampling.nvml_call_s", "nvml_call_s", default=None),
    At("sampling.nvml_read_period_s", "nvml_read_period_s", default=None),
    At("sampling.extrapolated_start_s", "extrapolated_start_s", default=0.0, since=3),
    At("energy.machine_j", "machine_energy_j", derived=True),
    At("energy.attributed_j", "attributed_energy_j", derived=True),
    At("energy.method", "method", derived=True),
    At("energy.partial", "partial", derived=True),
    At("energy.average_power_w", "average_power_w", derived=True),
    At("energy.peak_power_w", "peak_power_w"),
    At("energy.domains", "domains"),
    At("attribution.tree_cpu_s", "tree_cpu_s"),
    At("attribution.machine_busy_cpu_s", "machine_busy_cpu_s"),
    At("attribution.cpu_share", "cpu_share", derived=True),
    At("attribution.gpus_shared_with_other_processes", "shared_gpus"),
    At("attribution.method", "tree_method", default="proc walk"),
    At("attribution.descendants_left_running", "descendants_left_running", default=0),
    At("unavailable", "unavailable"),
    At("notes", "notes"),
    At("labels.name", "name", default=None, since=2),
    At("labels.tags", "tags", default=[], since=2),
    At("labels.note", "note", default=None, since=2),
    At("work.units_counted", "units_counted", default=0.0, v1_path="units_counted"),
    At("work.phases", "phases", default=[], v1_path="phases"),
    At("timeline", "timeline"),
    At("impact", "impact", default=None),
    At("comparison", "comparison", default=None),
)


@cache
def _run_hints() -> dict[str, Any]:
    return get_type_hints(Run)


def _put(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def _plain(value: Any) -> Any:
    """A field as JSON data: records as objects, lists copied."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _fresh(default: Any) -> Any:
    return list(default) if isinstance(default, list) else default


def _refuse_long(data: dict[str, Any], dotted: str, limit: int) -> None:
    node: Any = data
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, list) and len(node) > limit:
        raise RecordError(f"{dotted}: {len(node)} entries; aicarbon writes at most {limit}")


__all__ = [
    "SCHEMA",
    "DomainRecord",
    "HostRecord",
    "ImplausibleRecord",
    "PhaseRecord",
    "RecordError",
    "Run",
    "TimelineRecord",
    "UnavailableRecord",
]
