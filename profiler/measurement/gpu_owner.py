"""Which GPUs the measured tree is using now: the decision, from facts gathered elsewhere.

NVML lists the PIDs holding a context on each GPU. Those PIDs are the host's: in a container
with its own PID namespace (Docker or Kubernetes without ``--pid=host``) they match none of the
tree's, or worse, unrelated processes (NVIDIA, nvidia-docker#1483). So, per GPU:

1. a listed PID that is one of the tree's: the tree uses it;
2. nothing listed: nobody holds a context (the energy of such intervals is split at the end
   of the run, see attribution);
3. a listed PID that does not exist in this PID namespace means the list speaks another one.
   The tree's processes are then matched by the device file they hold open,
   ``/dev/nvidia<minor>`` (namespace-proof; the minor comes from NVML or the driver): held
   open means in use (flagged "matched by device file"), not held means others'. Where the
   tree's open files cannot be read, the GPU is "in use, owner unknown (PID namespace)";
4. every listed PID exists here and none is the tree's: other processes use it;
5. the process list could not be read at all: owner unknown, with the reason.

An unknown owner is counted as the tree's and flagged, never silently as 0: a query that
fails means "could not tell", not "not in use".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

PID_NAMESPACE_UNKNOWN = (
    "in use, owner unknown (PID namespace): NVML lists PIDs of another PID namespace and the "
    "command's open device files could not be read; run the container with --pid=host"
)
QUERY_FAILED = "in use, owner unknown (the query failed): {why}"
DEVICE_FILE_MATCH = (
    "matched by its device file: NVML lists PIDs of another PID namespace (a container without "
    "--pid=host), and the command holds /dev/nvidia{minor} open"
)


@dataclass(frozen=True)
class GpuOwners:
    tree: frozenset[str] = frozenset()  # GPUs the tree uses
    others: frozenset[str] = frozenset()  # GPUs only other processes use
    unknown: Mapping[str, str] = field(default_factory=dict)  # GPU -> why its owner is unknown
    by_device_file: Mapping[str, str] = field(default_factory=dict)  # GPU -> how it was matched
    shared: frozenset[str] = frozenset()  # GPUs the tree uses alongside other processes


def decide(
    pids: Mapping[str, set[int]],
    failed: Mapping[str, str],
    tree_pids: set[int],
    minors: Mapping[str, int],
    in_this_namespace: Callable[[Iterable[int]], set[int]],
    tree_device_minors: Callable[[], set[int] | None],
) -> GpuOwners:
    """``pids``: NVML's list per GPU; ``failed``: GPUs whose list could not be read."""
    tree: set[str] = set()
    others: set[str] = set()
    shared: set[str] = set()
    unknown = {gpu: QUERY_FAILED.format(why=why) for gpu, why in failed.items()}
    by_file: dict[str, str] = {}
    open_minors: set[int] | None = None
    looked = False
    for gpu, listed in pids.items():
        if listed & tree_pids:
            tree.add(gpu)
            if listed - tree_pids:
                shared.add(gpu)
            continue
        if not listed:
            continue
        if in_this_namespace(listed) == listed:
            others.add(gpu)
            continue
        if not looked:
            open_minors, looked = tree_device_minors(), True
        minor = minors.get(gpu)
        if open_minors is None or minor is None:
            unknown[gpu] = PID_NAMESPACE_UNKNOWN
        elif minor in open_minors:
            tree.add(gpu)
            by_file[gpu] = DEVICE_FILE_MATCH.format(minor=minor)
        else:
            others.add(gpu)
    return GpuOwners(frozenset(tree), frozenset(others), unknown, by_file, frozenset(shared))
