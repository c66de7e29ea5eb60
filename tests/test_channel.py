"""Phases and units reported by the measured command's own code (aicarbon.phase and
add_units under ``aicarbon run``), through the channel aicarbon opens for it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from aicarbon.measurement.channel import CHANNEL_ENV, ChannelReader, send
from aicarbon.measurement.phases import PhaseBook
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
    # 0.2 s of CPU time spun: at least as long in wall time, less the milliseconds it takes
    # aicarbon to read an edge.
    assert load["duration_s"] >= 0.19 and load["energy_j"] > 0
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


def test_hostile_events_are_ignored_or_bounded() -> None:
    marks = iter(range(1000))
    book = PhaseBook(lambda: (float(next(marks)), (0.0, 0.0)), lambda: 0.0)
    reader = ChannelReader(book)
    try:
        for event in (
            {"e": "units", "n": -5},
            {"e": "units", "n": True},
            {"e": "units", "n": "9"},
            {"e": "units", "n": 10**400},  # math.isfinite() of it raised OverflowError
            {"e": "units", "n": 1e300},  # more than a record may hold
            {"e": "start", "pid": 1, "id": "a", "name": 42},
            {"e": "start", "pid": 1, "id": ["unhashable"], "name": "x"},
            {"e": "start", "pid": 1, "id": "i" * 65, "name": "x"},
            {"e": "boom"},
            ["not", "an", "object"],
        ):
            reader._take(json.dumps(event).encode())
        reader._take(b"{" * 400 + b"}" * 400)
        reader._take(b"\xff\xfe not UTF-8")
        reader._take(b"[" * 100_000)  # too long, and too deep for the parser
        reader.handle({"e": "end", "pid": 1, "id": "never-started"})  # harmless: nothing ends
        reader.handle({"e": "start", "pid": 1, "id": "b", "name": "x" * 5000 + "\x1b[2J"})
        reader.handle({"e": "units", "n": 2.5})
    finally:
        reader.finish(0.5)
    assert reader.ignored == 13 and book.counted == 2.5 and reader.failure is None
    (phase,) = book.records  # ended by finish(): a phase left open ends with the run
    assert len(phase.name) == 200 and phase.units == 2.5


def _fed_reader(chunks: list[bytes]) -> tuple[ChannelReader, PhaseBook]:
    """A started reader, the chunks written to its pipe by a thread with blocking writes (as a
    hostile child would), then one valid phase: the reader must survive and take it."""
    import os
    import threading

    book = PhaseBook(lambda: (0.0, (0.0, 0.0)), lambda: 0.0)
    reader = ChannelReader(book)
    reader.start()

    def write() -> None:
        fd = os.open(reader.path, os.O_WRONLY)  # a blocking open, as a plain open() does
        try:
            for chunk in chunks:
                os.write(fd, chunk)
            os.write(fd, b'\n{"e":"start","pid":7,"id":"k","name":"survived"}\n')
            os.write(fd, b'{"e":"end","pid":7,"id":"k"}\n')
        finally:
            os.close(fd)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(60)
    hung = writer.is_alive()
    reader.finish(5.0)
    assert not hung, "a writer blocked on the channel: the reader stopped reading"
    return reader, book


def test_the_reader_survives_random_bytes_and_random_json() -> None:
    """A fuzz test with a fixed seed: random bytes (newlines, NULs, invalid UTF-8, lines of up
    to 300 kB) and random JSON (deep, huge integers, every type where a field is expected)."""
    import random

    rng = random.Random(1515)
    chunks: list[bytes] = []
    for _ in range(300):
        size = rng.choice([1, 10, 100, 511, 512, 513, 4096, 70_000, 300_000])
        chunks.append(bytes(rng.getrandbits(8) for _ in range(min(size, 2000))) * max(1, size // 2000))
    values: list[object] = [None, True, -1, 0, 2.5, 10**400, -(10**50), 1e308, "", "x" * 600, [], {}, [[[]]]]
    for _ in range(2000):
        event: dict[str, object] = {}
        for key in ("e", "pid", "id", "name", "n"):
            if rng.random() < 0.7:
                event[key] = rng.choice([*values, "start", "end", "units", "_stop", rng.randrange(1 << 40)])
        chunks.append(json.dumps(event).encode() + b"\n")
    chunks.append(b"[" * 5000 + b"\n" + b"9" * 5000 + b"\n" + b'{"e":"_stop"}\n')  # no child can stop it
    reader, book = _fed_reader(chunks)
    assert reader.failure is None and reader.ignored > 2000
    assert "survived" in [p.name for p in book.records]
    assert 0 <= book.counted <= 1e15 and book.open_count == 0


def test_a_child_writing_a_huge_integer_neither_hangs_nor_loses_its_phases(tmp_path: Path) -> None:
    """The case that hung for ten minutes: a 401-digit unit count, then the child opens the
    channel again, blocking, with a plain open(). A timeout fails the test instead of hanging."""
    child = tmp_path / "hostile.py"
    child.write_text(
        "import os, aicarbon\n"
        "path = os.environ['AICARBON_CHANNEL'][5:]\n"
        "with open(path, 'w') as f:\n"
        "    f.write('{\"e\":\"units\",\"n\":' + '9' * 401 + '}\\n')\n"
        "with open(path, 'wb') as f:\n"
        "    f.write(b'\\xff' * 100000 + b'\\n')\n"
        "with open(path, 'w') as f:\n"  # blocking: it hung here when the reader had died
        '    f.write(\'{"e":"units","n":3}\\n\')\n'
        "with aicarbon.phase('after'):\n"
        "    aicarbon.add_units(2)\n"
    )
    out = run_aicarbon(
        "run",
        "-q",
        "--no-save",
        "--json",
        "r.json",
        "--",
        sys.executable,
        str(child),
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["work"]["units_counted"] == 5.0
    assert [p["name"] for p in data["work"]["phases"]] == ["after"]
    assert any("2 lines the command wrote to aicarbon's channel were ignored" in n for n in data["notes"])


def test_a_writer_never_waits_for_a_reader_that_does_not_read(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A reader that holds the pipe but reads nothing (a stopped aicarbon): the pipe fills, and
    every further event is dropped after a bounded wait instead of blocking the code."""
    import os
    import threading

    import aicarbon

    fifo = tmp_path / "events"
    os.mkfifo(fifo)
    stuck_reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    monkeypatch.setenv(CHANNEL_ENV, f"fifo:{fifo}")

    def flood() -> None:
        for _ in range(20_000):  # about 60 bytes each: more than a 1 MB pipe holds
            aicarbon.add_units(1)
            with aicarbon.phase("p"):
                pass

    writer = threading.Thread(target=flood, daemon=True)
    try:
        writer.start()
        writer.join(120)
        assert not writer.is_alive(), "aicarbon.phase() blocked on a full channel"
    finally:
        os.close(stuck_reader)


def test_outside_aicarbon_the_calls_do_nothing(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Without the variable nothing is written anywhere; with it but no reader (aicarbon has
    stopped), nothing is written and nothing blocks: the pipe stays empty."""
    import os

    import aicarbon

    monkeypatch.delenv(CHANNEL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with aicarbon.phase("alone"):
        aicarbon.add_units(3)
    assert list(tmp_path.iterdir()) == []
    fifo = tmp_path / "gone"
    os.mkfifo(fifo)
    monkeypatch.setenv(CHANNEL_ENV, f"fifo:{fifo}")  # a channel whose aicarbon has stopped reading
    send({"e": "units", "n": 1})
    with aicarbon.phase("after"):
        aicarbon.add_units(1)
    # Now a reader appears: had anything been written (or buffered) before, it would be here.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert os.read(reader, 4096) == b""
    finally:
        os.close(reader)
    with pytest.raises(ValueError, match="from 0 to 1e\\+15"):
        aicarbon.add_units(10**400)  # the documented ValueError, not OverflowError
    with pytest.raises(ValueError):
        aicarbon.add_units(1e300)


def test_without_a_writable_temporary_directory_the_command_is_still_measured(
    tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    import errno
    import sys

    import aicarbon.measurement.channel
    from aicarbon.measurement.command import MeasureOptions, measure_command

    def read_only(*_: object, **__: object) -> str:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(aicarbon.measurement.channel, "private_directory", read_only)
    script = tmp_path / "gen.py"
    script.write_text("import aicarbon\nwith aicarbon.phase('p'):\n    aicarbon.add_units(1)\n")
    options = MeasureOptions(interval_s=0.05, sensors=frozenset({"estimate"}), own_process=False)
    run, exit_ = measure_command([sys.executable, str(script)], options)
    assert exit_.status == 0 and run.work.phases == [] and run.work.units_counted == 0
    assert any(
        "phases and units from the command are not received (Read-only file system)" in n for n in run.notes
    )


def test_a_channel_left_by_a_killed_aicarbon_is_swept_and_a_live_one_kept(tmp_path: Path) -> None:
    import os
    import time

    from aicarbon.measurement.channel import CHANNEL_PREFIX, sweep_stale_channels

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


FAILING = """
import os, signal, sys
import aicarbon

try:
    with aicarbon.phase("parse"):
        raise KeyError("bad row")
except KeyError:
    pass
with aicarbon.phase("fine"):
    pass
if sys.argv[1] == "die":
    with aicarbon.phase("killed"):
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("how", ["live", "die"])
def test_a_phase_that_raised_or_never_ended_is_marked_across_processes(tmp_path: Path, how: str) -> None:
    (tmp_path / "work.py").write_text(FAILING)
    out = run_aicarbon("run", "--no-save", "--json", "r.json", "work.py", how, cwd=tmp_path)
    assert out.returncode == (137 if how == "die" else 0), out.stderr
    phases = {p["name"]: p["failed"] for p in json.loads((tmp_path / "r.json").read_text())["work"]["phases"]}
    expected = {"parse": "KeyError", "fine": None}
    if how == "die":
        expected["killed"] = "not ended"  # the command was killed inside it: closed by the run's end
    assert phases == expected
    report = " ".join(out.stderr.split())
    assert "parse [failed: KeyError]:" in report and "fine:" in report
