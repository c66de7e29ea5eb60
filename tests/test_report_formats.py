"""Every report format from one saved run, each checked by a parser someone else wrote, with
hostile text in every user-supplied field; the HTML page in a real headless browser."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aicarbon.history.store import History
from aicarbon.records.run import LabelsRecord, Run
from browser import file_url, find_chromium, visit
from conftest import call_aicarbon, run_aicarbon

V1_RECORD = Path(__file__).resolve().parent / "data" / "run-v1-generate-text.json"
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
FORMULA = '=HYPERLINK("http://evil.example/","x")'
MARKDOWN_LINK = "[click](javascript:alert(3)) ![t](http://evil.example/pixel.png)"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hostile_run() -> Run:
    run = Run.load(V1_RECORD)
    return replace(
        run,
        command=[FORMULA, SCRIPT, ATTRIBUTE, MARKDOWN_LINK, "\x1b]0;pwned\x07"],
        labels=LabelsRecord(SCRIPT, ["-1+2", ATTRIBUTE], MARKDOWN_LINK),
        host=replace(run.host, hostname=f"{SCRIPT}\u202e"),
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("history")
    with History.open({"AICARBON_HOME": str(home)}) as history:
        history.save(hostile_run())
        history.save(replace(Run.load(V1_RECORD), command=["python", "other.py"]))
    return {"AICARBON_HOME": str(home)}


def report(env: dict[str, str], *args: str) -> str:
    out = call_aicarbon("report", *args, env=env)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return out.stdout


def test_json_is_the_record_strict_and_whole(saved: dict[str, str]) -> None:
    def refuse(name: str) -> None:
        raise ValueError(name)

    data = json.loads(report(saved, "1", "--format", "json"), parse_constant=refuse)
    assert data["schema"] == "aicarbon.run/4"
    assert data["command"] == hostile_run().command  # the exact text: escaping is for display
    assert data == json.loads(hostile_run().to_json())


def test_terminal_escapes_every_control_sequence(saved: dict[str, str]) -> None:
    out = call_aicarbon("report", "1", env=saved)
    assert out.returncode == 0
    assert not CONTROL.search(out.stderr), repr(CONTROL.search(out.stderr))
    assert f"name: {SCRIPT}" in out.stderr and "Phases" in out.stderr  # shown as text
    # --output - writes on aicarbon's own descriptor 1: a process of its own
    plain = run_aicarbon("report", "1", "--format", "terminal", "--output", "-", env=saved).stdout
    assert "Domain" in plain and not CONTROL.search(plain)


def test_markdown_keeps_hostile_text_as_text(saved: dict[str, str]) -> None:
    text = report(saved, "1", "--format", "markdown")
    assert "<script>" not in text and "<img" not in text
    assert "\\[click\\](javascript:alert(3)) !\\[t\\]" in text  # no link, no image
    assert "| Domain | Energy |" in text and "| **Total** |" in text
    assert not CONTROL.search(text.replace("\n", ""))


def test_csv_parses_and_defuses_formulas(saved: dict[str, str]) -> None:
    rows = list(csv.DictReader(io.StringIO(report(saved, "1", "--format", "csv"))))
    assert [r["domain"] for r in rows] == ["cpu:estimated", "dram:estimated"]
    assert rows[0]["command"].startswith("'=HYPERLINK")  # a spreadsheet shows it, never runs it
    assert rows[0]["tags"].startswith("'-1+2;")
    total = sum(float(r["energy_j"]) for r in rows)
    assert total == pytest.approx(Run.load(V1_RECORD).machine_energy_j)
    assert float(rows[0]["units"]) == 20000.0
    assert float(rows[0]["energy_per_unit_j"]) == pytest.approx(float(rows[0]["energy_j"]) / 20000.0)


def test_a_tag_that_starts_like_a_formula_is_defused() -> None:
    from aicarbon.report.csv_table import cell

    assert [cell(t) for t in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "plain")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "\\tx",  # made visible first: no longer a tab
        "plain",
    ]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def test_html_is_one_file_with_no_script_and_nothing_fetched(saved: dict[str, str]) -> None:
    page = report(saved, "1", "--format", "html")
    parsed = _Elements()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags and "link" not in parsed.tags
    assert not [a for a, _ in parsed.attributes if a.startswith("on")]  # no event handler
    assert not [a for a, _ in parsed.attributes if a in ("src", "href", "srcset", "action", "data")]
    assert "url(" not in page and "@import" not in page  # nothing to fetch from a style either
    assert "default-src &#x27;none&#x27;" in page or "default-src 'none'" in page
    assert parsed.tags.count("polyline") >= 2 and "svg" in parsed.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "\\u202e" in page
    assert "<h2>Phases</h2>" in page and ">load-corpus</td>" in page and ">generate</td>" in page


def test_report_writes_a_file_with_output(saved: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "run.html"
    out = call_aicarbon("report", "1", "-f", "html", "-o", str(target), env=saved)
    assert out.returncode == 0 and out.stdout == ""
    assert target.read_text().startswith("<!DOCTYPE html>")


def test_diff_puts_two_runs_side_by_side(saved: dict[str, str]) -> None:
    out = call_aicarbon("diff", "1", "2", env=saved)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("A: run 1: ") and lines[1] == "B: run 2: python other.py"
    energy = next(line for line in lines if line.startswith("Energy (machine)"))
    assert energy.split()[-1] == "x1.000"  # the same record: same energy
    assert any(line.startswith("Energy per unit") for line in lines)
    assert max(len(line) for line in lines[2:]) <= 80 and not CONTROL.search(out.stdout)


def test_diff_ratios_follow_the_figures(tmp_path: Path) -> None:
    base = Run.load(V1_RECORD)
    doubled = [replace(d, energy_j=d.energy_j * 2) for d in base.energy.domains]
    double = replace(base, energy=replace(base.energy, domains=doubled))
    base.save(tmp_path / "a.json")
    double.save(tmp_path / "b.json")
    out = call_aicarbon("diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    energy = next(line for line in out.stdout.splitlines() if line.startswith("Energy (machine)"))
    assert energy.split()[-1] == "x2.000", out.stdout


# -- the page in a real browser ------------------------------------------------------------------

CHROMIUM = find_chromium()
NEEDS_BROWSER = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("AICARBON_REQUIRE_BROWSER") != "1",
    reason="no chromium here (.ci/run installs Debian's chromium and sets AICARBON_REQUIRE_BROWSER=1)",
)


@NEEDS_BROWSER
def test_the_html_report_in_a_headless_browser(saved: dict[str, str], tmp_path: Path) -> None:
    assert CHROMIUM is not None, "AICARBON_REQUIRE_BROWSER=1 but no chromium on PATH"
    page = tmp_path / "report.html"
    page.write_text(report(saved, "1", "--format", "html"))
    chart = "#power-chart polyline"
    seen = visit(
        CHROMIUM,
        file_url(page),
        [
            "document.querySelectorAll('script, img, iframe, object, embed').length",
            f"document.querySelectorAll('{chart}').length",
            f"Array.from(document.querySelectorAll('{chart}')).map(p => p.getBBox().width)",
            f"Array.from(document.querySelectorAll('{chart}')).map(p => p.getTotalLength())",
            "document.body.innerText",
            "document.title",
        ],
    )
    (tmp_path / "report.png").write_bytes(seen.screenshot_png)
    assert seen.requests == [file_url(page)], seen.requests  # the page itself, nothing else
    assert seen.exceptions == [] and seen.console == [], (seen.exceptions, seen.console)
    values = seen.values
    assert values["document.querySelectorAll('script, img, iframe, object, embed').length"] == 0
    assert values[f"document.querySelectorAll('{chart}').length"] >= 2
    widths = values[f"Array.from(document.querySelectorAll('{chart}')).map(p => p.getBBox().width)"]
    assert min(widths) > 600  # every series drawn across the plot (688 px wide)
    text = values["document.body.innerText"]
    assert SCRIPT in text and ATTRIBUTE in text and MARKDOWN_LINK in text  # shown, as text
    assert "Phases" in text and "load-corpus" in text
    assert SCRIPT in values["document.title"]
    assert seen.screenshot_png.startswith(b"\x89PNG") and len(seen.screenshot_png) > 20_000


CORPUS_OK = sorted((Path(__file__).resolve().parent / "corpus" / "records").glob("ok-*.json"))


@pytest.mark.parametrize("path", CORPUS_OK, ids=lambda p: p.name)
def test_every_format_renders_every_hostile_corpus_record(path: Path) -> None:
    from aicarbon.report import csv_table, html, markdown

    run = Run.load(path)
    page = html.render(run)
    parsed = _Elements()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert not [a for a, _ in parsed.attributes if a.startswith("on") or a in ("src", "href")]
    for text in (page, markdown.render(run), csv_table.render(run)):
        assert not CONTROL.search(text.replace("\n", "")), repr(CONTROL.search(text.replace("\n", "")))
    assert "<script" not in markdown.render(run).lower()
