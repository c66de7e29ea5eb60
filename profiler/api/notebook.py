"""``%%aicarbon``: measure a notebook cell. Load it with ``%load_ext aicarbon``.

    %%aicarbon load-model
    model = load()

runs the cell under a tracker (aicarbon.track: the kernel's own CPU time and GPU contexts,
nothing of the kernel changed) and prints the report below the cell; the cell's variables stay
in the notebook as usual, and ``_aicarbon`` holds the last cell's run record. A cell that
raises still gets its report: what it used until then.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext aicarbon``: registers the ``%%aicarbon`` cell magic."""

    def aicarbon(line: str, cell: str) -> None:
        from .track import Tracker

        tracker = Tracker(line.strip() or "cell")
        with tracker:
            ipython.run_cell(cell, store_history=False)
        ipython.user_ns["_aicarbon"] = tracker.record
        tracker.report()

    ipython.register_magic_function(aicarbon, magic_kind="cell", magic_name="aicarbon")
