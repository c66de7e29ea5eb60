"""Read the figures from outside that ship in ``aicarbon/data``: CSV with ``#`` comment lines
(source and year sit in those comments, next to the numbers)."""

from __future__ import annotations

import csv
import io
from functools import cache
from pathlib import Path

# Package data sits next to this module (installed or editable): a plain path is enough, and
# importlib.resources would add tens of milliseconds to every start.
DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def read_text(name: str) -> str:
    return (DATA_DIR / name).read_text(encoding="utf-8")


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of a bundled CSV file, comment lines skipped."""
    lines = [line for line in read_text(name).splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))
