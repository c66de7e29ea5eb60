"""How machine energy is split between the measured process tree and everything else.

Rules (interval by interval, each sampling interval on its own):

* CPU, DRAM/RAM and platform domains: the tree's share of the machine's busy CPU time,
  ``tree CPU seconds / machine busy CPU seconds`` (busy = user + nice + system + irq +
  softirq, summed over all logical CPUs), clamped to [0, 1]. Idle power therefore goes to
  whoever keeps the machine busy; an interval in which nothing is busy attributes nothing.
* GPU domains: all of a GPU's energy in an interval when a process of the tree holds a compute
  context on that GPU (NVML's running-process list, checked about once a second), none
  otherwise. Other processes sharing that GPU are not split out; the record says when there
  were any.
"""

from __future__ import annotations

from .sensors.base import DomainKind


def cpu_share(tree_cpu_s: float, machine_busy_s: float) -> float:
    """The tree's share of the machine's busy CPU time over one interval, in [0, 1]."""
    if tree_cpu_s <= 0:
        return 0.0
    if machine_busy_s <= 0:
        return 1.0  # only the tree's own (tick-rounded) time was seen
    return min(tree_cpu_s / machine_busy_s, 1.0)


def attributed_j(kind: DomainKind, energy_j: float, share: float, gpu_in_use: bool) -> float:
    if kind is DomainKind.GPU:
        return energy_j if gpu_in_use else 0.0
    return energy_j * share
