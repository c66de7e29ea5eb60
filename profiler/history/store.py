"""The local history of runs: one SQLite database per user.

Where: ``$AICARBON_HOME/history.sqlite3``; else ``$XDG_DATA_HOME/aicarbon/history.sqlite3``;
else ``~/.local/share/aicarbon/history.sqlite3`` (the XDG base-directory conventions). The
directory is made readable by the user only (0700) and the database file is created 0600
(SQLite gives its ``-wal`` and ``-shm`` files the same mode).

Each run keeps its whole run record (JSON, as ``--json`` writes it) beside the columns that
``aicarbon history`` lists and filters on. Parallel runs all get saved: the database is in WAL
mode, every write is one short ``BEGIN IMMEDIATE`` transaction, and a writer waits up to
``BUSY_TIMEOUT_S`` for another.

The database carries its schema version (``PRAGMA user_version``) and aicarbon's application
id. An older version is migrated in place, in one transaction; a newer one, or a file that is
not an aicarbon history (corrupt, or some other database), is refused with one sentence
(``StoreError``), and the caller still has its run: the store is never in the way of a
measurement.

Retention: at most ``max_runs`` runs are kept (10,000 by default, ``AICARBON_HISTORY_MAX_RUNS``),
the oldest going first when a run is saved; ``prune`` applies a stricter rule on demand.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import AicarbonError
from ..records.history import RunSummary
from ..records.run import Run

DB_NAME = "history.sqlite3"
SCHEMA_VERSION = 4
APPLICATION_ID = 0x41494342  # "AICB": tells an aicarbon history from another SQLite file
BUSY_TIMEOUT_S = 30.0
DEFAULT_MAX_RUNS = 10_000
MAX_RUNS_ENV = "AICARBON_HISTORY_MAX_RUNS"


class StoreError(AicarbonError):
    """The history cannot be opened, read or written; one sentence that says which and why."""


# -- the schema and its migrations -----------------------------------------------------------------

# Version 1: the runs and their records. Version 2: the labels (name, tags, note), the unit
# count and the emissions as columns, so that history can filter and list them.
_V1 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_utc TEXT NOT NULL,
    duration_s REAL NOT NULL,
    exit_status INTEGER NOT NULL,
    command TEXT NOT NULL,        -- the argv, a JSON list
    command_line TEXT NOT NULL,   -- as a person would type it: what --command searches
    energy_j REAL NOT NULL,       -- the machine's
    attributed_j REAL NOT NULL,   -- the command's share
    method TEXT NOT NULL,         -- measured, estimated or mixed
    host TEXT NOT NULL,
    record TEXT NOT NULL          -- the whole run record, JSON (aicarbon.run/N)
);
CREATE INDEX runs_by_start ON runs (start_utc);
"""

_V2 = """
ALTER TABLE runs ADD COLUMN name TEXT;
ALTER TABLE runs ADD COLUMN note TEXT;
ALTER TABLE runs ADD COLUMN units REAL;
ALTER TABLE runs ADD COLUMN emissions_g REAL;
CREATE TABLE tags (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
);
CREATE INDEX tags_by_tag ON tags (tag);
"""

# Version 3: how many nodes a job's record sums up (0: a plain run, one command on one machine).
_V3 = """
ALTER TABLE runs ADD COLUMN nodes INTEGER NOT NULL DEFAULT 0;
"""

# Version 4: the embodied emissions' range, apart from the operational ones (NULL: not computed,
# as before record version 4, or no figure for the hardware).
_V4 = """
ALTER TABLE runs ADD COLUMN embodied_low_g REAL;
ALTER TABLE runs ADD COLUMN embodied_high_g REAL;
"""

# The newest N runs stay (retention: every save, and history --prune).
_KEEP_NEWEST = "DELETE FROM runs WHERE id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?)"


def _saved_records(db: sqlite3.Connection) -> Iterator[tuple[int, Run]]:
    """Each saved run's id and record, for a migration's backfill; an unreadable record is
    passed over (its new columns stay empty; `show` will say what is wrong)."""
    for run_id, text in db.execute("SELECT id, record FROM runs").fetchall():
        try:
            run = Run.from_dict(json.loads(text))
        except (ValueError, RecursionError):
            continue
        yield run_id, run


def _backfill_v2(db: sqlite3.Connection) -> None:
    """Version 2's columns for the runs saved by version 1, from their records."""
    for run_id, run in _saved_records(db):
        db.execute(
            "UPDATE runs SET name = ?, note = ?, units = ?, emissions_g = ? WHERE id = ?",
            (_sql_text(run.labels.name), _sql_text(run.labels.note), _units(run), _emissions(run), run_id),
        )
        db.executemany(
            "INSERT OR IGNORE INTO tags VALUES (?, ?)", [(run_id, _sql_text(t)) for t in run.labels.tags]
        )


def _backfill_v4(db: sqlite3.Connection) -> None:
    """Version 4's columns for the runs saved before, from their records (those of record
    version 4 may carry ``impact.embodied``)."""
    for run_id, run in _saved_records(db):
        db.execute(
            "UPDATE runs SET embodied_low_g = ?, embodied_high_g = ? WHERE id = ?", (*_embodied(run), run_id)
        )


_MIGRATIONS: dict[int, tuple[str, Callable[[sqlite3.Connection], None] | None]] = {
    1: (_V1, None),
    2: (_V2, _backfill_v2),
    3: (_V3, None),  # no record before version 3 was a job's
    4: (_V4, _backfill_v4),
}


# -- where ---------------------------------------------------------------------------------------


def history_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("AICARBON_HOME"):
        return Path(env["AICARBON_HOME"]) / DB_NAME
    data = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return data / "aicarbon" / DB_NAME


def max_runs(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    raw = env.get(MAX_RUNS_ENV, "")
    if not raw:
        return DEFAULT_MAX_RUNS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise StoreError(f"{MAX_RUNS_ENV} must be a whole number of runs, at least 1; got {raw[:40]!r}")
    return min(value, MAX_SQL_INT)  # more than SQLite can count: keep every run


MAX_SQL_INT = 2**63 - 1  # SQLite's largest integer: ids, limits and counts are clamped to it


# -- what history lists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    command: str | None = None  # a substring of the command line
    tag: str | None = None
    since_utc: str | None = None  # ISO 8601, UTC, inclusive
    until_utc: str | None = None  # exclusive
    limit: int = 20


def parse_when(text: str, now: datetime | None = None) -> str:
    """A time for ``--since``/``--until`` as an ISO UTC string: ``2026-11-25``,
    ``2026-11-25T14:00``, ``2026-11-25T14:00+01:00``, or a time ago: ``30m``, ``12h``, ``7d``.
    A time without a zone is UTC, as every record's."""
    raw = text.strip()
    now = now or datetime.now(timezone.utc)
    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if raw[-1:].lower() in units and raw[:-1].replace(".", "", 1).isdigit() and raw[:-1].isascii():
        try:
            moment = now - timedelta(seconds=float(raw[:-1]) * units[raw[-1].lower()])
        except (OverflowError, ValueError):  # beyond timedelta's 999,999,999 days, or before year 1
            raise StoreError(
                f"{text[:40]!r} is too far back: give a date, or a time ago such as 7d"
            ) from None
    else:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise StoreError(
                f"{text!r} is not a date: give 2026-11-25, 2026-11-25T14:00, or a time ago: 12h, 7d"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the database --------------------------------------------------------------------------------------


def _units(run: Run) -> float | None:
    if run.comparison is not None and run.comparison.units:
        return run.comparison.units
    return run.work.units_counted or None


def _emissions(run: Run) -> float | None:
    return run.impact.emissions_g if run.impact is not None else None


def _embodied(run: Run) -> tuple[float | None, float | None]:
    e = run.impact.embodied if run.impact is not None else None
    return (e.low_g, e.high_g) if e is not None and e.parts else (None, None)


def _sql_text(text: str | None) -> str | None:
    """Text SQLite can store: a command's bytes that were not UTF-8 (lone surrogates) become
    visible escapes (``\\udcff``) in the listing columns; the record keeps them exactly."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _describe(exc: sqlite3.Error) -> str:
    return str(exc) or type(exc).__name__


def _insert(db: sqlite3.Connection, run: Run) -> int:
    """One run's row and tags, inside the caller's transaction; its id."""
    row = (
        _sql_text(run.start_utc),
        run.duration_s,
        run.exit.status,
        json.dumps(run.command),  # ASCII: a lone surrogate is written \udcff
        _sql_text(run.command_line),
        run.machine_energy_j,
        run.attributed_energy_j,
        run.method,
        _sql_text(run.host.hostname),
        run.to_json(),  # strict JSON, ASCII
        _sql_text(run.labels.name),
        _sql_text(run.labels.note),
        _units(run),
        _emissions(run),
        len(run.nodes),
        *_embodied(run),
    )
    cursor = db.execute(
        "INSERT INTO runs (start_utc, duration_s, exit_status, command, command_line, "
        "energy_j, attributed_j, method, host, record, name, note, units, emissions_g, nodes, "
        "embodied_low_g, embodied_high_g) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )
    run_id = int(cursor.lastrowid or 0)
    db.executemany(
        "INSERT OR IGNORE INTO tags VALUES (?, ?)", [(run_id, _sql_text(t)) for t in run.labels.tags]
    )
    return run_id


_HEADER = (
    "SELECT a.application_id, v.user_version, (SELECT count(*) FROM sqlite_master) "
    "FROM pragma_application_id() AS a, pragma_user_version() AS v"
)


class History:
    """An open history database. ``History.open()`` finds, makes and migrates it."""

    def __init__(self, db: sqlite3.Connection, path: Path, max_runs: int = DEFAULT_MAX_RUNS) -> None:
        self._db, self.path, self.max_runs = db, path, max_runs

    @classmethod
    def open(
        cls, environ: Mapping[str, str] | None = None, *, create: bool = True, path: Path | None = None
    ) -> History:
        """The user's history (``path``: another file). ``create``: make it if it is not there
        (``aicarbon run``); otherwise a missing history is an empty one, made on demand."""
        path = path or history_path(environ)
        keep = max_runs(environ)
        if not path.exists():
            if not create:
                return cls(_empty_database(), path, keep)
            _make_private(path)
        if not _writable(path):
            return cls._open_read_only(path, keep)
        try:
            db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the history at {path} ({_describe(exc)})") from None
        return cls._prepared(db, path, keep)

    @classmethod
    def _prepared(cls, db: sqlite3.Connection, path: Path, keep: int) -> History:
        history = cls(db, path, keep)
        try:
            history._prepare()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(_refusal(path, exc)) from None
        except StoreError:
            db.close()
            raise
        return history

    @classmethod
    def _open_read_only(cls, path: Path, keep: int) -> History:
        """A history we may not write (a read-only mount, a restored CI cache, another user's):
        listed and shown, never changed. A WAL database needs its ``-shm`` file, which read-only
        media cannot hold: it is then opened as immutable (what a clean close left in the main
        file is read; a ``-wal`` file a crash left behind is not)."""
        uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"
        last: sqlite3.Error | None = None
        for options in ("", "&immutable=1"):
            try:
                db = sqlite3.connect(uri + options, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            except sqlite3.Error as exc:
                last = exc
                continue
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as exc:  # "unable to open database file": no -shm
                db.close()
                last = exc
                continue
            return cls._prepared(db, path, keep)
        assert last is not None
        raise StoreError(f"cannot open the history at {path} ({_describe(last)})") from None

    def _prepare(self) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        version = self._version()  # reads the header: "file is not a database" shows here
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the history at {self.path} has schema version {version}, newer than this aicarbon "
                f"reads ({SCHEMA_VERSION}): upgrade aicarbon, or set AICARBON_HOME to keep another history"
            )
        writable = _writable(self.path)
        if version < SCHEMA_VERSION and writable:
            self._migrate()
        if writable:
            try:
                db.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                pass  # a file system without shared memory: the default journal still works
        db.execute("PRAGMA foreign_keys = ON")

    def _version(self) -> int:
        """The schema version, refusing a database that is not ours. The three facts are read
        in one statement, from one snapshot: read one at a time, another process could create
        the schema between them, and a history it had just made looked like a stranger's."""
        app_id, version, tables = self._db.execute(_HEADER).fetchone()
        if tables and app_id != APPLICATION_ID:
            raise StoreError(
                f"{self.path} is an SQLite database but not an aicarbon history: move it away, or set "
                "AICARBON_HOME to keep the history elsewhere"
            )
        return int(version)

    def _migrate(self) -> None:
        with self._write() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])  # again, under the lock
            for target in range(version + 1, SCHEMA_VERSION + 1):
                script, backfill = _MIGRATIONS[target]
                _run_script(db, script)
                if backfill is not None:
                    backfill(db)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (no upgrade deadlock between writers)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def save(self, run: Run) -> int:
        """Save a run; its id. The oldest runs beyond ``max_runs`` go in the same transaction."""
        ids, _ = self.save_all([run])
        return ids[0]

    def save_all(self, runs: list[Run], skip_same_note: bool = False) -> tuple[list[int], int]:
        """Save runs in one transaction (all or none); their ids, and how many were skipped:
        with ``skip_same_note``, a run whose note a saved run already has (an imported row
        that names its origin: importing a file twice adds nothing)."""
        ids: list[int] = []
        skipped = 0
        try:
            with self._write() as db:
                for run in runs:
                    note = _sql_text(run.labels.note)
                    if skip_same_note and note is not None:
                        if db.execute("SELECT 1 FROM runs WHERE note = ? LIMIT 1", (note,)).fetchone():
                            skipped += 1
                            continue
                    ids.append(_insert(db, run))
                db.execute(_KEEP_NEWEST, (self.max_runs,))
        except sqlite3.Error as exc:
            raise StoreError(
                f"could not save the run in the history at {self.path} ({_describe(exc)})"
            ) from None
        return ids, skipped

    def prune(
        self, keep: int | None = None, older_than_days: float | None = None, now: datetime | None = None
    ) -> int:
        """Delete all but the newest ``keep`` runs, and every run that started more than
        ``older_than_days`` ago; how many were deleted. The file then shrinks (VACUUM)."""
        now = now or datetime.now(timezone.utc)
        try:
            with self._write() as db:
                before = db.execute("SELECT count(*) FROM runs").fetchone()[0]
                if keep is not None:
                    db.execute(_KEEP_NEWEST, (min(keep, MAX_SQL_INT),))
                if older_than_days is not None:
                    cutoff = parse_when(f"{older_than_days}d", now)
                    db.execute("DELETE FROM runs WHERE start_utc < ?", (cutoff,))
                deleted = before - db.execute("SELECT count(*) FROM runs").fetchone()[0]
            if deleted:
                self._db.execute("VACUUM")
        except sqlite3.Error as exc:
            raise StoreError(f"could not prune the history at {self.path} ({_describe(exc)})") from None
        return int(deleted)

    # -- reading ------------------------------------------------------------------------------

    def runs(self, where: Filter = Filter()) -> list[RunSummary]:
        """The newest runs first, filtered."""
        clauses: list[str] = []
        args: list[str | int] = []
        if where.command:
            clauses.append("instr(command_line, ?) > 0")
            args.append(where.command)
        if where.tag:
            clauses.append("id IN (SELECT run_id FROM tags WHERE tag = ?)")
            args.append(where.tag)
        if where.since_utc:
            clauses.append("start_utc >= ?")
            args.append(where.since_utc)
        if where.until_utc:
            clauses.append("start_utc < ?")
            args.append(where.until_utc)
        sql = (
            "SELECT id, start_utc, duration_s, exit_status, command, energy_j, attributed_j, method, "
            "host, name, note, units, emissions_g, nodes, embodied_low_g, embodied_high_g FROM runs"
        )
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(min(where.limit, MAX_SQL_INT))
        try:
            rows = self._db.execute(sql, args).fetchall()
            tags = self._tags([r[0] for r in rows])
        except sqlite3.Error as exc:
            raise StoreError(f"could not read the history at {self.path} ({_describe(exc)})") from None
        return [
            RunSummary(
                id=r[0],
                start_utc=r[1],
                duration_s=r[2],
                exit_status=r[3],
                command=_argv(r[4]),
                energy_j=r[5],
                attributed_j=r[6],
                method=r[7],
                host=r[8],
                name=r[9],
                note=r[10],
                units=r[11],
                emissions_g=r[12],
                nodes=r[13],
                embodied_low_g=r[14],
                embodied_high_g=r[15],
                tags=tags.get(r[0], []),
            )
            for r in rows
        ]

    def _tags(self, ids: list[int]) -> dict[int, list[str]]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        found: dict[int, list[str]] = {}
        for run_id, tag in self._db.execute(
            f"SELECT run_id, tag FROM tags WHERE run_id IN ({marks}) ORDER BY rowid", ids
        ):
            found.setdefault(run_id, []).append(tag)
        return found

    def get(self, run_id: int) -> Run:
        """The record of run ``run_id`` (``StoreError`` if there is none)."""
        if not 0 < run_id <= MAX_SQL_INT:
            raise StoreError(f"no run {run_id} in the history at {self.path} (see 'aicarbon history')")
        try:
            row = self._db.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"could not read the history at {self.path} ({_describe(exc)})") from None
        if row is None:
            raise StoreError(f"no run {run_id} in the history at {self.path} (see 'aicarbon history')")
        return Run.from_dict(json.loads(row[0]), f"run {run_id} of the history")

    def last_id(self) -> int | None:
        row = self._db.execute("SELECT max(id) FROM runs").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM runs").fetchone()[0])


def _writable(path: Path) -> bool:
    """Whether this user may change the database (and make its journal beside it)."""
    if not path.exists():
        return True
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _argv(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _empty_database() -> sqlite3.Connection:
    """No history yet: an empty one in memory, so that listing it is not an error."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    for target in range(1, SCHEMA_VERSION + 1):
        _run_script(db, _MIGRATIONS[target][0])
    return db


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """A migration's statements, one by one, inside the caller's transaction (executescript
    would commit it first)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _make_private(path: Path) -> None:
    """The directory (0700) and an empty database file (0600), before SQLite opens it."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreError(
            f"cannot create the history at {path} ({exc.strerror or exc}); set AICARBON_HOME to a "
            "writable directory, or pass --no-save"
        ) from None


def _refusal(path: Path, exc: sqlite3.DatabaseError) -> str:
    why = _describe(exc)
    if "not a database" in why or "malformed" in why or "corrupt" in why:
        return (
            f"the history at {path} is damaged ({why}): move it away (aicarbon starts a new one), "
            "or set AICARBON_HOME to keep the history elsewhere"
        )
    return f"cannot use the history at {path} ({why})"


__all__ = ["Filter", "History", "RunSummary", "StoreError", "history_path", "parse_when"]
