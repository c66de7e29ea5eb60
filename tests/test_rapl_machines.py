"""RAPL as real machines show it: AMD's mirrored die zones, VMs that leak the host's counters,
containers that mask the tree, names the kernel uses, known kernel bugs. Each case is a
powercap tree written to a temporary directory, read by the real sensor."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aicarbon.sensors.base import DomainKind, SensorUnavailableError
from aicarbon.sensors.cpu_info import CpuInfo, parse_cpu_info
from aicarbon.sensors.opening import VM_RAPL_REASON, open_sensors, rapl_known_problems
from aicarbon.sensors.rapl import MASKED_FIX, MAX_POWER_W, RaplSensor
from conftest import FakeClock, PowercapTree, bare_metal_proc, run_aicarbon

EPYC_VM = CpuInfo("AMD EPYC 7763 64-Core Processor", "AuthenticAMD", 25, 1, 1, hypervisor=True)
EPYC = CpuInfo("AMD EPYC 7702P 64-Core Processor", "AuthenticAMD", 23, 49, 0)


def test_amd_die_zones_mirroring_one_package_count_once(powercap: PowercapTree) -> None:
    # Zen2 EPYC as Linux shows it: four die zones, one package counter behind all of them.
    for die in range(4):
        powercap.zone(f"intel-rapl:{die}", f"package-0-die-{die}", 5_000_000)
    sensor = RaplSensor(powercap.powercap, amd=True)
    assert [d.id for d in sensor.domains] == ["cpu:package-0-die-0"]
    for die in range(4):
        powercap.set_energy(f"intel-rapl:{die}", 5_000_000 + 68_000_000)  # 68 J on the package
    assert sensor.read().energy_j == pytest.approx({"cpu:package-0-die-0": 68.0})  # not 4 x 68
    assert sum("on AMD every die zone" in s for s in sensor.skipped) == 3


def test_mirrored_zones_are_dropped_on_any_vendor(powercap: PowercapTree) -> None:
    # Linux 6.10 on Zen4: a zone per CCD, all reading the package counter (and no die names).
    powercap.zone("intel-rapl:0", "package-0", 123_456_789)
    powercap.zone("intel-rapl:1", "package-0", 123_456_789)
    powercap.zone("intel-rapl:2", "package-1", 987_654)  # a real second socket
    sensor = RaplSensor(powercap.powercap)
    assert [d.source.rsplit("/", 1)[1] for d in sensor.domains] == ["intel-rapl:0", "intel-rapl:2"]
    assert any(
        "intel-rapl:1 (package-0): reads the same counter as CPU package 0" in s for s in sensor.skipped
    )


def test_intel_multi_die_zones_with_their_own_counters_all_count(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0-die-0", 1_000_000)
    powercap.zone("intel-rapl:1", "package-0-die-1", 2_000_000)
    assert len(RaplSensor(powercap.powercap, amd=False).domains) == 2


def test_a_counter_that_alternates_like_a_leaky_vm_is_faulty_not_a_megawatt(
    powercap: PowercapTree, clock: FakeClock
) -> None:
    # Xen: energy_uj alternates between two unrelated counters as the vCPU moves.
    powercap.zone("intel-rapl:0", "package-0", 900_000_000_000, max_uj=1_000_000_000_000)
    sensor = RaplSensor(powercap.powercap, clock=clock)
    clock.advance(0.1)
    powercap.set_energy("intel-rapl:0", 900_002_000_000)  # +2 J in 0.1 s: plausible
    assert sensor.read().energy_j["cpu:package-0"] == pytest.approx(2.0)
    clock.advance(0.1)
    powercap.set_energy("intel-rapl:0", 17_000_000)  # "wrapped": 100 kJ in 0.1 s
    reading = sensor.read()
    (failure,) = reading.failures
    assert "counter not monotonic" in failure.reason and "scaphandre#134" in failure.reason
    assert reading.energy_j["cpu:package-0"] == pytest.approx(2.0)  # nothing added
    clock.advance(0.1)
    powercap.set_energy("intel-rapl:0", 900_004_000_000)
    assert sensor.read().energy_j["cpu:package-0"] == pytest.approx(2.0)  # the zone stays stopped


def test_a_genuine_wrap_still_counts(powercap: PowercapTree, clock: FakeClock) -> None:
    powercap.zone("intel-rapl:0", "package-0", 262_143_000_000, max_uj=262_143_328_850)
    sensor = RaplSensor(powercap.powercap, clock=clock)
    clock.advance(1.0)
    powercap.set_energy("intel-rapl:0", 50_000_000)  # 0.33 J to the top, then 50 J
    reading = sensor.read()
    assert reading.failures == [] and reading.energy_j["cpu:package-0"] == pytest.approx(50.32885)


def test_the_zones_own_power_constraint_bounds_it(powercap: PowercapTree) -> None:
    zone = powercap.zone("intel-rapl:0", "package-0", 0)
    (zone / "constraint_0_max_power_uw").write_text("65000000\n")  # a 65 W desktop part
    assert RaplSensor(powercap.powercap).domains[0].max_power_w == pytest.approx(195.0)
    powercap.zone("intel-rapl:1", "package-1", 0)  # no constraint: the generic ceiling
    assert RaplSensor(powercap.powercap).domains[1].max_power_w == MAX_POWER_W[DomainKind.CPU]


def test_a_masked_tree_says_so_with_the_fix(tmp_path: Path) -> None:
    # Docker masks /sys/devices/virtual/powercap; the class links dangle.
    powercap = tmp_path / "sys" / "class" / "powercap"
    powercap.mkdir(parents=True)
    for i in range(2):
        os.symlink(f"../../devices/virtual/powercap/intel-rapl/intel-rapl:{i}", powercap / f"intel-rapl:{i}")
    with pytest.raises(SensorUnavailableError) as raised:
        RaplSensor(powercap)
    unavailable = raised.value.unavailable
    assert "powercap tree is masked" in unavailable.reason and unavailable.fix == MASKED_FIX
    assert "systempaths=unconfined" in MASKED_FIX and "unmask=/sys/devices/virtual/powercap" in MASKED_FIX


def test_psys_of_a_second_socket_and_tpmi_zones_are_recognised(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "psys", 1)
    powercap.zone("intel-rapl:1", "psys-1", 2)
    sensor = RaplSensor(powercap.powercap)
    assert [(d.id, d.in_total) for d in sensor.domains] == [
        ("platform:psys", False),
        ("platform:psys-1", False),
    ]


def test_tpmi_zones_are_used_where_there_is_no_msr_interface(tmp_path: Path) -> None:
    # Granite Rapids with the TPMI driver: intel-rapl-tpmi:N zones, DRAM nested.
    root = tmp_path / "sys" / "class" / "powercap"
    for zone, name in [("intel-rapl-tpmi:0", "package-0"), ("intel-rapl-tpmi:0/intel-rapl-tpmi:0:0", "dram")]:
        path = root / zone
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text("1000\n")
        (path / "max_energy_range_uj").write_text("262143328850\n")
    assert [d.id for d in RaplSensor(root).domains] == ["cpu:package-0", "dram:0"]


def test_rapl_in_a_vm_is_distrusted_unless_the_user_opts_in(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0", 1000)
    env = {"AICARBON_SYSFS_ROOT": str(powercap.sysfs_root)}
    opened = open_sensors(frozenset({"rapl", "estimate"}), environ=env, cpu=EPYC_VM, n_cpu=2)
    assert [d.id for d in opened.domains] == ["cpu:estimated", "dram:estimated"]
    (rapl,) = [u for u in opened.unavailable if u.sensor == "rapl"]
    assert rapl.reason == VM_RAPL_REASON and "AICARBON_TRUST_VM_RAPL=1" in (rapl.fix or "")
    trusted = open_sensors(
        frozenset({"rapl"}), environ={**env, "AICARBON_TRUST_VM_RAPL": "1"}, cpu=EPYC_VM, n_cpu=2
    )
    assert [d.id for d in trusted.domains] == ["cpu:package-0"]


def test_sapphire_rapids_dram_is_flagged_on_kernels_before_6_1(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0", 1000)
    powercap.zone("intel-rapl:0:0", "dram", 1000)
    domains = RaplSensor(powercap.powercap).domains
    spr = parse_cpu_info("vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\nstepping\t: 8\n")
    (note,) = rapl_known_problems(spr, "5.15.0-91-generic", domains)
    assert "4 times too low" in note and "5.15.0-91-generic" in note
    assert rapl_known_problems(spr, "6.1.0-13-amd64", domains) == []
    assert rapl_known_problems(EPYC, "5.15.0", domains) == []


def test_the_record_carries_kernel_and_cpu_identity(tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    env = {"AICARBON_PROC_ROOT": str(bare_metal_proc(tmp_path / "proc"))}
    out = run_aicarbon("run", "-q", "--sensors", "estimate", "--json", str(record), "--", "true", env=env)
    assert out.returncode == 0, out.stderr
    host = json.loads(record.read_text())["host"]
    assert host["kernel"] == os.uname().release
    assert host["cpu_id"] == "GenuineIntel family 6 model 85 stepping 7"
    assert host["cpu_model"] == "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"
    assert host["virtualised"] is False


def test_a_masked_tree_through_the_command_line_is_one_line_with_its_fix(tmp_path: Path) -> None:
    powercap = tmp_path / "sys" / "class" / "powercap"
    powercap.mkdir(parents=True)
    os.symlink("../../devices/virtual/powercap/intel-rapl/intel-rapl:0", powercap / "intel-rapl:0")
    env = {
        "AICARBON_SYSFS_ROOT": str(tmp_path / "sys"),
        "AICARBON_PROC_ROOT": str(bare_metal_proc(tmp_path / "p")),
    }
    out = run_aicarbon("run", "--sensors", "rapl,estimate", "--", "true", env=env)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    report = " ".join(out.stderr.split())
    assert "Unavailable: rapl: the powercap tree is masked" in report
    assert "fix: the container runtime hides /sys/devices/virtual/powercap" in report
    assert "CPU | ~" in report  # the estimate took over
