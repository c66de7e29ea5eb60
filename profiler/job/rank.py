"""One rank of a job under ``aicarbon run``: who reads the node's sensors, who merges.

* The node's first local rank reads its sensors, for the whole node, from its start until its
  own command and every other rank of the job on the node have ended; its attribution is its
  own tree and theirs (``measurement.job_tree``). It writes the node's part.
* Every other rank runs its command without sensors and hands its tree's CPU time, its units
  and its exit status to the reader, through the job directory.
* Global rank 0 then waits for every node's part (at most ``timeout_s``), merges them into the
  job record and returns it: the caller reports it, writes ``--json`` and saves it, once.

Every rank exits with its own command's status. A problem with the job directory (read-only,
full, not shared) costs lines on stderr, never a measurement: a rank that cannot join its job
is measured alone, as a run of its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..measurement.child_process import stop_on_signal
from ..measurement.tree_cgroup import is_running
from ..sensors.host import machine_id, node_name
from .directory import JOB_DIR_ENV, JobDir, JobDirError, Leader, NodePart, RankEnd, RankStart, node_key
from .launcher import Launch

if TYPE_CHECKING:
    from ..engine import Prepared
    from ..measurement.process_tree import TreeAccounting
    from ..records.run import Run

POLL_S = 0.02  # while waiting for other ranks: a listing of the job directory each time
DEFAULT_BASE = ".aicarbon-jobs"


@dataclass
class RankOutcome:
    """What the caller delivers: a record (the job's on rank 0; a node's or this rank's own when
    it could not join its job), its exit status, and lines for stderr."""

    exit_status: int
    record: Run | None = None
    lines: list[str] = field(default_factory=list)
    node_record: Run | None = None  # this node's own, on the rank that read its sensors


def job_directory(launch: Launch, given: str | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    """The job's directory: ``BASE/job-<id>`` under ``--job-dir`` or ``AICARBON_JOB_DIR`` (the
    directory itself where the launcher names no job), else under ``$SLURM_SUBMIT_DIR`` or the
    working directory, in ``.aicarbon-jobs``. None: no directory can be told (no job id and
    none given)."""
    base_text = given or environ.get(JOB_DIR_ENV) or None
    if launch.job_id is None:
        return Path(base_text) if base_text else None
    base = Path(base_text) if base_text else Path(launch.submit_dir or cwd) / DEFAULT_BASE
    restarts = environ.get("SLURM_RESTART_COUNT")
    key = launch.job_id + (f".r{restarts}" if restarts and restarts != "0" else "")
    return base / ("job-" + "".join(c if c.isalnum() or c in "._-" else "_" for c in key)[:120])


def run_job_rank(
    argv: Sequence[str],
    prepared: Prepared,
    launch: Launch,
    path: Path,
    timeout_s: float,
    tree: TreeAccounting,
    meanwhile: Callable[[], None] | None = None,
) -> RankOutcome:
    """Measure this rank's part of the job (see the module's docstring)."""
    host, mid = node_name(), machine_id()
    job_dir = JobDir(path, node_key(host, mid))
    try:
        job_dir.make()
        if not launch.reads_sensors:
            job_dir.rank_started(RankStart(launch.rank, os.getpid()))
    except JobDirError as exc:
        return _alone(argv, prepared, tree, meanwhile, f"{exc}: this rank is measured alone")
    if launch.reads_sensors:
        outcome = _read_node(argv, prepared, launch, job_dir, host, mid, timeout_s, tree, meanwhile)
    else:
        outcome = _hand_over(argv, launch, job_dir, tree)
    if launch.merges and outcome.record is None:  # None: this rank's share is in the job directory
        outcome.record = _merge_when_complete(job_dir, launch, timeout_s, prepared, outcome)
    return outcome


def _alone(
    argv: Sequence[str],
    prepared: Prepared,
    tree: TreeAccounting,
    meanwhile: Callable[[], None] | None,
    why: str,
) -> RankOutcome:
    from .. import engine

    measured = engine.measure_command(argv, prepared, tree=tree, meanwhile=meanwhile)
    measured.record.notes.append(why)
    return RankOutcome(measured.exit_status, measured.record, [why])


def _hand_over(argv: Sequence[str], launch: Launch, job_dir: JobDir, tree: TreeAccounting) -> RankOutcome:
    """A rank that does not read the sensors: its tally, to the node's reader."""
    from ..measurement.rank_only import run_rank

    tally = run_rank(argv, tree)
    end = RankEnd(
        rank=launch.rank,
        pid=os.getpid(),
        exit_status=tally.exit.status,
        tree_cpu_s=tally.tree_cpu_s,
        units_counted=tally.units_counted,
        start_utc=tally.start_utc,
        end_utc=tally.end_utc,
    )
    try:
        job_dir.rank_ended(end)
    except JobDirError as exc:
        why = f"{exc}: rank {launch.rank}'s CPU time is not in the job"
        return RankOutcome(tally.exit.status, None, [why])
    return RankOutcome(tally.exit.status)


def _read_node(
    argv: Sequence[str],
    prepared: Prepared,
    launch: Launch,
    job_dir: JobDir,
    host: str,
    mid: str,
    timeout_s: float,
    tree: TreeAccounting,
    meanwhile: Callable[[], None] | None,
) -> RankOutcome:
    from .. import engine
    from ..measurement.job_tree import NodeTree, OtherRanks
    from ..measurement.start import utc_now

    try:
        job_dir.leader_started(Leader(host=host, machine_id=mid, rank=launch.rank, pid=os.getpid(),
                                      start_utc=utc_now()))  # fmt: skip
    except JobDirError as exc:
        return _alone(argv, prepared, tree, meanwhile, f"{exc}: this node is measured alone")
    others = OtherRanks(
        lambda: {r: s.pid for r, s in job_dir.started_ranks().items() if r != launch.rank},
        lambda: {r: e.tree_cpu_s for r, e in job_dir.ended_ranks().items() if r != launch.rank},
    )
    lines: list[str] = []
    node_tree = NodeTree(tree, others)
    measured = engine.measure_command(
        argv,
        prepared,
        tree=node_tree,
        meanwhile=meanwhile,
        after_command=lambda interrupted: lines.extend(
            _wait_for_node(job_dir, launch, timeout_s, interrupted)
        ),
    )
    record = measured.record
    ended = {r: e for r, e in job_dir.ended_ranks().items() if r != launch.rank}
    started = {r for r in job_dir.started_ranks() if r != launch.rank}
    ranks = sorted([launch.rank, *ended])
    statuses = [measured.exit_status if r == launch.rank else ended[r].exit_status for r in ranks]
    part = NodePart(
        node=job_dir.node,
        host=host,
        machine_id=mid,
        launcher=launch.launcher,
        job_id=launch.job_id,
        world_size=launch.world_size,
        ranks=ranks,
        exit_statuses=statuses,
        units_counted=record.work.units_counted + sum(e.units_counted for e in ended.values()),
        missing_ranks=sorted(started - set(ended)),
        run=record,
    )
    try:
        job_dir.write_part(part)
    except JobDirError as exc:
        why = f"{exc}: this node's measurement is kept here instead"
        record.notes.append(why)
        return RankOutcome(measured.exit_status, record, [*lines, why], node_record=record)
    if not launch.merges:
        lines += _not_shared(job_dir, launch, part, job_dir.leaders())
    return RankOutcome(measured.exit_status, None, lines, node_record=record)


def _wait_for_node(
    job_dir: JobDir, launch: Launch, timeout_s: float, interrupted: Callable[[], bool]
) -> list[str]:
    """Until every other rank of the job on this node has ended (or died, or ``timeout_s``
    passed, or aicarbon was ``interrupted``); the lines that say who did not report."""
    expected = (launch.local_size or 1) - 1
    deadline = time.monotonic() + timeout_s
    while True:
        started = {r: s for r, s in job_dir.started_ranks().items() if r != launch.rank}
        ended = {r for r in job_dir.ended_ranks() if r != launch.rank}
        dead = {r for r, s in started.items() if r not in ended and not is_running(s.pid)}
        waiting_for_known = set(started) - ended - dead
        if not waiting_for_known and len(started) >= expected:
            break
        if time.monotonic() >= deadline or interrupted():
            break
        time.sleep(POLL_S)
    ended = {r for r in job_dir.ended_ranks() if r != launch.rank}
    lines = []
    gone = sorted(set(started) - ended)
    if gone:
        lines.append(f"ranks {', '.join(map(str, gone))} on this node ended without reporting")
    if len(started) < expected:
        lines.append(f"{expected - len(started)} of this node's ranks never started within {timeout_s:g} s")
    return lines


def _not_shared(job_dir: JobDir, launch: Launch, part: NodePart, leaders: Iterable[str]) -> list[str]:
    """A line when this node's part is not the whole job and no other node's files are here."""
    if len(part.ranks) < launch.world_size and set(leaders) <= {part.node}:
        return [
            f"no other node's files are in the job directory {job_dir.path}: it must be on a file "
            "system every node sees (--job-dir)"
        ]
    return []


def _merge_when_complete(
    job_dir: JobDir, launch: Launch, timeout_s: float, prepared: Prepared, outcome: RankOutcome
) -> Run | None:
    """Rank 0: the job record once every rank is in a part (or ``timeout_s`` has passed)."""
    from .. import engine
    from .merge import merge, read_parts, unaccounted_ranks

    deadline = time.monotonic() + timeout_s
    with stop_on_signal() as stopped:  # Ctrl-C, SIGTERM: the job record from the parts there are
        while True:
            parts, problems = read_parts(job_dir)
            if not unaccounted_ranks(parts, launch.world_size) or time.monotonic() >= deadline:
                break
            if stopped:
                outcome.lines.append(
                    "interrupted while waiting for the other nodes: merging the parts there are"
                )
                break
            time.sleep(POLL_S)
    if not parts:
        outcome.lines.append(f"no node's part reached {job_dir.path} within {timeout_s:g} s")
        return None
    leaders = job_dir.leaders()
    if len(parts) == 1:
        outcome.lines += _not_shared(job_dir, launch, parts[0], leaders)
    record = merge(parts, leaders, problems)
    if record.job is not None and record.job.missing_nodes:
        outcome.lines.append(f"never reported within {timeout_s:g} s: {', '.join(record.job.missing_nodes)}")
    return engine.finish(record, prepared)
