"""Real launchers: ``srun -n 2`` on a one-node Slurm cluster (Debian's slurm-wlm and munge,
slurmctld and slurmd started here as root with a minimal slurm.conf) and Open MPI's
``mpirun -np 2``, each wrapping ``aicarbon run``. Two ranks on one node: the node's counters
are read once, both ranks' CPU time is attributed, one record is written and saved once.
.ci/run installs the packages where they are absent; without them these tests say why."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AICARBON, WAIT_UNTIL_SAMPLED, PowercapTree, bare_metal_proc, hermetic_env

START_UJ = 50_000_000
JUMP_J = 4.0
SLURM_PROGRAMS = ("srun", "sinfo", "slurmctld", "slurmd", "munged", "munge", "unmunge")
# Each rank burns 0.4 s of CPU; the second moves the node's counter once, after the first samples.
RANK = (
    WAIT_UNTIL_SAMPLED
    + """
import os, sys, time
rank = int(os.environ.get("SLURM_PROCID") or os.environ.get("OMPI_COMM_WORLD_RANK"))
end = time.process_time() + 0.4
while time.process_time() < end:
    pass
if rank == 1:
    wait_until_sampled(sys.argv[1])
    open(sys.argv[1] + ".new", "w").write(sys.argv[2] + "\\n")  # whole, for a sampler reading it now
    os.replace(sys.argv[1] + ".new", sys.argv[1])
time.sleep(0.4)
"""
)


def _wrapper(tmp_path: Path) -> Path:
    """``aicarbon`` as one executable: a launcher runs a program, not ``python -m``."""
    script = tmp_path / "aicarbon"
    script.write_text(f'#!/bin/sh\nexec {" ".join(AICARBON)} "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A one-node Slurm cluster for this module; its SLURM_CONF."""
    found = {p: shutil.which(p) or shutil.which(p, path="/usr/sbin:/sbin") for p in SLURM_PROGRAMS}
    missing = [p for p, where in found.items() if where is None]
    if missing:
        pytest.skip(
            f"slurm-wlm or munge is not installed ({', '.join(missing)} missing; .ci/run installs them)"
        )
    if os.geteuid() != 0:
        pytest.skip("a one-node Slurm cluster is started as root here (slurmd must be root)")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir()
    started_munge = _start_munge(str(found["munged"]))
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        f"ClusterName=aicarbontest\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n"
        "AuthType=auth/munge\nCredType=cred/munge\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
        "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nMpiDefault=none\nReturnToService=2\n"
        f"SlurmctldPort=16817\nSlurmdPort=16818\nSlurmdParameters=config_overrides\n"
        f"StateSaveLocation={root}/state\nSlurmdSpoolDir={root}/spool\n"
        f"SlurmctldPidFile={root}/slurmctld.pid\nSlurmdPidFile={root}/slurmd.pid\n"
        f"SlurmctldLogFile={root}/log/slurmctld.log\nSlurmdLogFile={root}/log/slurmd.log\n"
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN\n"
        "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES\n"
    )
    env = {"SLURM_CONF": str(conf)}
    full = {**os.environ, **env}
    subprocess.run([str(found["slurmctld"])], env=full, check=True, timeout=60)
    subprocess.run([str(found["slurmd"])], env=full, check=True, timeout=60)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=full, capture_output=True, text=True)
            if state.stdout.strip() == "idle":
                break
            time.sleep(0.5)
        else:
            pytest.fail(
                f"the Slurm node never became idle: {(root / 'log' / 'slurmd.log').read_text()[-2000:]}"
            )
        yield env
    finally:
        for daemon in ("slurmd", "slurmctld"):
            pid_file = root / f"{daemon}.pid"
            if pid_file.exists():
                subprocess.run(["kill", pid_file.read_text().strip()], check=False)
        if started_munge:
            subprocess.run([str(found["munged"]), "--stop"], check=False, capture_output=True)


def _start_munge(munged: str) -> bool:
    """munged, unless one answers already; True when started here."""
    if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:  # noqa: S602, S607
        return False
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", munged], check=True, timeout=30)
    return True


def _node(tmp_path: Path) -> tuple[PowercapTree, dict[str, str]]:
    powercap = PowercapTree(tmp_path / "sys")
    powercap.zone("intel-rapl:0", "package-0", START_UJ)
    env = {
        "AICARBON_SYSFS_ROOT": str(powercap.sysfs_root),
        "AICARBON_PROC_ROOT": str(bare_metal_proc(tmp_path / "proc")),
        "AICARBON_TRUST_VM_RAPL": "1",
        "AICARBON_HOME": str(tmp_path / "home"),
    }
    return powercap, env


def _check_one_record(tmp_path: Path, out: subprocess.CompletedProcess[str], launcher: str) -> None:
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads((tmp_path / "job.json").read_text())
    assert data["job"]["launcher"] == launcher and data["job"]["world_size"] == 2
    assert [n["ranks"] for n in data["nodes"]] == [[0, 1]]
    # The node's counters were read once: exactly their jump, not twice it.
    assert data["energy"]["machine_j"] == pytest.approx(JUMP_J, abs=1e-9)
    # Both ranks' CPU time is the job's: 0.4 s each, at least.
    assert data["attribution"]["tree_cpu_s"] >= 0.75, data["attribution"]
    assert out.stderr.count("Job    ") == 1  # one report
    listed = subprocess.run(
        [*AICARBON, "history", "--json"], env=hermetic_env({"AICARBON_HOME": str(tmp_path / "home")}),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert len(json.loads(listed.stdout)) == 1  # saved once


def test_srun_two_ranks_on_one_node(tmp_path: Path, slurm: dict[str, str]) -> None:
    powercap, env = _node(tmp_path)
    counter = powercap.path("intel-rapl:0") / "energy_uj"
    out = subprocess.run(
        ["srun", "-n", "2", str(_wrapper(tmp_path)), "run", "--sensors", "rapl", "--interval", "0.05",
         "--json", str(tmp_path / "job.json"), "--", sys.executable, "-c", RANK, str(counter),
         str(START_UJ + int(JUMP_J * 1e6))],
        cwd=tmp_path, env=hermetic_env({**slurm, **env}), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    _check_one_record(tmp_path, out, "slurm")
    assert (tmp_path / ".aicarbon-jobs").is_dir()  # the default: in the submit directory


def test_mpirun_two_ranks_on_one_node(tmp_path: Path) -> None:
    if shutil.which("mpirun") is None:
        pytest.skip("openmpi-bin is not installed (.ci/run installs it)")
    powercap, env = _node(tmp_path)
    counter = powercap.path("intel-rapl:0") / "energy_uj"
    root = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    out = subprocess.run(
        ["mpirun", "--oversubscribe", "-np", "2", str(_wrapper(tmp_path)), "run", "--sensors", "rapl",
         "--interval", "0.05", "--json", str(tmp_path / "job.json"), "--", sys.executable, "-c", RANK,
         str(counter), str(START_UJ + int(JUMP_J * 1e6))],
        cwd=tmp_path, env=hermetic_env({**root, **env}), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    _check_one_record(tmp_path, out, "openmpi")
