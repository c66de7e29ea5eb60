"""Strict decoding of parsed JSON into the record dataclasses.

A record may come from anywhere (records are shared), so a reader trusts nothing: every field
is checked against the dataclass's type hints (``str``, ``int``, ``float``, ``bool``,
``X | None``, ``list[X]``, nested dataclasses), numbers must be finite and of a physical size
(``|x| <= 1e18``: sums of them stay finite), and the first problem is reported as one sentence
naming the field, e.g. ``energy.domains[2].energy_j: expected a number, got a string``. Keys
this version does not know are ignored, so that additive fields of a newer minor version read.
"""

from __future__ import annotations

import json
import math
import types
from dataclasses import MISSING, fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from ..errors import AicarbonError
from ..limits import MAX_MAGNITUDE

T = TypeVar("T")


class RecordError(AicarbonError, ValueError):
    """A file or value that is not a record this version can read, in one sentence."""


def decode(cls: type[T], data: object, where: str) -> T:
    """An instance of the dataclass ``cls`` from ``data`` (a parsed JSON object); ``where`` names
    it in errors ("" for a whole record: its fields are named alone, ``exit.status``)."""
    if not isinstance(data, dict):
        raise RecordError(f"{where or 'the record'}: expected an object, got {_kind(data)}")
    hints = _hints(cls)  # type: ignore[arg-type]  # a dataclass type: hashable
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        at = f"{where}.{f.name}" if where else f.name
        if f.name in data:
            kwargs[f.name] = value(hints[f.name], data[f.name], at)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise RecordError(f"{at}: missing")
    return cls(**kwargs)


def value(tp: Any, data: object, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if data is None and type(None) in options:
            return None
        others = [o for o in options if o is not type(None)]
        if len(others) == 1:
            return value(others[0], data, where)
        raise RecordError(f"{where}: unsupported type {tp}")  # pragma: no cover - a record bug
    if origin is list:
        if not isinstance(data, list):
            raise RecordError(f"{where}: expected a list, got {_kind(data)}")
        (item,) = get_args(tp)
        return [value(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
    if tp is bool:
        if not isinstance(data, bool):
            raise RecordError(f"{where}: expected true or false, got {_kind(data)}")
        return data
    if tp is int:
        if not isinstance(data, int) or isinstance(data, bool):
            raise RecordError(f"{where}: expected a whole number, got {_kind(data)}")
        if abs(data) > MAX_MAGNITUDE:
            raise RecordError(f"{where}: {data:.3g} is out of range")
        return data
    if tp is float:
        if not isinstance(data, (int, float)) or isinstance(data, bool):
            raise RecordError(f"{where}: expected a number, got {_kind(data)}")
        number = float(data)
        if not math.isfinite(number) or abs(number) > MAX_MAGNITUDE:
            raise RecordError(f"{where}: {number:.3g} is not a finite number of a physical size")
        return number
    if tp is str:
        if not isinstance(data, str):
            raise RecordError(f"{where}: expected a string, got {_kind(data)}")
        return data
    if is_dataclass(tp):
        return decode(tp, data, where)  # type: ignore[arg-type]
    raise RecordError(f"{where}: unsupported type {tp}")  # pragma: no cover - a record bug


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _kind(data: object) -> str:
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "true" if data else "false"
    return {
        str: "a string",
        int: "a whole number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(data), type(data).__name__)


def dumps(data: object) -> str:
    """Strict JSON text of a record (``NaN`` and infinities raise ``ValueError``: never written),
    indented, one final newline. ``##[`` and ``::`` inside strings are written as JSON escapes
    (``#\\u0023[``, ``:\\u003a``): the same strings to any parser, and no line that a CI runner
    could read as a workflow command when the JSON is printed in a job's log."""
    text = json.dumps(data, indent=2, allow_nan=False)
    if "##[" in text:
        text = text.replace("##[", "#\\u0023[")
    if "::" in text:  # only inside strings: JSON's own syntax never has two colons in a row
        text = text.replace("::", ":\\u003a")
    return text + "\n"


def read_bounded(path: Path, what: str, max_bytes: int) -> bytes:
    """A file's bytes, or ``RecordError`` in one sentence saying why it is not a ``what``
    (missing, a directory, unreadable, larger than ``max_bytes``)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise RecordError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise RecordError(f"{path} is a directory, not a {what}") from None
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > max_bytes:
        raise RecordError(f"{path} is larger than {max_bytes >> 20} MB: not a {what}")
    return raw


def read_json_file(path: Path, what: str, max_bytes: int) -> object:
    """A file's strict JSON (no NaN or Infinity), or ``RecordError`` in one sentence saying why
    it is not a ``what`` (missing, a directory, unreadable, too large, not UTF-8, not JSON)."""
    raw = read_bounded(path, what, max_bytes)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise RecordError(f"{path} is not UTF-8 text (a binary file?)") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise RecordError(f"{path} is nested too deeply to be a {what}") from None
    except ValueError as exc:  # NaN/Infinity, or an integer of thousands of digits
        why = "a number of thousands of digits" if "digits" in str(exc) else str(exc)
        raise RecordError(f"{path} is not strict JSON ({why})") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")
