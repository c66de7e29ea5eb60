"""One text model for every renderer: one energy formatter, tables in terminal cells, and the
formats a record renders to chosen from one registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from aicarbon.records.run import Run
from aicarbon.report import formats, gate_report
from aicarbon.report.units import fmt_energy
from gate_helpers import samples
from rich.cells import cell_len

RECORD = Path(__file__).resolve().parent / "corpus" / "records" / "valid-units-task.json"


@pytest.mark.parametrize("joules", [0.00042, 0.5, 7.25, 359.0, 361.0, 3600.0, 5.4e6, 7.2e9])
def test_the_gate_prints_an_energy_as_every_report_does(joules: float) -> None:
    assert gate_report.fmt_j(joules) == fmt_energy(joules)
    assert gate_report.fmt_j(None) == "-"


def test_gate_table_columns_line_up_in_terminal_cells_with_wide_names() -> None:
    from aicarbon.gate.decide import GateSettings, compare_all

    pairs = [
        (samples([1.0, 1.1, 0.9, 1.0, 1.05], name=name), samples([1.3, 1.31, 1.29, 1.3, 1.28], name=name))
        for name in ("推論テスト", "ascii")
    ]
    lines = gate_report.table(compare_all(pairs, GateSettings())).splitlines()[:4]
    bars = [[cell_len(line[:i]) for i, ch in enumerate(line) if ch in "|+"] for line in lines]
    assert bars[0] == bars[1] == bars[2] == bars[3], lines


@pytest.mark.parametrize("name", formats.FORMATS)
def test_every_registered_format_renders_a_record(name: str) -> None:
    run = Run.load(RECORD)
    text = formats.renderer(name)(run)
    assert text.strip() and "\x1b" not in text
    if name == "json":
        assert Run.from_dict(__import__("json").loads(text)).machine_energy_j == run.machine_energy_j


def test_report_names_the_registry_formats_when_refusing() -> None:
    from conftest import call_aicarbon

    out = call_aicarbon("report", str(RECORD), "--format", "pdf")
    assert out.returncode == 2 and ", ".join(formats.FORMATS) in out.stderr
