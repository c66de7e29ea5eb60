"""Settings: what one measurement is asked to do (``RunSettings``), and the impact settings
(grid, PUE, water) resolved from flags, environment and config files.

``RunSettings`` is the one typed object that both the command line (from its flags) and
``aicarbon.track`` (from its keyword arguments) build; it is checked when built. The impact
settings it leaves unset are resolved by ``resolve``, each remembering where it came from.

Precedence, highest first (each setting on its own):

1. the command-line flag (``--country``, ``--pue``, ...);
2. the environment (``AICARBON_COUNTRY``, ``AICARBON_PUE``, ...);
3. the project's ``pyproject.toml``, table ``[tool.aicarbon]``, found in the current directory
   or the nearest parent that has one;
4. the user config file: ``$AICARBON_CONFIG`` (which must exist), else
   ``$XDG_CONFIG_HOME/aicarbon/config.toml``, else ``~/.config/aicarbon/config.toml`` (keys at
   the top level);
5. the default.

Every number must be finite and within physical bounds (``RUN_SETTINGS``). A pyproject.toml that is
broken but does not try to configure aicarbon is ignored.

Every resolved value remembers where it came from, and the run record keeps that.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .errors import AicarbonError
from .limits import MAX_UNITS


class SettingsError(AicarbonError, ValueError):
    """A bad setting, with a sentence saying which and where."""


class Declared:
    """One setting of a measurement, declared once: the command line's option, ``track()``'s
    keyword, the checks, the environment variable and config key, and the documented table all
    follow from it (tests/test_settings_agree.py holds the CLI, ``track()`` and the README to it).

    ``kind``: ``float``, ``str``, ``bool`` (a flag), ``"names"`` (a comma list), ``"repeat"``
    (an option given once per value). ``default`` is the value when nothing is given; for the
    impact settings, ``None`` there means "resolved later" (flag, environment, config files,
    then ``resolved_default``). A plain class, not a dataclass: this module is on the path of
    every run's start, and a dataclass costs its import (inspect, ast...) and its creation."""

    __slots__ = (
        "config",
        "default",
        "env",
        "flag",
        "help",
        "high",
        "high_text",
        "in_api",
        "kind",
        "low",
        "low_text",
        "metavar",
        "name",
        "resolved_default",
        "short",
    )

    def __init__(
        self,
        name: str,  # the keyword and RunSettings field: interval_s
        flag: str | None,  # the option of 'aicarbon run' (None: track() only)
        kind: Any,
        default: Any,
        help: str,  # noqa: A002 - the option's help, as typer names it
        metavar: str = "",
        env: str | None = None,  # AICARBON_PUE
        config: str | None = None,  # the key in [tool.aicarbon] and the user config file
        resolved_default: Any = None,  # impact settings: the value when nothing sets them
        low: float = 0.0,
        high: float = 0.0,
        low_text: str = "",  # the complaint below ``low``
        high_text: str = "",  # the complaint above ``high``
        short: str | None = None,  # a one-letter alias
        in_api: bool = True,  # a keyword of track()
    ) -> None:
        self.name, self.flag, self.kind, self.default, self.help = name, flag, kind, default, help
        self.metavar, self.env, self.config, self.resolved_default = metavar, env, config, resolved_default
        self.low, self.high, self.low_text, self.high_text = low, high, low_text, high_text
        self.short, self.in_api = short, in_api

    def __repr__(self) -> str:
        return f"Declared({self.name!r}, {self.flag!r}, default={self.default!r})"

    @property
    def numeric(self) -> bool:
        return self.kind is float

    @property
    def key(self) -> str:
        """The config key (kebab-case); also how resolve() names the setting."""
        return self.config or self.name.replace("_", "-")

    @property
    def shown_default(self) -> str:
        """The default as the documented table shows it."""
        value = self.default if self.resolved_default is None else self.resolved_default
        if value is None or value == () or isinstance(value, bool):  # a flag: given or not
            return ""
        return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"

    def check(self, value: Any) -> str | None:
        """A complaint about a number already of the right type, or None when it is fine."""
        if not self.numeric:
            return None
        if not math.isfinite(value):
            return "must be a finite number"
        if value < self.low:
            return self.low_text
        if value > self.high:
            return self.high_text
        return None


SENSOR_NAMES = ("rapl", "nvml", "estimate")  # what --sensors chooses from (sensors/ opens them)
# Who measures: aicarbon's sensors, codecarbon's offline tracker, or both side by side.
BACKENDS = ("native", "codecarbon", "both")
DEFAULT_INTERVAL_S = 0.1
INTERVAL_RANGE_S = (0.01, 60.0)  # below 10 ms the sampler would cost more than it measures
MAX_TAGS = 32
MAX_LABEL_CHARS = 1000  # a name, a tag or a note

# Upper bounds keep every figure physical (a PUE of 1e308 is a typo, not a data centre) and every
# product of them finite; each is several times the worst real value.
RUN_SETTINGS: tuple[Declared, ...] = (
    Declared(
        "interval_s",
        "--interval",
        float,
        DEFAULT_INTERVAL_S,
        "sampling period in seconds",
        metavar="S",
        low=INTERVAL_RANGE_S[0],
        high=INTERVAL_RANGE_S[1],
    ),
    Declared(
        "sensors",
        "--sensors",
        "names",
        None,
        "comma list of `rapl`, `nvml`, `estimate` (default: all)",
        metavar="LIST",
    ),
    Declared(
        "backend",
        "--backend",
        str,
        "native",
        "who measures: `native` (the sensors above), `codecarbon` (its offline tracker), or `both`, "
        "side by side ([docs/codecarbon.md](docs/codecarbon.md#backend))",
        metavar="NAME",
    ),
    Declared(
        "country",
        "--country",
        str,
        None,
        "the grid's country, ISO 3166 alpha-3 (FRA, USA...); default: the world average",
        metavar="ISO3",
        env="AICARBON_COUNTRY",
        config="country",
    ),
    Declared(
        "region",
        "--region",
        str,
        None,
        "a region of the country (US state, Canadian or Chinese province...) or a cloud region",
        metavar="R",
        env="AICARBON_REGION",
        config="region",
    ),
    Declared(
        "carbon_intensity",
        "--carbon-intensity",
        float,
        None,
        "grid intensity in gCO2e/kWh, overriding the country",
        metavar="G",
        env="AICARBON_CARBON_INTENSITY",
        config="carbon-intensity",
        low=0.0,
        high=3000.0,
        low_text="must not be negative",
        high_text="must be at most 3000 gCO2e/kWh (lignite, the dirtiest source, is about 1,100)",
    ),
    Declared(
        "pue",
        "--pue",
        float,
        None,
        "power usage effectiveness, 1.0 for a machine at home",
        metavar="X",
        env="AICARBON_PUE",
        config="pue",
        resolved_default=1.0,
        low=1.0,
        high=5.0,
        low_text="must be at least 1.0 (1.0 means every watt goes to IT)",
        high_text="must be at most 5 (the least efficient data centres report about 2.5)",
    ),
    Declared(
        "wue",
        "--wue",
        float,
        None,
        "on-site water usage effectiveness, L/kWh",
        metavar="L",
        env="AICARBON_WUE",
        config="wue",
        resolved_default=0.0,
        low=0.0,
        high=100.0,
        low_text="must not be negative",
        high_text="must be at most 100 L/kWh (data centres report up to about 10)",
    ),
    Declared(
        "water_intensity",
        "--water-intensity",
        float,
        None,
        "water used to generate the electricity, L/kWh; default: 3.14",
        metavar="L",
        env="AICARBON_WATER_INTENSITY",
        config="water-intensity",
        low=0.0,
        high=1000.0,
        low_text="must not be negative",
        high_text="must be at most 1000 L/kWh (hydropower's evaporation is estimated up to about 70)",
    ),
    Declared(
        "embodied_kg",
        "--embodied-kg",
        float,
        None,
        "the machine's manufacturing emissions, kgCO2e (your figure; default: "
        "[embodied.csv](profiler/data/embodied.csv) where it knows the hardware)",
        metavar="KG",
        env="AICARBON_EMBODIED_KG",
        config="embodied-kg",
        low=0.0,
        high=1e6,
        low_text="must not be negative",
        high_text="must be at most 1e6 kg (a whole rack is some 10,000 kg)",
    ),
    Declared(
        "lifespan_years",
        "--lifespan",
        float,
        None,
        "years the hardware is used, over which its embodied emissions are amortised",
        metavar="YEARS",
        env="AICARBON_LIFESPAN_YEARS",
        config="lifespan",
        resolved_default=4.0,
        low=0.5,
        high=20.0,
        low_text="must be at least 0.5 years",
        high_text="must be at most 20 years",
    ),
    Declared(
        "units",
        "--units",
        float,
        None,
        "how many inferences (or other units) the run did",
        metavar="N",
        low=0.0,
        high=MAX_UNITS,
    ),
    Declared(
        "unit_name",
        "--unit-name",
        str,
        "inferences",
        "what a unit is: `inferences`, `output tokens`, `images` or your own name (graded like with "
        "like: [docs/impact.md](docs/impact.md))",
        metavar="NAME",
    ),
    Declared(
        "task",
        "--task",
        str,
        None,
        "the reference task to grade against (`aicarbon references`)",
        metavar="KEY",
    ),
    Declared("name", None, str, None, "the run's name"),
    Declared("tags", "--tag", "repeat", (), "label the run (repeat for several tags)", metavar="T"),
    Declared("note", "--note", str, None, "a note kept with the run", metavar="TEXT"),
    Declared("sync_gpu", None, bool, True, "phase boundaries wait for queued CUDA work (PyTorch)"),
    Declared("save", "--no-save", bool, True, "do not save the run in the local history", in_api=False),
)
DECLARED = {d.name: d for d in RUN_SETTINGS}
# The impact settings, resolved by precedence (flag, environment, config files, default).
SPECS = {d.key: d for d in RUN_SETTINGS if d.config}


class RunSettings:
    """What one measurement is asked to do, checked when built (``SettingsError``, naming the
    flag or the keyword argument at fault, as ``spelling`` says). Its fields are the declared
    settings (``RUN_SETTINGS``), with their defaults; it cannot be changed once built.

    The impact fields left ``None`` are resolved later from the environment and config files
    (``resolve``); ``units`` left ``None`` may come from the measured code (add_units). (A
    plain class, not a dataclass: see ``Declared``.)"""

    __slots__ = (*(d.name for d in RUN_SETTINGS), "spelling")
    interval_s: float
    sensors: frozenset[str] | None  # None: every sensor that works here
    backend: str  # one of BACKENDS
    country: str | None
    region: str | None
    carbon_intensity: float | None
    pue: float | None
    wue: float | None
    water_intensity: float | None
    embodied_kg: float | None
    lifespan_years: float | None
    units: float | None
    unit_name: str
    task: str | None
    name: str | None
    tags: tuple[str, ...]
    note: str | None
    sync_gpu: bool
    save: bool
    spelling: str  # "flag" (--interval) or "keyword": how errors name a setting

    def __init__(self, *, spelling: str = "keyword", **given: Any) -> None:
        unknown = sorted(set(given) - set(DECLARED))
        if unknown:
            raise TypeError(f"RunSettings() got an unexpected keyword argument {unknown[0]!r}")
        for d in RUN_SETTINGS:
            object.__setattr__(self, d.name, given.get(d.name, d.default))
        object.__setattr__(self, "spelling", spelling)
        object.__setattr__(self, "tags", tuple(self.tags))
        if self.sensors is not None:
            object.__setattr__(self, "sensors", frozenset(self.sensors))
        self._check()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: settings are frozen once checked")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunSettings):
            return NotImplemented
        return all(getattr(self, d.name) == getattr(other, d.name) for d in RUN_SETTINGS)

    def __hash__(self) -> int:
        return hash(tuple(_hashable(getattr(self, d.name)) for d in RUN_SETTINGS))

    def __repr__(self) -> str:
        given = ", ".join(f"{d.name}={getattr(self, d.name)!r}" for d in RUN_SETTINGS)
        return f"RunSettings({given})"

    def named(self, name: str) -> str:
        """How the user spelt a setting: ``--carbon-intensity`` or ``carbon_intensity``."""
        if self.spelling != "flag":
            return name
        return DECLARED[name].flag or name

    def _check(self) -> None:
        check_number(self.named("interval_s"), self.interval_s, *INTERVAL_RANGE_S)
        if self.sensors is not None:
            unknown = sorted(str(n) for n in self.sensors - set(SENSOR_NAMES))
            if unknown or not self.sensors:
                raise SettingsError(
                    f"unknown sensor {', '.join(unknown) or 'list (empty)'} in {self.named('sensors')}; "
                    f"choose from {', '.join(SENSOR_NAMES)}"
                )
        if self.backend not in BACKENDS:
            raise SettingsError(
                f"{self.named('backend')} must be one of {', '.join(BACKENDS)}; got {self.backend!r}"
            )
        units = self.units
        if units is not None and not (
            isinstance(units, (int, float)) and not isinstance(units, bool) and 0 < units <= MAX_UNITS
        ):
            raise SettingsError(
                f"{self.named('units')} must be a positive number of units, "
                f"at most {MAX_UNITS:.0e}; got {units!r}"
            )
        texts = [("unit_name", self.unit_name), ("name", self.name), ("note", self.note)]
        texts += [("task", self.task), ("country", self.country), ("region", self.region)]
        texts += [("tags", tag) for tag in self.tags]
        for key, text in texts:
            if text is not None and (not isinstance(text, str) or len(text) > MAX_LABEL_CHARS):
                raise SettingsError(f"{self.named(key)} must be text of at most {MAX_LABEL_CHARS} characters")
        if len(self.tags) > MAX_TAGS or any(not t.strip() for t in self.tags):
            raise SettingsError(f"{self.named('tags')}: at most {MAX_TAGS} tags, none of them empty")
        for spec in SPECS.values():
            value = getattr(self, spec.name)
            if spec.numeric and value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise SettingsError(f"{self.named(spec.name)} must be a number; got {value!r}")
                complaint = spec.check(float(value))
                if complaint:
                    raise SettingsError(f"{self.named(spec.name)} {complaint}; got {value!r}")

    def impact_flags(self) -> dict[str, Any]:
        """The impact settings given explicitly, by setting key (``carbon-intensity``...)."""
        return {spec.key: getattr(self, spec.name) for spec in SPECS.values()}

    def describe(self) -> dict[str, Any]:
        """The settings as plain data (for a record or a log)."""
        out: dict[str, Any] = {}
        for d in RUN_SETTINGS:
            value = getattr(self, d.name)
            out[d.name] = (
                sorted(value)
                if isinstance(value, frozenset)
                else (list(value) if isinstance(value, tuple) else value)
            )
        return out


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def check_number(name: str, value: float, low: float, high: float) -> float:
    """``value`` if it is finite and within [low, high]; otherwise a SettingsError."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
        raise SettingsError(f"{name} must be a number from {low:g} to {high:g}; got {value!r}")
    return float(value)


class Setting(NamedTuple):
    value: Any
    origin: str  # "--pue", "AICARBON_PUE", "pyproject.toml [tool.aicarbon]", a path, "default"


def find_pyproject(start: Path) -> Path | None:
    for directory in [start, *start.parents]:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def user_config_path(environ: Mapping[str, str]) -> Path:
    if environ.get("AICARBON_CONFIG"):
        return Path(environ["AICARBON_CONFIG"])
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "aicarbon" / "config.toml"


def _parse_toml(raw: bytes, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported here: most runs have no config file to parse
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text, as TOML must be") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise SettingsError(f"{path} is nested too deeply") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise SettingsError(f"{path} is a directory, not a config file") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None


# Does a pyproject.toml that could not be parsed try to configure aicarbon? ``[tool.aicarbon]``,
# ``tool.aicarbon.pue = ...``, or an ``aicarbon`` key under ``[tool]``.
# (Patterns, not compiled at import: they serve only the rare broken file.)
_TOOL_DOTTED = rb"""tool\s*\.\s*["']?aicarbon\b"""
_TOOL_TABLE = rb"(?m)^\s*\[\s*tool\s*\]"
_AICARBON_KEY = rb"""(?m)^\s*["']?aicarbon["']?\s*[=.]"""


def _configures_aicarbon(raw: bytes) -> bool:
    return bool(
        re.search(_TOOL_DOTTED, raw) or (re.search(_TOOL_TABLE, raw) and re.search(_AICARBON_KEY, raw))
    )


_WIDE_BOMS: tuple[tuple[bytes, str], ...] = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"))
_WIDE_BOMS += ((b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _wide_text(raw: bytes) -> str | None:
    """A file saved as UTF-16 or UTF-32 (with its byte-order mark, as editors write them),
    decoded, so that one that configures aicarbon is refused rather than silently ignored."""
    for bom, codec in _WIDE_BOMS:
        if raw.startswith(bom):
            return raw.decode(codec, "replace")
    return None


def _wide_name(raw: bytes) -> str:
    return next((codec.upper() for bom, codec in _WIDE_BOMS if raw.startswith(bom)), "another encoding")


def project_table(path: Path) -> dict[str, Any] | None:
    """The ``[tool.aicarbon]`` table of a pyproject.toml, or None when it has none.

    A pyproject.toml belongs to some project, often not aicarbon's business: one that cannot be
    read, decoded or parsed is an error only when it visibly tries to configure aicarbon;
    otherwise it is ignored, so that a broken file in a parent directory stops no run.
    """
    try:
        raw = path.read_bytes()
    except OSError:
        return None  # unreadable: it cannot configure aicarbon for us either
    wide = _wide_text(raw)
    if wide is not None and _configures_aicarbon(wide.encode("utf-8", "replace")):
        raise SettingsError(f"{path} is not UTF-8 text, as TOML must be (it is {_wide_name(raw)})")
    if b"aicarbon" not in raw:
        return None
    try:
        data = _parse_toml(raw, path)
    except SettingsError:
        if _configures_aicarbon(raw):
            raise
        return None
    tool = data.get("tool")
    if not isinstance(tool, dict) or "aicarbon" not in tool:
        return None
    table = tool["aicarbon"]
    if not isinstance(table, dict):
        raise SettingsError(f"tool.aicarbon in {path} must be a table ([tool.aicarbon]); got {table!r}")
    return table


def user_table(environ: Mapping[str, str]) -> tuple[Path, dict[str, Any]] | None:
    """The user config file's settings; None when the default file does not exist. A file that
    ``AICARBON_CONFIG`` names must exist."""
    path = user_config_path(environ)
    named = bool(environ.get("AICARBON_CONFIG"))
    if named and not path.exists():
        raise SettingsError(f"AICARBON_CONFIG names {path}, which does not exist")
    if not named and not path.is_file():
        return None
    return path, _parse_toml(_read_bytes(path), path)


GATE_TABLE = "check"  # [tool.aicarbon.check]: the CI gate's own settings (gate_settings)


def _table(data: dict[str, Any], where: str) -> dict[str, Any]:
    table = {str(k).replace("_", "-"): v for k, v in data.items() if k != GATE_TABLE}
    unknown = sorted(set(table) - set(SPECS))
    if unknown:
        raise SettingsError(f"unknown key {unknown[0]!r} in {where}; valid keys: {', '.join(SPECS)}")
    return table


def resolve(
    flags: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> dict[str, Setting]:
    """Every setting in SPECS, resolved by precedence and checked."""
    env = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = []
    project = find_pyproject(cwd or Path.cwd())
    if project is not None:
        tool = project_table(project)
        if tool is not None:
            where = f"{project} [tool.aicarbon]"
            layers.append((where, _table(tool, where)))
    user = user_table(env)
    if user is not None:
        layers.append((str(user[0]), _table(user[1], str(user[0]))))

    resolved: dict[str, Setting] = {}
    for key, spec in SPECS.items():
        setting = Setting(spec.resolved_default, "default")
        variable = spec.env or ""  # every resolved setting declares one
        if flags.get(key) is not None:
            setting = Setting(flags[key], f"--{key}")
        elif env.get(variable):
            setting = Setting(_coerce(spec, env[variable], variable), variable)
        else:
            for where, table in layers:
                if key in table:
                    setting = Setting(_coerce(spec, table[key], where), where)
                    break
        if setting.value is not None:
            complaint = spec.check(setting.value)
            if complaint:
                raise SettingsError(f"{key} {complaint}; got {setting.value!r} from {setting.origin}")
        resolved[key] = setting
    return resolved


def _coerce(spec: Declared, raw: Any, where: str) -> Any:
    """A value from the environment (text) or a TOML file (text or number) to its type."""
    if not spec.numeric:
        if not isinstance(raw, str):
            raise SettingsError(f"{spec.key} must be text; got {raw!r} from {where}")
        return raw.strip()
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    complaint = f"{spec.key} must be a number; got {raw!r} from {where}"
    if not isinstance(raw, str):
        raise SettingsError(complaint)
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(complaint) from None
