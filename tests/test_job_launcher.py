"""Which launcher started a rank, read from the variables each launcher really sets, and the
contradictions that make a rank measure itself alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from aicarbon.job.launcher import Launch, LaunchError, detect
from aicarbon.job.rank import job_directory

SRUN_RANK_3 = {  # srun -N 2 -n 5 on its second node: "3(x1),2" tasks per node
    "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_PROCID": "3", "SLURM_LOCALID": "0",
    "SLURM_NODEID": "1", "SLURM_NTASKS": "5", "SLURM_STEP_TASKS_PER_NODE": "3,2",
    "SLURM_SUBMIT_DIR": "/home/u/exp",
}  # fmt: skip
TORCHRUN = {"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4",
            "TORCHELASTIC_RUN_ID": "abc", "TORCHELASTIC_RESTART_COUNT": "2"}  # fmt: skip
OPEN_MPI = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2",
            "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "PMIX_NAMESPACE": "935526401"}  # fmt: skip


def test_nothing_is_a_job_without_a_launcher() -> None:
    assert detect({"PATH": "/bin", "RANK": "1"}) is None  # RANK alone is not torchrun's


def test_srun_gives_its_rank_and_its_nodes_share_of_the_task_layout() -> None:
    assert detect(SRUN_RANK_3) == Launch("slurm", "4242.0", 3, 0, 5, 2, "/home/u/exp")
    first_node = {**SRUN_RANK_3, "SLURM_PROCID": "2", "SLURM_LOCALID": "2", "SLURM_NODEID": "0"}
    assert detect(first_node) == Launch("slurm", "4242.0", 2, 2, 5, 3, "/home/u/exp")
    repeated = {**SRUN_RANK_3, "SLURM_STEP_TASKS_PER_NODE": "2(x2),1", "SLURM_NODEID": "2",
                "SLURM_PROCID": "4"}  # fmt: skip
    assert detect(repeated) is not None and detect(repeated).local_size == 1  # type: ignore[union-attr]


def test_torchrun_wins_over_the_srun_that_started_it() -> None:
    launch = detect({**SRUN_RANK_3, **TORCHRUN})
    assert launch == Launch("torchrun", "abc.2", 5, 1, 8, 4)
    assert not launch.reads_sensors and not launch.merges


def test_mpi_launchers_and_their_job_ids() -> None:
    assert detect(OPEN_MPI) == Launch("openmpi", "935526401", 1, 1, 2, 2)
    mpich = {"PMI_RANK": "0", "PMI_SIZE": "4", "MPI_LOCALRANKID": "0", "MPI_LOCALNRANKS": "2"}
    assert detect(mpich) == Launch("mpich", None, 0, 0, 4, 2)  # no job id: --job-dir must say
    assert detect({**mpich, "SLURM_JOB_ID": "9"}).job_id == "9"  # type: ignore[union-attr]
    mv2 = {"MV2_COMM_WORLD_RANK": "3", "MV2_COMM_WORLD_LOCAL_RANK": "1", "MV2_COMM_WORLD_SIZE": "4"}
    assert detect(mv2) == Launch("mvapich2", None, 3, 1, 4, None)


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"SLURM_LOCALID": "2"}, "local rank 2 is not below the local size 2"),
        ({"SLURM_PROCID": "5"}, "rank 5 is not below the world size 5"),
        ({"SLURM_JOB_ID": ""}, "SLURM_JOB_ID is not"),
        ({"SLURM_NTASKS": "many"}, "SLURM_NTASKS is 'many', not a whole number"),
        ({"SLURM_NODEID": "7"}, "SLURM_NODEID 7 is beyond the 2 nodes"),
        ({"SLURM_STEP_TASKS_PER_NODE": "2(x"}, "not a task layout"),
        ({"SLURM_LOCALID": "-1"}, "not a whole number"),
    ],
)
def test_contradicting_variables_are_named(changes: dict[str, str], complaint: str) -> None:
    with pytest.raises(LaunchError, match=complaint.replace("(", r"\(")):
        detect({**SRUN_RANK_3, **changes})


def test_the_job_directory_is_keyed_by_the_job(tmp_path: Path) -> None:
    launch = detect(SRUN_RANK_3)
    assert launch is not None
    assert job_directory(launch, None, {}, tmp_path) == Path("/home/u/exp/.aicarbon-jobs/job-4242.0")
    assert job_directory(launch, None, {"SLURM_RESTART_COUNT": "1"}, tmp_path).name == "job-4242.0.r1"  # type: ignore[union-attr]
    assert job_directory(launch, "/shared", {}, tmp_path) == Path("/shared/job-4242.0")
    assert job_directory(launch, None, {"AICARBON_JOB_DIR": "/env"}, tmp_path) == Path("/env/job-4242.0")
    odd = Launch("torchrun", "../../etc x", 0, 0, 1, 1)
    assert job_directory(odd, None, {}, tmp_path) == tmp_path / ".aicarbon-jobs" / "job-.._.._etc_x"
    no_id = Launch("mpich", None, 0, 0, 2, 2)
    assert job_directory(no_id, None, {}, tmp_path) is None
    assert job_directory(no_id, "/given", {}, tmp_path) == Path("/given")


def test_the_sbatch_example_is_valid_bash_and_its_run_line_parses() -> None:
    import shlex
    import subprocess

    from aicarbon.cli import run_command

    example = Path(__file__).resolve().parent.parent / "examples" / "jobs" / "train.sbatch"
    assert subprocess.run(["bash", "-n", str(example)], capture_output=True).returncode == 0
    text = example.read_text().replace("\\\n", " ")
    line = next(s for s in text.splitlines() if s.startswith("srun aicarbon run"))
    args = shlex.split(line.replace("${SLURM_JOB_ID}", "42"))[3:]
    parsed = run_command.parse(args)
    assert parsed.command == ["python", "examples/generate_text.py"]
    assert parsed.get("json") == "job-42.json" and parsed.get("job_timeout_s") == 300.0
    assert "#SBATCH --nodes=2" in text and (example.parent.parent / "generate_text.py").exists()
