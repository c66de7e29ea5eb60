"""``aicarbon devices``: schema ``aicarbon.devices/1``, every sensor and domain of a machine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .codec import dumps
from .run import HostRecord

# -- what this machine can measure (aicarbon devices, made by devices.py) --------------------------------

DEVICES_SCHEMA = "aicarbon.machine.devices/1"


@dataclass
class DeviceRecord:
    """One sensor domain that works here, or one sensor (or device) that does not."""

    sensor: str  # rapl, nvml, estimate (and the device, for one that failed: "nvml gpu:1")
    available: bool
    domain: str | None = None  # cpu:package-0, gpu:0, ...
    kind: str | None = None  # cpu, dram, gpu, platform
    label: str | None = None
    method: str | None = None  # measured or estimated
    source: str | None = None
    model: str | None = None  # an estimate's model
    power_w: float | None = None  # what it draws now (None: not read)
    energy_counter: bool | None = None  # GPUs: a hardware energy counter (else power, integrated)
    in_total: bool = True
    reason: str | None = None  # why it is unavailable
    fix: str | None = None  # how to make it available
    uncounted: bool = False  # it exists and its energy would be missing from a run's total


@dataclass
class DevicesRecord:
    """``aicarbon devices``: every sensor and domain of this machine, and what they draw."""

    host: HostRecord
    devices: list[DeviceRecord]
    window_s: float  # the power is the average over this window
    notes: list[str] = field(default_factory=list)
    embodied: list[str] = field(default_factory=list)  # the embodied figures that apply here

    @property
    def measurable(self) -> bool:
        return any(d.available and d.method == "measured" for d in self.devices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": DEVICES_SCHEMA,
            "host": asdict(self.host),
            "window_s": self.window_s,
            "measured": self.measurable,
            "devices": [asdict(d) for d in self.devices],
            "notes": list(self.notes),
            "embodied": list(self.embodied),
        }

    def to_json(self) -> str:
        return dumps(self.to_dict())
