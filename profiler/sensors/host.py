"""Facts about the machine a run happens on, for the run record."""

from __future__ import annotations

import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path

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


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The 'model name' of the first CPU, or the platform's processor string."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def is_virtualised(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU flags carry 'hypervisor' (a VM: no RAPL, shared host)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return "hypervisor" in line.split()
    except OSError:
        pass
    return False


def host_info(gpus: list[str] | None = None) -> HostInfo:
    return HostInfo(
        hostname=socket.gethostname(),
        os=platform.platform(),
        cpu_model=cpu_model(),
        logical_cpus=logical_cpus(),
        ram_bytes=memory_in_use_bytes()[1],
        gpus=list(gpus or []),
        virtualised=is_virtualised(),
    )
