"""``aicarbon label``: a self-contained SVG energy label (and ``--badge``), parsed as XML,
checked for anything active or external, hostile record text escaped, and rendered by a real
headless Chromium."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from aicarbon.records.run import Run
from aicarbon.report.label_svg import badge, label
from browser import file_url, find_chromium, visit
from conftest import call_aicarbon

DATA = Path(__file__).resolve().parent / "data"
CORPUS = Path(__file__).resolve().parent / "corpus" / "records"
SVG = "{http://www.w3.org/2000/svg}"
ACTIVE = {"script", "foreignObject", "image", "a", "use", "iframe", "style", "animate", "set"}
CHROMIUM = find_chromium()


def inert(svg: str) -> ET.Element:
    """The SVG's root, after checking it holds nothing active or external."""
    root = ET.fromstring(svg)  # valid XML, or this raises
    assert root.tag == SVG + "svg"
    for element in root.iter():
        assert element.tag.removeprefix(SVG) not in ACTIVE, element.tag
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on") and "href" not in name.lower(), name
            assert "url(" not in value and "javascript:" not in value.lower(), value
    assert "@import" not in svg and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    return root


def words(root: ET.Element) -> str:
    return " ".join("".join(e.itertext()) for e in root.iter(SVG + "text"))


def test_a_graded_run_shows_its_letter_on_the_scale_and_its_figures() -> None:
    run = Run.load(DATA / "run-v4-job.json")
    root = inert(label(run))
    assert root.attrib["width"] == "300"
    shown = words(root)
    assert "grade A against text generation" in shown and "per output token" in shown
    assert "kWh per 1,000 inferences" in shown and "study mean: 0.047" in shown
    assert "CO2e" in shown and "water" in shown and "(estimated)" in shown
    letters = [e.text for e in root.iter(SVG + "text") if e.text in tuple("ABCDEFG")]
    assert letters == ["A", "A", *"BCDEFG"]  # the scale, the run's marker beside its band


def test_a_run_without_a_grade_still_gets_a_valid_label_that_says_why() -> None:
    run = Run.load(DATA / "run-v2-generate-text.json")
    run.comparison = None
    assert "not graded: nothing was measured" in words(inert(label(run)))
    ungraded = Run.load(DATA / "run-v4-serve.json")
    assert ungraded.comparison is not None
    ungraded.comparison.task = None
    ungraded.comparison.task_declined = None
    assert "no reference task" in words(inert(label(ungraded)))


def test_hostile_record_text_is_escaped_in_the_label_and_the_badge() -> None:
    run = Run.load(CORPUS / "ok-escapes-in-every-string.json")
    for svg in (label(run), badge(run)):
        inert(svg)
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", svg)
    assert "\\x1b[2J" in "".join(inert(label(run)).itertext())


def test_the_badge_says_grade_and_energy_per_unit() -> None:
    run = Run.load(DATA / "run-v4-job.json")
    root = inert(badge(run))
    assert "A · " in words(root) and "/output token" in words(root)


def test_label_writes_a_file_or_refuses_in_one_line(tmp_path: Path) -> None:
    out = call_aicarbon("label", str(DATA / "run-v4-job.json"), "-o", str(tmp_path / "l.svg"))
    assert out.returncode == 0, out.stderr
    inert((tmp_path / "l.svg").read_text())
    bad = call_aicarbon("label", str(DATA / "run-v4-job.json"), "-o", str(tmp_path / "no" / "l.svg"))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


@pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("AICARBON_REQUIRE_BROWSER") != "1",
    reason="no chromium here (.ci/run installs Debian's chromium and sets AICARBON_REQUIRE_BROWSER=1)",
)
def test_the_label_in_a_headless_browser(tmp_path: Path) -> None:
    assert CHROMIUM is not None, "AICARBON_REQUIRE_BROWSER=1 but no chromium on PATH"
    page = tmp_path / "label.svg"
    page.write_text(label(Run.load(CORPUS / "ok-escapes-in-every-string.json")))
    seen = visit(CHROMIUM, file_url(page), ["document.documentElement.getBoundingClientRect().width",
                                            "document.querySelectorAll('text').length"])  # fmt: skip
    assert seen.requests in ([], [file_url(page)]), seen.requests  # nothing fetched but itself
    assert (
        seen.exceptions == [] and seen.values["document.documentElement.getBoundingClientRect().width"] == 300
    )
    assert seen.values["document.querySelectorAll('text').length"] > 15
    assert seen.screenshot_png.startswith(b"\x89PNG")
