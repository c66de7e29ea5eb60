"""Regenerate run-v4-job.json: a job record of two nodes, merged by aicarbon's own merge from
the version-3 record beside it (node b's energy 1.5 times node a's), then given its impact and
comparison as ``aicarbon run --task text-generation`` would.

    python tests/data/make_job_record.py
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aicarbon import engine
from aicarbon.job.directory import NodePart
from aicarbon.job.merge import merge
from aicarbon.records.run import Run

HERE = Path(__file__).resolve().parent


def scaled(run: Run, k: float, host: str) -> Run:
    domains = [
        replace(d, energy_j=d.energy_j * k, attributed_j=d.attributed_j * k,
                low_j=d.low_j and d.low_j * k, high_j=d.high_j and d.high_j * k)
        for d in run.energy.domains
    ]  # fmt: skip
    return replace(run, energy=replace(run.energy, domains=domains), host=replace(run.host, hostname=host),
                   impact=None, comparison=None)  # fmt: skip


def main() -> None:
    base = Run.load(HERE / "run-v3-generate-text.json")
    common = {"launcher": "slurm", "job_id": "4242.0", "world_size": 4, "missing_ranks": []}
    a = NodePart(node="gpu-a-0123456789ab", host="gpu-a", machine_id="0123456789abcdef" * 2,
                 ranks=[0, 1], exit_statuses=[0, 0], units_counted=20000.0, run=scaled(base, 1.0, "gpu-a"),
                 **common)  # fmt: skip
    b_run = scaled(base, 1.5, "gpu-b")
    b_run = replace(b_run, work=replace(b_run.work, phases=[], units_counted=0.0))
    b = NodePart(node="gpu-b-fedcba987654", host="gpu-b", machine_id="fedcba9876543210" * 2,
                 ranks=[2, 3], exit_statuses=[0, 0], units_counted=20000.0, run=b_run, **common)  # fmt: skip
    job = merge([a, b], {}, [])
    job = replace(job, work=replace(job.work, unit_name="output tokens"))
    settings = engine.RunSettings(task="text-generation", embodied_kg=1200.0)
    job = engine.finish(job, engine.prepare(settings, units_later=True))
    (HERE / "run-v4-job.json").write_text(job.to_json())


if __name__ == "__main__":
    main()
