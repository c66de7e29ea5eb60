"""Untrusted text never reaches a terminal raw."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aicarbon.records.run import Run
from aicarbon.report.escape import escaped_copy, visible
from conftest import run_aicarbon as aicarbon

CORPUS_RECORD = Path(__file__).resolve().parent / "corpus" / "records" / "valid-plain.json"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),  # clear screen
        ("\x1b[1A\x1b[2K", "\\x1b[1A\\x1b[2K"),  # cursor up, erase line: forges a report line
        ("\x1b]52;c;ZWNobw==\x07", "\\x1b]52;c;ZWNobw==\\x07"),  # OSC 52 clipboard write
        ("\x9b31m", "\\u009b31m"),  # C1 CSI
        ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
        ("a\r\nb\tc\x00\x7f", "a\\r\\nb\\tc\\x00\\x7f"),
        ("caf\udce9", "caf\\xe9"),  # a byte that was not UTF-8, as Python keeps it
        ("naïve — 日本語 ok", "naïve — 日本語 ok"),  # printable text is kept
    ],
)
def test_visible_escapes_what_a_terminal_would_obey(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_escaped_copy_reaches_every_string_and_leaves_the_record_alone() -> None:
    run = Run.load(CORPUS_RECORD)
    run.host.hostname = "evil\x1b]0;title\x07"
    run.notes = ["\x1b[2J"]
    run.energy.domains[0].model = "\u202eledom"
    safe = escaped_copy(run)
    assert safe.host.hostname == "evil\\x1b]0;title\\x07" and safe.notes == ["\\x1b[2J"]
    assert safe.energy.domains[0].model == "\\u202eledom"
    assert run.host.hostname == "evil\x1b]0;title\x07"  # the record keeps the exact text


def test_a_command_line_with_escapes_is_shown_escaped_and_recorded_exactly(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    arg = "\x1b[2J\x1b]52;c;cHduZWQ=\x07"
    out = aicarbon(
        "run", "--json", str(record), "--", "sh", "-c", "true", "sh", arg
    )  # short: fits the header
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr
    assert "\\x1b[2J" in out.stderr.splitlines()[0]
    assert json.loads(record.read_text())["command"][-1] == arg


def test_a_command_not_found_with_escapes_is_one_escaped_line() -> None:
    out = aicarbon("run", "--", "no-such-\x1b[31mcommand")
    assert (out.returncode, out.stderr) == (127, "aicarbon: no-such-\\x1b[31mcommand: command not found\n")


def test_non_utf8_bytes_in_the_command_survive_into_the_record(tmp_path: Path) -> None:
    """argv bytes that are not UTF-8: shown as \\xNN, kept exactly (surrogate escapes) in the
    record, which stays valid JSON and reads back to the same bytes."""
    record = tmp_path / "r.json"
    raw = b"\xff\xfe-not-utf8"
    out = aicarbon("run", "--json", str(record), "--", "true", os.fsdecode(raw))
    assert out.returncode == 0, out.stderr
    assert "\\xff\\xfe-not-utf8" in out.stderr
    assert os.fsencode(json.loads(record.read_text())["command"][1]) == raw
