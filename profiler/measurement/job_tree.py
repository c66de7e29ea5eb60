"""The attribution of a job's node: the reading rank's own tree and the trees of the job's
other ranks on the node, each followed from its aicarbon process.

The other ranks say where they are (``rank-<R>.start`` in the job directory: their aicarbon
process's pid) and, when they end, their tree's final CPU time (``rank-<R>.json``). While a rank
runs, its tree is walked from that pid (``process_tree.subtree_cpu_s``); once it has ended, the
figure it reported stands. Each rank's figure is kept monotonic, so time that reaches the walk
late is carried by attribution, not lost, and a rank that ends between two walks loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .process_tree import TreeAccounting, subtree_cpu_s

T = TypeVar("T")
RESCAN_S = 1.0  # the job directory is listed at most this often (it can be a network mount)


class OtherRanks:
    """The CPU seconds and PIDs of the node's other ranks."""

    def __init__(
        self,
        started: Callable[[], dict[int, int]],
        ended: Callable[[], dict[int, float]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``started``: rank → pid of those that started; ``ended``: rank → final CPU seconds."""
        self._started, self._ended, self._clock = started, ended, clock
        self._pids: dict[int, int] = {}
        self._final: dict[int, float] = {}
        self._seen_s: dict[int, float] = {}
        self._tree_pids: set[int] = set()
        self._next_scan = float("-inf")

    def cpu_seconds(self, fresh: bool = False) -> float:
        now = self._clock()
        if fresh or now >= self._next_scan:
            self._pids.update(self._started())
            self._final.update(self._ended())
            self._next_scan = now + RESCAN_S
        tree_pids: set[int] = set()
        for rank, pid in self._pids.items():
            if rank in self._final:
                continue
            walked = subtree_cpu_s(pid)
            if walked is not None:
                self._seen_s[rank] = max(self._seen_s.get(rank, 0.0), walked[0])
                tree_pids |= walked[1]
        self._tree_pids = tree_pids
        for rank, final_s in self._final.items():
            self._seen_s[rank] = max(self._seen_s.get(rank, 0.0), final_s)
        return sum(self._seen_s.values())

    @property
    def pids(self) -> set[int]:
        return set(self._tree_pids)


class NodeTree:
    """A ``TreeAccounting``: the reading rank's own tree plus the node's other ranks."""

    def __init__(self, own: TreeAccounting, others: OtherRanks) -> None:
        self.own, self.others = own, others

    @property
    def method(self) -> str:
        return f"{self.own.method}, and the job's other ranks on this node (proc walk)"

    def spawn(self, start: Callable[[], T]) -> T:
        return self.own.spawn(start)

    def set_main_pid(self, pid: int) -> None:
        self.own.set_main_pid(pid)

    def cpu_seconds(self, fresh: bool = False) -> float:
        return self.own.cpu_seconds(fresh) + self.others.cpu_seconds(fresh)

    @property
    def pids(self) -> set[int]:
        return self.own.pids | self.others.pids

    def running_descendants(self) -> int:
        return self.own.running_descendants()

    def close(self) -> None:
        self.own.close()
