from __future__ import annotations

from aicarbon.report.sparkline import resample, sparkline
from aicarbon.report.units import energy_unit, fmt_duration, fmt_energy, fmt_power


def test_energy_unit_switches_from_joules_to_watt_hours() -> None:
    assert energy_unit(12.0) == "J"
    assert energy_unit(359.9) == "J"
    assert energy_unit(360.0) == "Wh"
    assert energy_unit(3.6e6) == "kWh"
    assert fmt_energy(7200.0) == "2.00 Wh"
    assert fmt_energy(7200.0, "J") == "7,200 J"
    assert fmt_energy(0.0123) == "0.0123 J"
    assert fmt_energy(5.4e6) == "1.50 kWh"


def test_power_and_duration_formats() -> None:
    assert fmt_power(2.345) == "2.35 W"
    assert fmt_power(1500) == "1.50 kW"
    assert fmt_duration(5.004) == "5.00 s"
    assert fmt_duration(125) == "2 min 05 s"
    assert fmt_duration(3 * 3600 + 61) == "3 h 01 min"


def test_sparkline_scales_from_zero() -> None:
    assert sparkline([2.0, 2.0, 2.0]) == "███"
    assert sparkline([0.0, 4.0, 8.0]) == "▁▅█"  # 4 of 8 is 3.5 of 7 steps: rounds to 4
    assert sparkline([0.0, 8.0], unicode=False) == "_#"
    assert sparkline([]) == ""


def test_resample_is_a_duration_weighted_mean() -> None:
    assert resample([1.0, 3.0], [1.0, 1.0], 4) == [1.0, 3.0]
    assert resample([1.0, 3.0, 10.0, 10.0], [3.0, 1.0, 1.0, 1.0], 2) == [1.5, 10.0]
