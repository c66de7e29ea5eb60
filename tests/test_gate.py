"""The CI gate's decisions on samples with known answers: every verdict and exit status, the
stricter rules against stored baselines, budgets, refusals, interleaving and warnings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from aicarbon.gate.bench import interleaving, quality_warnings
from aicarbon.gate.decide import (
    GateSettings,
    NotComparable,
    check_comparable,
    compare_all,
    compare_history,
    exit_status,
)
from aicarbon.records.baseline import Baseline
from aicarbon.records.check import Verdict, overall
from aicarbon.records.codec import RecordError
from aicarbon.records.samples import Samples
from gate_helpers import FINGERPRINT, samples

BASE = [100.0, 101.0, 99.0, 100.5, 99.5]
DEFAULT = GateSettings()


def verdict(base: list[float], new: list[float], settings: GateSettings = DEFAULT, rule: str = "two samples"):
    return compare_all([(samples(base), samples(new))], settings, rule)[0]


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        ([130.0, 131.0, 129.0, 130.5, 129.5], Verdict.REGRESSION),  # +30%, all above: p = 1/252
        ([70.0, 71.0, 69.0, 70.5, 69.5], Verdict.IMPROVED),
        ([107.0, 108.0, 106.0, 107.5, 106.5], Verdict.WARN),  # significant, above 5%, below 10%
        ([100.0, 101.0, 99.0, 100.5, 99.5], Verdict.OK),
        ([85.0, 101.0, 99.5, 140.0, 115.0], Verdict.INCONCLUSIVE),  # median +0.5%, could be +15%
        ([80.0, 112.0, 113.0, 160.0, 99.0], Verdict.WARN),  # median +12% but not significant
    ],
)
def test_every_verdict_of_the_two_sample_rule(new: list[float], expected: Verdict) -> None:
    assert verdict(BASE, new).verdict is expected


def test_commands_that_use_no_measurable_energy_compare_equal() -> None:
    nothing = verdict([0.0] * 5, [0.0] * 5)
    assert (nothing.verdict, nothing.ratio, nothing.ratio_low, nothing.ratio_high) == (
        Verdict.OK,
        1.0,
        1.0,
        1.0,
    )
    something = verdict([0.0] * 5, [1.0] * 5)
    assert something.ratio == float("inf") and something.verdict is Verdict.REGRESSION


def test_the_ratio_and_its_interval_are_reported() -> None:
    c = verdict(BASE, [v * 1.3 for v in BASE])
    assert c.ratio == pytest.approx(1.3) and c.ratio_low <= 1.3 <= c.ratio_high
    assert c.p_greater == pytest.approx(1 / 252) and (c.n_base, c.n_new) == (5, 5)


def test_a_single_stored_baseline_needs_the_whole_interval_above_the_threshold() -> None:
    new = [108.5, 113.0, 111.0, 112.5, 116.0]  # +12.5%, significant, but the interval reaches 1.085
    assert verdict(BASE, new).verdict is Verdict.REGRESSION
    single = verdict(BASE, new, rule="single baseline")
    assert single.ratio_low < 1.10 and single.verdict is Verdict.WARN
    assert (
        verdict(BASE, [130.0, 131.0, 129.0, 130.5, 129.5], rule="single baseline").verdict
        is Verdict.REGRESSION
    )


def test_history_of_sessions_uses_a_prediction_interval() -> None:
    sessions = [samples([m] * 5) for m in (100.0, 104.0, 97.0, 101.0, 99.0, 103.0)]
    day_to_day = compare_history(sessions, samples([106.0] * 5), DEFAULT)
    assert day_to_day.verdict in (Verdict.OK, Verdict.WARN) and day_to_day.rule == "history of 6 sessions"
    assert compare_history(sessions, samples([125.0] * 5), DEFAULT).verdict is Verdict.REGRESSION
    few = compare_history(sessions[:2], samples([125.0] * 5), DEFAULT)
    assert few.rule == "single baseline"


def test_holm_across_benchmarks_in_one_check() -> None:
    # Each pair alone: +12%, p = 1/252 -> regression. Ten at once: Holm keeps them (10/252 < 0.05)...
    base, new = samples(BASE), samples([v * 1.12 for v in BASE])
    assert [c.verdict for c in compare_all([(base, new)] * 10, DEFAULT)] == [Verdict.REGRESSION] * 10
    # ... but a weaker signal (p = 2/252 each) does not survive 20 comparisons.
    weaker = samples([112.0, 113.0, 111.0, 112.5, 99.8])
    alone = compare_all([(base, weaker)], DEFAULT)[0]
    many = compare_all([(base, weaker)] * 20, DEFAULT)
    assert alone.verdict is Verdict.REGRESSION and all(c.verdict is not Verdict.REGRESSION for c in many)
    assert many[0].p_greater == pytest.approx(min(1.0, 20 * alone.p_greater))


def test_budgets_fail_on_the_median() -> None:
    over = dataclasses.replace(DEFAULT, max_energy_j=99.0)
    assert verdict(BASE, BASE, over).verdict is Verdict.OVER_BUDGET
    per_unit = dataclasses.replace(DEFAULT, max_energy_per_unit_j=0.009)
    unit_base, unit_new = samples(BASE, units=10_000), samples(BASE, units=10_000)
    (c,) = compare_all([(unit_base, unit_new)], per_unit)
    assert (
        c.verdict is Verdict.OVER_BUDGET
        and "energy per unit 0.01 J is over the budget 0.009 J" in c.reasons[0]
    )
    assert c.metric == "energy per unit"


@pytest.mark.parametrize(
    ("verdicts", "fail_on", "status"),
    [
        (
            [Verdict.OK, Verdict.IMPROVED, Verdict.WARN, Verdict.INCONCLUSIVE, Verdict.NO_BASELINE],
            "regression",
            0,
        ),
        ([Verdict.OK, Verdict.REGRESSION], "regression", 1),
        ([Verdict.OVER_BUDGET], "regression", 1),
        ([Verdict.INCONCLUSIVE], "inconclusive", 1),
        ([Verdict.REGRESSION, Verdict.OVER_BUDGET], "never", 0),
    ],
)
def test_exit_statuses(verdicts: list[Verdict], fail_on: str, status: int) -> None:
    comparisons = [dataclasses.replace(verdict(BASE, BASE), verdict=v) for v in verdicts]
    settings = dataclasses.replace(DEFAULT, fail_on=fail_on)
    assert exit_status(comparisons, settings) == status


def test_the_overall_verdict_is_the_worst() -> None:
    comparisons = [dataclasses.replace(verdict(BASE, BASE), verdict=v) for v in (Verdict.OK, Verdict.WARN)]
    assert overall(comparisons) is Verdict.WARN
    comparisons.append(dataclasses.replace(comparisons[0], verdict=Verdict.REGRESSION))
    assert overall(comparisons) is Verdict.REGRESSION
    assert overall([]) is Verdict.NO_BASELINE


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "measured", "sensors": ["rapl"]}, "sensors differ"),
        ({"cpu_model": "Intel(R) Xeon(R) Platinum 8370C"}, "CPU models differ"),
        ({"gpus": ["NVIDIA H100 80GB HBM3"]}, "GPUs differ"),
    ],
)
def test_apples_against_oranges_is_not_comparable_unless_allowed(change: dict, reason: str) -> None:
    other = samples(BASE, fingerprint=dataclasses.replace(FINGERPRINT, **change))
    with pytest.raises(NotComparable, match=reason):
        check_comparable(samples(BASE), other, DEFAULT)
    allowed = dataclasses.replace(DEFAULT, allow_env_mismatch=True)
    assert any(reason in r for r in check_comparable(samples(BASE), other, allowed))
    # Kernel, aicarbon version and commit are reported, not compared.
    same = dataclasses.replace(FINGERPRINT, kernel="6.8", aicarbon_version="9", git_commit="f" * 40)
    assert check_comparable(samples(BASE), samples(BASE, fingerprint=same), DEFAULT) == []


def test_per_unit_against_per_run_is_not_comparable() -> None:
    with pytest.raises(NotComparable, match="per unit"):
        check_comparable(samples(BASE), samples(BASE, units=100), DEFAULT)


def test_interleaving_never_runs_one_arm_in_a_long_stretch() -> None:
    assert "".join(interleaving(4)) == "abbaabba"
    shuffled = interleaving(50, "random", seed=3)
    assert shuffled == interleaving(50, "random", seed=3) and shuffled.count("a") == 50
    assert "aaa" not in "".join(shuffled) and "bbb" not in "".join(shuffled)


def test_quality_warnings() -> None:
    quiet = samples(BASE)
    assert quality_warnings(quiet) == []
    noisy = samples([100.0, 125.0, 99.0, 101.0, 100.0])
    notes = quality_warnings(noisy)
    assert any("spread 26%" in n for n in notes) and any("run(s) 2 are outliers" in n for n in notes)
    cold = samples([190.0, 100.0, 101.0, 99.0, 100.0], durations=[0.5] * 5)
    notes = quality_warnings(cold)
    assert any("first run used 1.9x" in n for n in notes) and any("shorter than 1 s" in n for n in notes)


def test_samples_round_trip_and_refuse_other_files(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    samples(BASE, units=10).save(path)
    back = Samples.load(path)
    assert back.metric() == pytest.approx([v / 10 for v in BASE]) and back.fingerprint == FINGERPRINT
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))
    for text, message in [
        ('{"schema": "aicarbon.records.samples/1", "name": "x"}', "missing"),
        (path.read_text()[:200], "not valid JSON"),
        ('{"schema": "other"}', "not an aicarbon samples file"),
        (path.read_text().replace('"attributed_j": 100.0', '"attributed_j": -1'), "negative"),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(RecordError, match=message):
            Samples.load(bad)


def test_baseline_keeps_the_last_sessions_per_benchmark_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    assert Baseline.load(path) is None  # no file: no baseline, not an error
    stored = Baseline()
    for median in (100.0, 101.0, 102.0):
        stored.add(samples([median] * 5), keep=2)
    other_cpu = dataclasses.replace(FINGERPRINT, cpu_model="Intel")
    stored.add(samples([50.0] * 5, fingerprint=other_cpu), keep=2)
    stored.save(path)
    back = Baseline.load(path)
    assert back is not None and len(back.entries) == 2
    assert [s.median() for s in back.sessions_for(samples(BASE))] == [101.0, 102.0]
    assert [s.median() for s in back.sessions_for(samples(BASE, fingerprint=other_cpu))] == [50.0]
    path.write_text(path.read_text().replace('"schema": "aicarbon.records.samples/1"', '"schema": "x"', 1))
    with pytest.raises(RecordError, match="not an aicarbon samples file"):
        Baseline.load(path)


# -- A/B sessions, with a stand-in for measuring ---------------------------------------------------

RECORD = Path(__file__).parent / "corpus" / "records" / "valid-plain.json"


class FakeMeasure:
    """Measures nothing: each call returns the plain corpus record with the command's energy
    taken from a per-arm list, and logs the order of the calls."""

    def __init__(self, energies: dict[str, list[float]]) -> None:
        from aicarbon.records.run import Run

        self.template = Run.load(RECORD)
        self.energies = {arm: list(values) for arm, values in energies.items()}
        self.calls: list[str] = []

    def __call__(self, arm, options):  # noqa: ANN001 - the bench.Measure signature
        self.calls.append(arm.name)
        value = self.energies[arm.name].pop(0)
        template = self.template
        run = dataclasses.replace(
            template,
            energy=dataclasses.replace(
                template.energy, domains=[dataclasses.replace(d) for d in template.energy.domains]
            ),
            # the template is a run of `sh -c 'exit 3'`; measure_once passes only 0
            exit=dataclasses.replace(template.exit, status=0),
        )
        counted = run.counted
        for d in counted:
            d.energy_j = d.attributed_j = value / len(counted)
        return run


def test_an_ab_session_interleaves_after_warm_up_and_extends_once_when_undecided() -> None:
    from aicarbon.gate.bench import Arm, BenchOptions, ab_decide

    noisy_base = [100, 100, 90, 120, 100, 85, 110, 95, 100, 105, 100]  # warm-up first
    noisy_head = [100, 95, 130, 100, 88, 125, 100, 92, 110, 100, 97]
    fake = FakeMeasure({"base": noisy_base, "head": noisy_head})
    decided = ab_decide(
        Arm("base", ["a"]), Arm("head", ["b"]), BenchOptions(runs=5, warmup=1), DEFAULT, measure=fake
    )
    assert decided.extended and decided.comparison.n_base == decided.comparison.n_new == 10
    assert fake.calls[:2] == ["base", "head"]  # the warm-up pair, then ABBA blocks, twice
    assert "".join("a" if c == "base" else "b" for c in fake.calls[2:]) == "abbaabbaab" * 2
    clear = FakeMeasure({"base": [100.0] * 6, "head": [130.0] * 6})
    decided = ab_decide(
        Arm("base", ["a"]), Arm("head", ["b"]), BenchOptions(runs=5, warmup=1), DEFAULT, measure=clear
    )
    assert not decided.extended and decided.comparison.verdict is Verdict.REGRESSION
    assert len(clear.calls) == 12
