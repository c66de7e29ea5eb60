"""A job's rank that does not read its node's sensors: its command runs in a tree of its own,
whose CPU time and counted units it hands to the rank that reads them (``job.rank``).

Phases this rank's command marks are timed here but measured nowhere (the node's energy is the
reading rank's): their units count, their figures are not kept.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from .channel import open_channel
from .child_process import ChildExit, SignalForwarder, become_subreaper, wait
from .command import spawn_in_tree
from .phases import PhaseBook
from .process_tree import TreeAccounting
from .start import utc_now


class RankTally(NamedTuple):
    exit: ChildExit
    tree_cpu_s: float
    units_counted: float
    start_utc: str
    end_utc: str
    duration_s: float


def run_rank(argv: Sequence[str], tree: TreeAccounting, cwd: str | None = None) -> RankTally:
    """Run ``argv`` to completion in ``tree`` (closed here), signals forwarded, units counted;
    ``CommandError`` if it cannot start."""
    become_subreaper()
    started_s = time.monotonic()
    book = PhaseBook(lambda: (time.monotonic(), (0.0, 0.0)), lambda: started_s)
    channel = open_channel(book)
    forwarder = SignalForwarder()
    start_utc = utc_now()
    try:
        with forwarder.installed():
            channel.start()
            child = spawn_in_tree(argv, cwd, tree, channel)
            forwarder.attach(child)
            try:
                exit_ = wait(child, forwarder, reap_orphans=True)
            finally:
                channel.finish()
        cpu_s = tree.cpu_seconds(fresh=True)
    finally:
        tree.close()
    return RankTally(exit_, cpu_s, book.counted, start_utc, utc_now(), time.monotonic() - started_s)
