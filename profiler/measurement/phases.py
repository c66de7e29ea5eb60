"""Phases and counted units of a measured run: the bookkeeping, whoever reports them.

A ``PhaseBook`` is fed phase starts and ends (and unit counts) by ``aicarbon.track`` in the
measured process, or by the child channel under ``aicarbon run``. At each boundary it asks
``mark`` for a sample: its time and the run's cumulative (machine, attributed) joules. A
phase's figures are the differences between its two marks. Phases are keyed, so starts and
ends can come from several threads or processes; a phase's depth is the number of phases
open when it started.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, TypeGuard

from ..limits import MAX_FAILURE_CHARS, MAX_OPEN_PHASES, MAX_PHASES, MAX_UNITS

if TYPE_CHECKING:
    from ..records.run import PhaseRecord
    from .accounting import Accumulator
    from .sampler import Sampler

Mark = Callable[[], tuple[float, tuple[float, float]]]
# The bounds the reader checks too (limits.py): a record aicarbon writes is one it reads back.
MAX_RECORDS = MAX_PHASES
NOT_ENDED = "not ended"  # a phase still open when the run stopped
MAX_OPEN = MAX_OPEN_PHASES
MAX_UNIT_NAME = 64


def countable(n: object) -> TypeGuard[int | float]:
    """Whether ``n`` is a count of units a run may take: a number from 0 to ``MAX_UNITS``.
    The comparisons come first, and NaN, infinities and integers too large for a float all
    fail them (``math.isfinite`` of 10**400 would raise)."""
    return isinstance(n, (int, float)) and not isinstance(n, bool) and 0 <= n <= MAX_UNITS


def sample_mark(sampler: Sampler, accumulator: Accumulator) -> Mark:
    """A mark: a sample now, then its time and the cumulative in-total joules."""

    def mark() -> tuple[float, tuple[float, float]]:
        sampler.sample()
        totals = [accumulator.totals[d] for d in accumulator.in_total]
        t = accumulator.last.t_s if accumulator.last is not None else 0.0
        return t, (sum(x.energy_j for x in totals), sum(x.attributed_j for x in totals))

    return mark


class _Open:
    """A phase still open: where it started, and the units counted since."""

    __slots__ = ("depth", "name", "start_j", "start_s", "units")

    def __init__(self, name: str, depth: int, start_s: float, start_j: tuple[float, float]) -> None:
        self.name, self.depth, self.start_s, self.start_j = name, depth, start_s, start_j
        self.units = 0.0


class PhaseBook:
    def __init__(self, mark: Mark, origin_s: Callable[[], float | None]) -> None:
        self._mark = mark
        self._origin_s = origin_s  # the run's start on the same clock (None: not yet)
        self._lock = threading.Lock()
        self._open: dict[Hashable, _Open] = {}
        self.counted = 0.0
        self.records: list[PhaseRecord] = []
        self.dropped = 0  # phases beyond MAX_RECORDS
        self.refused = 0  # starts beyond MAX_OPEN open phases (and reopened keys)
        self.units_refused = 0  # counts that would take the total past MAX_UNITS
        self.unit_name: str | None = None  # what the code called its units (the first name given)
        self.other_unit_names: set[str] = set()  # names given after it, which differ

    def bind(self, mark: Mark, origin_s: Callable[[], float | None]) -> None:
        """Sample through ``mark`` from now on (a book made before its session's sensors)."""
        self._mark, self._origin_s = mark, origin_s

    def start(self, key: Hashable, name: str) -> bool:
        """Open a phase; False (refused) when ``MAX_OPEN`` are open or ``key`` is open already."""
        with self._lock:
            if len(self._open) >= MAX_OPEN or key in self._open:
                self.refused += 1
                return False
        t, joules = self._mark()
        with self._lock:
            if len(self._open) >= MAX_OPEN or key in self._open:
                self.refused += 1
                return False
            self._open[key] = _Open(str(name), len(self._open), t, joules)
        return True

    def end(self, key: Hashable, failed: str | None = None) -> PhaseRecord | None:
        """End a phase (``failed``: why it did not finish, e.g. the exception's type); its
        figures (also when the record is full and they are not kept), or None when ``key`` is
        not open (ended already, or never started here)."""
        from ..records.run import PhaseRecord

        with self._lock:
            if key not in self._open:
                return None
        t, (machine_j, attributed_j) = self._mark()
        with self._lock:
            phase = self._open.pop(key, None)
            if phase is None:
                return None
            origin = self._origin_s()
            origin = phase.start_s if origin is None else origin
            record = PhaseRecord(
                phase.name,
                phase.depth,
                round(max(phase.start_s - origin, 0.0), 6),
                round(max(t - phase.start_s, 0.0), 6),
                max(machine_j - phase.start_j[0], 0.0),
                max(attributed_j - phase.start_j[1], 0.0),
                phase.units,
                failed[:MAX_FAILURE_CHARS] if failed else None,
            )
            if len(self.records) >= MAX_RECORDS:
                self.dropped += 1
            else:
                self.records.append(record)
            return record

    def add_units(self, n: float, unit: str | None = None) -> bool:
        """Count ``n`` units (a finite number, 0 to ``MAX_UNITS``: the caller checks), called
        ``unit`` when the code names them; False, and nothing counted, when the run's total would
        pass ``MAX_UNITS``."""
        with self._lock:
            if unit:
                unit = unit[:MAX_UNIT_NAME]
                if self.unit_name is None:
                    self.unit_name = unit
                elif unit != self.unit_name and len(self.other_unit_names) < 8:
                    self.other_unit_names.add(unit)
            if not 0 <= n <= MAX_UNITS - self.counted:
                self.units_refused += 1
                return False
            self.counted += n
            for phase in self._open.values():
                phase.units += n
        return True

    def end_all(self) -> None:
        """End the phases still open when the run stops (a command killed mid-phase, a thread
        still working), innermost first, marked as not ended."""
        with self._lock:
            keys = sorted(self._open, key=lambda k: self._open[k].depth, reverse=True)
        for key in keys:
            self.end(key, NOT_ENDED)

    @property
    def open_count(self) -> int:
        return len(self._open)
