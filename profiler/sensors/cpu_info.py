"""What ``/proc/cpuinfo`` says about the CPU: the facts sensors and estimates depend on.

* x86: ``vendor_id``, ``cpu family``, ``model``, ``stepping`` (CPUID) and ``model name``. The
  name can be generic (``Intel(R) Xeon(R) CPU @ 2.20GHz`` on GCP, ``AMD EPYC`` on some VMs),
  the CPUID numbers are not.
* Arm: no model name at all; ``CPU implementer`` (0x41 is Arm Ltd) and ``CPU part`` name the
  core design (0xd0c is Neoverse N1, the core of Graviton2).
* the ``hypervisor`` flag: a virtual machine, whose RAPL counters, if any, are not its own.

Read from ``$AICARBON_PROC_ROOT/cpuinfo`` (default ``/proc/cpuinfo``).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuInfo:
    model_name: str = ""
    vendor: str = ""  # GenuineIntel, AuthenticAMD, HygonGenuine; "" on Arm
    family: int | None = None
    model: int | None = None
    stepping: int | None = None
    implementer: int | None = None  # Arm: 0x41 Arm Ltd, 0xc0 Ampere, ...
    part: int | None = None  # Arm core part number
    hypervisor: bool = False

    @property
    def amd(self) -> bool:
        return self.vendor in ("AuthenticAMD", "HygonGenuine")

    @property
    def intel(self) -> bool:
        return self.vendor == "GenuineIntel"

    def describe(self) -> str:
        """The model name, or what identifies the CPU when it has none."""
        if self.model_name:
            return self.model_name
        if self.part is not None:
            return f"Arm core part 0x{self.part:03x} (implementer 0x{self.implementer or 0:02x})"
        return platform.processor() or platform.machine() or "unknown CPU"


def read_cpu_info(path: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """The first CPU's facts; an empty ``CpuInfo`` where the file cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuInfo()
    return parse_cpu_info(text)


def parse_cpu_info(text: str) -> CpuInfo:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if "processor" in fields and len(fields) > 2:
                break  # the first CPU's block is enough
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return CpuInfo(
        model_name=fields.get("model name", ""),
        vendor=fields.get("vendor_id", ""),
        family=_number(fields.get("cpu family")),
        model=_number(fields.get("model")),
        stepping=_number(fields.get("stepping")),
        implementer=_number(fields.get("cpu implementer")),
        part=_number(fields.get("cpu part")),
        hypervisor="hypervisor" in fields.get("flags", "").split(),
    )


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)  # "0xd0c" (Arm), "85"
    except ValueError:
        return None
