"""A run as a row of codecarbon's ``emissions.csv``, appended where codecarbon's own rows go.

Read and written **by header name**, never by position: codecarbon's generations have different
columns (``GENERATIONS``, taken from ``EmissionsData`` in each version's source), and its own
writer (``FileOutput``) appends to a file only when the file's header holds the same *set* of
names as its row, in any order, and renames the file to a backup otherwise. So:

- a new file gets the header of the newest generation (codecarbon 3.2 to 3.3), which
  codecarbon 3.3's ``FileOutput`` then appends to without a backup;
- a file codecarbon started, of any generation, gets a row in its own column order, with the
  columns it has; a header that is no generation's is refused in one sentence, the file
  untouched (codecarbon would have renamed it; aicarbon never moves a user's file).

Units are codecarbon's: kg CO2e, kWh, W, L, GB, s, and a naive local timestamp. Energy and
power include the PUE, as codecarbon 3.x counts them (``energy *= pue``). The row is the
machine's, as in codecarbon's default ``tracking_mode`` "machine". Figures aicarbon does not
have are left empty rather than invented (latitude and longitude: the location is never looked
up; GPU and RAM utilisation). ``codecarbon_version`` is empty: codecarbon did not measure the
run; the row's ``project_name`` is the run's name, else "aicarbon".

A row is appended with one ``write`` on a descriptor opened for appending, under an exclusive
``flock`` (parallel aicarbon runs never interleave their rows, nor write two headers). Text
from the record that a spreadsheet would run as a formula is prefixed with ``'`` (as in the CSV
report).
"""

from __future__ import annotations

import calendar
import csv
import errno
import io
import os
import platform
import stat
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from ..records.codecarbon_csv import COLUMNS_38, GENERATIONS, generation_of
from ..records.output_file import OutputPathError
from ..records.run import Run
from .csv_table import cell

MAX_HEADER_BYTES = 64 << 10
_KWH_J = 3.6e6
_GB = 1 << 30
_TEXT = {"project_name", "country_name", "region", "os", "cpu_model", "gpu_model"}


class EmissionsCsvError(OutputPathError):
    """An ``emissions.csv`` that cannot take a row, in one sentence (an ``AicarbonError``)."""


def row(run: Run) -> dict[str, str]:
    """The run's values under codecarbon's names (every generation's), as CSV text; they
    depend on the record alone, and on this interpreter's version (``python_version``)."""
    impact = run.impact
    pue = impact.pue if impact is not None else 1.0
    by_kind = {"cpu": 0.0, "gpu": 0.0, "dram": 0.0}
    for d in run.counted:
        if d.kind in by_kind:
            by_kind[d.kind] += d.energy_j
    duration = run.duration_s
    emissions_kg = impact.emissions_g / 1000 if impact is not None else 0.0
    country, iso, region = impact.grid.place() if impact is not None else ("", "", "")
    host = run.host
    utilisation = run.cpu_utilisation
    values: dict[str, object] = {
        "timestamp": _local_naive(run.end_utc),
        "project_name": run.labels.name or "aicarbon",
        "run_id": str(uuid.uuid4()),
        "experiment_id": "",
        "duration": duration,
        "emissions": emissions_kg,
        "emissions_rate": emissions_kg / duration if duration > 0 else 0.0,
        "cpu_power": _power(by_kind["cpu"], duration, pue),
        "gpu_power": _power(by_kind["gpu"], duration, pue),
        "ram_power": _power(by_kind["dram"], duration, pue),
        "cpu_energy": by_kind["cpu"] * pue / _KWH_J,
        "gpu_energy": by_kind["gpu"] * pue / _KWH_J,
        "ram_energy": by_kind["dram"] * pue / _KWH_J,
        "energy_consumed": run.machine_energy_j * pue / _KWH_J,
        "water_consumed": impact.water.litres if impact is not None else 0.0,
        "country_name": country,
        "country_iso_code": iso,
        "region": region,
        "cloud_provider": "",
        "cloud_region": "",
        "os": host.os,
        "python_version": platform.python_version(),
        "codecarbon_version": "",
        "cpu_count": host.logical_cpus,
        "cpu_model": host.cpu_model,
        "gpu_count": len(host.gpus),
        "gpu_model": ", ".join(host.gpus),
        "longitude": "",
        "latitude": "",
        "ram_total_size": host.ram_bytes / _GB,
        "tracking_mode": "machine",
        "cpu_utilization_percent": 100 * utilisation if utilisation is not None else "",
        "gpu_utilization_percent": "",
        "ram_utilization_percent": "",
        "ram_used_gb": "",
        "on_cloud": "N",
        "pue": pue,
        "wue": impact.water.wue_l_per_kwh if impact is not None else 0.0,
    }
    return {name: _text(name, value) for name, value in values.items()}


def check_target(path: Path) -> None:
    """Refuse, before the command runs, a path that cannot take a row: not a regular file, not
    writable, or a header that is no codecarbon generation's."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        parent = path.absolute().parent
        if not parent.is_dir():
            raise EmissionsCsvError(f"--emissions-csv: directory {parent} does not exist") from None
        if not os.access(parent, os.W_OK):
            raise EmissionsCsvError(f"--emissions-csv: directory {parent} is not writable") from None
        return
    except OSError as exc:
        raise EmissionsCsvError(f"--emissions-csv: cannot read {path} ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise EmissionsCsvError(f"--emissions-csv: {path} is not a regular file")
    if not os.access(path, os.W_OK):
        raise EmissionsCsvError(f"--emissions-csv: cannot write {path}: permission denied")
    with open(path, "rb") as handle:
        _columns(handle.read(MAX_HEADER_BYTES), path)


def append(path: Path, values: Mapping[str, str]) -> str:
    """Append ``values`` (``row``) to ``path`` in its columns' order, creating it with the
    newest header; returns the generation written. ``EmissionsCsvError`` says why not."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise EmissionsCsvError(f"cannot write {path}: {_why(exc)}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise EmissionsCsvError(f"{path} is not a regular file: no row appended")
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor is closed
        size = os.fstat(fd).st_size
        head = os.pread(fd, MAX_HEADER_BYTES, 0) if size else b""
        columns: tuple[str, ...]
        if not head.strip():
            columns, generation, text = COLUMNS_38, GENERATIONS[frozenset(COLUMNS_38)], _line(COLUMNS_38)
        else:
            columns, generation = _columns(head, path)
            last = os.pread(fd, 1, size - 1)
            text = "" if last == b"\n" else "\n"  # a last line cut short stays its own
        text += _line([values.get(name, "") for name in columns])
        data = text.encode("utf-8")
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError as exc:
            raise EmissionsCsvError(f"cannot append to {path}: {_why(exc)}") from None
        return generation
    finally:
        os.close(fd)


def _columns(head: bytes, path: Path) -> tuple[tuple[str, ...], str]:
    """The header's names, in the file's order, and the generation they are."""
    try:
        first = head.decode("utf-8-sig").splitlines()[0] if head else ""
    except UnicodeDecodeError:
        raise EmissionsCsvError(f"{path} is not UTF-8 text: not a codecarbon emissions.csv") from None
    if not first:
        return COLUMNS_38, GENERATIONS[frozenset(COLUMNS_38)]
    names = tuple(next(csv.reader([first]), []))
    generation = generation_of(names)
    if generation is None:
        known = ", ".join(f"{len(g)} columns ({v})" for g, v in GENERATIONS.items())
        raise EmissionsCsvError(
            f"{path} has a header of {len(names)} columns that is not codecarbon's emissions.csv "
            f"({known}): no row appended, the file is left as it is"
        )
    return names, generation


def _line(values: list[str] | tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _text(name: str, value: object) -> str:
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else ""
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return cell(text) if name in _TEXT else text


def _power(energy_j: float, duration_s: float, pue: float) -> float:
    return energy_j / duration_s * pue if duration_s > 0 else 0.0


def _local_naive(utc: str) -> str:
    """``2026-12-07T10:15:36.123Z`` as codecarbon writes its timestamps: local time, no zone."""
    try:
        moment = time.strptime(utc[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(calendar.timegm(moment)))


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return exc.strerror or str(exc)
