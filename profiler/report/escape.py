"""Untrusted text made safe to print on a terminal.

Every string that comes from a record, a command line, a file or the machine (a hostname, a GPU
name) may hold control sequences: ESC and CSI sequences that clear the screen or move the
cursor up and erase a line (forging report lines), OSC sequences that set the window title or
write the clipboard (OSC 52), C1 controls that some terminals obey, bidirectional overrides that
reorder what is shown, and bytes that are not UTF-8 (Python keeps them as lone surrogates).
``visible`` turns each into a printable escape (``\\x1b``, ``\\u202e``); everything else,
accented letters and CJK included, is kept. The record itself keeps the exact text: only what
is shown is escaped.

A CI runner reads its job's output too: GitHub Actions obeys a line that starts (after
blanks) with ``::command::`` and, in the legacy form, ``##[command]`` anywhere in a line;
``::stop-commands::`` would silence aicarbon's own annotations and ``::error`` forge one. So
``visible`` always shows ``##[`` as ``#\\x23[``, and on a GitHub runner (``GITHUB_ACTIONS``
is ``true``) every ``::`` as ``:\\x3a``: no text from a record, a file or a command line can
then form a workflow command, wherever a line of ours (or a wrapped line) puts it.
"""

from __future__ import annotations

import os
from dataclasses import fields, is_dataclass, replace
from functools import cache
from typing import Any, TypeVar

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x1B: "\\x1b"}
# Bidirectional marks, embeddings, overrides and isolates; line and paragraph separators.
_BIDI_AND_SEPARATORS = [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F)]
_BIDI_AND_SEPARATORS += range(0x2066, 0x206A)


@cache
def _translation() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in [*range(0x00, 0x20), 0x7F]:
        table[code] = _NAMED.get(code, f"\\x{code:02x}")
    for code in range(0x80, 0xA0):  # C1 controls: CSI is 0x9B, OSC 0x9D
        table[code] = f"\\u{code:04x}"
    for code in _BIDI_AND_SEPARATORS:
        table[code] = f"\\u{code:04x}"
    for code in range(0xD800, 0xE000):
        # U+DC80..U+DCFF: a byte that was not UTF-8 (surrogateescape); show the byte itself.
        table[code] = f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
    return table


def visible(text: str) -> str:
    """``text`` with every control character, bidi override and stray surrogate escaped, and
    unable to form a CI runner's workflow command (see the module's notes)."""
    if not text.isprintable():  # none of those is printable: the common case costs one scan
        text = text.translate(_translation())
    if "##[" in text:
        text = text.replace("##[", "#\\x23[")
    if "::" in text and os.environ.get("GITHUB_ACTIONS") == "true":
        text = text.replace("::", ":\\x3a")
    return text


T = TypeVar("T")


def escaped_copy(value: T) -> T:
    """A copy of a record (nested dataclasses, lists, dicts) with every string made
    ``visible``: what a renderer reads, so that no field can be forgotten."""
    return _escape(value)  # type: ignore[no-any-return]


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return visible(value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _escape(getattr(value, f.name)) for f in fields(value) if f.init})
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_escape(v) for v in value)
    if isinstance(value, dict):
        return {_escape(k): _escape(v) for k, v in value.items()}
    return value
