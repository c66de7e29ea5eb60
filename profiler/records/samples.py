"""The samples record: the raw per-run figures of repeated runs of one benchmark, and the
environment they were measured in. What ``aicarbon bench`` writes and the CI gate compares.

Schema ``aicarbon.records.samples/1`` (docs/ci-gate.md). The gated metric is the command's own
energy (the run's attributed energy, not the machine's: other processes on a CI runner are
noise, not the change under test), per declared unit when units were given.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .codec import RecordError, decode, dumps, read_json_file
from .output_file import write_text
from .run import Run

SAMPLES_SCHEMA = "aicarbon.records.samples/1"
MAX_SAMPLES_BYTES = 64 << 20
MAX_RUNS = 10_000  # per samples file: bench writes at most 1,000 (2,000 for an extended ab arm)


@dataclass
class Fingerprint:
    """Where the samples were measured: what must match for two sets to be comparable
    (``comparable_with``), and what is only reported (kernel, versions, commit)."""

    method: str  # measured, estimated, mixed, none
    sensors: list[str]  # which sources counted: rapl, nvml, estimate
    cpu_model: str
    gpus: list[str]  # GPU model names (another GPU of the same model is comparable)
    kernel: str = ""
    driver: str = ""
    aicarbon_version: str = ""
    git_commit: str | None = None

    def mismatches(self, other: Fingerprint) -> list[str]:
        """Why samples measured in ``other`` cannot be compared with these, one phrase each."""
        reasons = []
        if (self.method, sorted(self.sensors)) != (other.method, sorted(other.sensors)):
            reasons.append(
                f"sensors differ: {self.method} by {'+'.join(sorted(self.sensors)) or 'none'} vs "
                f"{other.method} by {'+'.join(sorted(other.sensors)) or 'none'}"
            )
        if self.cpu_model != other.cpu_model:
            reasons.append(f"CPU models differ: {self.cpu_model!r} vs {other.cpu_model!r}")
        if sorted(self.gpus) != sorted(other.gpus):
            reasons.append(f"GPUs differ: {sorted(self.gpus)} vs {sorted(other.gpus)}")
        return reasons

    def key(self) -> str:
        """What identifies comparable environments, for keying baselines."""
        gpus = ",".join(sorted(self.gpus)) or "no GPU"
        return f"{self.method} by {'+'.join(sorted(self.sensors))} | {self.cpu_model} | {gpus}"


@dataclass
class DomainEnergy:
    id: str
    energy_j: float
    attributed_j: float


@dataclass
class SampleRun:
    start_utc: str
    duration_s: float
    energy_j: float  # the machine's
    attributed_j: float  # the command's: the gated figure
    exit_status: int
    method: str
    average_power_w: float = 0.0
    domains: list[DomainEnergy] = field(default_factory=list)  # per domain, in_total ones


@dataclass
class Samples:
    name: str
    command: list[str]
    fingerprint: Fingerprint
    runs: list[SampleRun]
    warmup: int = 0
    interval_s: float = 0.1
    units: float | None = None  # per run
    unit_name: str = "units"
    schema: str = SAMPLES_SCHEMA
    notes: list[str] = field(default_factory=list)

    def metric(self) -> list[float]:
        """The gated figure of each run: the command's joules, per unit when units are set."""
        per = self.units if self.units else 1.0
        return [r.attributed_j / per for r in self.runs]

    @property
    def metric_name(self) -> str:
        return f"energy per {self.unit_name.rstrip('s') or 'unit'}" if self.units else "energy per run"

    def median(self) -> float:
        return statistics.median(self.metric())

    def durations(self) -> list[float]:
        return [r.duration_s for r in self.runs]

    # -- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> str:
        return dumps(asdict(self))

    def save(self, path: Path) -> None:
        write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, data: object, where: str) -> Samples:
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema != SAMPLES_SCHEMA:
            raise RecordError(
                f"{where} is not an aicarbon samples file (schema {schema!r}, not {SAMPLES_SCHEMA})"
            )
        assert isinstance(data, dict)  # the schema check above needs an object
        runs = data.get("runs")
        if isinstance(runs, list) and len(runs) > MAX_RUNS:  # before decoding them: they cost their size
            raise RecordError(f"{where} holds {len(runs)} runs; a samples file holds at most {MAX_RUNS}")
        samples = decode(cls, data, where)
        if not samples.runs:
            raise RecordError(f"{where} holds no runs")
        if samples.units is not None and samples.units <= 0:
            raise RecordError(f"{where}.units: must be positive")
        for i, run in enumerate(samples.runs):
            if run.attributed_j < 0 or run.energy_j < 0 or run.duration_s < 0:
                raise RecordError(f"{where}.runs[{i}]: a negative energy or duration")
        return samples

    @classmethod
    def load(cls, path: Path) -> Samples:
        """A samples file, or a run record taken as one sample; ``RecordError`` otherwise."""
        data = read_json_file(path, "samples file", MAX_SAMPLES_BYTES)
        schema = data.get("schema") if isinstance(data, dict) else None
        if isinstance(schema, str) and schema.startswith("aicarbon.run/"):
            return from_runs(path.stem, [Run.from_dict(data, str(path))], None, "units")
        return cls.from_dict(data, str(path))


def sensors_of(run: Run) -> list[str]:
    """Which sources counted: rapl, nvml, estimate, or codecarbon (its tracker measured: runs
    measured by aicarbon's sensors and by codecarbon's are not compared unawares)."""
    names = set()
    for d in run.counted:
        if d.by_codecarbon:
            names.add("codecarbon")
        elif d.estimated:
            names.add("estimate")
        elif d.kind == "gpu":
            names.add("nvml")
        else:
            names.add("rapl")
    return sorted(names)


def fingerprint_of(run: Run, git_commit: str | None = None) -> Fingerprint:
    gpus = [name.rsplit(" (", 1)[0] for name in run.host.gpus]
    return Fingerprint(
        method=run.method,
        sensors=sensors_of(run),
        cpu_model=run.host.cpu_model,
        gpus=gpus,
        kernel=run.host.kernel,
        driver=run.host.gpu_driver,
        aicarbon_version=run.tool.version,
        git_commit=git_commit,
    )


def from_runs(
    name: str,
    runs: list[Run],
    units: float | None,
    unit_name: str,
    warmup: int = 0,
    git_commit: str | None = None,
) -> Samples:
    """Samples from measured runs (the first one's environment is the fingerprint; the
    checked-out commit, when the caller knows it)."""
    first = runs[0]
    return Samples(
        name=name,
        command=list(first.command),
        fingerprint=fingerprint_of(first, git_commit),
        runs=[
            SampleRun(
                start_utc=r.start_utc,
                duration_s=r.duration_s,
                energy_j=r.machine_energy_j,
                attributed_j=r.attributed_energy_j,
                exit_status=_status(r),
                method=r.method,
                average_power_w=r.average_power_w,
                domains=[DomainEnergy(d.id, d.energy_j, d.attributed_j) for d in r.counted],
            )
            for r in runs
        ],
        warmup=warmup,
        interval_s=first.sampling.interval_s,
        units=units,
        unit_name=unit_name,
    )


def _status(run: Run) -> int:
    """The exit status; killed by a signal: 128 + N, as a shell says it (the record keeps both)."""
    return run.exit.status if run.exit.signal is None else max(run.exit.status, 128 + run.exit.signal)
