"""``%%aicarbon`` through IPython's own shell API (skipped, with the reason, where IPython is
not installed)."""

from __future__ import annotations

import pytest

IPython = pytest.importorskip("IPython", reason="IPython is not installed: the cell magic cannot be tried")


def test_the_cell_magic_measures_a_cell_and_keeps_its_variables(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "aicarbon")
        shell.run_cell_magic("aicarbon", "squares", "total = sum(i * i for i in range(300_000))")
        assert shell.user_ns["total"] == sum(i * i for i in range(300_000))
        record = shell.user_ns["_aicarbon"]
        assert record.command == ["squares"] and record.machine_energy_j > 0
        assert "aicarbon  squares" in capsys.readouterr().err
        shell.run_cell_magic("aicarbon", "", "raise ValueError('in the cell')")
        out = capsys.readouterr()
        assert "ValueError" in out.out + out.err and "aicarbon  cell" in out.err  # still reported
    finally:
        InteractiveShell.clear_instance()
