"""Emissions, water and comparisons through the real command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import call_aicarbon
from conftest import run_aicarbon as aicarbon


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--country", "FRANCE"], "unknown country 'FRANCE'; closest: FRA (France)"),
        (["--country", "USA", "--region", "texsa"], "unknown region 'texsa' for USA; closest: texas"),
        (["--units", "0"], "--units must be a positive number"),
        (["--units", "-5"], "--units must be a positive number"),
        (["--carbon-intensity", "-1"], "carbon-intensity must not be negative"),
        (["--pue", "0.8"], "pue must be at least 1.0"),
        (["--units", "10", "--task", "chat"], "unknown task 'chat'; valid tasks: text-classification"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_the_command_never_runs(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    marker = tmp_path / "ran"
    out = aicarbon("run", *args, "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"aicarbon: {out.stderr.strip()[len('aicarbon: ') :]}"]
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert not marker.exists()


def test_a_task_without_units_is_graded_on_the_units_the_code_counts(tmp_path: Path) -> None:
    counts = tmp_path / "counts.py"
    counts.write_text("import aicarbon\nsum(range(2_000_000))\naicarbon.add_units(50)\n")
    graded = aicarbon("run", "--task", "text-generation", "--json", "r.json", "counts.py", cwd=tmp_path)
    data = json.loads((tmp_path / "r.json").read_text())
    assert graded.returncode == 0 and data["comparison"]["units"] == 50.0
    assert data["comparison"]["task"]["key"] == "text-generation"
    silent = aicarbon(
        "run",
        "--task",
        "text-generation",
        "--json",
        "s.json",
        "--",
        sys.executable,
        "-c",
        "pass",
        cwd=tmp_path,
    )
    notes = json.loads((tmp_path / "s.json").read_text())["notes"]
    assert silent.returncode == 0 and any("no grade against text-generation" in n for n in notes)


def test_report_without_units_shows_grid_contrast_water_and_equivalents(tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    out = aicarbon(
        "run", "--json", str(record), "--", sys.executable, "-c", "sum(range(3_000_000))", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    text = out.stderr
    for needle in [
        "CO2e ",
        "x 475 g/kWh)",
        "grid: world average",
        "set your grid with --country",
        "Same energy elsewhere: France",
        "China",
        "Water  ~",
        "estimate",
        "smartphone charges",
        "mL of petrol",
        "web searches",
        "chatbot queries (2.9 to 0.3 Wh each",
        "image generations",
        "text generations",
        "whole-node A100",
    ]:
        assert needle in text, needle
    data = json.loads(record.read_text())
    impact, comparison = data["impact"], data["comparison"]
    assert impact["grid"]["is_world_default"] is True and impact["grid"]["g_per_kwh"] == 475.0
    kwh = data["energy"]["machine_j"] / 3.6e6
    assert impact["emissions_g"] == pytest.approx(kwh * 1.0 * 475.0)
    assert impact["water"]["method"] == "estimated"
    assert comparison["units"] is None and len(comparison["equivalents"]) == 6


def test_report_with_units_and_task_grades_and_places_the_run(tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    out = aicarbon(
        "run",
        "--country",
        "FRA",
        "--pue",
        "1.2",
        "--units",
        "500",
        "--unit-name",
        "images",
        "--task",
        "image-classification",
        "--json",
        str(record),
        "--",
        sys.executable,
        "-c",
        "pass",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    for needle in [
        "(energy x PUE 1.20 x 56 g/kWh)",
        "grid: France (FRA), 2023",
        "Per image ",
        "(500 images)",
        "vs image classification (study mean 0.007 kWh per 1,000, sd 0.001):",
        "grade ",
        "kWh per 1,000 inferences, log scale",
        "> this run, per inference",
        "image generation",
    ]:
        assert needle in out.stderr, needle
    assert "set your grid" not in out.stderr
    data = json.loads(record.read_text())
    c = data["comparison"]
    assert c["units"] == 500 and c["energy_per_unit_j"] == pytest.approx(data["energy"]["machine_j"] / 500)
    assert c["task"]["key"] == "image-classification" and c["task"]["grade"] in "ABCDEFG"
    assert data["impact"]["pue"] == 1.2 and data["impact"]["pue_origin"] == "--pue"


def test_saved_record_with_impact_re_renders_identically(tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    first = aicarbon(
        "run",
        "--region",
        "california",
        "--units",
        "3",
        "--task",
        "text-generation",
        "--json",
        str(record),
        "--no-save",
        "--",
        sys.executable,
        "-c",
        "pass",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    # A later setting must not change a saved record's figures.
    again = call_aicarbon("report", str(record), cwd=tmp_path, env={"AICARBON_COUNTRY": "CHN"})
    assert again.returncode == 0 and again.stderr == first.stderr
    assert "United States / california" in again.stderr


def test_project_config_sets_the_grid_and_the_environment_overrides_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aicarbon]\ncountry = "SWE"\npue = 1.1\n')
    record = tmp_path / "run.json"
    aicarbon("run", "-q", "--json", str(record), "--", "true", cwd=tmp_path)
    impact = json.loads(record.read_text())["impact"]
    assert impact["grid"]["label"] == "Sweden (SWE)" and impact["pue"] == 1.1
    assert "[tool.aicarbon]" in impact["grid"]["origin"]
    aicarbon("run", "-q", "--json", str(record), "--", "true", cwd=tmp_path, env={"AICARBON_COUNTRY": "POL"})
    impact = json.loads(record.read_text())["impact"]
    assert impact["grid"]["label"] == "Poland (POL)" and impact["grid"]["origin"] == "AICARBON_COUNTRY"
    assert impact["pue"] == 1.1  # still from the project file


def test_references_lists_the_ten_tasks_with_source() -> None:
    out = call_aicarbon("references")
    assert out.returncode == 0
    from aicarbon.impact.references import tasks

    lines = out.stdout.splitlines()
    assert all(any(line.startswith(t.key + " ") for line in lines) for t in tasks())
    assert "image-generation" in out.stdout and "2.907" in out.stdout
    assert "Power Hungry Processing" in out.stdout and "A100" in out.stdout


def test_regions_lists_a_countrys_regions_and_refuses_unknown_ones() -> None:
    out = call_aicarbon("regions", "CAN")
    assert out.returncode == 0 and "quebec" in out.stdout
    bad = call_aicarbon("regions", "ZZZ")
    assert bad.returncode == 2 and bad.stderr.startswith("aicarbon: unknown country 'ZZZ'")
