"""The CI gate's figures as a GitLab Metrics Report (``artifacts:reports:metrics``): the
``metrics.txt`` GitLab shows in a merge request and compares with the target branch's.

GitLab reads each line as ``NAME VALUE`` (split at the space) and skips comments; the file is
also valid OpenMetrics text (``prometheus_client``'s strict parser reads it back). One gauge per
figure, the benchmark a label: ``aicarbon_energy_joules{benchmark="infer"} 12.3``, written by
``metrics``' OpenMetrics writer. A label value keeps its text but not its blanks (each becomes
``_``), so that GitLab's split stays right.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..records.check import FAILING, GateComparison
from ..records.samples import Samples
from .metrics import Family, Labels, openmetrics

_BLANKS = re.compile(r"\s")


def _labels(name: str, metric: str) -> Labels:
    """The benchmark, and the unit when the figure is per unit; blanks as ``_`` (escaping is
    ``metrics``')."""
    labels: Labels = (("benchmark", _BLANKS.sub("_", name[:200])),)
    if metric != "energy per run":
        labels += (("unit", _BLANKS.sub("_", metric.removeprefix("energy per ")[:200])),)
    return labels


def _gauge(name: str, unit: str, help_text: str, rows: Sequence[tuple[Labels, float | None]]) -> list[Family]:
    """One gauge family of ``rows`` (those with a value); none when no row has one."""
    family = Family(name, "gauge", unit, help_text)
    for labels, value in rows:
        if value is not None:
            family.add(labels, value)
    return [family] if family.samples else []


def metrics_txt(comparisons: list[GateComparison]) -> str:
    """``compare``, ``check`` and ``ab``: the new median, the base median, their ratio, and
    whether the gate failed it (1) or not (0), per benchmark."""
    labelled = [(_labels(c.name, c.metric), c) for c in comparisons]
    families = _gauge("aicarbon_energy_joules", "joules", "Median energy of the new runs (per run or unit).",
                      [(labels, c.new_median) for labels, c in labelled])  # fmt: skip
    families += _gauge("aicarbon_base_energy_joules", "joules", "Median energy of the base runs.",
                       [(labels, c.base_median) for labels, c in labelled])  # fmt: skip
    families += _gauge("aicarbon_energy_ratio", "", "New median over base median.",
                       [(labels, c.ratio) for labels, c in labelled])  # fmt: skip
    failed = [(labels, 1.0 if c.verdict in FAILING else 0.0) for labels, c in labelled]
    families += _gauge(
        "aicarbon_energy_regression", "", "1 when the gate failed this benchmark, else 0.", failed
    )
    return openmetrics(families)


def samples_metrics_txt(samples: Samples) -> str:
    """``bench``: the median of the gated figure (per run, or per unit) and the run count."""
    labels = _labels(samples.name, samples.metric_name)
    median = samples.median() if samples.runs else None
    families = _gauge("aicarbon_energy_joules", "joules", "Median energy of the runs (per run or per unit).",
                      [(labels, median)])  # fmt: skip
    families += _gauge("aicarbon_runs", "", "Runs measured.", [(labels, float(len(samples.runs)))])
    return openmetrics(families)
