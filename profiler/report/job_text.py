"""A job's lines in a report: its nodes, each with its ranks and its own energy, and what never
reported. The record's strings are escaped by the caller (``escape.escaped_copy``)."""

from __future__ import annotations

from ..records.run import Run, rank_ranges
from .units import fmt_duration, fmt_energy


def job_lines(run: Run, unit: str) -> list[str]:
    """Nothing for a plain run."""
    job = run.job
    if job is None:
        return []
    nodes = len(run.nodes)
    ranks = sum(len(n.ranks) for n in run.nodes)
    name = f"{job.launcher} job {job.job_id}" if job.job_id else f"{job.launcher} job"
    lines = [
        f"Job    {name}: {ranks} of {job.world_size} ranks on {nodes} node{'s' if nodes != 1 else ''}, "
        "each node's sensors read once"
    ]
    for node in run.nodes:
        failed = [f"{r}: exit {s}" for r, s in zip(node.ranks, node.exit_statuses, strict=True) if s]
        energy, share = fmt_energy(node.machine_energy_j, unit), fmt_energy(node.attributed_energy_j, unit)
        line = (
            f"  {node.host}  ranks {rank_ranges(node.ranks)}  {energy} over {fmt_duration(node.duration_s)}"
            f", the job's ranks {share}"
        )
        if failed:
            line += f"  (rank {', '.join(failed)})"
        lines.append(line)
    if job.missing_nodes:
        lines.append(f"  never reported: {', '.join(job.missing_nodes)} (their energy is not in the total)")
    if job.missing_ranks:
        lines.append(f"  ranks that never reported: {rank_ranges(job.missing_ranks)}")
    return lines
