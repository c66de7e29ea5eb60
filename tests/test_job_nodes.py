"""Jobs of several nodes on one machine: each simulated node is its own processes with their
own UTS name (``unshare -u``), their own machine id (a bind mount in a private mount namespace)
and their own simulated RAPL counters, the ranks sharing one job directory, with Slurm's
variables set as ``srun`` sets them. Each node's energy must be its own counters' exactly, once
however many ranks it has, and the job's the sum of its nodes'."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import AICARBON, WAIT_UNTIL_SAMPLED, PowercapTree, bare_metal_proc, hermetic_env
from prometheus_client.parser import text_string_to_metric_families


def _namespaces() -> str | None:
    """Why this machine cannot make a node's namespaces (None: it can)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "simulated nodes need unshare -u -m, which needs root (CI runs as root)"
    probe = subprocess.run(
        ["unshare", "-u", "-m", "--propagation", "private", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"this kernel or container refuses new UTS and mount namespaces ({probe.stderr.strip()[:120]})"
    return None


WHY_NOT = _namespaces()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")
START_UJ = 10_000_000
# The node's second rank moves its node's counter once, after the first samples: the node's
# energy is then exactly the jump, and twice the jump if two ranks read the same counters.
RANK = (
    WAIT_UNTIL_SAMPLED
    + """
import os, sys, time
counter, target = sys.argv[1], sys.argv[2]
time.sleep(0.3)
if target != "-":
    wait_until_sampled(counter)
    open(counter + ".new", "w").write(target + "\\n")  # whole, for a sampler reading it now
    os.replace(counter + ".new", counter)
time.sleep(0.5)
sys.exit(int(sys.argv[3]))
"""
)


class Node:
    def __init__(self, root: Path, name: str, machine_id: str, jump_j: float) -> None:
        self.name, self.jump_j = name, jump_j
        self.powercap = PowercapTree(root / name / "sys")
        self.powercap.zone("intel-rapl:0", "package-0", START_UJ)
        self.machine_id = root / name / "machine-id"
        self.machine_id.write_text(machine_id + "\n")
        self.proc = bare_metal_proc(root / name / "proc")

    @property
    def counter(self) -> Path:
        return self.powercap.path("intel-rapl:0") / "energy_uj"


def start_rank(
    node: Node,
    rank: int,
    local: int,
    world: int,
    per_node: str,
    job_dir: Path,
    *extra: str,
    exit_code: int = 0,
) -> subprocess.Popen[str]:
    env = hermetic_env(
        {
            "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0", "SLURM_PROCID": str(rank),
            "SLURM_LOCALID": str(local), "SLURM_NODEID": "0" if node.name == "node-a" else "1",
            "SLURM_NTASKS": str(world), "SLURM_STEP_TASKS_PER_NODE": per_node,
            "AICARBON_SYSFS_ROOT": str(node.powercap.sysfs_root), "AICARBON_PROC_ROOT": str(node.proc),
            "AICARBON_TRUST_VM_RAPL": "1", "AICARBON_JOB_DIR": str(job_dir),
        }
    )  # fmt: skip
    target = str(START_UJ + int(node.jump_j * 1e6)) if local == 1 else "-"
    aicarbon = [*AICARBON, "run", "--sensors", "rapl", "--interval", "0.05", *extra, "--"]
    command = [*aicarbon, sys.executable, "-c", RANK, str(node.counter), target, str(exit_code)]
    script = 'hostname "$1" && mount --bind "$2" /etc/machine-id && shift 2 && exec "$@"'
    return subprocess.Popen(
        ["unshare", "-u", "-m", "--propagation", "private", "sh", "-c", script, "sh",
         node.name, str(node.machine_id), *command],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


@pytest.fixture
def nodes(tmp_path: Path) -> tuple[Node, Node]:
    return (
        Node(tmp_path, "node-a", "a" * 32, 3.0),
        Node(tmp_path, "node-b", "b" * 32, 5.0),
    )


def wait_for(folder: Path, pattern: str) -> None:
    """Until a rank has written the file ``pattern`` names (a minute at most)."""
    deadline = time.monotonic() + 60
    while not list(folder.glob(pattern)):
        assert time.monotonic() < deadline, f"no {pattern} in {folder} after a minute"
        time.sleep(0.05)


def finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    return [(p.wait(timeout=120), p.communicate()[1]) for p in procs]


def test_two_nodes_of_two_ranks_each_count_each_node_once(tmp_path: Path, nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    record = tmp_path / "job.json"
    layout = [(a, 0, 0), (a, 1, 1), (b, 2, 0), (b, 3, 1)]
    procs = [
        start_rank(node, rank, local, 4, "2(x2)", tmp_path / "jobs", "--json", str(record),
                   "--prometheus-textfile", str(tmp_path / node.name / "aicarbon.prom"))
        for node, rank, local in layout
    ]  # fmt: skip
    ended = finish(procs)
    assert [status for status, _ in ended] == [0, 0, 0, 0], ended
    assert all(err == "" for _, err in ended[1:]), ended  # only rank 0 reports
    data = json.loads(record.read_text())
    assert data["schema"] == "aicarbon.run/4"
    assert data["job"] == {"launcher": "slurm", "job_id": "77.0", "world_size": 4, "missing_ranks": [],
                           "missing_nodes": []}  # fmt: skip
    by_host = {n["host"]: n for n in data["nodes"]}
    assert set(by_host) == {"node-a", "node-b"}
    assert (by_host["node-a"]["ranks"], by_host["node-b"]["ranks"]) == ([0, 1], [2, 3])
    assert by_host["node-a"]["machine_id"] == "a" * 32 and by_host["node-b"]["machine_id"] == "b" * 32
    # Each node's energy is its own counters' jump, once: not twice for its two ranks.
    assert by_host["node-a"]["energy"]["machine_j"] == pytest.approx(3.0, abs=1e-9)
    assert by_host["node-b"]["energy"]["machine_j"] == pytest.approx(5.0, abs=1e-9)
    assert data["energy"]["machine_j"] == pytest.approx(8.0, abs=1e-9)
    package = [d for d in data["energy"]["domains"] if d["method"] == "measured"]
    assert [d["energy_j"] for d in package] == [pytest.approx(8.0, abs=1e-9)]
    assert data["duration_s"] == max(n["duration_s"] for n in data["nodes"])
    assert "Job    slurm job 77.0: 4 of 4 ranks on 2 nodes" in ended[0][1]
    assert "node-b  ranks 2-3  5.00 J" in ended[0][1]
    # node_exporter runs on each node: each node's textfile has that node's energy, once.
    for node in (a, b):
        text = (tmp_path / node.name / "aicarbon.prom").read_text()
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        energy = [s for s in samples if s.name == "aicarbon_energy_joules_total"]
        assert [(s.labels["host"], s.value) for s in energy] == [(node.name, pytest.approx(node.jump_j))]


def test_a_node_that_never_reports_is_named_and_the_rest_is_written(
    tmp_path: Path, nodes: tuple[Node, Node]
) -> None:
    a, b = nodes
    record = tmp_path / "job.json"
    job_dir = tmp_path / "jobs"
    doomed = start_rank(b, 2, 0, 3, "2,1", job_dir)
    wait_for(job_dir, "job-77.0/nodes/node-b-*/leader.json")
    os.killpg(doomed.pid, signal.SIGKILL)  # the node dies: its reader and its command
    doomed.wait()
    procs = [
        start_rank(a, rank, rank, 3, "2,1", job_dir, "--json", str(record), "--job-timeout", "1")
        for rank in (0, 1)
    ]
    ended = finish(procs)
    assert [status for status, _ in ended] == [0, 0]
    data = json.loads(record.read_text())
    assert data["job"]["missing_nodes"] == ["node-b"] and data["job"]["missing_ranks"] == [2]
    assert [n["host"] for n in data["nodes"]] == ["node-a"]
    assert data["energy"]["machine_j"] == pytest.approx(3.0, abs=1e-9)
    assert "never reported within 1 s: node-b" in ended[0][1]


def test_each_rank_exits_with_its_own_status_and_the_record_says_the_job_failed(
    tmp_path: Path, nodes: tuple[Node, Node]
) -> None:
    a, _ = nodes
    record = tmp_path / "job.json"
    procs = [
        start_rank(a, 0, 0, 2, "2", tmp_path / "jobs", "--json", str(record)),
        start_rank(a, 1, 1, 2, "2", tmp_path / "jobs", exit_code=3),
    ]
    assert [status for status, _ in finish(procs)] == [0, 3]
    data = json.loads(record.read_text())
    assert data["nodes"][0]["exit_statuses"] == [0, 3] and data["exit"]["status"] == 3


def test_a_job_directory_that_is_not_shared_is_said_on_both_nodes(
    tmp_path: Path, nodes: tuple[Node, Node]
) -> None:
    a, b = nodes
    record = tmp_path / "job.json"
    procs = [
        start_rank(a, 0, 0, 2, "1(x2)", tmp_path / "on-a", "--json", str(record), "--job-timeout", "1"),
        start_rank(b, 1, 0, 2, "1(x2)", tmp_path / "on-b"),  # as if /tmp of each node
    ]
    ended = finish(procs)
    assert [status for status, _ in ended] == [0, 0]
    for _, err in ended:
        assert "no other node's files are in the job directory" in err, err
        assert "it must be on a file system every node sees" in err
    data = json.loads(record.read_text())
    assert data["job"]["missing_ranks"] == [1] and [n["host"] for n in data["nodes"]] == ["node-a"]


def test_a_rank_that_dies_before_reporting_is_named_and_its_node_still_reports(
    tmp_path: Path, nodes: tuple[Node, Node]
) -> None:
    a, _ = nodes
    record, job_dir = tmp_path / "job.json", tmp_path / "jobs"
    doomed = start_rank(a, 1, 1, 2, "2", job_dir)
    wait_for(job_dir, "job-77.0/nodes/*/rank-1.start")
    # A timeout far beyond the test's own (finish() waits 120 s): the merge must not wait for a
    # rank its node has already reported dead.
    reader = start_rank(a, 0, 0, 2, "2", job_dir, "--json", str(record), "--job-timeout", "3600")
    os.killpg(doomed.pid, signal.SIGKILL)  # rank 1's aicarbon and its command die unreported
    doomed.wait()
    status, err = finish([reader])[0]
    assert status == 0, err
    assert "ranks 1 on this node ended without reporting" in err
    data = json.loads(record.read_text())
    assert data["job"]["missing_ranks"] == [1] and data["nodes"][0]["ranks"] == [0]


def test_ctrl_c_while_rank_0_waits_for_a_node_writes_the_job_record_now(
    tmp_path: Path, nodes: tuple[Node, Node]
) -> None:
    a, _ = nodes
    record, job_dir = tmp_path / "job.json", tmp_path / "jobs"
    # World of 3: rank 2 (another node) never comes; rank 0 would wait an hour for it.
    procs = [
        start_rank(a, 0, 0, 3, "2,1", job_dir, "--json", str(record), "--job-timeout", "3600"),
        start_rank(a, 1, 1, 3, "2,1", job_dir),
    ]
    wait_for(job_dir, "job-77.0/parts/node-a-*.json")  # rank 0 has its node's part: it waits
    os.kill(procs[0].pid, signal.SIGINT)
    ended = finish(procs)
    assert [status for status, _ in ended] == [0, 0], ended
    assert "interrupted while waiting for the other nodes" in ended[0][1] and "Traceback" not in ended[0][1]
    data = json.loads(record.read_text())
    assert data["job"]["missing_ranks"] == [2] and data["nodes"][0]["ranks"] == [0, 1]
