"""Formatting of SI quantities for people: J/Wh/kWh, W, seconds."""

from __future__ import annotations

import math

J_PER_WH = 3600.0


def energy_unit(reference_j: float) -> str:
    """One unit for a whole report, chosen from its largest figure: J below 0.1 Wh."""
    if reference_j < 360.0:
        return "J"
    if reference_j < 3.6e6:
        return "Wh"
    return "kWh"


def fmt_energy(energy_j: float, unit: str | None = None) -> str:
    unit = unit or energy_unit(energy_j)
    value = {"J": energy_j, "Wh": energy_j / J_PER_WH, "kWh": energy_j / J_PER_WH / 1000}[unit]
    return f"{_num(value)} {unit}"


def fmt_power(power_w: float) -> str:
    if power_w >= 1000:
        return f"{_num(power_w / 1000)} kW"
    return f"{_num(power_w)} W"


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def fmt_percent(share: float) -> str:
    return f"{share * 100:.0f}%" if share >= 0.01 or share == 0 else "<1%"


SCIENTIFIC_FROM = 1e7  # 27,777,778 is not read at a glance: 2.78e+07 is


def _num(value: float) -> str:
    """Three significant digits, without scientific notation for everyday magnitudes."""
    if not math.isfinite(value):
        return "?"
    if value == 0:
        return "0"
    if abs(value) >= SCIENTIFIC_FROM:
        return f"{value:.3g}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_mass_g(grams: float) -> str:
    """CO2e mass: ng, µg, mg, g, kg or t."""
    if grams < 1e-6:
        return f"{_num(grams * 1e9)} ng"
    if grams < 1e-3:
        return f"{_num(grams * 1e6)} µg"
    if grams < 1.0:
        return f"{_num(grams * 1000)} mg"
    if grams < 1000.0:
        return f"{_num(grams)} g"
    if grams < 1e6:
        return f"{_num(grams / 1000)} kg"
    return f"{_num(grams / 1e6)} t"


def fmt_mass_range_g(low_g: float, high_g: float) -> str:
    """A CO2e range: ``12.5 g to 40.0 g``, or one mass where its ends meet."""
    return fmt_mass_g(low_g) if low_g == high_g else f"{fmt_mass_g(low_g)} to {fmt_mass_g(high_g)}"


def fmt_volume_l(litres: float) -> str:
    return f"{_num(litres * 1000)} mL" if litres < 1.0 else f"{_num(litres)} L"


def fmt_count(value: float) -> str:
    """A count of everyday things: 0.0012, 0.35, 12, 1,200 (whole numbers without decimals)."""
    if float(value).is_integer() and abs(value) < SCIENTIFIC_FROM:
        return f"{int(value):,}"
    return _num(value)
