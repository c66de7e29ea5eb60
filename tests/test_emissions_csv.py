"""``--emissions-csv``: aicarbon's rows in codecarbon's ``emissions.csv``, checked by codecarbon's
own writer (``FileOutput``) and by pandas, in both directions and for each generation."""

from __future__ import annotations

import csv
import dataclasses
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aicarbon.records.codecarbon_csv import COLUMNS_32, COLUMNS_34, COLUMNS_38
from aicarbon.records.run import LabelsRecord, Run
from aicarbon.report import emissions_csv
from aicarbon.report.emissions_csv import EmissionsCsvError
from conftest import run_aicarbon

RECORD = Path(__file__).resolve().parent / "data" / "run-v3-generate-text.json"


def codecarbon_row(project: str = "from-codecarbon") -> object:
    """A result as codecarbon 3.3's tracker makes it (every field of its EmissionsData)."""
    from codecarbon.output_methods.emissions_data import EmissionsData

    numbers = {f.name: 1.5 for f in dataclasses.fields(EmissionsData) if f.type in ("float", float)}
    texts = {f.name: "x" for f in dataclasses.fields(EmissionsData) if f.type in ("str", str)}
    fixed = {"project_name": project, "timestamp": "2026-12-07T10:00:00", "energy_consumed": 4.5}
    return EmissionsData(**{**numbers, **texts, **fixed})  # 4.5 kWh: cpu + gpu + ram


def codecarbon_appends(path: Path, project: str = "from-codecarbon") -> None:
    from codecarbon.output_methods.file import FileOutput

    FileOutput(path.name, str(path.parent)).out(codecarbon_row(project), None)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_columns_are_codecarbons_own() -> None:
    """The newest generation is the installed codecarbon's EmissionsData, in its order."""
    from codecarbon.output_methods.emissions_data import EmissionsData

    assert COLUMNS_38 == tuple(f.name for f in dataclasses.fields(EmissionsData))
    assert (len(COLUMNS_32), len(COLUMNS_34), len(COLUMNS_38)) == (32, 34, 38)
    assert set(COLUMNS_34) - set(COLUMNS_32) == {"water_consumed", "wue"}


def test_a_file_aicarbon_started_is_appended_to_by_codecarbon_without_a_backup(tmp_path: Path) -> None:
    import pandas as pd

    run = Run.load(RECORD)
    path = tmp_path / "emissions.csv"
    assert emissions_csv.append(path, emissions_csv.row(run)) == "codecarbon 3.2-3.3"
    codecarbon_appends(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emissions.csv"]  # no backup made
    frame = pd.read_csv(path)
    assert list(frame.project_name) == ["aicarbon", "from-codecarbon"]
    ours = frame.iloc[0]
    assert run.impact is not None
    pue = run.impact.pue
    assert ours.energy_consumed == pytest.approx(run.machine_energy_j * pue / 3.6e6, rel=1e-12)
    assert ours.emissions == pytest.approx(run.impact.emissions_g / 1000, rel=1e-12)
    assert ours.duration == pytest.approx(run.duration_s)
    assert ours.cpu_energy + ours.gpu_energy + ours.ram_energy == pytest.approx(ours.energy_consumed)
    assert ours.water_consumed == pytest.approx(run.impact.water.litres)
    busy, capacity = run.attribution.machine_busy_cpu_s, run.duration_s * run.host.logical_cpus
    assert 0 < ours.cpu_utilization_percent == pytest.approx(100 * busy / capacity)
    assert (ours.tracking_mode, ours.on_cloud) == ("machine", "N")
    assert pd.isna(ours.country_iso_code)  # the record's grid is the world average: no country
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", ours.timestamp)  # naive, as codecarbon's
    assert pd.isna(ours.latitude) and pd.isna(ours.codecarbon_version)  # never invented


def test_a_file_codecarbon_started_gets_aicarbons_row_by_name(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    codecarbon_appends(path)
    run = dataclasses.replace(Run.load(RECORD), labels=LabelsRecord(name='=HYPERLINK("x")'))
    emissions_csv.append(path, emissions_csv.row(run))
    first, ours = rows(path)
    assert first["project_name"] == "from-codecarbon"
    assert ours["project_name"] == '\'=HYPERLINK("x")'  # text, not a formula, in a spreadsheet
    assert float(ours["energy_consumed"]) > 0 and ours["tracking_mode"] == "machine"
    assert list(ours) == list(COLUMNS_38)


@pytest.mark.parametrize("columns", [COLUMNS_32, COLUMNS_34], ids=["32-columns", "34-columns"])
def test_an_older_generation_gets_a_row_in_its_own_columns_and_order(tmp_path: Path, columns: tuple) -> None:
    path = tmp_path / "emissions.csv"
    order = list(reversed(columns))  # codecarbon reads by name: any order is the same file
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(order)
        writer.writerow(["1" for _ in order])
    run = Run.load(RECORD)
    emissions_csv.append(path, emissions_csv.row(run))
    old, ours = rows(path)
    assert list(ours) == order and len(ours) == len(columns) and None not in ours
    assert float(ours["energy_consumed"]) == pytest.approx(run.machine_energy_j * run.impact.pue / 3.6e6)  # type: ignore[union-attr]
    assert old["energy_consumed"] == "1"


def test_a_last_line_cut_short_is_not_merged_with_the_new_row(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_text(",".join(COLUMNS_38) + "\n" + "2026-01-01T00:00:00,cut")
    emissions_csv.append(path, emissions_csv.row(Run.load(RECORD)))
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and lines[1] == "2026-01-01T00:00:00,cut" and lines[2].count(",") == 37


@pytest.mark.parametrize(
    "content, says",
    [
        ("name,energy\nx,1\n", "a header of 2 columns that is not codecarbon's emissions.csv"),
        (",".join(COLUMNS_38[:-1]) + "\n", "a header of 37 columns"),
        (",".join(COLUMNS_38 + ("wue",)) + "\n", "a header of 39 columns"),
        (b"\xff\xfet\0i\0", "is not UTF-8 text"),
    ],
    ids=["foreign", "one-short", "duplicate", "utf-16"],
)
def test_a_foreign_or_damaged_header_is_refused_and_left_as_it_is(
    tmp_path: Path, content: str | bytes, says: str
) -> None:
    path = tmp_path / "emissions.csv"
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(data)
    for attempt in (lambda: emissions_csv.check_target(path), lambda: emissions_csv.append(path, {})):
        with pytest.raises(EmissionsCsvError, match=re.escape(says)):
            attempt()
    assert path.read_bytes() == data


def test_what_is_not_a_regular_writable_file_is_refused_before_the_run(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(EmissionsCsvError, match="is not a regular file"):
        emissions_csv.check_target(fifo)
    with pytest.raises(EmissionsCsvError, match="is not a regular file"):
        emissions_csv.append(fifo, {})  # and never blocks on it
    with pytest.raises(EmissionsCsvError, match="does not exist"):
        emissions_csv.check_target(tmp_path / "no-dir" / "e.csv")
    if os.geteuid() != 0:  # root writes anyway
        locked = tmp_path / "ro.csv"
        locked.write_text(",".join(COLUMNS_38) + "\n")
        locked.chmod(0o444)
        with pytest.raises(EmissionsCsvError, match="permission denied"):
            emissions_csv.check_target(locked)


def test_a_full_disk_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(emissions_csv.os, "write", full)
    with pytest.raises(EmissionsCsvError, match="cannot append to .*: no space left on device"):
        emissions_csv.append(tmp_path / "e.csv", emissions_csv.row(Run.load(RECORD)))


APPENDER = """
import sys
from pathlib import Path
from aicarbon.records.run import Run
from aicarbon.report import emissions_csv
emissions_csv.append(Path(sys.argv[1]), emissions_csv.row(Run.load(Path(sys.argv[2]))))
"""


def test_parallel_runs_write_one_header_and_whole_rows(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), str(RECORD)]) for _ in range(12)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 12
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS_38) and len(lines) == 13
    assert len({r["run_id"] for r in rows(path)}) == 12
    assert all(len(r) == 38 and None not in r for r in rows(path))


def test_run_appends_its_row_and_keeps_the_commands_status(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    out = run_aicarbon(
        "run", "--country", "FRA", "--emissions-csv", str(path), "--", "sh", "-c", "exit 3", cwd=tmp_path
    )
    assert out.returncode == 3, out.stderr
    assert f"appended a row to {path} (codecarbon 3.2-3.3 columns)" in out.stderr
    codecarbon_appends(path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != "") == ["emissions.csv"]
    (ours, theirs) = rows(path)
    assert ours["country_iso_code"] == "FRA" and float(ours["duration"]) > 0
    assert theirs["project_name"] == "from-codecarbon"


def test_run_refuses_a_foreign_file_before_the_command_starts(tmp_path: Path) -> None:
    path = tmp_path / "emissions.csv"
    path.write_text("a,b\n1,2\n")
    marker = tmp_path / "ran"
    out = run_aicarbon("run", "--emissions-csv", str(path), "--", "touch", str(marker), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "not codecarbon's emissions.csv" in out.stderr
    assert not marker.exists() and path.read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize(
    "label, place",
    [
        ("France (FRA)", ("France", "FRA", "")),
        ("United States / california", ("United States", "", "california")),
        ("aws us-east-1 (United States)", ("", "", "")),  # a cloud region: no ISO code
        ("world average", ("", "", "")),
    ],
)
def test_the_grid_label_gives_the_country_and_region_of_the_row(
    label: str, place: tuple[str, str, str]
) -> None:
    from aicarbon.records.run import GridRecord

    assert GridRecord(100.0, label, "s", None, "--country").place() == place
