"""The hostile-input corpus (tests/corpus, made by make_corpus.py): every record and config
file gives exit 0 or one line and exit 2, never a traceback; escapes never reach the output."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import run_aicarbon as aicarbon

CORPUS = Path(__file__).resolve().parent / "corpus"
RECORDS = sorted((CORPUS / "records").iterdir())
CONFIGS = sorted(p for p in (CORPUS / "config").iterdir())
# Anything a terminal would act on: C0 but newline, DEL, C1, bidi controls.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def expected_status(path: Path) -> int:
    return 2 if path.name.startswith("bad-") else 0


def assert_one_line_or_success(out_status: int, stderr: str, want: int) -> None:
    assert "Traceback" not in stderr
    assert out_status == want, stderr
    if want == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("aicarbon: "), stderr


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_report_on_every_corpus_record(path: Path) -> None:
    out = aicarbon("report", str(path))
    assert_one_line_or_success(out.returncode, out.stderr, expected_status(path))
    assert not CONTROL.search(out.stderr), repr(CONTROL.search(out.stderr))
    if out.returncode == 0:
        assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) >= 2


def test_escaped_record_shows_its_payload_as_text() -> None:
    out = aicarbon("report", str(CORPUS / "records" / "ok-escapes-in-every-string.json"))
    assert out.returncode == 0
    text = out.stderr.replace("\n", "")  # long lines are wrapped at 80 columns
    assert "\\x1b[2J" in text and "\\x1b]52;c;" in text  # visible, not obeyed
    assert "\\u202e" in text and "\\xff" in text and "\\u009b" in text
    assert "\nFAKE LINE" not in out.stderr  # the embedded newline cannot start a forged line


def test_a_huge_record_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(65 << 20)  # sparse: 65 MB of zeros
    out = aicarbon("report", str(huge))
    assert (out.returncode, out.stderr) == (2, f"aicarbon: {huge} is larger than 64 MB: not a run record\n")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (Path("/nonexistent/r.json"), "no such file: /nonexistent/r.json"),
        (Path("/"), "/ is a directory, not a run record"),
    ],
)
def test_report_on_paths_that_are_not_files(path: Path, error: str) -> None:
    out = aicarbon("report", str(path))
    assert (out.returncode, out.stderr) == (2, f"aicarbon: {error}\n")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_run_with_every_corpus_config_file(path: Path, tmp_path: Path) -> None:
    """pyproject files sit in the project's parent directory (found from a subdirectory);
    user files are named by AICARBON_CONFIG."""
    project = tmp_path / "project"
    cwd = project / "src"
    cwd.mkdir(parents=True)
    env = {}
    if "pyproject" in path.name:
        shutil.copy(path, project / "pyproject.toml")
    else:
        env["AICARBON_CONFIG"] = str(path)
    marker = tmp_path / "ran"
    out = aicarbon("run", "-q", "--sensors", "estimate", "--", "touch", str(marker), cwd=cwd, env=env)
    want = expected_status(path)
    assert_one_line_or_success(out.returncode, out.stderr, want)
    assert marker.exists() == (want == 0)  # a bad config stops the run before the command


def test_valid_project_settings_reach_the_record(tmp_path: Path) -> None:
    shutil.copy(CORPUS / "config" / "ok-pyproject-valid.toml", tmp_path / "pyproject.toml")
    record = tmp_path / "r.json"
    out = aicarbon("run", "-q", "--json", str(record), "--", "true", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    import json

    impact = json.loads(record.read_text())["impact"]
    assert impact["pue"] == 1.2 and impact["grid"]["label"] == "France (FRA)"


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "missing.toml", "AICARBON_CONFIG names {p}, which does not exist"),
        (lambda d: d, "{p} is a directory, not a config file"),
    ],
)
def test_aicarbon_config_naming_no_file_is_said(tmp_path: Path, make, needle: str) -> None:
    path = make(tmp_path)
    out = aicarbon("run", "-q", "--", "true", cwd=tmp_path, env={"AICARBON_CONFIG": str(path)})
    assert (out.returncode, out.stderr) == (2, "aicarbon: " + needle.format(p=path) + "\n")
