"""Facts about the machine a run happens on, for the run record."""

from __future__ import annotations

import platform
import socket
from dataclasses import dataclass, field

from .cpu_info import CpuInfo
from .cpu_load import logical_cpus, memory_in_use_bytes


@dataclass
class HostInfo:
    hostname: str
    os: str
    cpu_model: str
    logical_cpus: int
    ram_bytes: int
    gpus: list[str] = field(default_factory=list)
    virtualised: bool = False
    # Added after the first record version: what sensors depend on (RAPL names and bugs
    # change with the kernel and the CPU).
    kernel: str = ""
    cpu_id: str = ""  # "GenuineIntel family 6 model 143 stepping 8", or the Arm core part
    gpu_driver: str = ""  # the NVIDIA driver's version ("" without NVML)


def cpu_id(cpu: CpuInfo) -> str:
    if cpu.family is not None:
        return f"{cpu.vendor} family {cpu.family} model {cpu.model} stepping {cpu.stepping}"
    if cpu.part is not None:
        return f"Arm implementer 0x{cpu.implementer or 0:02x} part 0x{cpu.part:03x}"
    return ""


def host_info(cpu: CpuInfo, gpus: list[str] | None = None, gpu_driver: str = "") -> HostInfo:
    return HostInfo(
        hostname=socket.gethostname(),
        os=platform.platform(),
        cpu_model=cpu.describe(),
        logical_cpus=logical_cpus(),
        ram_bytes=memory_in_use_bytes()[1],
        gpus=list(gpus or []),
        virtualised=cpu.hypervisor,
        kernel=platform.release(),
        cpu_id=cpu_id(cpu),
        gpu_driver=gpu_driver,
    )
