"""The bundled generation examples run offline in seconds and report their phases and units
to aicarbon (the classifier example is the README's first command)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_aicarbon

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "args", "phases", "units"),
    [
        ("generate_text.py", ["--tokens", "3000"], ["load-corpus", "train", "generate"], 3000.0),
        ("generate_images.py", ["--images", "30"], ["load", "train", "generate"], 30.0),
    ],
)
def test_generation_examples_report_phases_and_units(
    tmp_path: Path, script: str, args: list[str], phases: list[str], units: float
) -> None:
    out = run_aicarbon("run", "--json", "r.json", str(EXAMPLES / script), *args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert [p["name"] for p in data["work"]["phases"]] == phases
    assert data["work"]["units_counted"] == units and data["work"]["phases"][-1]["units"] == units
    assert data["comparison"]["units"] == units
