"""The background loop: read every sensor on a fixed period and feed the accumulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .accounting import Accumulator, Snapshot
from .sensors.base import DomainFailure, Sensor


class Sampler:
    """Reads all sensors every ``interval_s`` seconds in one daemon thread.

    ``tree_cpu_s`` and ``machine_busy_s`` give cumulative CPU seconds for attribution;
    ``gpu_pids`` (NVML's compute processes per GPU domain) and ``tree_pids`` say which GPUs
    the tree uses, checked every ``gpu_check_s`` seconds because the NVML query is costly.
    """

    def __init__(
        self,
        sensors: list[Sensor],
        accumulator: Accumulator,
        interval_s: float,
        *,
        tree_cpu_s: Callable[[], float] = lambda: 0.0,
        machine_busy_s: Callable[[], float] = lambda: 0.0,
        tree_pids: Callable[[], set[int]] = set,
        gpu_pids: Callable[[], dict[str, set[int]]] | None = None,
        gpu_check_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sensors = list(sensors)
        self.accumulator = accumulator
        self.interval_s = interval_s
        self._tree_cpu_s = tree_cpu_s
        self._machine_busy_s = machine_busy_s
        self._tree_pids = tree_pids
        self._gpu_pids = gpu_pids
        self._gpu_check_s = gpu_check_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._energy: dict[str, float] = {}
        self._bounds: dict[str, tuple[float, float]] = {}
        self._gpus_in_use: frozenset[str] = frozenset()
        self._last_gpu_check = float("-inf")
        self.failures: list[DomainFailure] = []
        self.shared_gpus: set[str] = set()  # GPUs the tree used alongside other processes
        self.start_t: float | None = None
        self.cpu_s = 0.0  # CPU time spent by the sampling thread itself: aicarbon's overhead

    def sample(self) -> None:
        """Take one snapshot now (also used for the first and the last)."""
        now = self._clock()
        if self.start_t is None:
            self.start_t = now
        for sensor in self.sensors:
            try:
                reading = sensor.read()
            except Exception as exc:  # noqa: BLE001 - a broken sensor must not lose the run
                for domain in sensor.domains:
                    if domain.id not in {f.domain_id for f in self.failures}:
                        self.failures.append(
                            DomainFailure(domain.id, f"{sensor.name}: {exc}", now - self.start_t)
                        )
                continue
            self._energy.update(reading.energy_j)
            self._bounds.update(reading.bounds_j)
            for failure in reading.failures:
                failure.at_s = now - self.start_t
                self.failures.append(failure)
        tree_cpu = self._tree_cpu_s()
        if self._gpu_pids is not None and now - self._last_gpu_check >= self._gpu_check_s:
            self._last_gpu_check = now
            tree = self._tree_pids()
            in_use = set()
            for domain_id, pids in self._gpu_pids().items():
                if pids & tree:
                    in_use.add(domain_id)
                    if pids - tree:
                        self.shared_gpus.add(domain_id)
            self._gpus_in_use = frozenset(in_use)
        self.accumulator.add(
            Snapshot(
                now,
                dict(self._energy),
                dict(self._bounds),
                tree_cpu,
                self._machine_busy_s(),
                self._gpus_in_use,
            )
        )

    def start(self) -> None:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="aicarbon-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        assert self.start_t is not None
        started_cpu = time.thread_time()
        tick = 1
        while not self._stop.wait(max(self.start_t + tick * self.interval_s - self._clock(), 0.0)):
            self.sample()
            # Skip ticks missed under load instead of bursting to catch up.
            tick = max(tick + 1, int((self._clock() - self.start_t) / self.interval_s) + 1)
        self.cpu_s = time.thread_time() - started_cpu

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
