"""How machine energy is split between the measured process tree and everything else.

Rules (interval by interval, each sampling interval on its own):

* CPU, DRAM/RAM and platform domains: the tree's share of the machine's busy CPU time,
  ``tree CPU seconds / machine busy CPU seconds`` (busy = user + nice + system + irq +
  softirq, summed over all logical CPUs). Idle power therefore goes to whoever keeps the
  machine busy; an interval in which nothing is busy attributes nothing.

  The tree's CPU time can reach aicarbon later than it was spent (without a cgroup, a child's
  time is seen when its parent reaps it), and can then exceed the interval's busy time. That
  excess is never clamped away: it is carried into the next intervals, which take it up to
  their own busy time, and what is still carried when the run ends is charged at the run's
  average energy per busy CPU second. Over a run, the tree's share of CPU energy thus follows
  its share of busy CPU time, however its processes come and go.
* GPU domains: all of a GPU's energy in an interval in which a process of the tree holds a
  compute context on it (NVML's running-process list), none in an interval in which only other
  processes do. Energy of intervals in which no process holds a context on that GPU (before
  the tree's context exists, between kernels' contexts, after it is released) is split at the
  end of the run by how long the tree and the others used the GPU: a command alone on a GPU is
  charged all of it, a GPU the tree never touched nothing. Other processes sharing a GPU with
  the tree are not split out; the record says when there were any. An interval in which a GPU
  was in use but its owner could not be told (gpu_owner: a foreign PID namespace, a failed
  query) counts as the tree's, and the record says for how long.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sensors.base import DomainKind


def cpu_share(tree_cpu_s: float, machine_busy_s: float) -> float:
    """The tree's share of the machine's busy CPU time over a whole run, in [0, 1]."""
    if tree_cpu_s <= 0:
        return 0.0
    if machine_busy_s <= 0:
        return 1.0  # only the tree's own (tick-rounded) time was seen
    return min(tree_cpu_s / machine_busy_s, 1.0)


@dataclass
class CpuShares:
    """Per-interval CPU shares with late tree time carried forward, never lost."""

    carry_s: float = 0.0  # tree CPU seconds not yet matched with busy machine time

    def share(self, tree_cpu_s: float, machine_busy_s: float) -> float:
        available = tree_cpu_s + self.carry_s
        used = min(available, machine_busy_s)
        self.carry_s = available - used
        return used / machine_busy_s if machine_busy_s > 0 else 0.0


@dataclass
class GpuUse:
    """Seconds in which the tree, or only others, held a context on one GPU, and the energy
    of the intervals in which nobody did."""

    tree_s: float = 0.0
    other_s: float = 0.0
    unknown_s: float = 0.0  # in use, owner unknown: counted as the tree's
    unowned_j: float = 0.0

    def tree_fraction(self) -> float:
        mine = self.tree_s + self.unknown_s
        used = mine + self.other_s
        return mine / used if used > 0 else 0.0


def attributed_j(kind: DomainKind, energy_j: float, share: float, gpu_in_use: bool) -> float:
    if kind is DomainKind.GPU:
        return energy_j if gpu_in_use else 0.0
    return energy_j * share
