"""Metrics for a monitoring stack: the Prometheus text format (0.0.4) and OpenMetrics 1.0.

Names follow Prometheus's conventions: the base unit in the name (``joules``, ``watts``,
``grams``, ``seconds``), counters ending in ``_total``, everything under ``aicarbon_`` so that
nothing mixes with node_exporter's ``node_rapl_*_joules_total``, Kepler's
``kepler_*_joules_total`` or DCGM's ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` (millijoules).
Labels carry only bounded values: the host, the domain (``cpu:package-0``, ``gpu:0``), its kind
and method; never a command line, a run name or a PID. Label values are escaped (``\\``, ``"``,
newlines) and every value written is finite.

Two writers from one model (``Family``): ``text`` for Prometheus and node_exporter's textfile
collector (no timestamps), and ``openmetrics`` (``# UNIT``, counters' family names without
``_total``, ``# EOF``). ``run_families`` is what ``aicarbon run --prometheus-textfile`` writes.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..records.output_file import OutputPathError, write_text
from ..records.run import Run

Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    name: str  # without _total: aicarbon_energy_joules
    kind: str  # counter or gauge
    unit: str  # joules, watts, grams, seconds, or "" (a count)
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def add(self, labels: Labels, value: float) -> None:
        if math.isfinite(value):
            self.samples.append((labels, value))

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total" if self.kind == "counter" else self.name


def text(families: list[Family]) -> str:
    """The Prometheus text format, version 0.0.4 (what node_exporter's textfile collector reads)."""
    lines = []
    for family in families:
        lines.append(f"# HELP {family.sample_name} {_help(family.help)}")
        lines.append(f"# TYPE {family.sample_name} {family.kind}")
        lines += [
            f"{family.sample_name}{_labels(labels)} {_number(value)}" for labels, value in family.samples
        ]
    return "\n".join(lines) + "\n"


def openmetrics(families: list[Family]) -> str:
    """OpenMetrics 1.0 text (``application/openmetrics-text; version=1.0.0``)."""
    lines = []
    for family in families:
        lines.append(f"# TYPE {family.name} {family.kind}")
        if family.unit:
            lines.append(f"# UNIT {family.name} {family.unit}")
        lines.append(f"# HELP {family.name} {_help(family.help)}")
        lines += [
            f"{family.sample_name}{_labels(labels)} {_number(value)}" for labels, value in family.samples
        ]
    return "\n".join(lines + ["# EOF"]) + "\n"


def run_families(run: Run, totals: dict[str, float] | None = None) -> list[Family]:
    """A run's figures: counters that add it to ``totals`` (earlier runs', keyed by sample line
    without its value, as ``counter_totals`` reads them back) and gauges of this run."""
    host = run.host.hostname
    previous = totals or {}
    energy = Family("aicarbon_energy_joules", "counter", "joules", "Energy of measured runs, per domain.")
    attributed = Family(
        "aicarbon_attributed_energy_joules", "counter", "joules", "Energy charged to the measured commands."
    )
    emissions = Family("aicarbon_emissions_grams", "counter", "grams", "CO2e of measured runs' energy.")
    runs = Family("aicarbon_runs", "counter", "", "Runs measured.")
    for d in run.counted:
        labels: Labels = (("host", host), ("domain", d.id), ("kind", d.kind), ("method", d.method))
        energy.add(labels, d.energy_j + previous.get(_key(energy, labels), 0.0))
        attributed.add(labels, d.attributed_j + previous.get(_key(attributed, labels), 0.0))
    host_only: Labels = (("host", host),)
    grams = run.impact.emissions_g if run.impact is not None else 0.0
    emissions.add(host_only, grams + previous.get(_key(emissions, host_only), 0.0))
    runs.add(host_only, 1.0 + previous.get(_key(runs, host_only), 0.0))
    last = [
        ("aicarbon_last_run_energy_joules", "joules", "The last run's machine energy.", run.machine_energy_j),
        ("aicarbon_last_run_duration_seconds", "seconds", "The last run's duration.", run.duration_s),
        ("aicarbon_last_run_power_watts", "watts", "The last run's average power.", run.average_power_w),
        ("aicarbon_last_run_exit_status", "", "The last run's exit status.", float(run.exit.status)),
    ]
    gauges = []
    for name, unit, help_text, value in last:
        gauge = Family(name, "gauge", unit, help_text)
        gauge.add(host_only, value)
        gauges.append(gauge)
    return [energy, attributed, emissions, runs, *gauges]


def counter_totals(exposition: str) -> dict[str, float]:
    """The counters of a text exposition this module wrote, keyed as ``run_families`` adds to
    them (lines it did not write, or cannot read, are left out: those counters restart)."""
    totals: dict[str, float] = {}
    for line in exposition.splitlines():
        if line.startswith("aicarbon_") and "_total" in line.split("{", 1)[0]:
            key, _, number = line.rpartition(" ")
            try:
                value = float(number)
            except ValueError:
                continue
            if math.isfinite(value) and value >= 0:
                totals[key] = value
    return totals


def _key(family: Family, labels: Labels) -> str:
    return f"{family.sample_name}{_labels(labels)}"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _escape(value: str) -> str:
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate: visible
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value))


class TextfileError(OutputPathError):
    """A textfile path that cannot take the metrics, in one sentence."""


def check_textfile(path: Path) -> None:
    """Refuse, before the command runs, what node_exporter's textfile collector would never
    read or aicarbon could never write: a name not ending in ``.prom``, a directory that does
    not exist or cannot be written, a path that is not a regular file."""
    if path.suffix != ".prom":
        raise TextfileError(
            f"--prometheus-textfile: {path} does not end in .prom, the only files node_exporter's "
            "textfile collector reads"
        )
    directory = path.absolute().parent
    if not directory.is_dir():
        raise TextfileError(f"--prometheus-textfile: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise TextfileError(f"--prometheus-textfile: directory {directory} is not writable")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise TextfileError(f"--prometheus-textfile: {path} is not a regular file")


def write_textfile(path: Path, run: Run) -> None:
    """Add ``run`` to the counters in ``path`` and replace it atomically (a temporary file,
    then a rename: node_exporter never reads half a file). An exclusive lock on ``PATH.lock``
    keeps parallel runs from losing each other's counts. ``OSError`` when it cannot."""
    import fcntl

    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            previous = counter_totals(path.read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError:
            previous = {}
        write_text(path, text(run_families(run, previous)))
    finally:
        os.close(fd)
