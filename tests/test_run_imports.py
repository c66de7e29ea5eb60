"""``aicarbon run`` imports only what a run needs: not the other commands, the gate and its
statistics, the HTML/Markdown/CSV renderers, devices, watch, the pytest plugin or the notebook
magic (start-up is part of what a run adds to its command: benchmarks/startup.py)."""

from __future__ import annotations

import sys

import pytest
from conftest import run_hermetic

NEVER = (
    "typer",
    "click",
    "aicarbon.cli.app",
    "aicarbon.cli.gate",
    "aicarbon.cli.history",
    "aicarbon.cli.machine",
    "aicarbon.gate",
    "aicarbon.report.html",
    "aicarbon.report.markdown",
    "aicarbon.report.csv_table",
    "aicarbon.report.gate_report",
    "aicarbon.machine",
    "aicarbon.api.pytest_plugin",
    "aicarbon.api.notebook",
    "psutil",
    "statistics",
)


@pytest.mark.parametrize(("flags", "renderer"), [(["-q", "--no-save"], False), ([], True)])
def test_a_run_imports_only_what_it_needs(flags: list[str], renderer: bool) -> None:
    code = (
        "import sys\n"
        "from aicarbon.cli.run_command import main\n"
        f"status = main({[*flags, '--', 'true']!r})\n"
        "print(status)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = run_hermetic([sys.executable, "-c", code])
    assert out.returncode == 0, out.stderr
    status, *modules = out.stdout.split("\n")
    assert status == "0"
    loaded = [m for m in modules if any(m == n or m.startswith(n + ".") for n in NEVER)]
    assert loaded == []
    assert ("aicarbon.report.terminal" in modules) == renderer  # the report only when shown
    assert ("aicarbon.history.store" in modules) == ("--no-save" not in flags)
