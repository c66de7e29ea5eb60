from __future__ import annotations

import statistics

import pytest
from aicarbon.sensors.base import Method
from aicarbon.sensors.cpu_info import parse_cpu_info
from aicarbon.sensors.cpu_load import CpuTimes
from aicarbon.sensors.estimate import EstimateSensor, coefficient_table, cpu_coefficients
from conftest import FakeClock


@pytest.mark.parametrize(
    ("model", "architecture", "match"),
    [
        ("AMD EPYC 7763 64-Core Processor", "EPYC 3rd Gen", "exact"),  # GitHub's runners
        ("AMD EPYC 9654 96-Core Processor", "EPYC 3rd Gen", "nearest"),
        ("AMD EPYC-Milan Processor", "EPYC 3rd Gen", "exact"),  # QEMU's name
        ("Intel Xeon Processor (Cascadelake)", "Cascade Lake", "exact"),
        ("AMD EPYC 7R32", "EPYC 2nd Gen", "exact"),
        ("AMD EPYC 7571", "EPYC 1st Gen", "exact"),
        ("Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz", "Sky Lake", "exact"),
        ("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", "Cascade Lake", "exact"),
        ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "Broadwell", "exact"),
        ("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz", "Coffee Lake", "exact"),
    ],
)
def test_cpu_model_maps_to_ccf_architecture(model: str, architecture: str, match: str) -> None:
    c = cpu_coefficients(model)
    assert (c.architecture, c.match) == (architecture, match)


def test_unknown_cpu_gets_the_median_of_the_table() -> None:
    c = cpu_coefficients("Some Future RISC-V Core")
    rows = coefficient_table()
    assert c.match == "median"
    assert c.min_w == pytest.approx(statistics.median(r.min_w for r in rows))
    assert c.max_w == pytest.approx(statistics.median(r.max_w for r in rows))


def test_epyc_2nd_and_3rd_gen_coefficients_match_ccf() -> None:
    c = cpu_coefficients("AMD EPYC 7R32")
    assert (round(c.min_w, 2), round(c.max_w, 2)) == (0.47, 1.69)
    milan = cpu_coefficients("AMD EPYC 7763 64-Core Processor")
    assert (round(milan.min_w, 2), round(milan.max_w, 2)) == (0.45, 2.02)
    # Mapping Milan to the Rome row was 16% low at full load.
    assert 1 - c.max_w / milan.max_w == pytest.approx(0.16, abs=0.005)


@pytest.mark.parametrize(
    ("cpuinfo", "architecture", "match", "identified_by"),
    [
        # GCP's generic name; family 6 model 85 stepping 7 is Cascade Lake.
        (
            "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
            "model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nstepping\t: 7\n",
            "Cascade Lake",
            "exact",
            "CPUID family/model",
        ),
        # Same model, stepping 4: Skylake-SP.
        (
            "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
            "model name\t: Intel(R) Xeon(R) Processor\nstepping\t: 4\n",
            "Sky Lake",
            "exact",
            "CPUID family/model",
        ),
        # This project's own VM: "AMD EPYC", family 25 model 1 is Milan.
        (
            "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
            "model name\t: AMD EPYC\nstepping\t: 1\n",
            "EPYC 3rd Gen",
            "exact",
            "CPUID family/model",
        ),
        # Graviton3: no model name, Neoverse V1.
        (
            "processor\t: 0\nBogoMIPS\t: 2100.00\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
            "CPU variant\t: 0x1\nCPU part\t: 0xd40\nCPU revision\t: 1\n",
            "Graviton",
            "exact",
            "Arm core part (Neoverse V1)",
        ),
    ],
)
def test_generic_names_and_arm_hosts_are_identified_from_cpuinfo(
    cpuinfo: str, architecture: str, match: str, identified_by: str
) -> None:
    c = cpu_coefficients(parse_cpu_info(cpuinfo))
    assert (c.architecture, c.match, c.identified_by) == (architecture, match, identified_by)


def test_graviton_at_full_load_is_no_longer_the_median() -> None:
    graviton = cpu_coefficients(parse_cpu_info("CPU implementer\t: 0x41\nCPU part\t: 0xd0c\n"))
    median = cpu_coefficients(parse_cpu_info("CPU implementer\t: 0x41\nCPU part\t: 0xfff\n"))
    assert median.match == "median" and graviton.architecture == "Graviton"
    assert median.max_w / graviton.max_w > 2.0  # it was about 2.4x high


def test_memory_within_the_cpu_rows_servers_adds_nothing(clock: FakeClock) -> None:
    proc = FakeProc()
    proc.in_use = 1_500_000_000  # under 2 vCPU x 1.0 GB of the Milan row
    sensor = EstimateSensor("AMD EPYC 7763", 2, cpu_times=proc.cpu, memory=proc.memory, clock=clock)
    clock.advance(10.0)
    reading = sensor.read()
    assert reading.energy_j["dram:estimated"] == 0.0
    assert reading.bounds_j["dram:estimated"][1] == pytest.approx(0.392 * 24 * 10)
    assert "beyond the 2.0 GB" in sensor.domains[1].model


class FakeProc:
    def __init__(self) -> None:
        self.busy_s = 0.0
        self.in_use, self.total = 4_000_000_000, 24_000_000_000

    def cpu(self) -> CpuTimes:
        return CpuTimes(self.busy_s, 0.0)

    def memory(self) -> tuple[int, int]:
        return self.in_use, self.total


def test_cpu_and_ram_energy_follow_the_documented_formulas(clock: FakeClock) -> None:
    proc = FakeProc()
    sensor = EstimateSensor("AMD EPYC 7R32", 2, cpu_times=proc.cpu, memory=proc.memory, clock=clock)
    assert all(d.method is Method.ESTIMATED and d.model for d in sensor.domains)
    # 10 s with one of two vCPUs fully busy: 10 s x 2 x min + 10 CPU-s x (max - min)
    clock.advance(10.0)
    proc.busy_s += 10.0
    reading = sensor.read()
    c = sensor.coefficients
    expected_cpu = 10 * 2 * c.min_w + 10 * (c.max_w - c.min_w)
    assert reading.energy_j["cpu:estimated"] == pytest.approx(expected_cpu)  # about 21.7 J
    assert expected_cpu == pytest.approx(21.67, abs=0.01)
    # RAM: the EPYC 2nd Gen servers had 1.014 GB per vCPU inside their watts, so only the
    # 4 - 2 x 1.014 = 1.972 GB beyond it: 0.392 W/GB x 1.972 GB x 10 s = 7.73 J.
    # Band: 0 (all inside the CPU row) .. the coefficient on all 24 GB installed.
    assert reading.energy_j["dram:estimated"] == pytest.approx(0.392 * (4 - 2 * 1.014) * 10)
    low, high = reading.bounds_j["dram:estimated"]
    assert (low, high) == pytest.approx((0.0, 0.392 * 24 * 10))
    cpu_low, cpu_high = reading.bounds_j["cpu:estimated"]
    assert cpu_low <= expected_cpu < cpu_high


def test_busy_time_beyond_capacity_is_clamped(clock: FakeClock) -> None:
    proc = FakeProc()
    sensor = EstimateSensor(
        "AMD EPYC 7R32", 2, include_ram=False, cpu_times=proc.cpu, memory=proc.memory, clock=clock
    )
    clock.advance(1.0)
    proc.busy_s += 5.0  # tick rounding can report more than 2 CPU-s in 1 s on 2 CPUs
    c = sensor.coefficients
    assert sensor.read().energy_j["cpu:estimated"] == pytest.approx(2 * c.max_w)


def test_only_requested_domains_are_estimated(clock: FakeClock) -> None:
    proc = FakeProc()
    sensor = EstimateSensor("x", 4, include_cpu=False, cpu_times=proc.cpu, memory=proc.memory, clock=clock)
    assert [d.id for d in sensor.domains] == ["dram:estimated"]


def test_throttled_reader_reuses_a_recent_value(clock: FakeClock) -> None:
    from aicarbon.sensors.cpu_load import Throttled

    calls = []
    reader = Throttled(lambda: calls.append(1) or len(calls), 1.0, clock=clock)
    assert reader() == 1
    clock.advance(0.5)
    assert reader() == 1  # within the period: no new read
    clock.advance(0.5)
    assert reader() == 2
