"""Numbers: no NaN, infinity or absurd value gets in; every record is strict JSON; sensor
readings that no hardware could produce are faults, not energy."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from aicarbon.measurement.accounting import Accumulator
from aicarbon.measurement.sampler import Sampler
from aicarbon.measurement.timeline import Timeline
from aicarbon.report.units import fmt_count, fmt_energy, fmt_mass_g
from aicarbon.sensors.base import Domain, DomainKind, Method, Reading
from aicarbon.sensors.rapl import RaplSensor
from conftest import FakeClock, PowercapTree
from conftest import run_aicarbon as aicarbon


def strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--pue", "nan"], {}, "--pue must be a finite number; got nan"),
        (["--pue", "inf"], {}, "--pue must be a finite number; got inf"),
        (["--pue", "1e308"], {}, "pue must be at most 5"),
        (["--carbon-intensity", "nan"], {}, "carbon-intensity must be a finite number"),
        (["--carbon-intensity", "1e308"], {}, "carbon-intensity must be at most 3000"),
        (["--wue", "-inf"], {}, "wue must be a finite number"),
        (["--water-intensity", "nan"], {}, "water-intensity must be a finite number"),
        ([], {"AICARBON_PUE": "nan"}, "pue must be a finite number; got nan from AICARBON_PUE"),
        ([], {"AICARBON_CARBON_INTENSITY": "Infinity"}, "carbon-intensity must be a finite number"),
        ([], {"AICARBON_WATER_INTENSITY": "1e400"}, "water-intensity must be a finite number"),
        (["--interval", "nan"], {}, "--interval must be a number from 0.01 to 60; got nan"),
        (["--interval", "inf"], {}, "--interval must be a number from 0.01 to 60; got inf"),
        (["--interval", "0"], {}, "--interval must be a number from 0.01 to 60; got 0.0"),
        (["--units", "inf"], {}, "--units must be a positive number of units, at most 1e+15; got inf"),
        (["--units", "nan"], {}, "--units must be a positive number of units"),
        (["--units", "1e308"], {}, "--units must be a positive number of units"),
    ],
)
def test_non_finite_and_absurd_numbers_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], needle: str
) -> None:
    marker = tmp_path / "ran"
    out = aicarbon("run", *args, "--", "touch", str(marker), cwd=tmp_path, env=env)
    assert out.returncode == 2
    assert len(out.stderr.splitlines()) == 1 and needle in out.stderr, out.stderr
    assert not marker.exists()


def test_the_record_is_strict_json_at_the_largest_accepted_values(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    out = aicarbon(
        "run", "-q", "--pue", "5", "--carbon-intensity", "3000", "--wue", "100", "--water-intensity", "1000",
        "--units", "1e15", "--json", str(record), "--", sys.executable, "-c", "pass", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = strict(record.read_text())
    assert isinstance(data, dict) and data["impact"]["pue"] == 5.0
    assert data["comparison"]["units"] == 1e15 and data["comparison"]["energy_per_unit_j"] > 0


def test_huge_figures_are_printed_in_scientific_notation_not_300_digits() -> None:
    assert fmt_energy(1e20 / 1e6 * 1.0, "kWh") == "2.78e+07 kWh"  # 1e20 µJ
    assert fmt_count(1e300) == "1e+300" and fmt_count(1_234_567.0) == "1,234,567"
    assert fmt_mass_g(9e17) == "9e+11 t"
    assert fmt_energy(math.inf, "J") == "? J"


def test_an_impossible_rapl_jump_is_a_sensor_fault_not_27_million_kwh(powercap: PowercapTree) -> None:
    """energy_uj jumps by 1e20 µJ in 0.3 s: the sampler replaces it by the last plausible
    power and lists it; the package's energy stays physical."""
    powercap.zone("intel-rapl:0", "package-0", 1_000_000, max_uj=2**64)
    sensor = RaplSensor(powercap.powercap)
    clock = FakeClock()
    acc = Accumulator(sensor.domains, Timeline(0.1, 16), 0.1)
    sampler = Sampler([sensor], acc, 0.1, clock=clock)
    sampler.sample()
    for step in range(1, 4):  # 50 W for 0.9 s
        clock.advance(0.3)
        powercap.set_energy("intel-rapl:0", 1_000_000 + step * 15_000_000)
        sampler.sample()
    clock.advance(0.3)
    powercap.set_energy("intel-rapl:0", 10**20)
    sampler.sample()
    clock.advance(0.3)
    powercap.set_energy("intel-rapl:0", 10**20 + 15_000_000)  # 50 W again after the glitch
    sampler.sample(final=True)
    energy = acc.totals["cpu:package-0"].energy_j
    # 5 intervals at 50 W, the glitch counted as 50 W too (to the float resolution at 1e14 J)
    assert energy == pytest.approx(5 * 15.0, abs=0.05)
    (fault,) = sampler.implausible["cpu:package-0"]
    assert fault.reported_j == pytest.approx(1e14 - 46.0)
    assert fault.counted_j == pytest.approx(15.0) and fault.duration_s == pytest.approx(0.3)


def test_non_finite_reading_fails_the_domain_and_keeps_what_was_measured() -> None:
    class Broken:
        name = "broken"
        domains = [Domain("gpu:0", DomainKind.GPU, Method.MEASURED, "x", "GPU 0")]
        values = iter([0.0, 10.0, math.nan, 30.0])

        def read(self) -> Reading:
            return Reading({"gpu:0": next(self.values)})

        def close(self) -> None:
            pass

    clock = FakeClock()
    sensor = Broken()
    acc = Accumulator(sensor.domains, Timeline(0.1, 16), 0.1)
    sampler = Sampler([sensor], acc, 0.1, clock=clock)
    for _ in range(4):
        sampler.sample()
        clock.advance(0.1)
    assert acc.totals["gpu:0"].energy_j == 10.0
    assert [f.reason for f in sampler.failures] == ["non-finite reading (nan)"]


def test_a_run_shorter_than_one_interval_reports_a_peak_at_least_its_average(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    out = aicarbon("run", "-q", "--interval", "60", "--json", str(record), "--", "true", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    energy = strict(record.read_text())["energy"]
    assert energy["peak_power_w"] >= energy["average_power_w"] > 0


def test_nothing_measured_gives_no_emissions_or_equivalents(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    env = {"AICARBON_SYSFS_ROOT": str(tmp_path / "no-sysfs")}
    out = aicarbon("run", "--sensors", "rapl", "--json", str(record), "--", "true", cwd=tmp_path, env=env)
    assert out.returncode == 0
    lines = out.stderr.splitlines()
    assert lines[1] == "Nothing was measured: no sensor worked, and the estimate was not selected."
    assert "CO2e" not in out.stderr and "smartphone" not in out.stderr
    data = strict(record.read_text())
    assert data["impact"] is None and data["comparison"] is None and data["energy"]["method"] == "none"
