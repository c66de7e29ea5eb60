"""Which launcher started this process as one rank of a parallel job, read from its environment.

Launchers are recognised in this order, the first whose rank variable is set winning:

1. ``torchrun`` (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``; the job is
   ``TORCHELASTIC_RUN_ID``): first, because an ``srun`` that runs ``torchrun`` sets Slurm's
   variables too, and torchrun's describe the workers;
2. Open MPI (``OMPI_COMM_WORLD_RANK``, ``_LOCAL_RANK``, ``_SIZE``, ``_LOCAL_SIZE``; the job is
   its PMIx namespace, ``PMIX_NAMESPACE``);
3. MVAPICH2 (``MV2_COMM_WORLD_RANK``, ``_LOCAL_RANK``, ``_SIZE``, ``_LOCAL_SIZE``);
4. MPICH and Intel MPI (``PMI_RANK``, ``PMI_SIZE``, ``MPI_LOCALRANKID``, ``MPI_LOCALNRANKS``);
5. Slurm's ``srun`` (``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NTASKS``, and the local size
   from ``SLURM_STEP_TASKS_PER_NODE`` at ``SLURM_NODEID``; the job is ``SLURM_JOB_ID`` and
   ``SLURM_STEP_ID``).

An MPI launcher comes before Slurm: ``mpirun`` inside an allocation starts its ranks under
Slurm's variables of another step. Where an MPI launcher names no job, a Slurm job id around it
does. Without any of these variables, ``detect`` returns None: a plain run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import AicarbonError


class LaunchError(AicarbonError):
    """The launcher's variables contradict each other (one sentence: which, and how)."""


@dataclass(frozen=True)
class Launch:
    """This process's place in a parallel job."""

    launcher: str  # "torchrun", "openmpi", "mvapich2", "mpich", "slurm"
    job_id: str | None  # None: the launcher names no job (then --job-dir must)
    rank: int  # global rank, 0 to world_size - 1
    local_rank: int  # rank among the job's ranks on this node
    world_size: int
    local_size: int | None  # ranks of the job on this node (None: the launcher does not say)
    submit_dir: str | None = None  # Slurm's SLURM_SUBMIT_DIR

    @property
    def reads_sensors(self) -> bool:
        """This rank reads its node's sensors (the node's first local rank)."""
        return self.local_rank == 0

    @property
    def merges(self) -> bool:
        """This rank merges the nodes' parts into the job record (global rank 0)."""
        return self.rank == 0


# (launcher, rank, local rank, world size, local size, job id variables)
_MPI: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_SIZE",
     "OMPI_COMM_WORLD_LOCAL_SIZE", ("PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid")),
    ("mvapich2", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_SIZE",
     "MV2_COMM_WORLD_LOCAL_SIZE", ()),
    ("mpich", "PMI_RANK", "MPI_LOCALRANKID", "PMI_SIZE", "MPI_LOCALNRANKS", ("PMI_KVSNAME",)),
)  # fmt: skip


def detect(environ: Mapping[str, str]) -> Launch | None:
    """This process's launch, or None outside a launcher; ``LaunchError`` for contradictions."""
    if "RANK" in environ and "LOCAL_RANK" in environ and "WORLD_SIZE" in environ:
        run_id = environ.get("TORCHELASTIC_RUN_ID")
        restarts = environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        job = f"{run_id}.{restarts}" if run_id else _slurm_job(environ)
        return _checked(
            Launch("torchrun", job, *_ints(environ, "RANK", "LOCAL_RANK", "WORLD_SIZE"),
                   _optional_int(environ, "LOCAL_WORLD_SIZE"))
        )  # fmt: skip
    for launcher, rank_var, local_var, size_var, local_size_var, job_vars in _MPI:
        if rank_var in environ:
            job = next((environ[v] for v in job_vars if environ.get(v)), None) or _slurm_job(environ)
            return _checked(
                Launch(launcher, job, *_ints(environ, rank_var, local_var, size_var),
                       _optional_int(environ, local_size_var))
            )  # fmt: skip
    if "SLURM_PROCID" in environ:
        job = _slurm_job(environ)
        if job is None:
            raise LaunchError("SLURM_PROCID is set but SLURM_JOB_ID is not")
        rank, local_rank, size = _ints(environ, "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS")
        return _checked(
            Launch("slurm", job, rank, local_rank, size, _slurm_local_size(environ),
                   environ.get("SLURM_SUBMIT_DIR") or None)
        )  # fmt: skip
    return None


def _slurm_job(environ: Mapping[str, str]) -> str | None:
    job = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    if not job:
        return None
    step = environ.get("SLURM_STEP_ID") or environ.get("SLURM_STEPID")
    return f"{job}.{step}" if step else job


def _ints(environ: Mapping[str, str], *names: str) -> tuple[int, int, int]:
    rank, local_rank, size = (_int(environ, name, required=True) for name in names)
    assert rank is not None and local_rank is not None and size is not None
    return rank, local_rank, size


def _optional_int(environ: Mapping[str, str], name: str) -> int | None:
    return _int(environ, name, required=False)


def _int(environ: Mapping[str, str], name: str, *, required: bool) -> int | None:
    text = environ.get(name)
    if text is None or text == "":
        if required:
            raise LaunchError(f"{name} is not set")
        return None
    if not re.fullmatch(r"[0-9]{1,9}", text.strip()):
        raise LaunchError(f"{name} is {text[:40]!r}, not a whole number")
    return int(text)


# "2(x3),1": two tasks on each of the first three nodes, one on the fourth.
_TASKS = re.compile(r"([0-9]{1,9})(?:\(x([0-9]{1,9})\))?")


def _slurm_local_size(environ: Mapping[str, str]) -> int | None:
    layout = environ.get("SLURM_STEP_TASKS_PER_NODE") or environ.get("SLURM_TASKS_PER_NODE")
    node = _optional_int(environ, "SLURM_NODEID")
    if not layout or node is None:
        return None
    seen = 0
    for part in layout.split(","):
        match = _TASKS.fullmatch(part.strip())
        if match is None:
            raise LaunchError(f"SLURM_STEP_TASKS_PER_NODE is {layout[:60]!r}, not a task layout")
        seen += int(match.group(2) or 1)
        if node < seen:
            return int(match.group(1))
    raise LaunchError(f"SLURM_NODEID {node} is beyond the {seen} nodes of the task layout {layout[:60]!r}")


def _checked(launch: Launch) -> Launch:
    name = launch.launcher
    check: list[tuple[bool, Callable[[], str]]] = [
        (launch.world_size >= 1, lambda: f"{name}: the world size is {launch.world_size}"),
        (launch.rank < launch.world_size,
         lambda: f"{name}: rank {launch.rank} is not below the world size {launch.world_size}"),
        (launch.local_size is None or 1 <= launch.local_size <= launch.world_size,
         lambda: f"{name}: the local size {launch.local_size} is not from 1 to the world size "
                 f"{launch.world_size}"),
        (launch.local_size is None or launch.local_rank < launch.local_size,
         lambda: f"{name}: local rank {launch.local_rank} is not below the local size {launch.local_size}"),
        (launch.local_rank <= launch.rank,
         lambda: f"{name}: local rank {launch.local_rank} is above the global rank {launch.rank}"),
    ]  # fmt: skip
    for holds, why in check:
        if not holds:
            raise LaunchError(why())
    return launch
