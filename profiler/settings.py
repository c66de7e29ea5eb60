"""Impact settings (grid, PUE, water) from flags, environment and config files.

Precedence, highest first (each setting on its own):

1. the command-line flag (``--country``, ``--pue``, ...);
2. the environment (``AICARBON_COUNTRY``, ``AICARBON_PUE``, ...);
3. the project's ``pyproject.toml``, table ``[tool.aicarbon]``, found in the current directory
   or the nearest parent that has one;
4. the user config file: ``$AICARBON_CONFIG``, else ``$XDG_CONFIG_HOME/aicarbon/config.toml``,
   else ``~/.config/aicarbon/config.toml`` (keys at the top level);
5. the default.

Every resolved value remembers where it came from, and the run record keeps that.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class SettingsError(ValueError):
    """A bad setting, with a sentence saying which and where."""


@dataclass(frozen=True)
class Spec:
    key: str  # config-file key (kebab-case) and flag name without --
    env: str
    parse: Callable[[str], Any]
    check: Callable[[Any], str | None]  # a complaint, or None when fine
    default: Any


def _number(text: str) -> float:
    return float(text)


def _non_negative(value: float) -> str | None:
    return "must not be negative" if value < 0 else None


def _pue(value: float) -> str | None:
    return "must be at least 1.0 (1.0 means every watt goes to IT)" if value < 1.0 else None


def _text(text: str) -> str:
    return str(text).strip()


def _ok(_: object) -> str | None:
    return None


SPECS = {
    s.key: s
    for s in (
        Spec("country", "AICARBON_COUNTRY", _text, _ok, None),
        Spec("region", "AICARBON_REGION", _text, _ok, None),
        Spec("carbon-intensity", "AICARBON_CARBON_INTENSITY", _number, _non_negative, None),
        Spec("pue", "AICARBON_PUE", _number, _pue, 1.0),
        Spec("wue", "AICARBON_WUE", _number, _non_negative, 0.0),
        Spec("water-intensity", "AICARBON_WATER_INTENSITY", _number, _non_negative, None),
    )
}


@dataclass(frozen=True)
class Setting:
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


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None


def _table(data: dict[str, Any], where: str) -> dict[str, Any]:
    table = {str(k).replace("_", "-"): v for k, v in data.items()}
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
        tool = _read_toml(project).get("tool", {}).get("aicarbon")
        if tool is not None:
            layers.append((f"{project} [tool.aicarbon]", _table(tool, f"{project} [tool.aicarbon]")))
    user = user_config_path(env)
    if user.is_file():
        layers.append((str(user), _table(_read_toml(user), str(user))))

    resolved: dict[str, Setting] = {}
    for key, spec in SPECS.items():
        setting = Setting(spec.default, "default")
        if flags.get(key) is not None:
            setting = Setting(flags[key], f"--{key}")
        elif env.get(spec.env):
            setting = Setting(_coerce(spec, env[spec.env], spec.env), spec.env)
        else:
            for where, table in layers:
                if key in table:
                    setting = Setting(_coerce(spec, table[key], where), where)
                    break
        if setting.value is not None:
            complaint = spec.check(setting.value)
            if complaint:
                raise SettingsError(f"{key} {complaint}; got {setting.value} from {setting.origin}")
        resolved[key] = setting
    return resolved


def _coerce(spec: Spec, raw: Any, where: str) -> Any:
    """A value from the environment (text) or a TOML file (text or number) to its type."""
    if spec.parse is _text:
        return _text(raw)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    complaint = f"{spec.key} must be a number; got {raw!r} from {where}"
    if not isinstance(raw, str):
        raise SettingsError(complaint)
    try:
        return spec.parse(raw)
    except ValueError:
        raise SettingsError(complaint) from None
