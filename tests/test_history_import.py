"""``aicarbon history import``: codecarbon's rows of each generation, written by codecarbon's own
writer or built from each version's column list, enter the history as runs codecarbon measured."""

from __future__ import annotations

import csv
import dataclasses
import sqlite3
from pathlib import Path

import pytest
from aicarbon.history import store as store_module
from aicarbon.history.codecarbon_import import read_runs
from aicarbon.history.store import Filter, History, StoreError
from aicarbon.records.codecarbon_csv import COLUMNS_32, COLUMNS_34, COLUMNS_38
from aicarbon.records.run import Run
from aicarbon.report import emissions_csv
from conftest import call_aicarbon

RECORD = Path(__file__).resolve().parent / "data" / "run-v3-generate-text.json"


def a_row(columns: tuple[str, ...], **values: str) -> dict[str, str]:
    """A row as codecarbon writes one: 2 s, 100 J of CPU and 50 J of RAM at PUE 1.5, 1 mg."""
    row = {name: "" for name in columns}
    row.update(
        timestamp="2026-11-30T09:15:00", project_name="bert", run_id="5e1c", duration="2.0",
        emissions=str(1e-6), emissions_rate=str(5e-7), cpu_energy=str(150 / 3.6e6),
        gpu_energy="0.0", ram_energy=str(75 / 3.6e6), energy_consumed=str(225 / 3.6e6),
        country_name="France", country_iso_code="FRA", os="Linux", codecarbon_version="2.8.4",
        cpu_count="8", cpu_model="Intel Xeon", gpu_count="0", ram_total_size="16.0",
        tracking_mode="machine", on_cloud="N", pue="1.5",
    )  # fmt: skip
    row.update(values)
    return {k: v for k, v in row.items() if k in columns}


def write(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("columns", [COLUMNS_32, COLUMNS_34, COLUMNS_38], ids=["32", "34", "38"])
def test_each_generations_rows_become_runs_measured_by_codecarbon(tmp_path: Path, columns: tuple) -> None:
    path = write(tmp_path / "emissions.csv", tuple(reversed(columns)), [a_row(columns)])
    (run,), problems = read_runs(path)
    assert problems == []
    assert run.machine_energy_j == pytest.approx(150.0)  # the PUE taken out, as aicarbon keeps it
    assert {d.id: d.energy_j for d in run.energy.domains} == pytest.approx(
        {"cpu:codecarbon": 100.0, "dram:codecarbon": 50.0}
    )
    assert run.method == "estimated" and run.tool.name == "codecarbon" and run.tool.version == "2.8.4"
    assert run.impact is not None and run.impact.emissions_g == pytest.approx(1e-3)
    assert run.impact.pue == 1.5 and run.impact.grid.label == "France (FRA)"
    assert run.impact.grid.g_per_kwh == pytest.approx(1e-3 / (225 / 3.6e6))  # the row's own
    assert run.duration_s == 2.0 and run.command == [] and run.labels.name == "bert"
    assert run.labels.tags == ["codecarbon"] and run.host.logical_cpus == 8
    assert run.host.ram_bytes == 16 << 30


def test_codecarbons_own_row_and_aicarbons_row_come_back(tmp_path: Path) -> None:
    """A row from codecarbon 3.3's FileOutput, and one of aicarbon's --emissions-csv, whose
    energy and emissions come back as the run's."""
    from test_emissions_csv import codecarbon_appends

    path = tmp_path / "emissions.csv"
    original = Run.load(RECORD)
    emissions_csv.append(path, emissions_csv.row(original))
    codecarbon_appends(path)
    runs, problems = read_runs(path)
    assert problems == [] and [r.labels.name for r in runs] == ["aicarbon", "from-codecarbon"]
    # aicarbon's row says no codecarbon version: it is not taken for codecarbon's
    assert [(r.tool.name, r.tool.version) for r in runs] == [("unknown", ""), ("codecarbon", "x")]
    back = runs[0]
    assert back.machine_energy_j == pytest.approx(original.machine_energy_j, rel=1e-9)
    assert original.impact is not None and back.impact is not None
    assert back.impact.emissions_g == pytest.approx(original.impact.emissions_g, rel=1e-9)


def test_the_command_imports_reports_and_does_not_import_twice(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path / "home")}
    rows = [a_row(COLUMNS_38, run_id=f"r{i}", project_name=f"p{i}") for i in range(3)]
    path = write(tmp_path / "emissions.csv", COLUMNS_38, rows)
    out = call_aicarbon("history", "import", str(path), env=env)
    assert out.returncode == 0, out.stderr
    assert f"imported 3 row(s) of {path} (runs 1 to 3)" in out.stderr
    again = call_aicarbon("history", "import", str(path), env=env)
    assert "imported 0 row(s)" in again.stderr and "3 already in the history" in again.stderr
    listed = call_aicarbon("history", "--tag", "codecarbon", env=env)
    assert listed.returncode == 0 and listed.stdout.count("bert") == 0 and "p2" in listed.stdout
    shown = call_aicarbon("show", "1", env=env)
    assert shown.returncode == 0 and "every figure is the row's" in " ".join(shown.stderr.split())
    for fmt in ("html", "markdown", "csv", "json"):
        assert call_aicarbon("report", "1", "-f", fmt, env=env).returncode == 0, fmt
    assert call_aicarbon("diff", "1", "2", env=env).returncode == 0


def test_bad_rows_are_one_line_each_and_the_rest_is_imported(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path / "home")}
    rows = [
        a_row(COLUMNS_38, run_id="good-1"),
        a_row(COLUMNS_38, run_id="nan", duration="nan"),
        a_row(COLUMNS_38, run_id="neg", cpu_energy="-1"),
        a_row(COLUMNS_38, run_id="date", timestamp="yesterday"),
        a_row(COLUMNS_38, run_id="sum", energy_consumed="1.0"),
        a_row(COLUMNS_38, run_id="good-2", project_name="=cmd|'/c calc'!A1"),
    ]
    path = write(tmp_path / "emissions.csv", COLUMNS_38, rows)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("2026-01-01T00:00:00,short\n")
    out = call_aicarbon("history", "import", str(path), env=env)
    assert out.returncode == 1
    assert [line.split(": ", 2)[2] for line in out.stderr.splitlines()[:-1]] == [
        "line 3: duration: 'nan' is not a finite figure from 0 to 1e15: not imported",
        "line 4: cpu_energy: '-1' is not a finite figure from 0 to 1e15: not imported",
        "line 5: timestamp: 'yesterday' is not a date and time: not imported",
        "line 6: energy_consumed: not the sum of cpu_energy, gpu_energy and ram_energy: not imported",
        "line 8: 38 columns expected: not imported",
    ]
    assert "imported 2 row(s)" in out.stderr
    with History.open(env) as history:
        assert sorted(r.note or "" for r in history.runs(Filter())) == [
            "codecarbon run good-1",
            "codecarbon run good-2",
        ]


@pytest.mark.parametrize(
    "content, says",
    [("a,b\n1,2\n", "a header of 2 columns that is not codecarbon's emissions.csv"), (None, "no such file")],
)
def test_a_file_that_is_not_an_emissions_csv_is_one_sentence(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "emissions.csv"
    if content is not None:
        path.write_text(content)
    out = call_aicarbon("history", "import", str(path), env={"AICARBON_HOME": str(tmp_path / "h")})
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and says in out.stderr, out.stderr


def test_an_import_is_saved_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs, _ = read_runs(
        write(tmp_path / "e.csv", COLUMNS_38, [a_row(COLUMNS_38, run_id=str(i)) for i in range(3)])
    )
    real = store_module._insert
    calls = []

    def fails_third(db: sqlite3.Connection, run: Run) -> int:
        calls.append(run)
        if len(calls) == 3:
            raise sqlite3.OperationalError("disk I/O error")
        return real(db, run)

    monkeypatch.setattr(store_module, "_insert", fails_third)
    env = {"AICARBON_HOME": str(tmp_path / "home")}
    with History.open(env) as history:
        with pytest.raises(StoreError, match="disk I/O error"):
            history.save_all(runs)
        assert history.count() == 0  # the first two were rolled back with the third
    assert dataclasses.is_dataclass(runs[0])


def test_rows_without_a_run_id_are_all_imported(tmp_path: Path) -> None:
    """Only codecarbon's run id tells a row already imported: rows without one are not taken
    for each other."""
    env = {"AICARBON_HOME": str(tmp_path / "home")}
    path = write(tmp_path / "e.csv", COLUMNS_32, [a_row(COLUMNS_32, run_id="") for _ in range(3)])
    out = call_aicarbon("history", "import", str(path), env=env)
    assert out.returncode == 0 and "imported 3 row(s)" in out.stderr, out.stderr
    with History.open(env) as history:
        assert [r.note for r in history.runs(Filter())] == [None, None, None]
