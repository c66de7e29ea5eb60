"""The job record: the nodes' parts merged into one run record (schema 4: ``job``, ``nodes``).

Each node's energy was measured on that node, over its own window, from its own counters; the
merge only adds them up. Nothing is aligned across nodes' clocks: the job's duration is its
longest node's, its start the earliest node's start and its end the latest node's end (as their
clocks said), and it has no timeline of its own (each part keeps its node's).

The job's domains are the nodes' domains added by id (``gpu:0`` is every node's first GPU);
``nodes[]`` keeps each node's own. Its exit status is the first failing rank's (in rank order):
a job where one rank failed is a failed job to the CI gate, whatever rank 0 did. Its command,
labels, phases and host are those of the part that holds rank 0.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..records.codec import RecordError
from ..records.run import (
    AttributionRecord,
    DomainRecord,
    EnergyRecord,
    ExitRecord,
    JobRecord,
    NodeRecord,
    Run,
    TimelineRecord,
    UnavailableRecord,
    WorkRecord,
    rank_ranges,
)
from .directory import JobDir, Leader, NodePart


def read_parts(job_dir: JobDir) -> tuple[list[NodePart], list[str]]:
    """The job directory's parts, one per node, and a line for each file left out (damaged,
    foreign, or a node's second part)."""
    parts: dict[str, NodePart] = {}
    problems: list[str] = []
    for path in job_dir.part_files():
        try:
            part = NodePart.load(path)
        except RecordError as exc:
            problems.append(f"left out {path.name}: {exc}")
            continue
        if part.node in parts:
            problems.append(f"left out {path.name}: node {part.host} reported twice; its first part is kept")
            continue
        parts[part.node] = part
    return sorted(parts.values(), key=lambda p: min(p.ranks, default=1 << 30)), problems


def missing_ranks(parts: list[NodePart], world_size: int) -> list[int]:
    """The ranks no part holds."""
    reported = {r for p in parts for r in p.ranks}
    return [r for r in range(world_size) if r not in reported]


def unaccounted_ranks(parts: list[NodePart], world_size: int) -> list[int]:
    """The ranks no part holds or names as dead: those still worth waiting for."""
    dead = {r for p in parts for r in p.missing_ranks}
    return [r for r in missing_ranks(parts, world_size) if r not in dead]


def merge(parts: list[NodePart], leaders: dict[str, Leader], problems: list[str]) -> Run:
    """The job record of ``parts`` (at least one); ``leaders``: every node whose sensor reader
    started, to name those that never reported."""
    if not parts:
        raise RecordError("no node's part to merge")
    base = next((p for p in parts if 0 in p.ranks), parts[0])
    world_size = max([base.world_size, *(max(p.ranks, default=0) + 1 for p in parts)])
    missing = missing_ranks(parts, world_size)
    for part in parts:
        missing += [r for r in part.missing_ranks if r not in missing]
    reported = {p.node for p in parts}
    missing_nodes = sorted(leader.host for key, leader in leaders.items() if key not in reported)
    job = JobRecord(
        launcher=base.launcher,
        job_id=base.job_id,
        world_size=world_size,
        missing_ranks=sorted(set(missing)),
        missing_nodes=missing_nodes,
    )
    runs = [p.run for p in parts]
    statuses = sorted((r, s) for p in parts for r, s in zip(p.ranks, p.exit_statuses, strict=True))
    failing = next((s for _, s in statuses if s != 0), 0)
    exit_ = base.run.exit if base.run.exit.status == failing else ExitRecord(failing, None, None)
    notes = list(base.run.notes) + [f"{p.host}: {n}" for p in parts if p is not base for n in p.run.notes]
    notes += problems
    if missing_nodes:
        notes.append(f"nodes that started but never reported: {', '.join(missing_nodes)}")
    if job.missing_ranks:
        notes.append(f"ranks that never reported: {rank_ranges(job.missing_ranks)}")
    return replace(
        base.run,
        start_utc=min(r.start_utc for r in runs),
        end_utc=max(r.end_utc for r in runs),
        duration_s=max(r.duration_s for r in runs),
        exit=exit_,
        sampling=replace(
            base.run.sampling,
            samples=sum(r.sampling.samples for r in runs),
            sampler_cpu_s=sum(r.sampling.sampler_cpu_s for r in runs),
        ),
        energy=EnergyRecord(
            peak_power_w=sum(r.energy.peak_power_w for r in runs),
            domains=_summed_domains(parts),
        ),
        attribution=AttributionRecord(
            tree_cpu_s=sum(r.attribution.tree_cpu_s for r in runs),
            machine_busy_cpu_s=sum(r.attribution.machine_busy_cpu_s for r in runs),
            gpus_shared_with_other_processes=[
                f"{p.host}/{g}" for p in parts for g in p.run.attribution.gpus_shared_with_other_processes
            ],
            method=f"{len(parts)} nodes, {world_size - len(job.missing_ranks)} ranks: "
            f"{base.run.attribution.method}",
            descendants_left_running=sum(r.attribution.descendants_left_running for r in runs),
        ),
        unavailable=_unique_unavailable(parts),
        notes=notes,
        work=WorkRecord(sum(p.units_counted for p in parts), list(base.run.work.phases)),
        timeline=TimelineRecord(base.run.timeline.bucket_s, [], [], [], [], []),
        impact=None,
        comparison=None,
        job=job,
        nodes=[_node(p) for p in parts],
    )


def _node(part: NodePart) -> NodeRecord:
    run = part.run
    return NodeRecord(
        host=part.host,
        machine_id=part.machine_id,
        ranks=list(part.ranks),
        exit_statuses=list(part.exit_statuses),
        start_utc=run.start_utc,
        end_utc=run.end_utc,
        duration_s=run.duration_s,
        energy=run.energy,
        attribution=run.attribution,
        units_counted=part.units_counted,
    )


def _summed_domains(parts: list[NodePart]) -> list[DomainRecord]:
    summed: dict[str, DomainRecord] = {}
    for part in parts:
        for d in part.run.energy.domains:
            known = summed.get(d.id)
            if known is None:
                failed = f"{part.host}: {d.failed}" if d.failed else None
                summed[d.id] = replace(d, implausible=[], failed=failed)
                continue
            both_bounded = known.low_j is not None and d.low_j is not None
            summed[d.id] = replace(
                known,
                method="estimated" if "estimated" in (known.method, d.method) else known.method,
                energy_j=known.energy_j + d.energy_j,
                attributed_j=known.attributed_j + d.attributed_j,
                low_j=(known.low_j or 0.0) + (d.low_j or 0.0) if both_bounded else None,
                high_j=(known.high_j or 0.0) + (d.high_j or 0.0) if both_bounded else None,
                failed=known.failed or (f"{part.host}: {d.failed}" if d.failed else None),
                implausible_readings=known.implausible_readings + d.implausible_readings,
                owner_unknown_s=known.owner_unknown_s + d.owner_unknown_s,
            )
    return list(summed.values())


def _unique_unavailable(parts: list[NodePart]) -> list[UnavailableRecord]:
    seen: dict[tuple[str, str], UnavailableRecord] = {}
    for part in parts:
        for u in part.run.unavailable:
            seen.setdefault((u.sensor, u.reason), u)
    return list(seen.values())


def merge_directory(path: Path) -> tuple[Run, list[str]]:
    """``aicarbon merge DIR``: the job record of a job directory, and the lines about files left
    out; ``RecordError`` when it holds no part at all."""
    job_dir = JobDir(path, "")
    parts, problems = read_parts(job_dir)
    if not parts:
        why = "; ".join(problems) if problems else "no node has written its part yet"
        raise RecordError(f"{path} holds no part of a job to merge ({why})")
    return merge(parts, job_dir.leaders(), problems), problems


__all__ = ["merge", "merge_directory", "missing_ranks", "read_parts", "unaccounted_ranks"]
