"""Attribution end to end: churning trees, orphans, leftovers, and the two ways of following
the tree (a cgroup of its own where one can be made, the /proc walk elsewhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from aicarbon.measurement.accounting import Accumulator
from aicarbon.measurement.process_tree import ProcessTree, open_tree
from aicarbon.measurement.sampler import Sampler
from aicarbon.measurement.timeline import Timeline
from aicarbon.measurement.tree_cgroup import CgroupUnavailable, TreeCgroup, find_hierarchies
from aicarbon.sensors.cpu_load import CpuTimes, OnePerSample
from aicarbon.sensors.estimate import EstimateSensor
from conftest import FakeClock
from conftest import run_aicarbon as aicarbon

CHURN = textwrap.dedent(
    """
    import resource, subprocess, sys
    # 200 parallel subshells, each burning a little CPU and exiting
    script = 'for i in $(seq 200); do ( i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done ) & done; wait'
    subprocess.run(["sh", "-c", script], check=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = children.ru_utime + children.ru_stime + own.ru_utime + own.ru_stime
    open(sys.argv[1], "w").write(repr(total))
    """
)


@pytest.fixture
def competing_load() -> Iterator[None]:
    """One busy process outside the measured tree per logical CPU, each already burning when the
    fixture yields: a burner still starting (on a loaded CI runner its interpreter can take a
    second) leaves the CPUs partly idle while the tree runs, and that idle power goes to the
    tree's share, which is right, but not what this test checks."""
    burn = (
        "import sys, time\nend = time.monotonic() + 60\nsys.stdout.write('burning\\n')\n"
        "sys.stdout.flush()\nwhile time.monotonic() < end: pass"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE)
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"burning\n"
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("accounting", ["auto", "proc"])
def test_a_churning_tree_gets_its_share_of_cpu_energy(
    tmp_path: Path, competing_load: None, accounting: str
) -> None:
    """The tree's share of CPU-domain energy matches its share of busy CPU time within a few
    points (the tree's own true CPU time, from getrusage in its top process). Before the
    fix: 24% of the energy for 68% of the busy time."""
    truth_file, record = tmp_path / "truth", tmp_path / "r.json"
    env = {"AICARBON_TREE_ACCOUNTING": accounting}
    out = aicarbon(
        "run", "-q", "--sensors", "estimate", "--json", str(record), "--",
        sys.executable, "-c", CHURN, str(truth_file), env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(record.read_text())
    true_tree_s = float(truth_file.read_text())
    busy_s = data["attribution"]["machine_busy_cpu_s"]
    cpu = next(d for d in data["energy"]["domains"] if d["id"] == "cpu:estimated")
    energy_share = cpu["attributed_j"] / cpu["energy_j"]
    # The competing load did compete, and the tree did work of its own (a bound on the ratio
    # would depend on how busy the machine is: CI gave the tree 19% of it once).
    assert true_tree_s > 0.1 and true_tree_s / busy_s < 0.9
    assert energy_share == pytest.approx(true_tree_s / busy_s, abs=0.06), data["attribution"]
    assert data["attribution"]["tree_cpu_s"] == pytest.approx(true_tree_s, rel=0.1, abs=0.05)
    if accounting == "proc":
        assert data["attribution"]["method"] == "proc walk (AICARBON_TREE_ACCOUNTING=proc)"


def test_the_estimate_and_the_attribution_share_one_busy_figure_per_sample() -> None:
    """The machine works on while the tree is walked (0 to 0.15 CPU-s per walk here, as on a
    loaded runner): the share of each interval must use the busy time the estimate's energy
    came from. Before: /proc/stat was read again after the walk, and a tree holding half the
    busy time all along was charged 90% of the CPU energy."""
    clock = FakeClock()
    machine = {"busy_s": 0.0}
    cpu_times = OnePerSample(lambda: CpuTimes(machine["busy_s"], 2 * machine["busy_s"]))
    sensor = EstimateSensor("AMD EPYC 7763", 2, include_ram=False, cpu_times=cpu_times, clock=clock)
    walk_costs = iter([0.15, 0.0] * 4)

    def slow_walk(fresh: bool = False) -> float:
        tree_s = machine["busy_s"] / 2  # the tree: half the machine's busy time, all along
        machine["busy_s"] += next(walk_costs)  # others' work while the walk takes its time
        return tree_s

    acc = Accumulator(sensor.domains, Timeline(0.1, 16), 0.1)
    sampler = Sampler([sensor], acc, 0.1, tree_cpu_s=slow_walk, machine_busy_s=cpu_times.busy_s, clock=clock)
    sampler.sample()
    for step in range(1, 8):
        clock.advance(0.1)
        machine["busy_s"] += 0.05 if step % 2 else 0.2
        sampler.sample(final=step == 7)
    acc.finish()
    cpu = acc.totals["cpu:estimated"]
    assert cpu.attributed_j / cpu.energy_j == pytest.approx(0.5, abs=0.01)


ORPHANS = textwrap.dedent(
    """
    import os, sys, time
    for _ in range(50):  # 50 grandchildren orphaned at once, each exiting right away
        if os.fork() == 0:
            if os.fork() == 0:
                os._exit(0)
            os._exit(0)
        os.wait()
    time.sleep(1.0)
    aicarbon = os.getppid()
    zombies = 0
    for tid in os.listdir(f"/proc/{aicarbon}/task"):
        for pid in open(f"/proc/{aicarbon}/task/{tid}/children").read().split():
            stat = open(f"/proc/{pid}/stat").read()
            zombies += stat[stat.rfind(")") + 2] == "Z"
    open(sys.argv[1], "w").write(str(zombies))
    """
)


def test_orphans_are_reaped_at_once_not_at_the_next_sample(tmp_path: Path) -> None:
    count = tmp_path / "zombies"
    out = aicarbon("run", "-q", "--interval", "5", "--", sys.executable, "-c", ORPHANS, str(count))
    assert out.returncode == 0, out.stderr
    assert count.read_text() == "0"  # 50 zombies waited for the next sample, 5 s later


def test_descendants_still_running_are_counted_and_said(tmp_path: Path) -> None:
    pid_file, record = tmp_path / "pid", tmp_path / "r.json"
    script = f"sleep 30 >/dev/null 2>&1 & echo $! > {pid_file}; exit 0"
    out = aicarbon("run", "--json", str(record), "--", "sh", "-c", script)
    try:
        assert out.returncode == 0, out.stderr
        assert json.loads(record.read_text())["attribution"]["descendants_left_running"] == 1
        assert (
            "Note: 1 process(es) the command started were still running when it exited; they are not "
            "measured after that." in out.stderr.replace("\n", " ").replace("  ", " ")
        )
        os.kill(int(pid_file.read_text()), 0)  # not killed by aicarbon: it is the user's process
    finally:
        try:
            os.kill(int(pid_file.read_text()), 9)
        except (ProcessLookupError, FileNotFoundError, ValueError):
            pass


def test_the_proc_walk_stays_within_its_budget_between_fresh_walks() -> None:
    clock = FakeClock()
    tree = ProcessTree(clock=clock)
    child = tree.spawn(lambda: subprocess.Popen(["sleep", "5"]))
    try:
        tree.set_main_pid(child.pid)
        tree.cpu_seconds()
        assert tree.walks == 1
        tree.cpu_seconds()  # the same instant: the walk's cost is not yet paid back
        assert tree.walks == 1 and tree.pids == {child.pid}
        clock.advance(3600)
        tree.cpu_seconds()
        tree.cpu_seconds(fresh=True)  # the final sample always walks
        assert tree.walks == 3
    finally:
        child.kill()
        child.wait()


MOUNTINFO_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


@pytest.mark.parametrize(
    ("mountinfo", "cgroups", "expected"),
    [
        (
            MOUNTINFO_HYBRID,
            "4:cpu,cpuacct:/user.slice\n0::/user.slice/session-1.scope\n",
            [
                (2, "/sys/fs/cgroup/unified/user.slice/session-1.scope"),
                (1, "/sys/fs/cgroup/cpu,cpuacct/user.slice"),
            ],
        ),
        (  # cgroup v2 only, in a container whose cgroup namespace root is its own
            "50 40 0:30 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n",
            "0::/\n",
            [(2, "/sys/fs/cgroup")],
        ),
        (  # a container without cgroup namespace: the mount shows only its subtree
            "50 40 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "0::/docker/abc/inner\n",
            [(2, "/sys/fs/cgroup/inner")],
        ),
        (  # our cgroup outside what the mount shows: unusable
            "50 40 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "0::/elsewhere\n",
            [],
        ),
        (  # a mount point with a space, escaped as \\040
            "50 40 0:30 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n",
            "0::/a\n",
            [(2, "/mnt/my cgroups/a")],
        ),
        ("", "0::/\n", []),
    ],
)
def test_finding_our_own_cgroup(mountinfo: str, cgroups: str, expected: list[tuple[int, str]]) -> None:
    found = find_hierarchies(mountinfo, cgroups)
    assert [(h.version, str(h.directory)) for h in found] == expected


def real_cgroup() -> TreeCgroup:
    try:
        return TreeCgroup.create()
    except CgroupUnavailable as exc:
        pytest.skip(f"no cgroup can be made here: {exc}")


BURN_AND_FORK = textwrap.dedent(
    """
    import os, subprocess, sys, time
    burn = "import time\\nwhile time.process_time() < 0.3: pass"
    subprocess.run([sys.executable, "-c", burn])            # exits before we read anything
    subprocess.Popen(["sleep", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # still running
    """
)


def test_a_tree_cgroup_counts_exited_processes_and_cleans_up() -> None:
    group = real_cgroup()
    path = group.path
    child = group.spawn(lambda: subprocess.Popen([sys.executable, "-c", BURN_AND_FORK]))
    group.set_main_pid(child.pid)
    child.wait()
    try:
        assert group.cpu_seconds() >= 0.3  # the burner exited long ago and still counts
        assert group.running_descendants() == 1  # the sleep
        with open(f"/proc/{os.getpid()}/cgroup") as own:
            assert path.name not in own.read()  # aicarbon itself is back in its own cgroup
    finally:
        leftovers = group.pids
        group.close()
    assert not path.exists()
    for pid in leftovers:
        os.kill(pid, 9)


def test_open_tree_prefers_a_cgroup_and_can_be_told_not_to() -> None:
    assert (
        open_tree({"AICARBON_TREE_ACCOUNTING": "proc"}).method == "proc walk (AICARBON_TREE_ACCOUNTING=proc)"
    )
    tree = open_tree({})
    try:
        assert tree.method.startswith("cgroup") or tree.method.startswith("proc walk (no cgroup: ")
    finally:
        tree.close()


def test_stale_cgroups_of_killed_aicarbon_processes_are_removed() -> None:
    group = real_cgroup()
    stale = group.parent / "aicarbon-999999999-abcdef"  # no such process
    try:
        stale.mkdir()
    except OSError as exc:
        group.close()
        pytest.skip(f"cannot make a cgroup here: {exc}")
    group.close()
    TreeCgroup.create().close()
    assert not stale.exists()


def test_a_cgroup_aicarbon_may_not_enter_falls_back_to_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating a cgroup can succeed where moving a process into it is refused (a cgroup v2
    parent with controllers enabled, a non-delegated ancestor): the walk takes over."""
    import builtins

    probe = open_tree({})
    probe.close()
    if not probe.method.startswith("cgroup"):
        pytest.skip("no cgroup can be made here")
    real_open = builtins.open

    def refusing(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if str(file).endswith("cgroup.procs") and "w" in mode:
            raise PermissionError(13, "Permission denied")
        return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", refusing)
    tree = open_tree({})
    child = tree.spawn(lambda: subprocess.Popen([sys.executable, "-c", "sum(range(10**6))"]))
    monkeypatch.undo()
    try:
        tree.set_main_pid(child.pid)
        assert tree.method.startswith("proc walk (no cgroup: cannot move a process into ")
        assert tree.pids == set() or child.pid in tree.pids
        child.wait()
        assert tree.cpu_seconds(fresh=True) > 0
    finally:
        tree.close()


@pytest.mark.parametrize("accounting", ["auto", "proc"])
def test_the_trees_cpu_time_is_the_commands_own_account(tmp_path: Path, accounting: str) -> None:
    """A shell burns CPU and prints its own user and system time with ``times`` as its last
    act: the record's tree CPU time is that, to the shell's 1 ms rounding plus its exit; never
    less (aicarbon's own CPU time in the cgroup is subtracted, and only its own)."""
    script = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; times"
    record = tmp_path / "r.json"
    out = aicarbon(
        "run",
        "-q",
        "--json",
        str(record),
        "--",
        "sh",
        "-c",
        script,
        env={"AICARBON_TREE_ACCOUNTING": accounting},
    )
    assert out.returncode == 0, out.stderr
    own = out.stdout.splitlines()[0].split()  # "0m0.172s 0m0.004s": the shell's own times

    def seconds(text: str) -> float:
        minutes, rest = text.rstrip("s").split("m")
        return 60 * int(minutes) + float(rest)

    truth = seconds(own[0]) + seconds(own[1])
    tree_s = json.loads(record.read_text())["attribution"]["tree_cpu_s"]
    assert truth > 0.05
    assert truth - 0.011 <= tree_s <= truth + 0.03, (truth, tree_s)
