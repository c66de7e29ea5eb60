"""The job directory: where a job's ranks meet, on a file system every node sees.

::

    DIR/nodes/<node>/leader.json      the node's sensor reader, as it starts (host, rank, pid)
    DIR/nodes/<node>/rank-<R>.start   rank R on that node has started (its pid)
    DIR/nodes/<node>/rank-<R>.json    rank R has ended: its exit status, CPU time and units
    DIR/parts/<node>.json             the node's part of the job record, written by its reader

``<node>`` is the node's key: its host name and machine id together (a restarted job can
change ranks; cloned images can share a machine id). Every file is written whole, to a
temporary name then renamed: a reader sees all of a file or none of it. Each file is small and
written once; nothing is written per sample.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import AicarbonError
from ..records.codec import RecordError, dumps, read_json_file, value
from ..records.output_file import write_text
from ..records.run import Run

PART_SCHEMA = "aicarbon.job-part/1"
MAX_PART_BYTES = 64 << 20
MAX_SMALL_BYTES = 1 << 16
JOB_DIR_ENV = "AICARBON_JOB_DIR"
SECOND = ".again-"  # in the name of a node's second part: <node>.again-<pid>.json


class JobDirError(AicarbonError):
    """The job directory cannot be made, read or written (one sentence: which and why)."""


def node_key(host: str, machine_id: str) -> str:
    """A file name for the node: its host name and the start of its machine id."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", host)[:64].strip(".") or "host"
    return f"{safe}-{machine_id[:12] or 'nomachineid'}"


@dataclass
class RankStart:
    rank: int
    pid: int


@dataclass(kw_only=True)
class RankEnd:
    """What a rank that does not read the sensors hands to the one that does."""

    rank: int
    pid: int
    exit_status: int
    tree_cpu_s: float  # its command's tree, from its own accounting
    units_counted: float
    start_utc: str
    end_utc: str


@dataclass(kw_only=True)
class Leader:
    host: str
    machine_id: str
    rank: int
    pid: int
    start_utc: str


@dataclass(kw_only=True)
class NodeFacts:
    """Who a node's part is from: the node, its job, the ranks it measured."""

    node: str
    host: str
    machine_id: str
    launcher: str
    job_id: str | None
    world_size: int
    ranks: list[int]
    exit_statuses: list[int]
    units_counted: float
    missing_ranks: list[int]  # ranks of this node that started, then never reported


@dataclass(kw_only=True)
class NodePart(NodeFacts):
    """A node's part of the job record: its own run record, and the ranks it measured."""

    run: Run

    def to_json(self) -> str:
        data: dict[str, Any] = {"schema": PART_SCHEMA, **asdict(self)}
        data["run"] = self.run.to_dict()
        return dumps(data)

    @classmethod
    def load(cls, path: Path) -> NodePart:
        """A part from its file; ``RecordError`` (one sentence) for a damaged or foreign one."""
        data = read_json_file(path, "job part", MAX_PART_BYTES)
        if not isinstance(data, dict) or data.get("schema") != PART_SCHEMA:
            raise RecordError(f"{path} is not an aicarbon job part (no 'schema': '{PART_SCHEMA}')")
        run = Run.from_dict(data.get("run"), f"{path}'s run")
        facts = value(NodeFacts, {k: v for k, v in data.items() if k not in ("schema", "run")}, str(path))
        if len(facts.exit_statuses) != len(facts.ranks):
            raise RecordError(f"{path}: one exit status per rank is needed")
        return cls(**asdict(facts), run=run)


class JobDir:
    """One job's directory (made on first use, readable by its owner only)."""

    def __init__(self, path: Path, node: str) -> None:
        self.path, self.node = path, node
        self.node_dir = path / "nodes" / node
        self.parts_dir = path / "parts"

    def make(self) -> None:
        try:
            for folder in (self.node_dir, self.parts_dir):
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise JobDirError(f"cannot make the job directory {self.path} ({_why(exc)})") from None

    # -- the node's ranks ------------------------------------------------------------------------

    def rank_started(self, start: RankStart) -> None:
        self._write(self.node_dir / f"rank-{start.rank}.start", dumps(asdict(start)))

    def rank_ended(self, end: RankEnd) -> None:
        self._write(self.node_dir / f"rank-{end.rank}.json", dumps(asdict(end)))

    def leader_started(self, leader: Leader) -> None:
        self._write(self.node_dir / "leader.json", dumps(asdict(leader)))

    def started_ranks(self) -> dict[int, RankStart]:
        return {s.rank: s for s in self._small(self.node_dir, "rank-*.start", RankStart)}

    def ended_ranks(self) -> dict[int, RankEnd]:
        return {e.rank: e for e in self._small(self.node_dir, "rank-*.json", RankEnd)}

    # -- the nodes --------------------------------------------------------------------------------

    def write_part(self, part: NodePart) -> Path:
        """The node's part; a second part of the same node gets a name of its own (the merge
        keeps the first and says so)."""
        target = self.parts_dir / f"{self.node}.json"
        if target.exists():
            target = self.parts_dir / f"{self.node}{SECOND}{os.getpid()}.json"
        self._write(target, part.to_json())
        return target

    def leaders(self) -> dict[str, Leader]:
        """The nodes whose reader started, by node key."""
        found: dict[str, Leader] = {}
        for folder in _listing(self.path / "nodes"):
            for leader in self._small(folder, "leader.json", Leader):
                found[folder.name] = leader
        return found

    def part_files(self) -> list[Path]:
        """The parts: each node's first, then any second ones (oldest first)."""
        return sorted((p for p in _listing(self.parts_dir) if p.suffix == ".json"), key=_age)

    # -- files ------------------------------------------------------------------------------------

    def _write(self, path: Path, text: str) -> None:
        """``output_file.write_text``: a temporary file beside ``path``, synced, then renamed."""
        try:
            write_text(path, text)
        except OSError as exc:
            raise JobDirError(f"cannot write {path} in the job directory ({_why(exc)})") from None

    @staticmethod
    def _small(folder: Path, pattern: str, kind: type[Any]) -> Iterator[Any]:
        """The small files of ``folder`` matching ``pattern``, decoded; a damaged one is
        skipped (the merge names what is missing)."""
        for path in sorted(folder.glob(pattern)) if folder.is_dir() else ():
            try:
                yield value(kind, json.loads(path.read_bytes()[:MAX_SMALL_BYTES]), str(path))
            except (OSError, ValueError, RecordError, RecursionError):
                continue


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _age(path: Path) -> tuple[bool, int, str]:
    try:
        return SECOND in path.name, path.stat().st_mtime_ns, path.name
    except OSError:
        return SECOND in path.name, 0, path.name


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
