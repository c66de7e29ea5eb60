"""The CI gate's decisions: schema ``aicarbon.check/1`` (``aicarbon compare/ab/check --format json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

# -- the CI gate's decisions (made by gate.py) --------------------------------------------------------


class Verdict(str, Enum):
    OK = "ok"
    IMPROVED = "improved"
    WARN = "warn"
    INCONCLUSIVE = "inconclusive"
    REGRESSION = "regression"
    OVER_BUDGET = "over budget"
    NO_BASELINE = "no baseline"


@dataclass
class GateComparison:
    name: str
    metric: str  # "energy per run" or "energy per <unit>"
    verdict: Verdict
    rule: str  # "two samples", "single baseline", "history of N sessions", "budget"
    new_median: float
    n_new: int
    new_values: list[float]
    # The base side: None (and 0 runs) where there is no base to compare with.
    base_median: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    p_greater: float | None = None
    p_less: float | None = None
    n_base: int = 0
    duration_ratio: float | None = None  # beside the metric, not gated: slower, or hungrier?
    power_ratio: float | None = None
    reasons: list[str] = field(default_factory=list)
    base_values: list[float] = field(default_factory=list)


FAILING = {Verdict.REGRESSION, Verdict.OVER_BUDGET}


def overall(comparisons: list[GateComparison]) -> Verdict:
    """The verdict of a whole check: the worst of its comparisons."""
    rank = [
        Verdict.OVER_BUDGET,
        Verdict.REGRESSION,
        Verdict.INCONCLUSIVE,
        Verdict.WARN,
        Verdict.NO_BASELINE,
        Verdict.IMPROVED,
        Verdict.OK,
    ]
    return min((c.verdict for c in comparisons), key=rank.index, default=Verdict.NO_BASELINE)
