"""Energy sources. Hardware and OS access lives here and only here.

``open_sensors`` finds the sources that work on this machine: RAPL and NVML when they answer,
and the estimate for whatever they leave uncovered (CPU without RAPL, RAM without a DRAM
counter). Every source that does not work is returned as an ``Unavailable`` with its reason.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

from .base import Domain, DomainKind, Method, Sensor, SensorUnavailableError, Unavailable
from .cpu_info import CpuInfo

if TYPE_CHECKING:
    from .nvml import NvmlSensor
from ..settings import SENSOR_NAMES
from .cpu_load import CpuTimes, Throttled, machine_cpu_times, memory_in_use_bytes


@dataclass
class OpenSensors:
    sensors: list[Sensor] = field(default_factory=list)
    unavailable: list[Unavailable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gpu_names: list[str] = field(default_factory=list)
    gpu_driver: str = ""  # the NVIDIA driver's version, where NVML says
    nvml: NvmlSensor | None = None  # the NVML sensor, for the GPU process list

    @property
    def domains(self) -> list[Domain]:
        return [d for s in self.sensors for d in s.domains]

    def settle(self) -> None:
        """Before the last sample: sensors that measure on their own schedule (codecarbon's
        tracker) take their final reading."""
        for sensor in self.sensors:
            settle = getattr(sensor, "settle", None)
            if settle is not None:
                settle()

    def close(self) -> None:
        for sensor in self.sensors:
            sensor.close()


TRUST_VM_RAPL_ENV = "AICARBON_TRUST_VM_RAPL"  # "1": use RAPL even where the CPU says hypervisor
VM_RAPL_REASON = (
    "this is a virtual machine (CPU flag 'hypervisor'): RAPL counters here are the host's, or "
    "another vCPU's as it moves (scaphandre#134), not this VM's"
)
VM_RAPL_FIX = f"set {TRUST_VM_RAPL_ENV}=1 if the hypervisor passes this VM its own RAPL counters"


def rapl_known_problems(cpu: CpuInfo, kernel: str, domains: list[Domain]) -> list[str]:
    """Known kernel bugs that make this machine's RAPL figures wrong, one line each."""
    notes = []
    sapphire_rapids = cpu.intel and cpu.family == 6 and cpu.model == 143
    if sapphire_rapids and _kernel_before(kernel, (6, 1)) and any(d.kind is DomainKind.DRAM for d in domains):
        notes.append(
            f"DRAM energy on Sapphire Rapids reads about 4 times too low on Linux before 6.1 "
            f"(this kernel: {kernel}; fixed upstream in 6.1): the DRAM figures here are too low"
        )
    return notes


def _kernel_before(release: str, version: tuple[int, int]) -> bool:
    parts = release.split(".")
    try:
        return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) < version
    except (ValueError, IndexError):
        return False


def open_sensors(
    selected: frozenset[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cpu: CpuInfo | str,
    n_cpu: int,
    kernel: str | None = None,
    nvml_module: ModuleType | None = None,
    cpu_times: Callable[[], CpuTimes] = machine_cpu_times,
    backend: str = "native",
    interval_s: float = 1.0,
    codecarbon_module: ModuleType | None = None,
) -> OpenSensors:
    """Start every selected sensor that works here; ``selected=None`` means all of them.

    ``cpu``: the CPU's facts (or just its model name); they decide AMD's die zones, RAPL in a
    VM and the estimate's coefficients. ``backend`` (settings.BACKENDS): ``codecarbon`` opens
    codecarbon's tracker instead of these sensors; ``both`` opens it beside them, its domains
    outside the machine total (the report sets the two side by side)."""
    opened = OpenSensors()
    if backend in ("codecarbon", "both"):
        from .codecarbon_tracker import CodecarbonSensor

        try:
            tracker = CodecarbonSensor(interval_s, in_total=backend == "codecarbon", module=codecarbon_module)
        except SensorUnavailableError as exc:
            opened.unavailable.append(exc.unavailable)
        else:
            opened.sensors.append(tracker)
        if backend == "codecarbon":
            return opened
    from .estimate import EstimateSensor
    from .nvml import NvmlSensor
    from .rapl import RaplSensor, powercap_root

    env = dict(os.environ if environ is None else environ)
    if isinstance(cpu, str):
        cpu = CpuInfo(model_name=cpu)
    chosen = set(SENSOR_NAMES if selected is None else selected)
    if "rapl" in chosen:
        try:
            root = powercap_root(env)
            if cpu.hypervisor and env.get(TRUST_VM_RAPL_ENV) != "1" and root.is_dir():
                raise SensorUnavailableError(Unavailable("rapl", VM_RAPL_REASON, VM_RAPL_FIX))
            rapl = RaplSensor(root, amd=cpu.amd)
        except SensorUnavailableError as exc:
            opened.unavailable.append(exc.unavailable)
        else:
            opened.sensors.append(rapl)
            opened.unavailable += rapl.unavailable
            opened.notes += rapl_known_problems(cpu, kernel or platform.release(), rapl.domains)
    if "nvml" in chosen:
        try:
            nvml = NvmlSensor(nvml_module, environ=env)
        except SensorUnavailableError as exc:
            opened.unavailable.append(exc.unavailable)
        else:
            opened.sensors.append(nvml)
            opened.unavailable += nvml.unavailable
            opened.notes += nvml.notes
            opened.gpu_names = [f"{g.name} ({g.uuid})" for g in nvml.gpus]
            opened.gpu_driver = nvml.driver_version
            opened.notes += [
                f"{d.label}: its energy counter covers the Grace CPU and memory, "
                "which are not estimated on top"
                for d in nvml.domains
                if d.covers
            ]
            opened.nvml = nvml
    if "estimate" in chosen:
        # (codecarbon's domains beside them, out of the total, leave the native ones whole)
        measured = {d.kind for d in opened.domains if d.method is Method.MEASURED and d.in_total}
        measured |= {kind for d in opened.domains for kind in d.covers}
        include_cpu = DomainKind.CPU not in measured
        include_ram = DomainKind.DRAM not in measured
        if include_cpu or include_ram:
            opened.sensors.append(
                EstimateSensor(
                    cpu,
                    n_cpu,
                    include_cpu=include_cpu,
                    include_ram=include_ram,
                    cpu_times=cpu_times,
                    memory=Throttled(memory_in_use_bytes, 1.0),
                )
            )
    return opened


__all__ = [
    "SENSOR_NAMES",
    "Domain",
    "DomainKind",
    "Method",
    "OpenSensors",
    "Sensor",
    "Unavailable",
    "open_sensors",
]
