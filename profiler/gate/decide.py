"""The CI gate's decision: is NEW's energy a regression against BASE?

The rule, after asv (a factor and a Mann-Whitney test) and criterion (significance, then a
noise threshold): a difference must be both *significant* and *large enough to matter*.

* metric: the command's energy per run, or per declared unit (see samples);
* ratio: median(new) / median(base), with a 95% interval (Hodges-Lehmann on log-energies,
  the exact distribution-free interval of the ratio);
* p: exact one-sided Mann-Whitney tests, Holm-adjusted when one check compares several
  benchmarks.

Verdicts, with T = ``threshold`` (10%) and W = ``warn_threshold`` (5%):

* REGRESSION: ratio > 1 + T and p(greater) <= alpha;
* IMPROVED: ratio < 1 / (1 + T) and p(less) <= alpha (the same factor, downwards);
* WARN: significant and ratio > 1 + W, or ratio > 1 + T but not significant;
* INCONCLUSIVE: none of those, but the interval's upper end is above 1 + T: a regression of
  the size that matters cannot be ruled out with these runs (``ab`` then extends once);
* OK otherwise.

Against a *single stored baseline* session (which cannot see day-to-day offsets between
runners), REGRESSION needs the whole interval above 1 + T. With at least ``HISTORY_MIN``
stored sessions, the new median is judged against a 95% prediction interval of the sessions'
medians (log scale, Student t), and must exceed both it and (1 + T) x their median.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from ..errors import AicarbonError
from ..records.check import FAILING, GateComparison, Verdict
from ..records.samples import Samples
from .settings import GATE
from .stats import holm, mann_whitney, shift_interval

HISTORY_MIN = 5
# Student t, two-sided 95% (0.975 quantile), by degrees of freedom; 1.96 beyond the table.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160]
_T975 += [2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060]
_T975 += [2.056, 2.052, 2.048, 2.045, 2.042]


class NotComparable(AicarbonError):
    """Samples from environments that cannot be compared (exit 2 unless allowed)."""


class FailedBenchmark(AicarbonError):
    """Samples with a run whose command failed: nothing can be decided on them (exit 2)."""


def require_successful(samples: Samples, where: str | None = None) -> None:
    """``FailedBenchmark`` when a run of ``samples`` did not exit 0 (an error status, or killed
    by a signal: 128 + N): its energy is that of a crash, not of the benchmark."""
    failed = [(i, r.exit_status) for i, r in enumerate(samples.runs, start=1) if r.exit_status != 0]
    if failed:
        i, status = failed[0]
        how = f"was killed by signal {status - 128}" if status > 128 else f"exited with status {status}"
        more = f" (and {len(failed) - 1} more runs failed)" if len(failed) > 1 else ""
        raise FailedBenchmark(
            f"{where or samples.name}: run {i} of {len(samples.runs)} {how}{more}; a failed benchmark "
            "cannot be compared: nothing decided"
        )


@dataclass(frozen=True)
class GateSettings:
    threshold: float = GATE["threshold"].default
    warn_threshold: float = GATE["warn_threshold"].default
    alpha: float = GATE["alpha"].default
    confidence: float = 0.95
    fail_on: str = GATE["fail_on"].default  # regression, inconclusive or never
    max_energy_j: float | None = None  # per run, on the new median
    max_energy_per_unit_j: float | None = None
    allow_env_mismatch: bool = False


def check_comparable(base: Samples, new: Samples, settings: GateSettings) -> list[str]:
    """Mismatches between the environments; ``NotComparable`` unless they are allowed."""
    reasons = base.fingerprint.mismatches(new.fingerprint)
    if (base.units is None) != (new.units is None):
        reasons.append("one side counts energy per unit (--units) and the other per run")
    if reasons and not settings.allow_env_mismatch:
        raise NotComparable(
            "not comparable: " + "; ".join(reasons) + " (--allow-env-mismatch compares them anyway)"
        )
    return reasons


def compare_all(
    pairs: list[tuple[Samples, Samples]], settings: GateSettings, rule: str = "two samples"
) -> list[GateComparison]:
    """Compare each (base, new) pair; p-values are Holm-adjusted across the pairs.
    ``FailedBenchmark`` when a run of either side failed."""
    for base, new in pairs:
        require_successful(base)
        require_successful(new)
    tests = [mann_whitney(b.metric(), n.metric()) for b, n in pairs]
    greater = holm([t.p_greater for t in tests])
    less = holm([t.p_less for t in tests])
    return [_compare(base, new, settings, rule, greater[i], less[i]) for i, (base, new) in enumerate(pairs)]


def _compare(
    base: Samples, new: Samples, settings: GateSettings, rule: str, p_greater: float, p_less: float
) -> GateComparison:
    a, b = base.metric(), new.metric()
    base_median, new_median = statistics.median(a), statistics.median(b)
    if base_median > 0:
        ratio = new_median / base_median
    else:  # nothing measured on the base side: equal if nothing on the new side either
        ratio = 1.0 if new_median == 0 else math.inf
    low, high = _ratio_interval(a, b, settings.confidence)
    if max(a) == 0 and max(b) == 0:
        low = high = 1.0
    upper, warn, alpha = 1 + settings.threshold, 1 + settings.warn_threshold, settings.alpha
    if rule == "single baseline":
        regression = low > upper
    else:
        regression = ratio > upper and p_greater <= alpha
    if regression:
        verdict = Verdict.REGRESSION
    elif ratio < 1 / upper and p_less <= alpha:
        verdict = Verdict.IMPROVED
    elif (p_greater <= alpha and ratio > warn) or ratio > upper:
        verdict = Verdict.WARN
    elif high > upper:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.OK
    return _judged(
        new,
        settings,
        verdict,
        rule,
        base_median=base_median,
        ratio=ratio,
        ratio_low=low,
        ratio_high=high,
        p_greater=p_greater,
        p_less=p_less,
        n_base=len(a),
        duration_ratio=_median_ratio(base.durations(), new.durations()),
        power_ratio=_median_ratio(
            [r.average_power_w for r in base.runs], [r.average_power_w for r in new.runs]
        ),
        base_values=a,
    )


def _judged(
    new: Samples, settings: GateSettings, verdict: Verdict, rule: str, **base_side: Any
) -> GateComparison:
    """The comparison of ``new``'s runs against a base (``base_side``: GateComparison's base
    fields), with the absolute budget applied on top."""
    values = new.metric()
    comparison = GateComparison(
        name=new.name,
        metric=new.metric_name,
        verdict=verdict,
        rule=rule,
        new_median=statistics.median(values),
        n_new=len(values),
        new_values=values,
        **base_side,
    )
    apply_budget(comparison, new, settings)
    return comparison


def _ratio_interval(a: list[float], b: list[float], confidence: float) -> tuple[float, float]:
    if min(a) <= 0 or min(b) <= 0:  # a zero-energy run: no ratio interval on a log scale
        return 0.0, math.inf
    shift = shift_interval([math.log(x) for x in a], [math.log(y) for y in b], confidence)
    return math.exp(shift.low), math.exp(shift.high)


def _median_ratio(a: list[float], b: list[float]) -> float | None:
    base = statistics.median(a)
    return statistics.median(b) / base if base > 0 else None


def compare_history(sessions: list[Samples], new: Samples, settings: GateSettings) -> GateComparison:
    """Against stored sessions: a prediction interval of their medians when there are enough,
    else the single-baseline rule against the pooled latest session. ``FailedBenchmark`` when
    a run of a session, or of the new samples, failed."""
    for session in [*sessions, new]:
        require_successful(session)
    if len(sessions) < HISTORY_MIN:
        latest = sessions[-1]
        return compare_all([(latest, new)], settings, rule="single baseline")[0]
    medians = [s.median() for s in sessions]
    logs = [math.log(m) for m in medians if m > 0]
    center = statistics.median(medians)
    k = len(logs)
    mean, sd = statistics.mean(logs), statistics.stdev(logs)
    t = _T975[k - 2] if k - 2 < len(_T975) else 1.96
    upper_bound = math.exp(mean + t * sd * math.sqrt(1 + 1 / k))
    lower_bound = math.exp(mean - t * sd * math.sqrt(1 + 1 / k))
    values = new.metric()
    new_median = statistics.median(values)
    ratio = new_median / center if center > 0 else math.inf
    upper = 1 + settings.threshold
    if new_median > upper_bound and ratio > upper:
        verdict = Verdict.REGRESSION
    elif new_median < lower_bound and ratio < 1 / upper:
        verdict = Verdict.IMPROVED
    elif new_median > upper_bound or ratio > 1 + settings.warn_threshold:
        verdict = Verdict.WARN
    else:
        verdict = Verdict.OK
    return _judged(
        new,
        settings,
        verdict,
        f"history of {k} sessions",
        base_median=center,
        ratio=ratio,
        ratio_low=lower_bound / center if center > 0 else None,
        ratio_high=upper_bound / center if center > 0 else None,
        n_base=sum(len(s.runs) for s in sessions),
        base_values=medians,
    )


def budget_only(new: Samples, settings: GateSettings, verdict: Verdict) -> GateComparison:
    """No baseline to compare with: the budget alone, or nothing (``NO_BASELINE``)."""
    return _judged(new, settings, verdict, "budget")


def apply_budget(comparison: GateComparison, new: Samples, settings: GateSettings) -> None:
    """An absolute budget on the new median: blown is OVER_BUDGET, whatever the comparison."""
    per_run = statistics.median(r.attributed_j for r in new.runs)
    if settings.max_energy_j is not None and per_run > settings.max_energy_j:
        comparison.verdict = Verdict.OVER_BUDGET
        comparison.reasons.append(
            f"median energy per run {per_run:.4g} J is over the budget {settings.max_energy_j:.4g} J"
        )
    if settings.max_energy_per_unit_j is not None:
        if not new.units:
            comparison.reasons.append("--max-energy-per-unit needs --units: not checked")
        else:
            per_unit = per_run / new.units
            if per_unit > settings.max_energy_per_unit_j:
                comparison.verdict = Verdict.OVER_BUDGET
                comparison.reasons.append(
                    f"median energy per {new.unit_name.rstrip('s') or 'unit'} {per_unit:.4g} J is over the "
                    f"budget {settings.max_energy_per_unit_j:.4g} J"
                )


def worth_more_runs(comparison: GateComparison, settings: GateSettings) -> bool:
    """Inconclusive, or above the threshold without significance: more runs may decide."""
    if comparison.verdict is Verdict.INCONCLUSIVE:
        return True
    return comparison.verdict is Verdict.WARN and (comparison.p_greater or 0.0) > settings.alpha


def exit_status(comparisons: list[GateComparison], settings: GateSettings) -> int:
    """0 ok, improved, warn, inconclusive or no baseline; 1 a regression or a blown budget
    (and inconclusive with ``fail_on="inconclusive"``); always 0 with ``fail_on="never"``."""
    if settings.fail_on == "never":
        return 0
    failing = set(FAILING)
    if settings.fail_on == "inconclusive":
        failing.add(Verdict.INCONCLUSIVE)
    return 1 if any(c.verdict in failing for c in comparisons) else 0
