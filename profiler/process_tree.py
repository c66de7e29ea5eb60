"""CPU time and PIDs of the process tree aicarbon started, for attribution.

The tree is every descendant of the aicarbon process (it starts nothing but the measured
command). Its cumulative CPU time at any moment is::

    sum over live descendants of (utime + stime + cutime + cstime)   [/proc/PID/stat]
  + CPU time of descendants aicarbon itself has reaped               [getrusage(RUSAGE_CHILDREN)]

A child that starts and exits between two samples is not lost: once its parent reaps it, the
kernel adds its time to the parent's cutime/cstime; if its parent died first, aicarbon (a child
subreaper, see runner.become_subreaper) adopts it, and reaps it here, so its time moves into
RUSAGE_CHILDREN. The figure is kept monotonic: the kernel moves time between those places
non-atomically, and a reading caught in between must not produce a negative interval.

Descendants are found through /proc/PID/task/TID/children (Linux), touching only the tree,
not every process of the machine; elsewhere through psutil.
"""

from __future__ import annotations

import os
import resource

import psutil

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Plain strings, not pathlib: this runs at every sample and must stay cheap.
_PROC = "/proc"


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


class ProcessTree:
    """Live view of aicarbon's descendants."""

    def __init__(self, main_pid: int | None = None) -> None:
        self._self = os.getpid()
        self._main_pid = main_pid  # the measured command: reaped by the runner, not here
        self._baseline_s = _rusage_children_s()
        self._last_cpu_s = 0.0
        self._pids: set[int] = set()
        self._linux = os.path.isdir(f"{_PROC}/{self._self}/task")

    def set_main_pid(self, pid: int) -> None:
        self._main_pid = pid

    @property
    def pids(self) -> set[int]:
        """Descendant PIDs seen by the last ``cpu_seconds`` call."""
        return set(self._pids)

    def cpu_seconds(self) -> float:
        """Cumulative CPU seconds of the tree since this probe was created."""
        if self._linux:
            own_children = self._children_of(self._self)
            self._reap_adopted_orphans(own_children)
            reaped_s = _rusage_children_s() - self._baseline_s
            live_s = self._walk_linux(own_children)
        else:
            reaped_s = _rusage_children_s() - self._baseline_s
            live_s = self._walk_psutil()
        self._last_cpu_s = max(self._last_cpu_s, reaped_s + live_s)
        return self._last_cpu_s

    def _children_of(self, pid: int) -> list[int]:
        found: list[int] = []
        task_dir = f"{_PROC}/{pid}/task"
        try:
            tasks = os.listdir(task_dir)
        except OSError:
            return found
        for tid in tasks:
            try:
                with open(f"{task_dir}/{tid}/children", "rb") as handle:
                    found += [int(c) for c in handle.read().split()]
            except OSError:
                continue
        return found

    def _walk_linux(self, own_children: list[int]) -> float:
        total_ticks = 0
        pids: set[int] = set()
        stack = list(own_children)
        while stack:
            pid = stack.pop()
            if pid in pids:
                continue
            fields = _stat_fields(pid)
            if fields is None:
                continue
            pids.add(pid)
            total_ticks += sum(int(v) for v in fields[11:15])
            stack += self._children_of(pid)
        self._pids = pids
        return total_ticks / _TICKS_PER_S

    def _reap_adopted_orphans(self, own_children: list[int]) -> None:
        for pid in own_children:
            if pid == self._main_pid:
                continue
            fields = _stat_fields(pid)
            if fields is not None and fields[0] == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def _walk_psutil(self) -> float:
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
