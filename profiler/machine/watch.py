"""``aicarbon watch``: the machine's power by domain, live, and who is drawing it.

The sensors are opened once, as for a run; every ``interval_s`` the counters are read and each
domain's power is its energy since the previous read over the time elapsed (measured domains
exactly, estimated ones from the CPU time and memory in that interval). The processes drawing
the most are the ones that used the most CPU time in the interval, and on each GPU the ones in
NVML's process list. A minute of history per domain feeds the sparklines.

Its own cost is one read of every sensor and one ``/proc/PID/stat`` per process per interval:
``benchmarks/watch_overhead.py`` prints it (well under 2% of one core at the default 1 s).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import ModuleType

from ..measurement.process_tree import CpuUsers, process_names
from ..records.run import UnavailableRecord
from ..records.watch import CpuUser, GpuUsers, WatchDomain, WatchFrame
from ..sensors.cpu_info import read_cpu_info
from ..sensors.cpu_load import logical_cpus
from ..sensors.nvidia_driver import proc_root
from ..sensors.opening import OpenSensors, open_sensors

DEFAULT_INTERVAL_S = 1.0
INTERVAL_RANGE_S = (0.1, 60.0)
HISTORY_S = 60.0
TOP_PROCESSES = 5


class PowerWatch:
    """Open sensors and a minute of history; ``frame()`` after each interval."""

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        environ: Mapping[str, str] | None = None,
        nvml_module: ModuleType | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._n_cpu = logical_cpus()
        self._opened: OpenSensors = open_sensors(
            None,
            environ=dict(environ) if environ is not None else None,
            cpu=read_cpu_info(proc_root(environ) / "cpuinfo"),
            n_cpu=self._n_cpu,
            nvml_module=nvml_module,
        )
        points = max(2, int(round(HISTORY_S / interval_s)))
        self._history = {d.id: deque[float](maxlen=points) for d in self._opened.domains}
        self._cpu_users = CpuUsers()
        self._cpu_users.sample()  # from now on, samples are what each process used since
        self._last = self._read()
        self._last_t = clock()

    def _read(self) -> dict[str, float]:
        energy: dict[str, float] = {}
        for sensor in self._opened.sensors:
            try:
                reading = sensor.read()
            except Exception:  # noqa: BLE001 - a sensor that breaks shows as no reading
                continue
            failed = {f.domain_id for f in reading.failures}
            energy.update({k: v for k, v in reading.energy_j.items() if k not in failed})
        return energy

    def frame(self) -> WatchFrame:
        now, t = self._read(), self._clock()
        elapsed = max(t - self._last_t, 1e-9)
        domains = []
        for d in self._opened.domains:
            power = None
            if d.id in now and d.id in self._last and now[d.id] >= self._last[d.id]:
                power = (now[d.id] - self._last[d.id]) / elapsed
                self._history[d.id].append(power)
            domains.append(
                WatchDomain(d.id, d.label, d.method.value, power, list(self._history[d.id]), d.in_total)
            )
        self._last, self._last_t = now, t
        users = [
            CpuUser(pid, name, used / elapsed) for pid, name, used in self._cpu_users.sample()[:TOP_PROCESSES]
        ]
        return WatchFrame(
            at_utc=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            interval_s=elapsed,
            domains=domains,
            cpu_users=users,
            gpu_users=self._gpu_users(),
            logical_cpus=self._n_cpu,
            unavailable=[
                UnavailableRecord(u.sensor, u.reason, u.fix, u.uncounted) for u in self._opened.unavailable
            ],
        )

    def _gpu_users(self) -> list[GpuUsers]:
        nvml = self._opened.nvml
        if nvml is None:
            return []
        try:
            listed = nvml.processes()
        except Exception as exc:  # noqa: BLE001
            return [
                GpuUsers(d.id, d.label, [], f"NVML's process list failed ({exc!r})") for d in nvml.domains
            ]
        out = []
        for d in nvml.domains:
            pids = sorted(listed.pids.get(d.id, set()))
            names = process_names(pids)
            out.append(
                GpuUsers(
                    d.id,
                    d.label,
                    [(pid, names.get(pid, "(another PID namespace)")) for pid in pids],
                    listed.failed.get(d.id),
                )
            )
        return out

    def close(self) -> None:
        self._opened.close()

    def __enter__(self) -> PowerWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEFAULT_INTERVAL_S", "INTERVAL_RANGE_S", "PowerWatch"]
