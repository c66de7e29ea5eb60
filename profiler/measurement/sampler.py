"""The background loop: read every sensor on a fixed period and feed the accumulator.

Readings are checked before they are used:

* a domain whose cumulative energy is not a finite number has failed (``DomainFailure``);
* a reading that implies more power than the domain can draw (``Domain.max_power_w``, over
  the interval plus ``IMPLAUSIBLE_SLACK_S`` for counters that update in steps) is a sensor
  fault, not energy: the jump is replaced by the domain's last plausible power over the same
  interval, and the record lists it (``ImplausibleRecord``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..limits import MAX_MAGNITUDE
from ..sensors.base import Domain, DomainFailure, DomainKind, Sensor
from .accounting import Accumulator, Snapshot
from .gpu_owner import QUERY_FAILED, GpuOwners

if TYPE_CHECKING:
    from ..records.run import ImplausibleRecord

IMPLAUSIBLE_SLACK_S = 0.25  # counters that tick in steps (NVML's) may show a step early
MAX_IMPLAUSIBLE_KEPT = 16  # per domain; the count goes on


@dataclass
class _Counter:
    """The last raw reading of one domain and its last plausible power."""

    raw_j: float
    t_s: float
    power_w: float = 0.0
    offset_j: float = 0.0  # implausible energy removed so far


class Sampler:
    """Reads all sensors every ``interval_s`` seconds in one daemon thread.

    ``tree_cpu_s`` and ``machine_busy_s`` give cumulative CPU seconds for attribution
    (``machine_busy_s`` is called first in each sample, with the clock);
    ``gpu_owners`` says which GPUs the tree uses (see gpu_owner), checked every
    ``gpu_check_s`` seconds because the NVML query is costly, and at the first sample after
    ``check_gpus_soon``. A sensor with a ``min_period_s`` attribute (NVML's, whose calls take
    the driver's lock) is read no more often than that, and at the last sample.
    """

    def __init__(
        self,
        sensors: list[Sensor],
        accumulator: Accumulator,
        interval_s: float,
        *,
        tree_cpu_s: Callable[..., float] = lambda fresh=False: 0.0,
        machine_busy_s: Callable[[], float] = lambda: 0.0,
        gpu_owners: Callable[[], GpuOwners] | None = None,
        gpu_check_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sensors = list(sensors)
        self.accumulator = accumulator
        self.interval_s = interval_s
        self._tree_cpu_s = tree_cpu_s
        self._machine_busy_s = machine_busy_s
        self._gpu_owners = gpu_owners
        self._gpu_check_s = gpu_check_s
        self._clock = clock
        # Held while the loop runs; stop() releases it. Waiting on a lock with a timeout costs
        # the sleeping thread less than an Event's condition variable, at every tick.
        self._running = threading.Lock()
        self._sample_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._domains: dict[str, Domain] = {d.id: d for s in sensors for d in s.domains}
        self._counters: dict[str, _Counter] = {}
        self._energy: dict[str, float] = {}
        self._bounds: dict[str, tuple[float, float]] = {}
        self._gpus_in_use: frozenset[str] = frozenset()
        self._gpus_others: frozenset[str] = frozenset()
        self._gpus_unknown: frozenset[str] = frozenset()
        self._last_read: dict[int, float] = {}  # per sensor (by position), for min_period_s
        self._last_gpu_check = float("-inf")
        self.failures: list[DomainFailure] = []
        self._failed: set[str] = set()
        self.implausible: dict[str, list[ImplausibleRecord]] = {}  # the first few per domain
        self.implausible_count: dict[str, int] = {}
        self.shared_gpus: set[str] = set()  # GPUs the tree used alongside other processes
        self.gpu_owner_notes: dict[str, str] = {}  # GPU -> how its owner was told, or why not
        self.start_t: float | None = None
        self.cpu_s = 0.0  # CPU time spent by the sampling thread itself: aicarbon's overhead

    def sample(self, final: bool = False) -> None:
        """Take one snapshot now (also used for the first and, ``final``, the last). Safe to
        call from another thread than the loop's (phase boundaries do)."""
        with self._sample_lock:
            self._sample(final)

    def _sample(self, final: bool) -> None:
        now = self._clock()
        # First, beside the clock: the sensors that estimate from the machine's CPU time read
        # this same figure (cpu_load.OnePerSample), whatever the reads below then take.
        machine_busy_s = self._machine_busy_s()
        first = self.start_t is None
        if self.start_t is None:
            self.start_t = now
        failed = {f.domain_id for f in self.failures}
        for position, sensor in enumerate(self.sensors):
            period = getattr(sensor, "min_period_s", 0.0)
            if not final and now - self._last_read.get(position, float("-inf")) < 0.9 * period:
                continue  # its last values stand
            self._last_read[position] = now
            try:
                reading = sensor.read()
            except Exception as exc:  # noqa: BLE001 - a broken sensor must not lose the run
                for domain in sensor.domains:
                    if domain.id not in failed:
                        self.failures.append(
                            DomainFailure(domain.id, f"{sensor.name}: {exc}", now - self.start_t)
                        )
                continue
            for failure in reading.failures:
                failure.at_s = now - self.start_t
                self.failures.append(failure)
            for domain_id, raw_j in reading.energy_j.items():
                if domain_id not in failed:
                    self._take(domain_id, raw_j, now)
            self._bounds.update(reading.bounds_j)
        gpu_check = self._gpu_owners is not None and (
            final or now - self._last_gpu_check >= self._gpu_check_s
        )
        # A GPU check needs the tree's processes as they are now, not as of the last walk; the
        # first and last samples need the tree's CPU time as it is then (the first one closes
        # the gap of a fast start, which began when the command did).
        tree_cpu = self._tree_cpu_s(fresh=first or final or gpu_check)
        if gpu_check:
            self._check_gpus(now)
        self.accumulator.add(
            Snapshot(
                now,
                dict(self._energy),
                dict(self._bounds),
                tree_cpu,
                machine_busy_s,
                self._gpus_in_use,
                self._gpus_others,
                self._gpus_unknown,
            )
        )

    def _take(self, domain_id: str, raw_j: float, now: float) -> None:
        """Check one cumulative reading and keep its plausible part."""
        assert self.start_t is not None
        if not math.isfinite(raw_j):
            self.failures.append(
                DomainFailure(domain_id, f"non-finite reading ({raw_j})", now - self.start_t)
            )
            return
        counter = self._counters.get(domain_id)
        if counter is None:
            self._counters[domain_id] = _Counter(raw_j, now)
            self._energy[domain_id] = raw_j
            return
        dt = now - counter.t_s
        delta = raw_j - counter.raw_j
        domain = self._domains.get(domain_id)
        cap = domain.max_power_w if domain is not None else None
        if cap is not None and delta > cap * (dt + IMPLAUSIBLE_SLACK_S):
            counted = counter.power_w * dt
            counter.offset_j += delta - counted
            self.implausible_count[domain_id] = self.implausible_count.get(domain_id, 0) + 1
            if self.implausible_count[domain_id] <= MAX_IMPLAUSIBLE_KEPT:
                from ..records.run import ImplausibleRecord  # a sensor fault: rare

                record = ImplausibleRecord(
                    round(now - self.start_t, 6), round(dt, 6), min(delta, MAX_MAGNITUDE), counted
                )
                self.implausible.setdefault(domain_id, []).append(record)
        elif dt > 0:
            counter.power_w = max(delta, 0.0) / dt
        counter.raw_j, counter.t_s = raw_j, now
        self._energy[domain_id] = raw_j - counter.offset_j

    def _check_gpus(self, now: float) -> None:
        assert self._gpu_owners is not None
        self._last_gpu_check = now
        try:
            owners = self._gpu_owners()
        except Exception as exc:  # noqa: BLE001 - could not tell: counted as the tree's, flagged
            gpus = [d.id for d in self._domains.values() if d.kind is DomainKind.GPU]
            why = QUERY_FAILED.format(why=f"the GPU check failed ({type(exc).__name__}: {exc})")
            owners = GpuOwners(unknown=dict.fromkeys(gpus, why))
        self.shared_gpus |= owners.shared
        for gpu, note in {**owners.by_device_file, **owners.unknown}.items():
            self.gpu_owner_notes.setdefault(gpu, note)
        self._gpus_in_use, self._gpus_others = owners.tree, owners.others
        self._gpus_unknown = frozenset(owners.unknown) - owners.tree

    def check_gpus_soon(self) -> None:
        """Look at the GPUs' processes at the next sample (the command has just started)."""
        self._last_gpu_check = float("-inf")

    def start(self) -> None:
        self.sample()
        self._running.acquire()
        self._thread = threading.Thread(target=self._loop, name="aicarbon-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        assert self.start_t is not None
        started_cpu = time.thread_time()
        tick = 1
        while not self._running.acquire(
            timeout=max(self.start_t + tick * self.interval_s - self._clock(), 0.0)
        ):
            self.sample()
            # Skip ticks missed under load instead of bursting to catch up.
            tick = max(tick + 1, int((self._clock() - self.start_t) / self.interval_s) + 1)
        self.cpu_s = time.thread_time() - started_cpu

    def stop(self) -> None:
        """The loop stops, and the last sample is taken."""
        self.halt()
        self.sample(final=True)

    def halt(self) -> None:
        """Stop the loop without a last sample (already stopped: nothing to do)."""
        if self._thread is not None:
            self._running.release()
            self._thread.join()
            self._thread = None
