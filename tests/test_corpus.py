"""The hostile-input corpus (tests/corpus, made by make_corpus.py): every record and config
file gives exit 0 or one line and exit 2, never a traceback; escapes never reach the output.
Rendering and refusals run in process (the ``cli`` fixture); a run that starts a command, in a
subprocess."""

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
def test_report_on_every_corpus_record(path: Path, cli) -> None:  # noqa: ANN001
    out = cli("report", str(path))
    assert_one_line_or_success(out.returncode, out.stderr, expected_status(path))
    assert not CONTROL.search(out.stderr), repr(CONTROL.search(out.stderr))
    if out.returncode == 0:
        assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) >= 2


def test_escaped_record_shows_its_payload_as_text(cli) -> None:  # noqa: ANN001
    out = cli("report", str(CORPUS / "records" / "ok-escapes-in-every-string.json"))
    assert out.returncode == 0
    text = out.stderr.replace("\n", "")  # long lines are wrapped at 80 columns
    assert "\\x1b[2J" in text and "\\x1b]52;c;" in text  # visible, not obeyed
    assert "\\u202e" in text and "\\xff" in text and "\\u009b" in text
    assert "\nFAKE LINE" not in out.stderr  # the embedded newline cannot start a forged line


def test_a_huge_record_file_is_refused_without_reading_it_all(tmp_path: Path, cli) -> None:  # noqa: ANN001
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(65 << 20)  # sparse: 65 MB of zeros
    out = cli("report", str(huge))
    assert (out.returncode, out.stderr) == (2, f"aicarbon: {huge} is larger than 64 MB: not a run record\n")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (Path("/nonexistent/r.json"), "no such file: /nonexistent/r.json"),
        (Path("/"), "/ is a directory, not a run record"),
    ],
)
def test_report_on_paths_that_are_not_files(path: Path, error: str, cli) -> None:  # noqa: ANN001
    out = cli("report", str(path))
    assert (out.returncode, out.stderr) == (2, f"aicarbon: {error}\n")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_corpus_config_file_is_taken_or_refused_in_one_sentence(path: Path, tmp_path: Path) -> None:
    """What 'aicarbon run' checks before its command starts (engine.prepare, in process):
    pyproject files sit in the project's parent directory (found from a subdirectory); user
    files are named by AICARBON_CONFIG."""
    from aicarbon import engine
    from aicarbon.errors import AicarbonError
    from conftest import hermetic_env

    project = tmp_path / "project"
    cwd = project / "src"
    cwd.mkdir(parents=True)
    env = {}
    if "pyproject" in path.name:
        shutil.copy(path, project / "pyproject.toml")
    else:
        env["AICARBON_CONFIG"] = str(path)
    try:
        engine.prepare(engine.RunSettings(spelling="flag"), environ=hermetic_env(env), cwd=cwd)
        status, message = 0, ""
    except AicarbonError as exc:
        status, message = exc.status, f"aicarbon: {exc}\n"
    assert_one_line_or_success(status, message, expected_status(path))
    assert not CONTROL.search(message.rstrip("\n")), message


@pytest.mark.parametrize("name", ["bad-pyproject-pue-nan.toml", "ok-pyproject-valid.toml"])
def test_a_bad_config_stops_the_run_before_its_command_and_a_good_one_does_not(
    name: str, tmp_path: Path
) -> None:
    shutil.copy(CORPUS / "config" / name, tmp_path / "pyproject.toml")
    marker = tmp_path / "ran"
    out = aicarbon(
        "run", "-q", "--no-save", "--sensors", "estimate", "--", "touch", str(marker), cwd=tmp_path
    )
    want = expected_status(CORPUS / "config" / name)
    assert_one_line_or_success(out.returncode, out.stderr, want)
    assert marker.exists() == (want == 0)


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
