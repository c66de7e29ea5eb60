"""The gate's statistics against known answers: scipy's exact Mann-Whitney, an exhaustive
permutation test for ties, Holm by hand, and the coverage of the ratio interval."""

from __future__ import annotations

import math
import random

import pytest
from aicarbon.gate.stats import holm, mann_whitney, median_abs_deviation, shift_interval
from scipy import stats as scipy_stats


@pytest.mark.parametrize(
    ("n", "m", "shift"), [(3, 3, 0.0), (5, 5, 1.0), (4, 9, -0.5), (10, 10, 0.7), (12, 8, 0.2)]
)
def test_exact_p_values_match_scipy(n: int, m: int, shift: float) -> None:
    rng = random.Random(n * 100 + m)
    a = [rng.gauss(0, 1) for _ in range(n)]
    b = [rng.gauss(shift, 1) for _ in range(m)]
    mine = mann_whitney(a, b)
    greater = scipy_stats.mannwhitneyu(b, a, alternative="greater", method="exact")
    less = scipy_stats.mannwhitneyu(b, a, alternative="less", method="exact")
    assert mine.exact and mine.u == greater.statistic
    assert mine.p_greater == pytest.approx(greater.pvalue, rel=1e-12)
    assert mine.p_less == pytest.approx(less.pvalue, rel=1e-12)


def test_ties_are_exact_against_an_exhaustive_permutation_test() -> None:
    a, b = [10, 11, 11, 12, 12], [11, 12, 12, 13, 13]  # energies rounded to the joule: ties
    mine = mann_whitney(a, b)
    exhaustive = scipy_stats.permutation_test(
        (b, a),
        lambda x, y: scipy_stats.mannwhitneyu(x, y).statistic,
        permutation_type="independent",
        alternative="greater",
        n_resamples=math.inf,
    )
    assert mine.p_greater == pytest.approx(exhaustive.pvalue, rel=1e-12)


def test_the_smallest_p_five_runs_per_arm_can_give() -> None:
    # Every new run above every base run: 1 arrangement of C(10, 5) = 252.
    assert mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p_greater == pytest.approx(1 / 252)


def test_large_samples_use_the_normal_approximation_close_to_scipy() -> None:
    rng = random.Random(7)
    a = [rng.gauss(0, 1) for _ in range(60)]
    b = [rng.gauss(0.3, 1) for _ in range(60)]
    mine = mann_whitney(a, b)
    theirs = scipy_stats.mannwhitneyu(b, a, alternative="greater", method="asymptotic")
    assert not mine.exact and mine.p_greater == pytest.approx(theirs.pvalue, rel=1e-6)


def test_holm_by_hand() -> None:
    # Sorted 0.01, 0.03, 0.04, 0.2: x4, x3, x2, x1, kept monotone.
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == [0.02]


def test_the_ratio_interval_covers_the_true_ratio_about_95_percent_of_the_time() -> None:
    rng = random.Random(2026)
    trials, covered, achieved = 400, 0, set()
    for _ in range(trials):
        base = [math.log(100 * rng.lognormvariate(0, 0.05)) for _ in range(8)]
        new = [math.log(120 * rng.lognormvariate(0, 0.05)) for _ in range(8)]
        shift = shift_interval(base, new)
        achieved.add(round(shift.confidence, 4))
        covered += shift.low <= math.log(1.2) <= shift.high
    (level,) = achieved  # one exact level for 8 and 8 runs
    assert 0.95 <= level < 0.96
    assert abs(covered / trials - level) < 0.03  # 400 trials: about 1.1 points of sd


def test_hodges_lehmann_estimate_and_a_too_small_sample() -> None:
    shift = shift_interval([0.0, 1.0, 2.0], [10.0, 11.0, 12.0])
    assert shift.estimate == 10.0
    tiny = shift_interval([1.0], [2.0])  # one run each: no 95% interval exists
    assert (tiny.low, tiny.high) == (1.0, 1.0) and tiny.confidence < 0.95


def test_median_absolute_deviation() -> None:
    assert median_abs_deviation([1, 2, 3, 4, 100]) == 1
