"""Grid carbon intensity from codecarbon's bundled data, read as files.

codecarbon maintains per-country intensities (``global_energy_mix.json``, 213 countries, 2023),
US states (EPA eGRID 2023, lbs/MWh), Canadian provinces (energy mix), Chinese provinces
(MEE/NBS 2023), Nordic bidding zones (ENTSO-E) and cloud regions (``cloud/impact.csv``), plus a
world average (IEA) in ``carbon_intensity_per_source.json``. Upgrading codecarbon updates them.
The package is located with ``importlib.util.find_spec`` and never imported: importing it
costs seconds and pulls pandas.

The files' layout changes between codecarbon releases (3.3.2 added the 2023 US and Chinese
tables; 3.3.0 had none): pyproject.toml admits the versions whose layout was verified
(``VERIFIED_CODECARBON``), and a file that is missing or unreadable is one sentence naming the
codecarbon version found, never a traceback. tests/test_grid_data.py reads every file named
here from the installed codecarbon.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import NamedTuple, ParamSpec, TypeVar

from ..errors import AicarbonError

P = ParamSpec("P")
R = TypeVar("R")

LBS_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000.0  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh
VERIFIED_CODECARBON = ">=3.3.2,<3.4"  # as in pyproject.toml
DATA_FILES = (
    "private_infra/carbon_intensity_per_source.json",
    "private_infra/global_energy_mix.json",
    "private_infra/2023/usa_emissions.json",
    "private_infra/2023/canada_energy_mix.json",
    "private_infra/2023/china_provincial_emissions.json",
    "private_infra/nordic_emissions.json",
    "cloud/impact.csv",
)


class GridError(AicarbonError, ValueError):
    """An unknown country or region, with a sentence naming the closest matches."""


class GridIntensity(NamedTuple):
    g_per_kwh: float
    label: str  # "France (FRA)", "United States / california", "world average"
    source: str
    year: int | None


@cache
def codecarbon_data_dir() -> Path:
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        raise GridError(
            "codecarbon's grid data is not installed (pip install codecarbon), "
            "or set the intensity with --carbon-intensity"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def codecarbon_version() -> str:
    """The installed codecarbon's version, from its dist-info (no import, no importlib.metadata)."""
    site = codecarbon_data_dir().parent.parent
    for dist_info in sorted(site.glob("codecarbon-*.dist-info")):
        try:
            for line in (dist_info / "METADATA").read_text(encoding="utf-8").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            continue
    return "of unknown version"


def _data_file_error(relative: str, why: str) -> GridError:
    return GridError(
        f"codecarbon {codecarbon_version()} has no usable grid data file {relative} ({why}); "
        f"aicarbon reads the layout of codecarbon {VERIFIED_CODECARBON}: "
        f"pip install 'codecarbon{VERIFIED_CODECARBON}', or set --carbon-intensity"
    )


def _layout_checked(function: Callable[P, R]) -> Callable[P, R]:
    """A data file whose content is not shaped as expected is one sentence, not a traceback."""

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except GridError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GridError(
                f"codecarbon {codecarbon_version()}'s grid data is not laid out as aicarbon expects "
                f"({type(exc).__name__}: {exc}); aicarbon reads codecarbon{VERIFIED_CODECARBON}: "
                f"pip install 'codecarbon{VERIFIED_CODECARBON}', or set --carbon-intensity"
            ) from None

    return checked


def _read_data(relative: str) -> str:
    try:
        return (codecarbon_data_dir() / relative).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _data_file_error(relative, "missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _data_file_error(relative, getattr(exc, "strerror", None) or "not UTF-8 text") from None


@cache
def _json(relative: str) -> dict:
    text = _read_data(relative)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise _data_file_error(relative, "not valid JSON") from None
    if not isinstance(data, dict):
        raise _data_file_error(relative, "not a JSON object")
    return data


@_layout_checked
def world_average() -> GridIntensity:
    data = _json("private_infra/carbon_intensity_per_source.json")
    return GridIntensity(
        float(data["world_average"]),
        "world average",
        f"IEA via codecarbon ({data['world_average_source']})",
        None,
    )


def _countries() -> dict[str, dict]:
    return _json("private_infra/global_energy_mix.json")


@_layout_checked
def country(iso3: str) -> GridIntensity:
    code = iso3.strip().upper()
    mix = _countries().get(code)
    if mix is None or mix.get("carbon_intensity") is None:
        raise GridError(f"unknown country {iso3!r}; {_closest(code, _country_candidates())}")
    return GridIntensity(
        float(mix["carbon_intensity"]),
        f"{mix['country_name']} ({code})",
        "Our World in Data / Ember energy mix via codecarbon (global_energy_mix.json)",
        int(mix["year"]) if mix.get("year") else None,
    )


@_layout_checked
def country_codes() -> list[str]:
    return [code for code, m in _countries().items() if m.get("carbon_intensity") is not None]


def _country_candidates() -> dict[str, str]:
    """ISO codes and country names, each pointing to "CODE (Name)"."""
    shown = {code: f"{code} ({m['country_name']})" for code, m in _countries().items()}
    by_name = {m["country_name"].lower(): shown[code] for code, m in _countries().items()}
    return {**{code.lower(): text for code, text in shown.items()}, **by_name}


def _closest(value: str, candidates: dict[str, str]) -> str:
    """A hint naming up to four candidates close to ``value``; ``candidates`` maps what to
    match (lower case) to what to show."""
    import difflib

    close = difflib.get_close_matches(value.lower(), list(candidates), n=4, cutoff=0.5)
    picks = list(dict.fromkeys(candidates[c] for c in close))
    return "closest: " + ", ".join(picks) if picks else "see 'aicarbon regions' for the list"


# -- regions ---------------------------------------------------------------------------------


def _usa() -> dict[str, GridIntensity]:
    data = _json("private_infra/2023/usa_emissions.json")
    src = data.get("_source", {})
    year = src.get("year")
    return {
        name: GridIntensity(
            float(v["emissions"]) * LBS_PER_MWH_TO_G_PER_KWH,
            f"United States / {name}",
            f"{src.get('name', 'EPA eGRID')} via codecarbon",
            year,
        )
        for name, v in data.items()
        if not name.startswith("_") and name != "usa"
    }


def _canada() -> dict[str, GridIntensity]:
    """Provinces carry an energy mix (percent); as codecarbon does, only fossil shares emit."""
    mixes = _json("private_infra/2023/canada_energy_mix.json")
    factors = _json("private_infra/carbon_intensity_per_source.json")
    per_source = {
        "coal": factors["coal"],
        "petroleum": factors["petroleum"],
        "naturalGas": factors["natural_gas"],
    }
    result = {}
    for name, mix in mixes.items():
        total = float(mix["total"])
        g = sum(float(mix.get(k, 0.0)) / total * factor for k, factor in per_source.items())
        result[name] = GridIntensity(g, f"Canada / {name}", "Canada energy mix 2023 via codecarbon", 2023)
    return result


def _by_code(relative: str, country_name: str) -> dict[str, GridIntensity]:
    data = _json(relative)
    meta = data.get("metadata", {})
    result = {}
    for code, v in data["data"].items():
        value = GridIntensity(
            float(v["emission_factor"]),
            f"{country_name} / {v.get('description', code)}",
            f"{meta.get('source', relative)} via codecarbon",
            v.get("year"),
        )
        result[code.lower()] = value
        for alias in v.get("names", []):
            result[alias.lower()] = value
    return result


def _nordic(prefix: str, name: str) -> dict[str, GridIntensity]:
    return {
        k: v for k, v in _by_code("private_infra/nordic_emissions.json", name).items() if k.startswith(prefix)
    }


@cache
def _cloud() -> dict[str, GridIntensity]:
    relative = "cloud/impact.csv"
    result = {}
    import csv  # the cloud regions' table only: most runs never read it

    for row in csv.DictReader(io.StringIO(_read_data(relative))):
        label = f"{row['providerName']} {row['region']} ({row['country_name']})"
        value = GridIntensity(float(row["impact"]), label, f"{row['source']} via codecarbon", None)
        result[row["region"].lower()] = value
        result[f"{row['provider']}:{row['region']}".lower()] = value
    return result


@_layout_checked
def cloud_regions() -> dict[str, GridIntensity]:
    return _cloud()


REGION_TABLES = {
    "USA": _usa,
    "CAN": _canada,
    "CHN": lambda: _by_code("private_infra/2023/china_provincial_emissions.json", "China"),
    "SWE": lambda: _nordic("se", "Sweden"),
    "NOR": lambda: _nordic("no", "Norway"),
}


@_layout_checked
def regions(iso3: str | None) -> dict[str, GridIntensity]:
    """Regions the data has for a country; with ``iso3`` None, every region it has (the
    countries' and the cloud regions)."""
    if iso3 is None:
        merged: dict[str, GridIntensity] = {}
        for table in REGION_TABLES.values():
            merged.update(table())
        merged.update(_cloud())
        return merged
    country_table = REGION_TABLES.get(iso3.upper())
    return country_table() if country_table is not None else {}


@_layout_checked
def region(iso3: str | None, name: str) -> GridIntensity:
    """A region of a country, or a cloud region (``gcp:europe-west1`` or ``europe-west1``)."""
    key = name.strip().lower()
    table = regions(iso3)
    if key in table:
        return table[key]
    cloud = _cloud()
    if key in cloud:
        return cloud[key]
    where = f"for {iso3.upper()}" if iso3 else "(in any country)"
    if iso3 and not table:
        raise GridError(
            f"the data has no regions for {iso3.upper()} (it has regions for "
            f"{', '.join(REGION_TABLES)} and cloud regions such as gcp:europe-west1)"
        )
    hint = _closest(key, {k: k for k in [*table, *cloud]})
    raise GridError(f"unknown region {name!r} {where}; {hint}")


@_layout_checked
def resolve(iso3: str | None, region_name: str | None) -> GridIntensity:
    if region_name:
        if iso3:
            country(iso3)  # an unknown country is reported as such, not as a region problem
        return region(iso3, region_name)
    if iso3:
        return country(iso3)
    return world_average()
