"""Phases and units reported by the measured command's own code (aicarbon.phase and
add_units under ``aicarbon run``), through the channel aicarbon opens for it."""

from __future__ import annotations

import json
from pathlib import Path

from aicarbon.channel import CHANNEL_ENV, ChannelReader, send
from aicarbon.phases import PhaseBook
from conftest import run_aicarbon

SCRIPT = """
import subprocess, sys, time
import aicarbon

def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

with aicarbon.phase("load-model"):
    busy(0.2)
with aicarbon.phase("generate"):
    for _ in range(3):
        with aicarbon.phase("token"):
            busy(0.03)
        aicarbon.add_units(8)
# A subprocess of the command reports too (its descriptors are closed; the path is not).
HELPER = "import aicarbon\\nwith aicarbon.phase('helper'):\\n    pass\\naicarbon.add_units(1)"
subprocess.run([sys.executable, "-c", HELPER], check=True)
"""


def test_phases_and_units_cross_from_the_command_to_the_record(tmp_path: Path) -> None:
    (tmp_path / "gen.py").write_text(SCRIPT)
    private_tmp = tmp_path / "tmp"  # this run's temporary directory, whatever else runs here
    private_tmp.mkdir()
    out = run_aicarbon("run", "--json", "r.json", "gen.py", cwd=tmp_path, env={"TMPDIR": str(private_tmp)})
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    names = [(p["name"], p["depth"], p["units"]) for p in data["work"]["phases"]]
    assert names == [
        ("load-model", 0, 0.0),
        ("token", 1, 0.0),
        ("token", 1, 0.0),
        ("token", 1, 0.0),
        ("generate", 0, 24.0),
        ("helper", 0, 0.0),
    ]
    assert data["work"]["units_counted"] == 25.0 and data["comparison"]["units"] == 25.0  # no --units given
    load = data["work"]["phases"][0]
    assert load["duration_s"] >= 0.2 and load["energy_j"] > 0
    report = " ".join(out.stderr.split())
    assert "Phases (energy · share · yours · time · avg power · per unit):" in report
    assert "token x3:" in report and "generate:" in report
    assert list(private_tmp.iterdir()) == []  # its channel was made there, and removed


def test_explicit_units_win_over_counted_ones(tmp_path: Path) -> None:
    (tmp_path / "gen.py").write_text("import aicarbon\naicarbon.add_units(7)\n")
    out = run_aicarbon("run", "--units", "100", "--json", "r.json", "gen.py", cwd=tmp_path)
    data = json.loads((tmp_path / "r.json").read_text())
    assert (
        out.returncode == 0 and data["work"]["units_counted"] == 7.0 and data["comparison"]["units"] == 100.0
    )


def test_outside_aicarbon_the_calls_do_nothing(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import aicarbon

    monkeypatch.delenv(CHANNEL_ENV, raising=False)
    with aicarbon.phase("alone"):
        aicarbon.add_units(3)
    monkeypatch.setenv(CHANNEL_ENV, f"fifo:{tmp_path / 'gone'}")  # aicarbon has stopped reading
    send({"e": "units", "n": 1})
    with aicarbon.phase("after"):
        aicarbon.add_units(1)


def test_hostile_events_are_ignored_or_bounded() -> None:
    marks = iter(range(1000))
    book = PhaseBook(lambda: (float(next(marks)), (0.0, 0.0)), lambda: 0.0)
    reader = ChannelReader(book)
    try:
        for event in (
            {"e": "units", "n": -5},
            {"e": "units", "n": True},
            {"e": "units", "n": "9"},
            {"e": "start", "pid": 1, "id": "a", "name": 42},
            {"e": "boom"},
            {"e": "end", "pid": 1, "id": "never-started"},
        ):
            reader.handle(event)
        reader.handle({"e": "start", "pid": 1, "id": "b", "name": "x" * 5000 + "\x1b[2J"})
        reader.handle({"e": "units", "n": 2.5})
    finally:
        reader.finish(0.5)
    assert reader.ignored == 5 and book.counted == 2.5
    (phase,) = book.records  # ended by finish(): a phase left open ends with the run
    assert len(phase.name) == 200 and phase.units == 2.5


def test_without_a_writable_temporary_directory_the_command_is_still_measured(
    tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    import errno
    import sys

    import aicarbon.channel
    from aicarbon.wrapped_command import MeasureOptions, measure_command

    def read_only(**_: object) -> str:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(aicarbon.channel.tempfile, "mkdtemp", read_only)
    script = tmp_path / "gen.py"
    script.write_text("import aicarbon\nwith aicarbon.phase('p'):\n    aicarbon.add_units(1)\n")
    options = MeasureOptions(interval_s=0.05, sensors=frozenset({"estimate"}), own_process=False)
    run, exit_ = measure_command([sys.executable, str(script)], options)
    assert exit_.status == 0 and run.phases == [] and run.units_counted == 0
    assert any(
        "phases and units from the command are not received (Read-only file system)" in n for n in run.notes
    )


def test_a_channel_left_by_a_killed_aicarbon_is_swept_and_a_live_one_kept(tmp_path: Path) -> None:
    import os
    import time

    from aicarbon.channel import CHANNEL_PREFIX, sweep_stale_channels

    stale, live, young = (tmp_path / f"{CHANNEL_PREFIX}{name}" for name in ("stale", "live", "young"))
    for directory in (stale, live, young):
        directory.mkdir()
        os.mkfifo(directory / "events", 0o600)
    reader = os.open(live / "events", os.O_RDONLY | os.O_NONBLOCK)  # its aicarbon is running
    (tmp_path / "unrelated").mkdir()
    old = time.time() - 3600
    for directory in (stale, live):
        os.utime(directory, (old, old))
    try:
        assert sweep_stale_channels(str(tmp_path)) == 1
    finally:
        os.close(reader)
    assert not stale.exists() and (live / "events").exists() and young.exists()
    assert (tmp_path / "unrelated").exists()
