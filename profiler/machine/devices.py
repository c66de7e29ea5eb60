"""``aicarbon devices``: what can be measured on this machine, what it draws now, and how to
fix what cannot be measured.

The sensors are opened exactly as for a run (``sensors.open_sensors``), read twice
``window_s`` apart, and closed. Each working domain gives its power over that window; each
sensor or device that does not work gives its reason and fix. It is the first thing a user
runs on a new machine, so nothing here may stop it: a sensor that fails in a way nobody
foresaw becomes a row saying so, and the survey goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import ModuleType

from ..records.devices import DeviceRecord, DevicesRecord
from ..records.run import HostRecord
from ..sensors.base import Domain, DomainKind, Method
from ..sensors.cpu_info import CpuInfo, read_cpu_info
from ..sensors.cpu_load import logical_cpus
from ..sensors.host import host_info
from ..sensors.nvidia_driver import proc_root
from ..sensors.opening import OpenSensors, open_sensors

DEFAULT_WINDOW_S = 0.5


def survey(
    *,
    environ: Mapping[str, str] | None = None,
    nvml_module: ModuleType | None = None,
    window_s: float = DEFAULT_WINDOW_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DevicesRecord:
    """Every sensor and domain here, with its power over ``window_s``; never raises."""
    notes: list[str] = []
    try:
        cpu = read_cpu_info(proc_root(environ) / "cpuinfo")
    except Exception as exc:  # noqa: BLE001 - a survey goes on without the CPU's facts
        cpu = CpuInfo(model_name="unknown CPU")
        notes.append(f"could not read the CPU's facts ({exc!r}): the estimate uses generic figures")
    try:
        opened = open_sensors(
            None, environ=dict(environ) if environ is not None else None, cpu=cpu, n_cpu=logical_cpus(),
            nvml_module=nvml_module,
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001
        failed = DeviceRecord(
            "sensors", False, reason=f"opening the sensors failed unexpectedly ({exc!r})", fix=BUG_FIX
        )
        return DevicesRecord(_host(cpu, notes), [failed], 0.0, notes)
    try:
        rows, window = _rows(opened, window_s, sleep, clock)
        notes += opened.notes
        host = _host(cpu, notes, opened.gpu_names, opened.gpu_driver)
    finally:
        opened.close()
    return DevicesRecord(host, rows, window, notes, _embodied(host))


def _embodied(host: HostRecord) -> list[str]:
    try:
        from ..impact.embodied import applying

        return applying(host)
    except Exception as exc:  # noqa: BLE001 - a survey goes on without them
        return [f"the embodied figures could not be read ({exc!r})"]


def _host(cpu: CpuInfo, notes: list[str], gpus: list[str] | None = None, driver: str = "") -> HostRecord:
    try:
        return host_info(cpu, gpus, driver)
    except Exception as exc:  # noqa: BLE001 - the survey still answers without the host's facts
        notes.append(f"could not read the host's facts ({exc!r})")
        return HostRecord("unknown", "unknown", cpu.describe(), 0, 0, list(gpus or []))


BUG_FIX = "this is a bug in aicarbon: please report it, with the output of 'aicarbon devices --json'"


def _rows(
    opened: OpenSensors, window_s: float, sleep: Callable[[float], None], clock: Callable[[], float]
) -> tuple[list[DeviceRecord], float]:
    first, t0 = _read_all(opened), clock()
    sleep(window_s)
    second, t1 = _read_all(opened), clock()
    window = max(t1 - t0, 1e-9)
    rows: list[DeviceRecord] = []
    for sensor in opened.sensors:
        for domain in sensor.domains:
            before = first.get(sensor.name, {}).get(domain.id)
            after = second.get(sensor.name, {}).get(domain.id)
            power = None
            if isinstance(before, float) and isinstance(after, float) and after >= before:
                power = (after - before) / window
            why = [first.get(sensor.name, {}).get("!"), second.get(sensor.name, {}).get("!"), before, after]
            failed = next((r for r in why if isinstance(r, str)), None)
            rows.append(_domain_row(sensor.name, domain, power, failed))
    for u in opened.unavailable:
        rows.append(DeviceRecord(u.sensor, False, reason=u.reason, fix=u.fix, uncounted=u.uncounted))
    names = {s.name for s in opened.sensors} | {u.sensor.split(" ")[0] for u in opened.unavailable}
    if "estimate" not in names:
        rows.append(
            DeviceRecord(
                "estimate",
                False,
                reason="not needed: every kind of energy here is measured (CPU and RAM)",
            )
        )
    return rows, window


def _read_all(opened: OpenSensors) -> dict[str, dict[str, float | str]]:
    """Cumulative joules per sensor and domain; a sensor whose read raised maps "!" to why."""
    out: dict[str, dict[str, float | str]] = {}
    for sensor in opened.sensors:
        try:
            reading = sensor.read()
        except Exception as exc:  # noqa: BLE001 - one broken sensor must not hide the others
            out[sensor.name] = {"!": f"reading it failed ({exc!r})"}
            continue
        values: dict[str, float | str] = {k: float(v) for k, v in reading.energy_j.items()}
        for failure in reading.failures:
            values[failure.domain_id] = failure.reason
        out[sensor.name] = values
    return out


def _domain_row(sensor: str, domain: Domain, power_w: float | None, problem: str | None) -> DeviceRecord:
    counter = None
    if domain.kind is DomainKind.GPU:
        counter = domain.source.startswith("nvml total energy counter")
    return DeviceRecord(
        sensor,
        problem is None,
        domain=domain.id,
        kind=domain.kind.value,
        label=domain.label,
        method=domain.method.value,
        source=domain.source,
        model=domain.model if domain.method is Method.ESTIMATED else None,
        power_w=power_w,
        energy_counter=counter,
        in_total=domain.in_total,
        reason=problem,
        fix=BUG_FIX if problem and problem.startswith("reading it failed") else None,
    )


__all__ = ["DEFAULT_WINDOW_S", "survey"]
