"""Units graded like with like: a run counting output tokens is graded per study inference of 10
output tokens for text generation (the study's definition), never per token against a
per-inference figure (ten times too kind a grade); units of another kind are not graded, and the
record says why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from aicarbon.impact.references import compare, task
from aicarbon.impact.unit_kinds import CUSTOM, IMAGE, INFERENCE, OUTPUT_TOKEN, inferences, kind_of
from conftest import run_aicarbon as aicarbon

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("inferences", INFERENCE), (" Requests ", INFERENCE), ("tokens", OUTPUT_TOKEN),
     ("output_tokens", OUTPUT_TOKEN), ("Generated tokens", OUTPUT_TOKEN), ("images", IMAGE),
     ("frames", CUSTOM), ("prompt tokens", CUSTOM)],
)  # fmt: skip
def test_a_units_name_says_its_kind(name: str, kind: str) -> None:
    assert kind_of(name) == kind


def test_tokens_are_graded_per_inference_of_ten_tokens() -> None:
    """4,000 tokens for 1.8 J: 400 study inferences, 0.0045 J each (not 0.00045 J per 'inference')."""
    per_token = compare(1.8, 0.1, 4000, "output tokens", "text-generation")
    per_inference = compare(1.8, 0.1, 400, "inferences", "text-generation")
    assert per_token.task is not None and per_inference.task is not None
    assert (
        per_token.task.inferences == 400 and per_token.task.inference_is == "one inference = 10 output tokens"
    )
    assert per_token.kwh_per_1000_inferences == pytest.approx(1.8 / 400 * 1000 / 3.6e6)
    assert per_token.task.grade == per_inference.task.grade
    assert per_token.task.ratio_to_mean == pytest.approx(per_inference.task.ratio_to_mean)
    assert per_token.energy_per_unit_j == pytest.approx(1.8 / 4000)  # per token, as counted


def test_units_of_another_kind_are_not_graded_and_say_why() -> None:
    images = compare(50.0, 1.0, 10, "images", "text-generation")
    assert images.task is None and images.kwh_per_1000_inferences is None
    assert images.task_declined == (
        "not graded against text generation: the run counted images, and the study's figure is per "
        "inference of 10 output tokens"
    )
    assert not any(p.is_run for p in images.scale)  # not placed on a per-inference scale either
    frames = compare(5.0, 1.0, 10, "frames", "image-classification")
    assert frames.task_declined is not None and "counted 'frames'" in frames.task_declined


def test_inferences_match_any_task_and_images_match_image_tasks() -> None:
    assert inferences(10, "requests", OUTPUT_TOKEN, 10) == (10, "")
    assert inferences(10, "images", IMAGE, 1) == (10, "")
    for key in ("image-classification", "image-generation", "object-detection", "image-captioning"):
        assert task(key).unit_kind == IMAGE, key


def test_the_text_example_names_its_tokens_and_is_graded_per_inference(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    out = aicarbon(
        "run", "--sensors", "estimate", "--task", "text-generation", "--json", str(record), "--",
        sys.executable, str(EXAMPLES / "generate_text.py"), "--tokens", "2000",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(record.read_text())
    assert data["work"]["unit_name"] == "output tokens" and data["work"]["units_counted"] == 2000
    comparison = data["comparison"]
    assert comparison["unit_name"] == "output tokens" and comparison["task"]["inferences"] == 200
    assert "Graded per study inference: one inference = 10 output tokens" in out.stderr.replace("\n", " ")
    assert "Per output token " in out.stderr


def test_an_explicit_unit_name_wins_over_the_codes(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    code = "import aicarbon; aicarbon.add_units(30, unit='output tokens')"
    out = aicarbon("run", "-q", "--sensors", "estimate", "--unit-name", "requests", "--json", str(record),
                   "--", sys.executable, "-c", code)  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(record.read_text())
    assert data["comparison"]["unit_name"] == "requests" and data["work"]["unit_name"] == "output tokens"


def test_a_bad_unit_name_from_the_code_is_refused_by_add_units() -> None:
    from aicarbon.api.track import add_units

    for bad in ("", "x" * 65, 3):
        with pytest.raises(ValueError, match="needs a name of 1 to 64 characters"):
            add_units(1, unit=bad)  # type: ignore[arg-type]
