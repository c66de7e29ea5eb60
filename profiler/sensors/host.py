"""Facts about the machine a run happens on, for the run record."""

from __future__ import annotations

import platform
import socket

from ..records.run import HostRecord
from .cpu_info import CpuInfo
from .cpu_load import cpus_allowed, logical_cpus, memory_in_use_bytes


def cpu_id(cpu: CpuInfo) -> str:
    if cpu.family is not None:
        return f"{cpu.vendor} family {cpu.family} model {cpu.model} stepping {cpu.stepping}"
    if cpu.part is not None:
        return f"Arm implementer 0x{cpu.implementer or 0:02x} part 0x{cpu.part:03x}"
    return ""


def host_info(cpu: CpuInfo, gpus: list[str] | None = None, gpu_driver: str = "") -> HostRecord:
    return HostRecord(
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
        cpus_allowed=cpus_allowed(),
    )


MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def machine_id(files: tuple[str, ...] = MACHINE_ID_FILES) -> str:
    """The systemd/D-Bus machine id (32 hex digits), or "" where there is none."""
    for name in files:
        try:
            with open(name, encoding="ascii", errors="replace") as handle:
                text = handle.read(64).strip()
        except OSError:
            continue
        if len(text) == 32 and all(c in "0123456789abcdef" for c in text):
            return text
    return ""


def node_name() -> str:
    """This node's host name, as a job's node is keyed by (with its machine id)."""
    return socket.gethostname()
