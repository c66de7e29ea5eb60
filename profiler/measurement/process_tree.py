"""CPU time and PIDs of the process tree aicarbon started, for attribution.

Two ways to account the tree, chosen by ``open_tree``:

* a cgroup of its own (``tree_cgroup``): exact and one read per sample, where aicarbon may
  create one (root, or a delegated cgroup);
* otherwise a walk of ``/proc``, described here.

The tree is every descendant of the aicarbon process (it starts nothing but the measured
command). Its cumulative CPU time at any moment is::

    sum over live descendants of (utime + stime + cutime + cstime)   [/proc/PID/stat]
  + CPU time of descendants aicarbon itself has reaped               [getrusage(RUSAGE_CHILDREN)]

A child that starts and exits between two samples is not lost: once its parent reaps it, the
kernel adds its time to the parent's cutime/cstime; if its parent died first, aicarbon (a child
subreaper, see runner.become_subreaper) adopts and reaps it, so its time moves into
RUSAGE_CHILDREN. The figure is kept monotonic: the kernel moves time between those places
non-atomically, and a reading caught in between must not produce a negative interval. Time
that arrives late is carried by attribution, not lost.

Descendants are found through /proc/PID/task/TID/children (Linux), touching only the tree,
not every process of the machine; elsewhere through psutil. A walk costs tens of µs per
process: it is repeated only once its cost is paid back at ``WALK_BUDGET`` of one core (0.2%;
a one-process tree every other sample), sooner if the figure would be older than 2 s, but
never above 1% of a core however big the tree; and always once more at the end of the run.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

from .tree_cgroup import CgroupUnavailable, TreeCgroup, is_running

T = TypeVar("T")
TREE_ACCOUNTING_ENV = "AICARBON_TREE_ACCOUNTING"  # "proc" forces the /proc walk
# The walk's cost, as a share of one core: WALK_BUDGET while that keeps the tree's figure at
# most MAX_STALENESS_S old, and never more than WALK_BUDGET_MAX, however big the tree.
WALK_BUDGET = 0.002
WALK_BUDGET_MAX = 0.01
MAX_STALENESS_S = 2.0

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Plain strings, not pathlib: this runs at every sample and must stay cheap.
_PROC = "/proc"


class TreeAccounting(Protocol):
    """What measuring needs to know about the command's process tree."""

    @property
    def method(self) -> str: ...

    def spawn(self, start: Callable[[], T]) -> T: ...

    def set_main_pid(self, pid: int) -> None: ...

    def cpu_seconds(self, fresh: bool = False) -> float: ...

    @property
    def pids(self) -> set[int]: ...

    def running_descendants(self) -> int: ...

    def close(self) -> None: ...


def open_tree(environ: Mapping[str, str] | None = None) -> TreeAccounting:
    """A cgroup for the tree where one can be made, else the /proc walk (whose ``method``
    says why there is no cgroup)."""
    env = os.environ if environ is None else environ
    if env.get(TREE_ACCOUNTING_ENV) == "proc":
        return ProcessTree(reason=f"{TREE_ACCOUNTING_ENV}=proc")
    try:
        return CgroupOrWalk(TreeCgroup.create())
    except CgroupUnavailable as exc:
        return ProcessTree(reason=f"no cgroup: {exc}")


class CgroupOrWalk:
    """A tree cgroup, falling back to the /proc walk if aicarbon turns out not to be allowed
    to move itself into the cgroup when the command starts."""

    def __init__(self, cgroup: TreeCgroup) -> None:
        self._tree: TreeCgroup | ProcessTree = cgroup

    @property
    def method(self) -> str:
        return self._tree.method

    def spawn(self, start: Callable[[], T]) -> T:
        try:
            return self._tree.spawn(start)
        except CgroupUnavailable as exc:
            self._tree.close()
            self._tree = ProcessTree(reason=f"no cgroup: {exc}")
            return self._tree.spawn(start)

    def set_main_pid(self, pid: int) -> None:
        self._tree.set_main_pid(pid)

    def cpu_seconds(self, fresh: bool = False) -> float:
        return self._tree.cpu_seconds(fresh)

    @property
    def pids(self) -> set[int]:
        return self._tree.pids

    def running_descendants(self) -> int:
        return self._tree.running_descendants()

    def close(self) -> None:
        self._tree.close()


def _rusage_children_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return raw[raw.rfind(b")") + 2 :].decode().split()


def _children_of(pid: int, threads: int = 0) -> list[int]:
    """Children of ``pid``: those of each of its threads. A single-threaded process
    (``threads`` 1, from its stat) needs one read instead of a directory listing."""
    found: list[int] = []
    if threads == 1:
        tasks = [str(pid)]
    else:
        try:
            tasks = os.listdir(f"{_PROC}/{pid}/task")
        except OSError:
            return found
    for tid in tasks:
        found += _task_children(pid, tid)
    return found


def _task_children(pid: int, tid: int | str) -> list[int]:
    try:
        with open(f"{_PROC}/{pid}/task/{tid}/children", "rb") as handle:
            return [int(c) for c in handle.read().split()]
    except OSError:
        return []


def _walk(stack: list[int]) -> tuple[int, set[int]]:
    """The processes below ``stack`` (the first children), with them: the clock ticks of their
    own and their reaped children's CPU time, and their PIDs."""
    total_ticks = 0
    pids: set[int] = set()
    while stack:
        pid = stack.pop()
        if pid in pids:
            continue
        fields = _stat_fields(pid)
        if fields is None:
            continue
        pids.add(pid)
        # utime stime cutime cstime are fields 14-17 of stat, num_threads field 20
        total_ticks += sum(int(v) for v in fields[11:15])
        stack += _children_of(pid, int(fields[17]))
    return total_ticks, pids


class ProcessTree:
    """Live view of aicarbon's descendants, through /proc."""

    def __init__(
        self,
        main_pid: int | None = None,
        *,
        reason: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.method = "proc walk" + (f" ({reason})" if reason else "")
        self._self = os.getpid()
        self._main_pid = main_pid
        self._baseline_s = _rusage_children_s()
        self._last_cpu_s = 0.0
        self._pids: set[int] = set()
        self._linux = os.path.isdir(f"{_PROC}/{self._self}/task")
        self._clock = clock
        self._own_threads: list[int] | None = None  # None: every thread of aicarbon
        self._next_walk = float("-inf")
        self.walks = 0
        self.walk_cpu_s = 0.0  # CPU time spent walking: bounded by WALK_BUDGET

    def spawn(self, start: Callable[[], T]) -> T:
        # The command is the child of the thread that forks it; orphans adopted by a subreaper
        # go to its main thread. Those two threads' children files are all aicarbon needs.
        self._own_threads = sorted({self._self, threading.get_native_id()})
        return start()

    def set_main_pid(self, pid: int) -> None:
        self._main_pid = pid

    @property
    def pids(self) -> set[int]:
        """Descendant PIDs seen by the last walk."""
        return set(self._pids)

    def cpu_seconds(self, fresh: bool = False) -> float:
        """Cumulative CPU seconds of the tree since this probe was created; the last walk's
        figure until the walking budget allows the next (``fresh`` walks now)."""
        now = self._clock()
        if not fresh and now < self._next_walk:
            return self._last_cpu_s
        started = time.thread_time()
        reaped_s = _rusage_children_s() - self._baseline_s
        live_s = self._walk_linux() if self._linux else self._walk_psutil()
        self._last_cpu_s = max(self._last_cpu_s, reaped_s + live_s)
        cost = time.thread_time() - started
        self.walks += 1
        self.walk_cpu_s += cost
        self._next_walk = now + max(cost / WALK_BUDGET_MAX, min(cost / WALK_BUDGET, MAX_STALENESS_S))
        return self._last_cpu_s

    def running_descendants(self) -> int:
        """Descendants still running (not zombies), the command itself excluded."""
        self.cpu_seconds(fresh=True)
        return sum(1 for pid in self._pids if pid != self._main_pid and is_running(pid))

    def close(self) -> None:
        pass

    def _walk_linux(self) -> float:
        if self._own_threads is None:
            stack = _children_of(self._self)
        else:
            stack = [c for tid in self._own_threads for c in _task_children(self._self, tid)]
        ticks, self._pids = _walk(stack)
        return ticks / _TICKS_PER_S

    def _walk_psutil(self) -> float:
        import psutil  # only where there is no /proc: importing it costs start-up time

        total = 0.0
        pids: set[int] = set()
        try:
            children = psutil.Process(self._self).children(recursive=True)
        except psutil.Error:
            children = []
        for proc in children:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            pids.add(proc.pid)
            total += t.user + t.system + t.children_user + t.children_system
        self._pids = pids
        return total


# -- GPU use without PIDs (containers) -----------------------------------------------------------

_NVIDIA_DEVICE_PREFIX = "/dev/nvidia"


def in_this_namespace(pids: Iterable[int]) -> set[int]:
    """The PIDs that exist in this process's PID namespace (NVML may list the host's)."""
    return {pid for pid in pids if os.path.exists(f"{_PROC}/{pid}")}


def nvidia_minors_open(pids: set[int], prefix: str = _NVIDIA_DEVICE_PREFIX) -> set[int] | None:
    """Minors of the ``/dev/nvidia<N>`` files (``prefix<N>``) any of ``pids`` holds open; None
    when no process's descriptors could be read (another user's processes, a hardened /proc)."""
    minors: set[int] = set()
    readable = True if not pids else False  # no process yet: it holds nothing open
    for pid in pids:
        fd_dir = f"{_PROC}/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        readable = True
        for name in names:
            try:
                target = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            suffix = target.removeprefix(prefix)
            if suffix != target and suffix.isdigit():
                minors.add(int(suffix))
    return minors if readable else None


class CpuUsers:
    """The machine's processes by CPU time used since the previous ``sample`` (for ``aicarbon
    watch``): one read of ``/proc/PID/stat`` per process, a process known by its PID and start
    time so that a reused PID never inherits another's time."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], float] = {}

    def sample(self) -> list[tuple[int, str, float]]:
        """``(pid, name, cpu seconds since the last sample)``, most first; a process seen for
        the first time counts from its start."""
        tick = os.sysconf("SC_CLK_TCK")
        seen: dict[tuple[int, int], float] = {}
        used_by: list[tuple[float, int, bytes]] = []
        try:
            entries = os.listdir("/proc")
        except OSError:
            return []
        last = self._last
        for entry in entries:
            if not entry.isdigit():
                continue
            try:  # os.open/os.read: a third of open()'s cost, which matters per process
                fd = os.open(f"/proc/{entry}/stat", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    raw = os.read(fd, 4096)
                finally:
                    os.close(fd)
            except OSError:
                continue  # gone, or not ours to read
            name_end = raw.rfind(b")")
            fields = raw[name_end + 2 :].split(None, 20)
            try:
                cpu_s = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
                key = (int(entry), int(fields[19]))  # pid, starttime
            except (IndexError, ValueError):
                continue
            seen[key] = cpu_s
            used = cpu_s - last.get(key, 0.0)
            if used > 0:
                used_by.append((used, key[0], raw[raw.find(b"(") + 1 : name_end]))
        self._last = seen
        used_by.sort(reverse=True)
        return [(pid, name.decode("utf-8", "replace"), used) for used, pid, name in used_by]


def process_names(pids: Iterable[int]) -> dict[int, str]:
    """The command names of these PIDs (those that still exist in this namespace)."""
    names: dict[int, str] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
                names[pid] = handle.read().strip()
        except OSError:
            continue
    return names


def subtree_cpu_s(pid: int) -> tuple[float, set[int]] | None:
    """CPU seconds of another process's descendants, and their PIDs (None: ``pid`` is gone):
    each live descendant's own and reaped children's time, plus the time of the children
    ``pid`` itself has reaped (its cutime and cstime), but not ``pid``'s own. For a job's rank
    that aicarbon started elsewhere on this node: its aicarbon process is ``pid``."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    ticks, pids = _walk(_children_of(pid))
    return (ticks + int(fields[13]) + int(fields[14])) / _TICKS_PER_S, pids
