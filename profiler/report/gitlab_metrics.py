"""The CI gate's figures as a GitLab Metrics Report (``artifacts:reports:metrics``): the
``metrics.txt`` GitLab shows in a merge request and compares with the target branch's.

GitLab reads each line as ``NAME VALUE`` (split at the space) and skips comments; the file is
also valid OpenMetrics text (``prometheus_client``'s strict parser reads it back). One gauge per
figure, the benchmark a label: ``aicarbon_energy_joules{benchmark="infer"} 12.3``. A label value
keeps its text but not its blanks (each becomes ``_``), so that GitLab's split stays right.
"""

from __future__ import annotations

import math
import re

from ..records.check import FAILING, GateComparison
from ..records.samples import Samples

_BLANKS = re.compile(r"\s")


def _label(text: str) -> str:
    """An OpenMetrics label value without blanks: backslash, quote escaped; blanks as ``_``."""
    text = _BLANKS.sub("_", text[:200])
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _family(name: str, unit: str, help_text: str, rows: list[tuple[str, float]]) -> list[str]:
    rows = [(labels, value) for labels, value in rows if math.isfinite(value)]
    if not rows:
        return []
    lines = [f"# TYPE {name} gauge"]
    if unit:
        lines.append(f"# UNIT {name} {unit}")
    lines.append(f"# HELP {name} {help_text}")
    lines += [f"{name}{{{labels}}} {value!r}" for labels, value in rows]
    return lines


def _labels(c: GateComparison) -> str:
    labels = f'benchmark="{_label(c.name)}"'
    if c.metric != "energy per run":
        labels += f',unit="{_label(c.metric.removeprefix("energy per "))}"'
    return labels


def metrics_txt(comparisons: list[GateComparison]) -> str:
    """``compare``, ``check`` and ``ab``: the new median, the base median, their ratio, and
    whether the gate failed it (1) or not (0), per benchmark."""
    new = [(_labels(c), c.new_median) for c in comparisons]
    base = [(_labels(c), c.base_median) for c in comparisons if c.base_median is not None]
    ratio = [(_labels(c), c.ratio) for c in comparisons if c.ratio is not None]
    failed = [(_labels(c), 1.0 if c.verdict in FAILING else 0.0) for c in comparisons]
    lines = _family(
        "aicarbon_energy_joules", "joules", "Median energy of the new runs (per run or unit).", new
    )
    lines += _family("aicarbon_base_energy_joules", "joules", "Median energy of the base runs.", base)
    lines += _family("aicarbon_energy_ratio", "", "New median over base median.", ratio)
    lines += _family(
        "aicarbon_energy_regression", "", "1 when the gate failed this benchmark, else 0.", failed
    )
    return "\n".join([*lines, "# EOF"]) + "\n"


def samples_metrics_txt(samples: Samples) -> str:
    """``bench``: the median of the gated figure (per run, or per unit) and the run count."""
    labels = f'benchmark="{_label(samples.name)}"'
    if samples.metric_name != "energy per run":
        labels += f',unit="{_label(samples.metric_name.removeprefix("energy per "))}"'
    median = [(labels, samples.median())] if samples.runs else []
    lines = _family(
        "aicarbon_energy_joules", "joules", "Median energy of the runs (per run or per unit).", median
    )
    lines += _family("aicarbon_runs", "", "Runs measured.", [(labels, float(len(samples.runs)))])
    return "\n".join([*lines, "# EOF"]) + "\n"
