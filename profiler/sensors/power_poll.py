"""A cumulative energy counter for sources that only report power, robust to aliasing.

Integrating point readings of power (the trapezoidal rule) is exact for a slowly varying load
but aliases with a periodic one: a GPU alternating between 100 W and 400 W every 0.05 s,
read every 0.1 s exactly, is read in the same phase every time and measured up to 60% off
(codecarbon and perun alias the same way at their own periods). Two things prevent that:

* the instants are jittered: each wait is drawn uniformly from [0.5, 1.5] x the mean period,
  so no periodic load can stay in phase with the readings, whatever its frequency;
* the mean period is short (8 ms, about 125 readings a second), so that the random error that
  remains is small: square waves from 1 to 20 Hz are measured within about 3% over 5 s
  (``benchmarks/aliasing.py`` prints the figures).

The readings run in a thread of their own, started with the sensor, so that the main sampler
keeps its own period. Only GPUs without an energy counter (before Volta) need this.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

MEAN_PERIOD_S = 0.008


@dataclass
class _Source:
    read_w: Callable[[], float]
    last_w: float
    total_j: float = 0.0
    error: str | None = None


class PowerIntegrator:
    """Joules per source from power read at jittered instants (trapezoidal rule)."""

    def __init__(
        self,
        sources: dict[str, Callable[[], float]],
        *,
        mean_period_s: float = MEAN_PERIOD_S,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.mean_period_s = mean_period_s
        self._clock = clock
        if rng is None:
            import random  # here: only GPUs without an energy counter need it

            rng = random.Random()  # seeded from the OS
        self._rng = rng
        self._lock = threading.Lock()
        self._t = clock()
        self._sources = {key: _Source(read_w, 0.0) for key, read_w in sources.items()}
        for source in self._sources.values():
            try:
                source.last_w = float(source.read_w())
            except Exception as exc:  # noqa: BLE001 - vendor errors vary; the source stops
                source.error = str(exc) or type(exc).__name__
        self._running = threading.Lock()
        self._thread: threading.Thread | None = None
        self.readings = 0

    def next_delay_s(self) -> float:
        """The wait before the next reading: uniform in [0.5, 1.5] x the mean period."""
        return self.mean_period_s * (0.5 + self._rng.random())

    def poll(self) -> None:
        """Read every source now and add the energy since the previous reading."""
        with self._lock:
            now = self._clock()
            dt = max(now - self._t, 0.0)
            self._t = now
            self.readings += 1
            for source in self._sources.values():
                if source.error is not None:
                    continue
                try:
                    power_w = float(source.read_w())
                except Exception as exc:  # noqa: BLE001 - vendor errors vary; the source stops
                    source.error = str(exc) or type(exc).__name__
                    continue
                source.total_j += (source.last_w + power_w) / 2.0 * dt
                source.last_w = power_w

    def totals_j(self) -> dict[str, float]:
        """Energy per source up to now (a reading is taken first)."""
        self.poll()
        with self._lock:
            return {key: source.total_j for key, source in self._sources.items()}

    def errors(self) -> dict[str, str]:
        with self._lock:
            return {key: s.error for key, s in self._sources.items() if s.error is not None}

    def start(self) -> None:
        self._running.acquire()
        self._thread = threading.Thread(target=self._loop, name="aicarbon-power-poll", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._running.acquire(timeout=self.next_delay_s()):
            self.poll()

    def stop(self) -> None:
        if self._thread is not None:
            self._running.release()
            self._thread.join()
            self._thread = None
