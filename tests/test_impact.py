from __future__ import annotations

import json
import math
import re

import pytest
from aicarbon.impact import grid
from aicarbon.impact.plan import ImpactPlan, compute, emissions_g, grid_for, water_litres
from aicarbon.impact.references import (
    GRADE_EDGES,
    compare,
    grade,
    grade_for_z,
    task,
    tasks,
)
from aicarbon.settings import SPECS, Setting


def settings(**values: object) -> dict[str, Setting]:
    base = {key: spec.resolved_default for key, spec in SPECS.items()}
    base.update({k.replace("_", "-"): v for k, v in values.items()})
    return {k: Setting(v, "test") for k, v in base.items()}


def test_emissions_is_energy_times_pue_times_intensity() -> None:
    assert emissions_g(2.0, 1.5, 400.0) == pytest.approx(1200.0)  # 2 kWh x 1.5 x 400 g/kWh
    assert emissions_g(0.0, 1.5, 400.0) == 0.0


def test_water_is_on_site_plus_generation_scaled_by_pue() -> None:
    # 2 kWh x 1.8 L/kWh on site + 2 kWh x 1.2 x 3.14 L/kWh generating = 3.6 + 7.536
    assert water_litres(2.0, 1.2, 1.8, 3.14) == pytest.approx(11.136)


def test_compute_uses_the_override_and_scales_attributed_share() -> None:
    s = settings(carbon_intensity=100.0, pue=1.2, wue=0.5, water_intensity=2.0)
    record = compute(7.2e6, 3.6e6, s, grid_for(s))  # 2 kWh machine, 1 kWh attributed
    assert record.grid.label == "your figure" and record.grid.g_per_kwh == 100.0
    assert record.emissions_g == pytest.approx(2 * 1.2 * 100)
    assert record.attributed_emissions_g == pytest.approx(1 * 1.2 * 100)
    assert record.water.litres == pytest.approx(2 * 0.5 + 2 * 1.2 * 2.0)
    assert [c.label for c in record.contrast] == ["France (FRA)", "world average", "China (CHN)"]
    france = record.contrast[0]
    assert france.emissions_g == pytest.approx(2 * 1.2 * france.g_per_kwh)


def test_default_grid_is_the_labelled_world_average() -> None:
    record = grid_for(settings())
    assert record.is_world_default and record.label == "world average" and record.g_per_kwh == 475.0


def test_country_and_us_state_lookups_convert_units() -> None:
    france = grid.country("fra")
    assert france.label == "France (FRA)" and 20 < france.g_per_kwh < 120
    raw = json.loads((grid.codecarbon_data_dir() / "private_infra/2023/usa_emissions.json").read_text())
    california = grid.region("USA", "California")
    assert california.g_per_kwh == pytest.approx(raw["california"]["emissions"] * 0.45359237)


def test_canadian_province_counts_only_fossil_shares() -> None:
    mixes = json.loads((grid.codecarbon_data_dir() / "private_infra/2023/canada_energy_mix.json").read_text())
    alberta = mixes["alberta"]
    expected = (alberta["coal"] * 995 + alberta["petroleum"] * 816 + alberta["naturalGas"] * 743) / alberta[
        "total"
    ]
    assert grid.region("CAN", "alberta").g_per_kwh == pytest.approx(expected)


def test_region_without_country_searches_every_table() -> None:
    assert grid.resolve(None, "beijing").label.startswith("China /")
    assert grid.resolve(None, "europe-west1").label.startswith("Google Cloud Platform")


@pytest.mark.parametrize(
    ("country", "region", "needle"),
    [
        ("FRANCE", None, "closest: FRA (France)"),
        ("USA", "californa", "closest: california"),
        ("DEU", "bayern", "no regions for DEU"),
        ("XXQ", "anything", "unknown country 'XXQ'"),
    ],
)
def test_unknown_places_name_the_closest_matches(country: str, region: str | None, needle: str) -> None:
    with pytest.raises(grid.GridError, match=re.escape(needle)):
        grid.resolve(country, region)


def test_per_inference_scaling_and_ratio_to_mean() -> None:
    # 7,200 J over 1,000 inferences: 7.2 J each, 7,200 J = 0.002 kWh per 1,000 = the text
    # classification mean exactly.
    record = compare(7200.0, 1.0, units=1000, task_key="text-classification")
    assert record.energy_per_unit_j == pytest.approx(7.2)
    assert record.kwh_per_1000 == pytest.approx(0.002)
    assert record.task is not None and record.task.ratio_to_mean == pytest.approx(1.0)
    # For a log-normal, the mean sits sigma/2 above the median: z = sigma/2, grade D.
    mu, sigma = task("text-classification").lognormal()
    assert record.task.z == pytest.approx(sigma / 2)
    assert record.task.grade == "D"
    assert [p.is_run for p in record.scale].count(True) == 1 and len(record.scale) == 11


def test_grades_at_band_edges() -> None:
    eps = 1e-9  # lower edges belong to the higher band
    zs = (-3.0, -2.5 - eps, -2.5, -1.5 - eps, -1.5, -0.5 - eps, -0.5, 0.0)
    assert [grade_for_z(z) for z in zs] == list("AABBCCDD")
    assert [grade_for_z(z) for z in (0.5 - eps, 0.5, 1.5, 2.5 - eps, 2.5, 4.0)] == list("DEFFGG")
    assert GRADE_EDGES == (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5)


def test_grade_of_a_figure_goes_through_the_log_normal_fit() -> None:
    ref = task("text-generation")  # mean 0.047, sd 0.03 kWh per 1,000
    mu, sigma = ref.lognormal()
    assert sigma == pytest.approx(math.sqrt(math.log(1 + (0.03 / 0.047) ** 2)))
    assert grade(math.exp(mu), ref) == ("D", pytest.approx(0.0), pytest.approx(0.5))  # the median model
    assert grade(math.exp(mu + 2 * sigma), ref)[0] == "F"
    assert grade(math.exp(mu - 3 * sigma), ref)[0] == "A"


def test_equivalents_hand_computed() -> None:
    # 79.2 kJ = 0.022 kWh = 22 Wh; 2347.7 g CO2 = one litre of petrol.
    eq = {e.key: e for e in compare(79_200.0, 2347.7).equivalents}
    assert eq["smartphone_charges"].value == pytest.approx(1.0)
    assert eq["petrol_ml"].value == pytest.approx(1000.0)
    assert eq["web_searches"].value == pytest.approx(22 / 0.3)
    assert (eq["chatbot_queries"].value, eq["chatbot_queries"].high) == pytest.approx((22 / 2.9, 22 / 0.3))
    assert eq["image_generations"].value == pytest.approx(0.022 / 0.002907)
    assert eq["text_generations"].value == pytest.approx(0.022 / 0.000047)


def test_reference_data_has_the_ten_tasks_of_the_study() -> None:
    by_key = {t.key: t for t in tasks()}
    assert len(by_key) == 10
    assert by_key["image-generation"].mean_kwh_per_1000 == 2.907
    assert by_key["text-generation"].mean_kwh_per_1000 == 0.047
    # the seed claim: image generation about sixty times text generation, on average
    assert (
        55 < by_key["image-generation"].mean_kwh_per_1000 / by_key["text-generation"].mean_kwh_per_1000 < 65
    )


@pytest.mark.parametrize(
    ("units", "task_key", "needle"),
    [
        (0, None, "positive"),
        (-3, None, "positive"),
        (10, "nope", "valid tasks: text-classification"),
        (None, "text-generation", "--task needs --units"),
    ],
)
def test_plan_refuses_bad_units_and_tasks(units: float | None, task_key: str | None, needle: str) -> None:
    from aicarbon.errors import AicarbonError

    with pytest.raises(AicarbonError, match=needle):  # one sentence, exit status 2
        ImpactPlan.prepare({}, units, task_key, environ={})


@pytest.mark.parametrize("units", [None, 20000.0])
def test_impact_and_comparison_lines_fit_80_columns_unwrapped(units: float | None) -> None:
    from aicarbon.report.impact_text import comparison_lines, impact_lines

    s = settings(country="USA", region="district of columbia", pue=1.58, wue=1.8)
    record = compute(1234.5, 1000.0, s, grid_for(s))
    lines = impact_lines(record) + comparison_lines(
        compare(1234.5, record.emissions_g, units, "inferences", "text-generation" if units else None), "J"
    )
    assert lines and all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
