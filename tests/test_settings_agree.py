"""Each setting is declared once (settings.RUN_SETTINGS, gate.settings.GATE_SETTINGS): the
command line, track()'s keywords, the settings objects and the documented table must agree with
the declarations on every name and default."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from aicarbon.api.track import Tracker
from aicarbon.cli import run_command
from aicarbon.gate.decide import GateSettings
from aicarbon.gate.settings import GATE, KEYS
from aicarbon.settings import DECLARED, RUN_SETTINGS, RunSettings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_run_settings_fields_are_the_declared_settings_with_their_defaults() -> None:
    built = RunSettings()
    assert [name for name in RunSettings.__slots__ if name != "spelling"] == [d.name for d in RUN_SETTINGS]
    for d in RUN_SETTINGS:
        assert getattr(built, d.name) == d.default, d.name


def test_track_takes_every_declared_keyword_with_its_default_and_no_other() -> None:
    parameters = inspect.signature(Tracker.__init__).parameters
    keywords = {n: p.default for n, p in parameters.items() if n != "self"}
    declared = {d.name for d in RUN_SETTINGS if d.in_api}
    assert set(keywords) == declared
    for name in declared:
        assert keywords[name] == DECLARED[name].default, name


def test_the_command_line_has_every_declared_flag_and_its_default() -> None:
    flags = {d.flag: d for d in RUN_SETTINGS if d.flag}
    cli_only = {
        "--json",
        "--emissions-csv",
        "--prometheus-textfile",
        "--job-dir",
        "--job-timeout",
        "--quiet",
        "--module",
    }
    assert {d.flag for d in run_command.OPTIONS} == set(flags) | cli_only
    parsed = run_command.parse(["true"])
    for d in flags.values():
        assert parsed.get(d.name) == d.default, d.flag
    assert run_command.parse(["--interval", "0.5", "--no-save", "--tag", "a", "--tag", "b", "x"]).given == {
        "interval_s": 0.5,
        "save": False,
        "tags": ("a", "b"),
    }
    help_text = run_command.help_text()
    assert all(flag in help_text for flag in flags)
    assert max(len(line) for line in help_text.splitlines()) <= 80


def test_the_readme_table_is_the_one_the_declarations_give() -> None:
    assert run_command.options_table() in README.read_text(encoding="utf-8")


def test_the_gate_settings_follow_their_declarations() -> None:
    assert GateSettings().threshold == GATE["threshold"].default == 0.10
    assert GateSettings().warn_threshold == GATE["warn_threshold"].default
    assert GateSettings().alpha == GATE["alpha"].default and GateSettings().fail_on == GATE["fail_on"].default
    assert set(KEYS) == {d.key for d in GATE.values()}


@pytest.mark.parametrize("command", ["bench", "compare", "ab", "check"])
def test_the_gate_commands_options_are_declared(command: str) -> None:
    """Every option a gate command shares with the declarations has the declared help."""
    import typer
    from aicarbon.cli.app import app

    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    by_flag = {d.flag: d for d in GATE.values() if d.flag}
    seen = 0
    for param in click_command.params:
        for flag in param.opts:
            if flag in by_flag:
                seen += 1
                assert by_flag[flag].help[:-1] in (param.help or ""), (command, flag)
    assert seen >= 4
