"""The job record from the nodes' parts, in process: totals, faults in the job directory
(a damaged or foreign part, a node's second part, nothing at all), ``aicarbon merge`` and the
history; and, through a real ``aicarbon run``, a rank that cannot join its job is measured alone
and keeps its exit status."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from aicarbon.history.store import Filter, History
from aicarbon.job.directory import JobDir, Leader, NodePart
from aicarbon.job.merge import merge, read_parts
from aicarbon.records.codec import RecordError
from aicarbon.records.run import Run
from aicarbon.report.history_table import render as history_table
from conftest import call_aicarbon
from conftest import run_aicarbon as aicarbon

DATA = Path(__file__).resolve().parent / "data"
BASE = Run.load(DATA / "run-v3-generate-text.json")
SRUN = {"SLURM_JOB_ID": "9", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0", "SLURM_NTASKS": "1", "SLURM_STEP_TASKS_PER_NODE": "1"}  # fmt: skip


def part(
    host: str, ranks: list[int], scale: float, world: int = 4, statuses: list[int] | None = None
) -> NodePart:
    domains = [
        replace(d, energy_j=d.energy_j * scale, attributed_j=d.attributed_j * scale)
        for d in BASE.energy.domains
    ]
    run = replace(BASE, energy=replace(BASE.energy, domains=domains), host=replace(BASE.host, hostname=host))
    return NodePart(
        node=f"{host}-0123456789ab", host=host, machine_id="0123456789ab" + "0" * 20, launcher="slurm",
        job_id="9.0", world_size=world, ranks=ranks, exit_statuses=statuses or [0] * len(ranks),
        units_counted=10.0 * len(ranks), missing_ranks=[], run=run,
    )  # fmt: skip


def test_the_job_is_the_sum_of_its_nodes_each_kept_whole() -> None:
    a, b = part("a", [0, 1], 1.0), part("b", [2, 3], 2.0, statuses=[0, 137])
    job = merge([a, b], {}, [])
    assert job.machine_energy_j == pytest.approx(a.run.machine_energy_j + b.run.machine_energy_j)
    assert job.attributed_energy_j == pytest.approx(a.run.attributed_energy_j + b.run.attributed_energy_j)
    assert [n.machine_energy_j for n in job.nodes] == [a.run.machine_energy_j, b.run.machine_energy_j]
    assert job.work.units_counted == 40.0 and job.host.hostname == "a"
    assert job.exit.status == 137  # rank 3 failed: the job did
    assert job.attribution.tree_cpu_s == pytest.approx(2 * BASE.attribution.tree_cpu_s)
    assert job.timeline.t_s == []  # no timeline across nodes' clocks
    again = Run.from_dict(json.loads(job.to_json()))
    assert again.nodes == job.nodes and again.job == job.job


def test_what_never_reported_is_named() -> None:
    leaders = {"c-x": Leader(host="c", machine_id="", rank=4, pid=1, start_utc="")}
    job = merge([part("a", [0, 1], 1.0, world=6)], leaders, [])
    assert job.job is not None
    assert (job.job.missing_nodes, job.job.missing_ranks) == (["c"], [2, 3, 4, 5])
    assert "ranks that never reported: 2-5" in job.notes


def test_damaged_foreign_and_twice_reported_parts_are_left_out_by_name(tmp_path: Path) -> None:
    job_dir = JobDir(tmp_path, "a-0123456789ab")
    job_dir.make()
    job_dir.write_part(part("a", [0, 1], 1.0))
    second = job_dir.write_part(part("a", [0, 1], 5.0))  # the same node again
    assert second.name != "a-0123456789ab.json"
    (job_dir.parts_dir / "x.json").write_text('{"schema": "aicarbon.run/4"}')
    (job_dir.parts_dir / "y.json").write_bytes(b"\x00\xff not json")
    (job_dir.parts_dir / "notes.txt").write_text("ignored: not a part's name")
    parts, problems = read_parts(job_dir)
    assert [p.run.machine_energy_j for p in parts] == [pytest.approx(BASE.machine_energy_j)]  # the first
    assert len(problems) == 3
    assert any("reported twice; its first part is kept" in p for p in problems)
    assert any("x.json" in p and "not an aicarbon job part" in p for p in problems)


def test_merge_by_hand(tmp_path: Path) -> None:
    job_dir = JobDir(tmp_path / "job-9.0", "a-0123456789ab")
    job_dir.make()
    job_dir.write_part(part("a", [0, 1], 1.0))
    JobDir(tmp_path / "job-9.0", "b-0123456789ab").write_part(part("b", [2, 3], 3.0))
    out = call_aicarbon("merge", str(tmp_path / "job-9.0"), "--json", str(tmp_path / "job.json"))
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "job.json").read_text())
    assert [n["host"] for n in data["nodes"]] == ["a", "b"]
    assert data["energy"]["machine_j"] == pytest.approx(4 * BASE.machine_energy_j)
    assert data["impact"]["energy_kwh"] == pytest.approx(4 * BASE.machine_energy_j / 3.6e6)
    assert "Job    slurm job 9.0: 4 of 4 ranks on 2 nodes" in out.stderr


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        (lambda p: p, "holds no part of a job to merge (no node has written its part yet)"),
        (lambda p: p / "missing", "is not a directory"),
    ],
)
def test_merge_refuses_in_one_line(tmp_path: Path, make: object, complaint: str) -> None:
    target = make(tmp_path)  # type: ignore[operator]
    out = call_aicarbon("merge", str(target))
    assert out.returncode == 2 and complaint in out.stderr and len(out.stderr.splitlines()) == 1


def test_a_merge_of_nothing_is_refused() -> None:
    with pytest.raises(RecordError):
        merge([], {}, [])


def test_history_lists_a_job_once_with_its_node_count(tmp_path: Path) -> None:
    job = merge([part("a", [0, 1], 1.0), part("b", [2, 3], 1.0)], {}, [])
    with History.open({"AICARBON_HOME": str(tmp_path)}) as history:
        history.save(job)
        history.save(BASE)
        runs = history.runs(Filter())
    assert [r.nodes for r in runs] == [0, 2]
    listing = history_table(runs, tmp_path)
    assert listing.count("job of 2 nodes") == 1


def test_a_rank_that_cannot_use_its_job_directory_is_measured_alone(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    record = tmp_path / "r.json"
    out = aicarbon(
        "run", "--sensors", "estimate", "--json", str(record), "--job-dir", str(blocker / "jobs"),
        "--", "sh", "-c", "exit 4", env=SRUN,
    )  # fmt: skip
    assert out.returncode == 4
    assert "cannot make the job directory" in out.stderr and "this rank is measured alone" in out.stderr
    data = json.loads(record.read_text())
    assert data["job"] is None and data["exit"]["status"] == 4


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({**SRUN, "SLURM_LOCALID": "3"}, "inconsistent launcher variables (slurm: local rank 3 is not below"),
        (
            {"PMI_RANK": "0", "PMI_SIZE": "1", "MPI_LOCALRANKID": "0"},
            "mpich names no job: pass --job-dir DIR",
        ),
    ],
)
def test_unusable_launcher_variables_measure_the_rank_alone(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    record = tmp_path / "r.json"
    out = aicarbon("run", "-q", "--sensors", "estimate", "--json", str(record), "--", "true", env=env)
    assert out.returncode == 0 and said in out.stderr, out.stderr
    assert json.loads(record.read_text())["job"] is None


def test_a_bad_job_timeout_is_refused_before_anything_runs(tmp_path: Path) -> None:
    out = aicarbon("run", "--job-timeout", "-1", "--", "touch", str(tmp_path / "ran"))
    assert out.returncode == 2 and "--job-timeout must be a number from 0 to 86400" in out.stderr
    assert not (tmp_path / "ran").exists()


def test_a_one_rank_srun_job_writes_its_job_record(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    env = {**SRUN, "SLURM_SUBMIT_DIR": str(tmp_path)}
    out = aicarbon("run", "-q", "--sensors", "estimate", "--json", str(record), "--", "true", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(record.read_text())
    assert data["job"]["job_id"] == "9.0" and [n["ranks"] for n in data["nodes"]] == [[0]]
    assert (tmp_path / ".aicarbon-jobs" / "job-9.0" / "parts").is_dir()


def test_a_node_whose_clock_is_an_hour_ahead_changes_no_figure() -> None:
    """Energy comes from each node's own counters over its own window: the merge never aligns
    clocks, so a skewed node moves the job's end, not its energy or its duration."""
    a, b = part("a", [0, 1], 1.0), part("b", [2, 3], 1.0)
    skewed = replace(b.run, start_utc="2099-01-01T00:00:00.000Z", end_utc="2099-01-01T00:00:00.330Z")
    job = merge([a, replace(b, run=skewed)], {}, [])
    assert job.machine_energy_j == pytest.approx(2 * BASE.machine_energy_j)
    assert job.duration_s == BASE.duration_s  # the longest node's own duration
    assert job.start_utc == a.run.start_utc and job.end_utc == "2099-01-01T00:00:00.330Z"
