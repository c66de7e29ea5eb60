"""The facts sensors read before measuring: /proc/cpuinfo and the NVIDIA driver's GPU list,
as real machines write them and as broken or hostile files do."""

from __future__ import annotations

from pathlib import Path

import pytest
from aicarbon.sensors.cpu_info import CpuInfo, parse_cpu_info, read_cpu_info
from aicarbon.sensors.host import cpu_id
from aicarbon.sensors.nvidia_driver import driver_gpus, normalise_bus_id
from conftest import FakeGpu, write_driver_gpus

TWO_XEON_CPUS = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
stepping\t: 8
flags\t\t: fpu vme hypervisor rapl

processor\t: 1
vendor_id\t: OtherVendor
model name\t: must not be read
"""

GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd40
CPU revision\t: 1
"""


def test_an_intel_vm_first_cpu_block_only() -> None:
    cpu = parse_cpu_info(TWO_XEON_CPUS)
    assert (cpu.vendor, cpu.family, cpu.model, cpu.stepping) == ("GenuineIntel", 6, 143, 8)
    assert cpu.model_name == "Intel(R) Xeon(R) Platinum 8480+" and cpu.hypervisor and cpu.intel
    assert cpu_id(cpu) == "GenuineIntel family 6 model 143 stepping 8"


def test_an_arm_host_is_described_by_its_core_part() -> None:
    cpu = parse_cpu_info(GRAVITON3)
    assert (cpu.implementer, cpu.part, cpu.model_name) == (0x41, 0xD40, "")
    assert cpu.describe() == "Arm core part 0xd40 (implementer 0x41)"
    assert cpu_id(cpu) == "Arm implementer 0x41 part 0xd40"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\xff garbage",
        "cpu family\t: six\nmodel\t: 0x\nCPU part\t: 0xzz\n",
        "model name\t:\n" * 10_000,
    ],
)
def test_broken_cpuinfo_gives_unknown_facts_not_an_error(text: str) -> None:
    cpu = parse_cpu_info(text)
    assert cpu.family is None and cpu.part is None and not cpu.amd and not cpu.intel
    assert cpu.describe()  # something to print, never empty


def test_a_missing_cpuinfo_is_an_empty_record(tmp_path: Path) -> None:
    assert read_cpu_info(tmp_path / "nope") == CpuInfo()


def test_bus_ids_in_nvml_and_driver_forms_are_one() -> None:
    assert normalise_bus_id("00000000:3B:00.0") == "0000:3b:00.0"
    assert normalise_bus_id("0000:3b:00.0") == "0000:3b:00.0"
    assert normalise_bus_id("3b:00.0") is None
    assert normalise_bus_id("../../etc") is None


def test_the_driver_list_is_sorted_by_bus_and_parsed(tmp_path: Path) -> None:
    fakes = [FakeGpu(uuid=f"GPU-{i}", name=f"model {i}", minor=7 - i) for i in range(3)]
    gpus = driver_gpus(write_driver_gpus(tmp_path, fakes))
    assert [(g.uuid, g.model, g.minor) for g in gpus] == [
        ("GPU-0", "model 0", 7),
        ("GPU-1", "model 1", 6),
        ("GPU-2", "model 2", 5),
    ]


def test_a_driver_list_with_a_hole_is_not_used(tmp_path: Path) -> None:
    root = write_driver_gpus(tmp_path, [FakeGpu(uuid="GPU-0"), FakeGpu(uuid="GPU-1")])
    base = root / "driver" / "nvidia" / "gpus"
    broken = sorted(base.iterdir())[1] / "information"
    broken.write_text("Model: x\nGPU UUID: not-a-uuid\n")
    assert driver_gpus(root) == []  # numbering GPUs from half a list would be wrong
    (base / "not-a-bus-id").mkdir()
    broken.unlink()
    assert driver_gpus(root) == []  # an unreadable entry: the same
    assert driver_gpus(tmp_path / "no-proc") == []
