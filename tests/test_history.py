"""The local history (SQLite): where it lives, who can read it, parallel writers, migration from
an older schema, refusal of a newer or damaged one, retention; and through the command line,
that the measurement is never lost to the history."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from aicarbon.history.store import (
    _V1,
    APPLICATION_ID,
    SCHEMA_VERSION,
    Filter,
    History,
    StoreError,
    history_path,
    parse_when,
)
from aicarbon.records.run import LabelsRecord, Run
from conftest import call_aicarbon
from conftest import run_aicarbon as aicarbon

V1_RECORD = Path(__file__).resolve().parent / "data" / "run-v1-generate-text.json"


def a_run(**changes: object) -> Run:
    return replace(Run.load(V1_RECORD), **changes)  # type: ignore[arg-type]


def test_the_history_follows_aicarbon_home_then_xdg_then_home(tmp_path: Path) -> None:
    assert history_path({"AICARBON_HOME": "/a"}) == Path("/a/history.sqlite3")
    assert history_path({"XDG_DATA_HOME": "/x"}) == Path("/x/aicarbon/history.sqlite3")
    assert history_path({}) == Path.home() / ".local" / "share" / "aicarbon" / "history.sqlite3"


def test_a_new_history_is_private_to_the_user(tmp_path: Path) -> None:
    home = tmp_path / "home" / "aicarbon"
    with History.open({"AICARBON_HOME": str(home)}) as history:
        history.save(a_run())
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("history.sqlite3", "history.sqlite3-wal"):
        path = home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    db = sqlite3.connect(home / "history.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_saved_runs_come_back_whole_and_filter_by_command_tag_and_date(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path)}
    with History.open(env) as history:
        first = history.save(
            a_run(start_utc="2026-11-01T10:00:00.000Z", labels=LabelsRecord("gen", ["nightly"]))
        )
        second = history.save(a_run(command=["python", "train.py"], start_utc="2026-11-20T10:00:00.000Z"))
        third = history.save(
            a_run(command=["python", "infer.py", "--fast"], labels=LabelsRecord(tags=["nightly", "a100"]))
        )
        assert [r.id for r in history.runs()] == [third, second, first]
        assert [r.id for r in history.runs(Filter(command="infer.py --fa"))] == [third]
        assert [r.id for r in history.runs(Filter(tag="nightly"))] == [third, first]
        since = parse_when("2026-11-15")
        assert [r.id for r in history.runs(Filter(since_utc=since, until_utc="2026-11-21"))] == [second]
        assert [r.id for r in history.runs(Filter(limit=1))] == [third]
        summary = history.runs(Filter(tag="a100"))[0]
        assert summary.tags == ["nightly", "a100"] and summary.units == 20000.0
        assert summary.energy_per_unit_j == pytest.approx(summary.energy_j / 20000.0)
        back = history.get(first)
        assert (
            back.to_dict()
            == a_run(start_utc="2026-11-01T10:00:00.000Z", labels=LabelsRecord("gen", ["nightly"])).to_dict()
        )
        with pytest.raises(StoreError, match="no run 999 in the history"):
            history.get(999)


def test_times_for_since_and_until() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    assert parse_when("2026-11-25", now) == "2026-11-25T00:00:00.000Z"
    assert parse_when("2026-11-25T14:00+01:00", now) == "2026-11-25T13:00:00.000Z"
    assert parse_when("12h", now) == "2026-11-26T00:00:00.000Z"
    assert parse_when("7d", now) == "2026-11-19T12:00:00.000Z"
    with pytest.raises(StoreError, match="'yesterday' is not a date"):
        parse_when("yesterday", now)


WRITER = """
import sys
from dataclasses import replace
from aicarbon.records.run import Run
from aicarbon.history.store import History
run = Run.load(sys.argv[1])
with History.open() as history:
    for i in range(3):
        history.save(replace(run, command=["writer", sys.argv[2], str(i)]))
"""


def test_twenty_parallel_writers_all_get_saved(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(V1_RECORD), str(n)],
            env={**__import__("os").environ, **env},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(20)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    with History.open(env) as history:
        runs = history.runs(Filter(limit=100))
    assert len(runs) == 60
    assert sorted({(r.command[1], r.command[2]) for r in runs}) == sorted(
        (str(n), str(i)) for n in range(20) for i in range(3)
    )


class _OtherWriterAfterFirstRead:
    """A connection that lets another process (here: another connection) make the history right
    after this one's first read of it, as a parallel ``aicarbon run`` can."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db, self._path, self._reads = db, path, 0

    def execute(self, sql: str, *args: object) -> object:
        cursor = self._db.execute(sql, *args)
        if sql.startswith("PRAGMA busy_timeout"):
            return cursor
        self._reads += 1
        if self._reads > 1:
            return cursor
        rows = iter(cursor.fetchall())  # the read is over (its lock let go) before the other writes
        History.open(path=self._path).close()
        return SimpleNamespace(fetchone=lambda: next(rows, None))

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def test_a_history_made_by_another_writer_while_this_one_looks_is_not_refused(tmp_path: Path) -> None:
    """What CI caught among twenty parallel writers: the application id was read before the other
    writer committed the schema and the table count after, and the new history was refused as
    'not an aicarbon history'."""
    path = tmp_path / "history.sqlite3"
    path.touch()
    db = _OtherWriterAfterFirstRead(sqlite3.connect(path, isolation_level=None), path)
    with History._prepared(db, path, 10) as history:  # type: ignore[arg-type]
        history.save(a_run())
        assert len(history.runs(Filter(limit=10))) == 1


def make_v1_history(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(_V1)
    record = a_run(labels=LabelsRecord("old", ["legacy"], "from v1")).to_json()
    db.execute(
        "INSERT INTO runs (start_utc, duration_s, exit_status, command, command_line, energy_j, "
        "attributed_j, method, host, record) VALUES ('2026-11-01T00:00:00.000Z', 1.2, 0, "
        "'[\"python\", \"old.py\"]', 'python old.py', 3.45, 2.8, 'estimated', 'vm', ?)",
        (record,),
    )
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def test_an_older_history_is_migrated_in_place(tmp_path: Path) -> None:
    make_v1_history(tmp_path / "history.sqlite3")
    env = {"AICARBON_HOME": str(tmp_path)}
    with History.open(env) as history:
        (old,) = history.runs()
        assert (old.name, old.tags, old.note, old.units) == ("old", ["legacy"], "from v1", 20000.0)
        new = history.save(a_run(labels=LabelsRecord(tags=["after"])))
        assert [r.id for r in history.runs(Filter(tag="after"))] == [new]
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_history_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with History.open({"AICARBON_HOME": str(tmp_path)}) as history:
        history.save(a_run())
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="has schema version 7, newer than this aicarbon reads"):
        History.open({"AICARBON_HOME": str(tmp_path)})
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 7  # untouched
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_a_damaged_file_or_another_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "history.sqlite3").write_bytes(b"SQLite format 2\0" + b"\x17" * 4000)
    with pytest.raises(StoreError, match="is damaged .*move it away"):
        History.open({"AICARBON_HOME": str(tmp_path)})
    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / "history.sqlite3")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="an SQLite database but not an aicarbon history"):
        History.open({"AICARBON_HOME": str(other)})


def test_a_locked_history_is_one_sentence_after_the_wait(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path)}
    with History.open(env) as history:
        history.save(a_run())
    holder = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        history = History.open(env)
        history._db.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StoreError, match="could not save the run .*database is locked"):
            history.save(a_run())
        history.close()
    finally:
        holder.execute("ROLLBACK")


def test_retention_keeps_the_newest_and_drops_the_old(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path), "AICARBON_HISTORY_MAX_RUNS": "5"}
    with History.open(env) as history:
        ids = [history.save(a_run(start_utc=f"2026-0{m}-01T00:00:00.000Z")) for m in range(1, 9)]
        assert [r.id for r in history.runs()] == ids[::-1][:5]  # the cap, at every save
        now = datetime(2026, 9, 1, tzinfo=timezone.utc)
        assert history.prune(older_than_days=100, now=now) == 2  # April and May
        assert history.prune(keep=2) == 1
        assert [r.id for r in history.runs()] == ids[::-1][:2]
    with pytest.raises(StoreError, match="AICARBON_HISTORY_MAX_RUNS must be a whole number"):
        History.open({"AICARBON_HOME": str(tmp_path), "AICARBON_HISTORY_MAX_RUNS": "-1"})


# -- through the command line: the measurement is never lost ------------------------------------


def test_each_run_is_saved_with_its_tags_and_listed(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path)}
    out = aicarbon("run", "--tag", "nightly", "--note", "n1", "--", "sh", "-c", "exit 3", env=env)
    assert out.returncode == 3
    assert "aicarbon: saved as run 1 ('aicarbon show 1'" in out.stderr
    assert aicarbon("run", "-q", "--no-save", "--", "true", env=env).returncode == 0
    listed = call_aicarbon("history", "--json", env=env)
    runs = json.loads(listed.stdout)
    assert [(r["id"], r["command"], r["tags"], r["note"], r["exit_status"]) for r in runs] == [
        (1, ["sh", "-c", "exit 3"], ["nightly"], "n1", 3)
    ]
    table = call_aicarbon("history", "--tag", "nightly", env=env)
    assert table.returncode == 0 and "sh -c exit 3  [nightly]" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines() if not line.startswith("History: ")) <= 80
    assert "No runs saved" in call_aicarbon("history", "--tag", "other", env=env).stdout
    shown = call_aicarbon("show", "1", env=env)
    assert shown.returncode == 0 and "exit 3" in shown.stderr and "tags: nightly" in shown.stderr
    assert call_aicarbon("show", "last", env=env).stderr == shown.stderr


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ("newer", "not saved in the history: the history at"),
        ("damaged", "not saved in the history: the history at"),
        ("unwritable", "not saved in the history: cannot create the history at"),
    ],
)
def test_a_history_that_cannot_take_the_run_costs_one_line_not_the_run(
    tmp_path: Path, setup: str, says: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    if setup == "newer":
        with History.open({"AICARBON_HOME": str(home)}) as history:
            history.save(a_run())
        db = sqlite3.connect(home / "history.sqlite3")
        db.execute("PRAGMA user_version = 99")
        db.commit()
        db.close()
    elif setup == "damaged":
        (home / "history.sqlite3").write_bytes(b"\x00garbage" * 500)
    else:
        (tmp_path / "a-file").write_text("")
        home = tmp_path / "a-file" / "below"  # cannot be made, even by root (a read-only place)
    env = {"AICARBON_HOME": str(home)}
    out = aicarbon("run", "--json", "r.json", "--", "sh", "-c", "exit 5", cwd=tmp_path, env=env)
    assert out.returncode == 5  # the command's own
    assert "Traceback" not in out.stderr
    assert "Domain" in out.stderr  # the report
    assert json.loads((tmp_path / "r.json").read_text())["exit"]["status"] == 5  # the record
    problem = [line for line in out.stderr.splitlines() if "not saved" in line]
    assert len(problem) == 1 and problem[0].startswith(f"aicarbon: {says}"), out.stderr
    listing = call_aicarbon("history", env=env)
    if setup == "unwritable":
        assert listing.returncode == 0 and "No runs saved" in listing.stdout
    else:
        assert listing.returncode == 2 and len(listing.stderr.splitlines()) == 1, listing.stderr


def test_an_unknown_run_id_or_a_bad_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path)}
    aicarbon("run", "-q", "--", "true", env=env)
    (tmp_path / "bad.json").write_text("{not json")
    for args, says in [
        (["show", "42"], "no run 42 in the history at"),
        (["report", "42", "--format", "html"], "no run 42 in the history at"),
        (["report", str(tmp_path / "missing.json")], "no such file"),
        (["report", str(tmp_path / "bad.json")], "is not valid JSON"),
        (["diff", "1", "42"], "no run 42"),
        (["history", "--since", "yesterday"], "'yesterday' is not a date"),
        (["report", "1", "--format", "pdf"], "--format must be one of terminal, markdown, html, json, csv"),
    ]:
        out = aicarbon(*args, env=env)
        assert out.returncode == 2 and "Traceback" not in out.stderr, (args, out.stderr)
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and says in lines[0], (args, out.stderr)
    empty = {"AICARBON_HOME": str(tmp_path / "none")}
    out = call_aicarbon("show", "last", env=empty)
    assert out.returncode == 2 and "is empty: no last run" in out.stderr


def test_prune_from_the_command_line(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path)}
    for _ in range(3):
        aicarbon("run", "-q", "--", "true", env=env)
    out = call_aicarbon("history", "--prune", "--keep", "1", env=env)
    assert out.returncode == 0 and "pruned 2 run(s)" in out.stderr and "1 left" in out.stderr
    assert [r["id"] for r in json.loads(call_aicarbon("history", "--json", env=env).stdout)] == [3]


def test_bytes_that_were_not_utf8_are_saved_and_come_back_exactly(tmp_path: Path) -> None:
    env = {"AICARBON_HOME": str(tmp_path)}
    odd = a_run(command=["python", "caf\udce9.py"], labels=LabelsRecord(tags=["t\udcff"], note="n\udcfe"))
    with History.open(env) as history:
        run_id = history.save(odd)
        (summary,) = history.runs()
        assert summary.command == ["python", "caf\udce9.py"]  # from the JSON column: exact
        assert summary.tags == ["t\\udcff"] and summary.note == "n\\udcfe"  # visible escapes
        assert history.runs(Filter(command="caf\\udce9"))[0].id == run_id
        assert (
            history.get(run_id).command == odd.command and history.get(run_id).labels.note == odd.labels.note
        )


def test_a_long_command_gives_way_to_its_tags_in_the_listing(tmp_path: Path) -> None:
    from aicarbon.report.history_table import render

    env = {"AICARBON_HOME": str(tmp_path)}
    with History.open(env) as history:
        history.save(a_run(command=["python", "x" * 200], labels=LabelsRecord(tags=["nightly", "a100"])))
        text = render(history.runs(), history.path)
    line = text.splitlines()[1]
    assert line.endswith("…  [nightly, a100]") and len(line) <= 80, line
