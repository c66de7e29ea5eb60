"""The run record: everything one measured run produced, and its versioned JSON form.

The schema is documented in docs/run-record.md; ``SCHEMA`` changes its major number on any
change that a reader of the previous version would misread. Every renderer, the history
store and the CI gate read this record, never the sampler.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..limits import MAX_FAILURE_CHARS, MAX_TIMELINE_POINTS, MAX_UNITS
from ..limits import MAX_OPEN_PHASES as MAX_OPEN
from ..limits import MAX_PHASES as MAX_RECORDS
from .codec import RecordError, dumps, read_json_file, value
from .output_file import write_text

SCHEMA = "aicarbon.run/4"
# Version 1 had ``phases`` and ``units_counted`` at the top level and no ``labels``; version 2
# moved them under ``work`` and added ``labels``; version 3 marks failed phases
# (``work.phases[].failed``: a version-2 reader would show them as finished) and records the
# extrapolated start (``sampling.extrapolated_start_s``); version 4 records jobs of several
# nodes (``job`` and ``nodes``: a version-3 reader would take a job's totals for one machine's).
# All four are read (``Run.from_dict``) and written back as version 4.
READABLE_SCHEMAS = ("aicarbon.run/1", "aicarbon.run/2", "aicarbon.run/3", SCHEMA)
MAX_RECORD_BYTES = 64 << 20  # a day-long run's record is well under 1 MB
CODECARBON_SUFFIX = ":codecarbon"  # the domains codecarbon measured: cpu:codecarbon, gpu:codecarbon
_NAMED_COUNTRY = re.compile(r"^(?P<name>.+) \((?P<iso>[A-Z]{3})\)$")  # a grid label: France (FRA)


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
    cpus_allowed: int = 0  # the logical CPUs the run may use (its cpuset); 0: not read (before 4)


# -- impact: emissions and water (computed by impact.py) ---------------------------------------------


@dataclass
class GridRecord:
    g_per_kwh: float
    label: str
    source: str
    year: int | None
    origin: str  # which setting chose it: --country, AICARBON_COUNTRY, a config file, default
    is_world_default: bool = False

    def place(self) -> tuple[str, str, str]:
        """Country name, ISO code and region as the label gives them (``France (FRA)``,
        ``United States / california``); empty where it names none (the world average, a cloud
        region's label, a given intensity)."""
        match = _NAMED_COUNTRY.match(self.label)
        if match:
            return match["name"], match["iso"], ""
        if " / " in self.label:
            country, region = self.label.split(" / ", 1)
            return country, "", region
        return "", "", ""


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
class EmbodiedPart:
    part: str  # "GPU NVIDIA H100 80GB HBM3", "host AMD EPYC 7763", "the machine (your figure)"
    low_kg: float  # its manufacturing emissions, kgCO2e (a range where sources disagree)
    high_kg: float
    share: float  # of it the run held: 1 for a GPU; its CPUs over the host's threads or CPUs
    source: str

    @property
    def kg(self) -> str:
        """``575``, or ``520-640`` where the sources give a range."""
        return f"{self.low_kg:g}" if self.low_kg == self.high_kg else f"{self.low_kg:g}-{self.high_kg:g}"


@dataclass
class EmbodiedRecord:
    """Manufacturing emissions amortised over the run (impact.embodied). Version 4."""

    low_g: float
    high_g: float
    lifespan_years: float
    parts: list[EmbodiedPart] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # hardware with no figure: not in the range


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
    embodied: EmbodiedRecord | None = None  # version 4: making the hardware, apart from the above


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
    # Version 4: the study's inferences the run's units make, and what one is when they are not
    # the run's own unit ("one inference = 10 output tokens").
    inferences: float | None = None
    inference_is: str = ""


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
    # Version 4: the run per study inference (None: its units are not inferences, nor convertible),
    # and why a task asked for was not graded (units of another kind).
    kwh_per_1000_inferences: float | None = None
    task_declined: str | None = None

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

    @property
    def by_codecarbon(self) -> bool:
        """Measured by codecarbon's tracker (``--backend``) or imported from its emissions.csv:
        such domains are ``KIND:codecarbon``."""
        return self.id.endswith(CODECARBON_SUFFIX)


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


@dataclass(kw_only=True)
class ToolRecord:
    """What wrote the record."""

    name: str = "aicarbon"
    version: str


@dataclass
class ExitRecord:
    """How the measured command ended."""

    status: int  # 0 to 255; 128 + N for a command killed by signal N
    signal: int | None  # the signal that killed it
    received_signal: int | None  # a signal aicarbon received and forwarded (Ctrl-C)


@dataclass(kw_only=True)
class SamplingRecord:
    interval_s: float
    samples: int
    sampler_cpu_s: float  # CPU time of aicarbon's sampling thread: its own overhead
    nvml_call_s: float | None = None  # one NVML energy-counter call, measured at start
    nvml_read_period_s: float | None = None  # GPU counters were read at most this often
    # Seconds at the start, while the sensors opened beside the starting command, whose energy
    # was extrapolated from the first interval's power (0: read from the start). Version 3.
    extrapolated_start_s: float = 0.0


@dataclass
class EnergyRecord:
    """Energy per domain (the totals, method and average power are derived: ``Run``)."""

    peak_power_w: float
    domains: list[DomainRecord]


@dataclass(kw_only=True)
class AttributionRecord:
    """The measured code's share of the machine's energy, and how it was followed."""

    tree_cpu_s: float
    machine_busy_cpu_s: float
    gpus_shared_with_other_processes: list[str]
    method: str = "proc walk"  # how the tree's CPU time was followed (cgroup or /proc)
    descendants_left_running: int = 0  # processes of the tree still running when it ended

    @property
    def cpu_share(self) -> float | None:
        """The tree's share of the machine's busy CPU time (None: no busy time was seen)."""
        if self.machine_busy_cpu_s <= 0:
            return None
        return min(self.tree_cpu_s / self.machine_busy_cpu_s, 1.0) if self.tree_cpu_s > 0 else 0.0


@dataclass
class LabelsRecord:
    """Given by the user: ``aicarbon.track(name=)``, ``--tag``, ``--note``. Version 2."""

    name: str | None = None
    tags: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class WorkRecord:
    """What the measured code reported: units of work (``aicarbon.add_units``) and phases
    (``aicarbon.phase``). At the top level in version 1."""

    units_counted: float = 0.0
    phases: list[PhaseRecord] = field(default_factory=list)
    unit_name: str | None = None  # version 4: what the code called its units (add_units(unit=))


@dataclass(kw_only=True)
class ServingRecord:
    """A served model's window (``aicarbon serve``): the server's counters beside the energy
    measured over the same window, and the energy per unit. Version 4."""

    dialect: str  # vllm, sglang, llamacpp, tgi, generic
    url: str  # the metrics endpoint (without any user or password)
    start_s: float  # the window, seconds from the run's start
    end_s: float
    duration_s: float  # the window's time (its segments', after a counter reset)
    segments: int  # 1, or more after a server restart reset its counters
    output_tokens: float
    prompt_tokens: float | None
    requests: float | None
    mean_running: float | None  # requests running, on average at the scrapes
    energy_j: float  # the machine's (every counted domain) over the window
    gpu_energy_j: float | None  # the GPUs' alone (None: no GPU measured)
    j_per_output_token: float | None
    gpu_j_per_output_token: float | None
    j_per_prompt_token: float | None
    j_per_request: float | None
    scrapes: int
    failed_scrapes: int
    max_skew_s: float  # the longest time between reading the energy and the counters' answer
    coarse: bool = False  # counts that move only when requests complete (TGI)
    problem: str | None = None  # why the window is missing or short, in one sentence
    models: list[str] = field(default_factory=list)  # the served models, as the metrics name them
    published: list[str] = field(default_factory=list)  # published figures for them, and caveats


@dataclass(kw_only=True)
class NodeRecord:
    """One node of a job, measured on its own: its sensors read by one of its ranks, over its
    own window and counters (clocks are never aligned across nodes). Version 4."""

    host: str
    machine_id: str  # with ``host``, the node's key ("" where the machine has none)
    ranks: list[int]  # the job's global ranks that ran here and reported
    exit_statuses: list[int]  # each rank's command's, in the order of ``ranks``
    start_utc: str
    end_utc: str
    duration_s: float
    energy: EnergyRecord
    attribution: AttributionRecord
    units_counted: float = 0.0

    @property
    def machine_energy_j(self) -> float:
        return sum(d.energy_j for d in self.energy.domains if d.in_total)

    @property
    def attributed_energy_j(self) -> float:
        return sum(d.attributed_j for d in self.energy.domains if d.in_total)


@dataclass(kw_only=True)
class JobRecord:
    """The job a record sums up (``nodes``): who launched it, and what never reported. Version 4."""

    launcher: str  # torchrun, openmpi, mvapich2, mpich, slurm
    job_id: str | None
    world_size: int
    missing_ranks: list[int] = field(default_factory=list)  # never reported (a dead rank or node)
    missing_nodes: list[str] = field(default_factory=list)  # started, then never reported


@dataclass(kw_only=True)
class Run:
    """One measured run: its fields are the JSON record's, in its order, part for part
    (docs/run-record.md); the figures that follow from them are properties, written to the
    JSON beside them and recomputed when it is read."""

    tool: ToolRecord
    command: list[str]
    start_utc: str
    end_utc: str
    duration_s: float
    exit: ExitRecord
    host: HostRecord
    sampling: SamplingRecord
    energy: EnergyRecord
    attribution: AttributionRecord
    unavailable: list[UnavailableRecord]
    notes: list[str]
    labels: LabelsRecord
    work: WorkRecord
    timeline: TimelineRecord
    impact: ImpactRecord | None = None  # emissions and water (None: not computed)
    comparison: ComparisonRecord | None = None  # reference tasks and equivalents
    job: JobRecord | None = None  # a job of several ranks (None: one command on one machine)
    nodes: list[NodeRecord] = field(default_factory=list)  # the job's nodes, each measured alone
    serving: ServingRecord | None = None  # aicarbon serve: the window and its energy per token

    # -- derived figures -----------------------------------------------------------------------

    @property
    def command_line(self) -> str:
        """The command as a person would type it (untrusted text: escape it to show it)."""
        return shlex.join(self.command)

    @property
    def counted(self) -> list[DomainRecord]:
        return [d for d in self.energy.domains if d.in_total]

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
    def cpu_utilisation(self) -> float | None:
        """The machine's average CPU utilisation over the run, 0 to 1 (None: no duration)."""
        capacity = self.duration_s * self.host.logical_cpus
        return min(self.attribution.machine_busy_cpu_s / capacity, 1.0) if capacity > 0 else None

    @property
    def partial(self) -> bool:
        """True when the machine total misses energy: a device that exists could not be read,
        or a domain stopped answering during the run."""
        return any(u.uncounted for u in self.unavailable) or any(d.failed for d in self.counted)

    @property
    def method(self) -> str:
        methods = {d.method for d in self.counted}
        return methods.pop() if len(methods) == 1 else ("mixed" if methods else "none")

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The record's JSON object: the fields, part for part, and the derived figures beside
        them (``energy``'s totals, ``attribution.cpu_share``)."""
        data: dict[str, Any] = {"schema": SCHEMA, **asdict(self)}
        data["energy"] = {
            "machine_j": self.machine_energy_j,
            "attributed_j": self.attributed_energy_j,
            "method": self.method,
            "partial": self.partial,
            "average_power_w": self.average_power_w,
            **data["energy"],
        }
        attribution = data["attribution"]
        data["attribution"] = {
            "tree_cpu_s": attribution.pop("tree_cpu_s"),
            "machine_busy_cpu_s": attribution.pop("machine_busy_cpu_s"),
            "cpu_share": self.attribution.cpu_share,
            **attribution,
        }
        for node, part in zip(self.nodes, data["nodes"], strict=True):
            part["energy"] = {
                "machine_j": node.machine_energy_j,
                "attributed_j": node.attributed_energy_j,
                **part["energy"],
            }
        return data

    @classmethod
    def from_dict(cls, data: object, where: str = "the record") -> Run:
        """A run from parsed JSON, every field checked (``RecordError`` names the first bad one);
        versions 1 and 2 are read as the version 3 they would be (``upgraded``)."""
        schema = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(schema, str) or not schema.startswith("aicarbon.run/"):
            raise RecordError(f"{where} is not an aicarbon run record (no 'schema': 'aicarbon.run/N' field)")
        if schema not in READABLE_SCHEMAS:
            readable = ", ".join(READABLE_SCHEMAS)
            raise RecordError(f"run record schema {schema} is not supported (this version reads {readable})")
        assert isinstance(data, dict)  # the schema check above needs an object
        version = int(schema.rsplit("/", 1)[1])
        try:
            # Before decoding them: a list far beyond what a writer produces costs its size.
            _refuse_long(data, "phases" if version == 1 else "work.phases", MAX_RECORDS)
            _refuse_long(data, "timeline.t_s", MAX_TIMELINE_POINTS)
            run: Run = value(Run, upgraded(data, version), "")
            run.check()
        except RecordError as exc:
            raise RecordError(f"{where} is not a valid run record: {exc}") from None
        return run

    def check(self) -> None:
        """The consistency a renderer relies on, beyond each field's type."""
        exit_ = self.exit
        if not 0 <= exit_.status <= 255:
            raise RecordError(f"exit.status: {exit_.status} is not an exit status (0 to 255)")
        for name, signum in (("signal", exit_.signal), ("received_signal", exit_.received_signal)):
            if signum is not None and not 1 <= signum <= 64:
                raise RecordError(f"exit.{name}: {signum} is not a signal number")
        sampling = self.sampling
        if sampling.interval_s <= 0 or sampling.samples < 0:
            raise RecordError("sampling: the interval must be positive and the sample count not negative")
        attribution = self.attribution
        figures = [("duration_s", self.duration_s), ("energy.peak_power_w", self.energy.peak_power_w)]
        figures += [("attribution.tree_cpu_s", attribution.tree_cpu_s)]
        figures += [("attribution.machine_busy_cpu_s", attribution.machine_busy_cpu_s)]
        for i, d in enumerate(self.energy.domains):
            figures += [(f"energy.domains[{i}].energy_j", d.energy_j)]
            figures += [(f"energy.domains[{i}].attributed_j", d.attributed_j)]
            figures += [(f"energy.domains[{i}].owner_unknown_s", d.owner_unknown_s)]
        figures += [("attribution.descendants_left_running", attribution.descendants_left_running)]
        figures += [("sampling.extrapolated_start_s", sampling.extrapolated_start_s)]
        for name in ("nvml_call_s", "nvml_read_period_s"):
            number = getattr(sampling, name)
            if number is not None:
                figures += [(f"sampling.{name}", number)]
        for name, number in figures:
            if number < 0:
                raise RecordError(f"{name}: {number:g} is negative")
        self._check_work()
        self._check_job()
        ids = [d.id for d in self.energy.domains]
        if len(set(ids)) != len(ids):
            raise RecordError("energy.domains: two domains have the same id")
        self.timeline.check(set(ids))
        if self.comparison is not None:
            self.comparison.check()

    def _check_work(self) -> None:
        """The bounds every writer keeps (phases.PhaseBook): a record beyond them was not
        written by aicarbon, and rendering it could take minutes and gigabytes."""
        phases = self.work.phases
        if len(phases) > MAX_RECORDS:
            raise RecordError(f"work.phases: {len(phases)} phases; aicarbon keeps at most {MAX_RECORDS}")
        for i, p in enumerate(phases):
            for name in ("start_s", "duration_s", "energy_j", "attributed_j", "units"):
                if getattr(p, name) < 0:
                    raise RecordError(f"work.phases[{i}].{name}: {getattr(p, name):g} is negative")
            if not 0 <= p.depth < MAX_OPEN:
                raise RecordError(f"work.phases[{i}].depth: {p.depth} is not from 0 to {MAX_OPEN - 1}")
            if p.failed is not None and not 0 < len(p.failed) <= MAX_FAILURE_CHARS:
                raise RecordError(
                    f"work.phases[{i}].failed: must be 1 to {MAX_FAILURE_CHARS} characters, or null"
                )
            if p.units > MAX_UNITS:
                raise RecordError(f"work.phases[{i}].units: more than {MAX_UNITS:.0e}")
        if self.work.unit_name is not None and not 0 < len(self.work.unit_name) <= 1000:
            raise RecordError("work.unit_name: must be 1 to 1,000 characters, or null")
        units = self.work.units_counted
        if not 0 <= units <= MAX_UNITS:
            raise RecordError(f"work.units_counted: {units:g} is not from 0 to {MAX_UNITS:.0e}")
        if self.comparison is not None and (self.comparison.units or 0) > MAX_UNITS:
            raise RecordError(f"comparison.units: more than {MAX_UNITS:.0e}")

    def _check_job(self) -> None:
        """A job's nodes: each rank once, within the world, with an exit status apiece."""
        if self.job is None:
            if self.nodes:
                raise RecordError("nodes: a record with nodes must say which job (job)")
            return
        if self.job.world_size < 1:
            raise RecordError(f"job.world_size: {self.job.world_size} is not a number of ranks")
        seen: set[int] = set()
        for i, node in enumerate(self.nodes):
            if len(node.exit_statuses) != len(node.ranks):
                raise RecordError(f"nodes[{i}]: one exit status per rank is needed")
            if any(not 0 <= s <= 255 for s in node.exit_statuses):
                raise RecordError(f"nodes[{i}].exit_statuses: an exit status is 0 to 255")
            if any(not 0 <= r < self.job.world_size for r in node.ranks) or seen & set(node.ranks):
                raise RecordError(f"nodes[{i}].ranks: a rank outside the job, or on two nodes")
            seen |= set(node.ranks)
            numbers = [node.duration_s, node.units_counted, node.energy.peak_power_w]
            numbers += [x for d in node.energy.domains for x in (d.energy_j, d.attributed_j)]
            if any(x < 0 for x in numbers):
                raise RecordError(f"nodes[{i}]: a negative figure")

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


def rank_ranges(ranks: list[int]) -> str:
    """``0-3, 7``."""
    spans: list[list[int]] = []
    for r in sorted(ranks):
        if spans and r == spans[-1][1] + 1:
            spans[-1][1] = r
        else:
            spans.append([r, r])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)


def upgraded(data: dict[str, Any], version: int) -> dict[str, Any]:
    """A record of an older version laid out as version 3 (a shallow copy; ``data`` is left as
    it is). Version 1 kept ``phases`` and ``units_counted`` at the top level and had no labels;
    version 2 had no ``extrapolated_start_s`` and no failed phases, both with defaults."""
    if version != 1:
        return data
    data = dict(data)
    data["work"] = {key: data.pop(key) for key in ("units_counted", "phases") if key in data}
    data["labels"] = {}
    return data


def _refuse_long(data: dict[str, Any], dotted: str, limit: int) -> None:
    node: Any = data
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, list) and len(node) > limit:
        raise RecordError(f"{dotted}: {len(node)} entries; aicarbon writes at most {limit}")


__all__ = [
    "SCHEMA",
    "AttributionRecord",
    "DomainRecord",
    "EmbodiedPart",
    "EmbodiedRecord",
    "EnergyRecord",
    "ExitRecord",
    "HostRecord",
    "ImplausibleRecord",
    "JobRecord",
    "LabelsRecord",
    "NodeRecord",
    "PhaseRecord",
    "RecordError",
    "Run",
    "SamplingRecord",
    "ServingRecord",
    "TimelineRecord",
    "ToolRecord",
    "UnavailableRecord",
    "WorkRecord",
    "rank_ranges",
]
