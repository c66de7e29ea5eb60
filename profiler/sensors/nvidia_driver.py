"""What the NVIDIA kernel driver says about its GPUs, without opening any of them.

``/proc/driver/nvidia/gpus/<PCI bus id>/information`` (one directory per GPU the driver
manages; a container sees those it was given) reads like::

    Model:           NVIDIA H100 80GB HBM3
    GPU UUID:        GPU-5c4d8c1e-...
    Bus Location:    0000:3b:00.0
    Device Minor:    0

Reading it costs no GPU initialisation, unlike an NVML handle (1-3 s per GPU without
persistence mode), so the GPUs a job names can be found without touching the others. The
device minor also names the GPU's device file, ``/dev/nvidia<minor>``, which is how the GPUs a
process uses are found when NVML's process list speaks another PID namespace.

The proc root is ``$AICARBON_PROC_ROOT`` (default ``/proc``), for tests and containers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROC_ROOT_ENV = "AICARBON_PROC_ROOT"
_BUS_ID = re.compile(r"^([0-9a-fA-F]+):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")


@dataclass(frozen=True)
class DriverGpu:
    bus_id: str  # normalised: 0000:3b:00.0
    uuid: str
    model: str
    minor: int | None


def proc_root(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(PROC_ROOT_ENV) or "/proc")


def normalise_bus_id(bus_id: str) -> str | None:
    """``00000000:3B:00.0`` (NVML) and ``0000:3b:00.0`` (the driver, sysfs) as one form."""
    match = _BUS_ID.match(bus_id.strip())
    if match is None:
        return None
    domain, bus, device, function = match.groups()
    return f"{int(domain, 16):04x}:{bus.lower()}:{device.lower()}.{function}"


def driver_gpus(root: Path) -> list[DriverGpu]:
    """The GPUs of ``<root>/driver/nvidia/gpus`` in PCI bus order; [] when it is absent or
    unreadable (then NVML alone is used)."""
    base = root / "driver" / "nvidia" / "gpus"
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    gpus: list[DriverGpu] = []
    for entry in entries:
        bus_id = normalise_bus_id(entry.name)
        if bus_id is None:
            continue
        try:
            text = (entry / "information").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []  # an inventory with a hole would number the GPUs wrongly
        fields = _fields(text)
        uuid = fields.get("gpu uuid", "")
        if not uuid.startswith("GPU-"):
            return []
        minor_text = fields.get("device minor", "")
        minor = int(minor_text) if minor_text.isdigit() else None
        gpus.append(DriverGpu(bus_id, uuid, fields.get("model", "NVIDIA GPU"), minor))
    return sorted(gpus, key=lambda g: _bus_key(g.bus_id))


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


def _bus_key(bus_id: str) -> tuple[int, ...]:
    domain, bus, rest = bus_id.split(":")
    device, function = rest.split(".")
    return int(domain, 16), int(bus, 16), int(device, 16), int(function)
