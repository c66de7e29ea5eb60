"""The CI gate's settings: flags over ``[tool.aicarbon.check]`` in pyproject.toml over defaults,
so that a CI line can be just ``aicarbon check``::

    [tool.aicarbon.check]
    name = "classify"
    command = ["python", "examples/classify_digits.py"]
    baseline = ".aicarbon/baseline.json"
    runs = 5
    warmup = 1
    threshold = 0.10          # or "10%"
    units = 20000
    max-energy-per-unit = "5 mJ"

Energies are text with a unit (``J``, ``kJ``, ``mJ``, ``Wh``, ``kWh``) or a number of joules.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import Declared, SettingsError, find_pyproject, project_table

_ENERGY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(µJ|uJ|mJ|J|kJ|MJ|mWh|Wh|kWh|MWh)?\s*$")
_JOULES = {"µJ": 1e-6, "uJ": 1e-6, "mJ": 1e-3, "J": 1.0, "kJ": 1e3, "MJ": 1e6}
_JOULES |= {"mWh": 3.6, "Wh": 3600.0, "kWh": 3.6e6, "MWh": 3.6e9}
MAX_ENERGY_J = 3.6e15  # a petawatt-hour: beyond any run

FAIL_ON = ("regression", "inconclusive", "never")
RUNS_RANGE = (2, 1000)
WARMUP_RANGE = (0, 100)
KEEP_RANGE = (1, 100)

# The CI gate's settings, each declared once: its flag on bench/compare/ab/check/baseline, its
# key in [tool.aicarbon.check], its type, default and help. GateSettings, the options' help and
# defaults, and the config keys follow from these (tests/test_settings_agree.py).
GATE_SETTINGS: tuple[Declared, ...] = (
    Declared("name", "--name", str, None, "The benchmark's name."),
    Declared("command", None, list, None, "The command to benchmark."),
    Declared("baseline", "--baseline", str, None, "The stored baseline (JSON)."),
    Declared("runs", "--runs", int, 5, "Measured runs (per arm).", low=RUNS_RANGE[0], high=RUNS_RANGE[1]),
    Declared(
        "warmup", "--warmup", int, 1, "Discarded warm-up runs.", low=WARMUP_RANGE[0], high=WARMUP_RANGE[1]
    ),
    Declared("threshold", "--threshold", float, 0.10, "Smallest increase that fails: 0.10 or 10%."),
    Declared("warn_threshold", "--warn-threshold", float, 0.05, "A significant increase above this warns."),
    Declared("alpha", "--alpha", float, 0.05, "Significance level.", low=1e-6, high=0.5),
    Declared(
        "fail_on", "--fail-on", str, "regression", "regression, inconclusive, or never (report only, exit 0)."
    ),
    Declared("units", "--units", float, None, "Units (inferences...) each run does."),
    Declared("unit_name", "--unit-name", str, "units", "What a unit is called."),
    Declared("max_energy", "--max-energy", str, None, "Budget for the median energy per run, e.g. 10Wh."),
    Declared(
        "max_energy_per_unit",
        "--max-energy-per-unit",
        str,
        None,
        "Budget per unit (needs --units), e.g. 5mJ.",
    ),
    Declared("keep", "--keep", int, 1, "Sessions kept per benchmark.", low=KEEP_RANGE[0], high=KEEP_RANGE[1]),
    Declared("backend", "--backend", str, "native", "Who measures: native, codecarbon, or both."),
)
GATE = {d.name: d for d in GATE_SETTINGS}
# [tool.aicarbon.check]'s keys and the types they take (energies: text with a unit, or joules).
KEYS = {d.key: d.kind for d in GATE_SETTINGS}


def gate_help(name: str) -> str:
    """An option's help, with its default: what the command line shows."""
    d = GATE[name]
    if d.default is None:
        return d.help
    shown = f"{d.default:g}" if isinstance(d.default, float) else str(d.default)
    return f"{d.help[:-1]} (default {shown})."


def parse_energy(text: str | float, name: str) -> float:
    """Joules from ``"10Wh"``, ``"5 mJ"``, ``"300"`` (joules) or a number."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _ENERGY.match(str(text))
        if match is None:
            raise SettingsError(f"{name} must be an energy such as 10Wh, 5kJ or 300J; got {text!r}")
        value = float(match.group(1)) * _JOULES[match.group(2) or "J"]
    if not (math.isfinite(value) and 0 < value <= MAX_ENERGY_J):
        raise SettingsError(f"{name} must be a positive energy of a physical size; got {text!r}")
    return value


def parse_fraction(value: str | float, name: str, high: float = 10.0) -> float:
    """0.10 or "10%" as 0.10; between 0 (excluded) and ``high``."""
    try:
        number = (
            float(value[:-1]) / 100
            if isinstance(value, str) and value.strip().endswith("%")
            else float(value)
        )
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a fraction such as 0.10 or 10%; got {value!r}") from None
    if not (math.isfinite(number) and 0 < number <= high):
        raise SettingsError(f"{name} must be above 0 and at most {high:g}; got {value!r}")
    return number


@dataclass(frozen=True)
class ProjectCheck:
    values: dict[str, Any]
    where: str

    def get(self, key: str, flag: Any = None) -> Any:
        """The flag when given, else the project's value, else None."""
        return flag if flag is not None else self.values.get(key)


def project_check(cwd: Path | None = None) -> ProjectCheck:
    """``[tool.aicarbon.check]`` of the nearest pyproject.toml, checked key by key."""
    path = find_pyproject(cwd or Path.cwd())
    table = project_table(path) if path is not None else None
    raw = (table or {}).get("check", {})
    where = f"{path} [tool.aicarbon.check]"
    if not isinstance(raw, dict):
        raise SettingsError(f"tool.aicarbon.check in {path} must be a table; got {raw!r}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).replace("_", "-")
        kind = KEYS.get(name)
        if kind is None:
            raise SettingsError(f"unknown key {name!r} in {where}; valid keys: {', '.join(KEYS)}")
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = isinstance(value, (int, float, str)) and not isinstance(value, bool)
        if kind is str and name in ("max-energy", "max-energy-per-unit"):
            ok = isinstance(value, (int, float, str)) and not isinstance(value, bool)
        if kind is list:
            ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
        if not ok:
            raise SettingsError(f"{name} in {where} has the wrong type: {value!r}")
        values[name] = value
    return ProjectCheck(values, where)
