"""codecarbon's ``emissions.csv`` rows as run records, for ``aicarbon history import``.

Each row of any generation (``records.codecarbon_csv``), read by header name, becomes a run
measured by codecarbon: its totals per kind (CPU, GPU, RAM), its duration, emissions, water,
PUE and place, and the machine it describes. What the row does not hold is not invented: the
command (none), the exit status (0: codecarbon records none), the sampling (none: an empty
attribution, one timeline bucket of the average power), the method of each figure (codecarbon
writes none: RAPL, a TDP constant or its CPU-load model all look alike, so every domain is
labelled ``estimated``).

Energy: codecarbon's figures include the PUE; the record keeps the machine's energy (divided by
the row's PUE) and the impact applies the PUE again, as for a run aicarbon measured. The grid
intensity is the row's own: emissions over energy.

A row that cannot be read (a field that is not a finite number, a negative figure, a timestamp
that is not one) is reported as one line naming it, and the other rows are imported.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Mapping
from pathlib import Path

from ..records.codec import RecordError, read_bounded
from ..records.codecarbon_csv import generation_of
from ..records.run import (
    CODECARBON_SUFFIX,
    AttributionRecord,
    DomainRecord,
    EnergyRecord,
    ExitRecord,
    GridRecord,
    HostRecord,
    ImpactRecord,
    LabelsRecord,
    Run,
    SamplingRecord,
    TimelineRecord,
    ToolRecord,
    WaterRecord,
    WorkRecord,
)

MAX_CSV_BYTES = 64 << 20
MAX_ROWS = 100_000
_KWH_J = 3.6e6
_GB = 1 << 30
_KINDS = (("cpu", "cpu_energy", "CPU"), ("gpu", "gpu_energy", "GPU"), ("dram", "ram_energy", "RAM"))
SOURCE = "codecarbon's emissions.csv"


class CsvImportError(RecordError):
    """A file that is not codecarbon's emissions.csv at all, in one sentence."""


def read_runs(path: Path) -> tuple[list[Run], list[str]]:
    """The file's rows as runs, and one line per row that could not be read."""
    raw = read_bounded(path, "codecarbon emissions.csv", MAX_CSV_BYTES)  # RecordError: one sentence
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvImportError(f"{path} is not UTF-8 text: not codecarbon's emissions.csv") from None
    reader = csv.DictReader(text.splitlines())
    names = reader.fieldnames or []
    generation = generation_of(names)
    if generation is None:
        raise CsvImportError(
            f"{path} has a header of {len(names)} columns that is not codecarbon's emissions.csv"
        )
    runs: list[Run] = []
    problems: list[str] = []
    for number, row in enumerate(reader, start=2):
        if len(runs) + len(problems) >= MAX_ROWS:
            problems.append(f"line {number} and after: more than {MAX_ROWS} rows, not read")
            break
        try:
            if None in row or any(v is None for v in row.values()):
                raise ValueError(f"{len(names)} columns expected")
            runs.append(run_from_row(row, generation))
        except (ValueError, RecordError) as exc:
            problems.append(f"line {number}: {exc}")
    return runs, problems


def run_from_row(row: Mapping[str, str], generation: str) -> Run:
    """One row as a run (``ValueError`` naming the first field that cannot be read)."""
    duration = _number(row, "duration")
    pue = _number(row, "pue", default=1.0)
    if pue < 1:
        raise ValueError(f"pue: {pue:g} is below 1")
    end = _utc_of_local(row["timestamp"])
    start = _utc(end - duration)
    domains = []
    for kind, column, label in _KINDS:
        energy_j = _number(row, column) / pue * _KWH_J
        if energy_j > 0 or kind == "cpu":
            domains.append(
                DomainRecord(
                    id=f"{kind}{CODECARBON_SUFFIX}",
                    kind=kind,
                    label=label,
                    method="estimated",
                    source=SOURCE,
                    in_total=True,
                    energy_j=energy_j,
                    attributed_j=energy_j,
                    model="codecarbon's (RAPL, its CPU-load model or a TDP constant: the row does not say)",
                )
            )
    machine_j = sum(d.energy_j for d in domains)
    stated_j = _number(row, "energy_consumed") / pue * _KWH_J
    if abs(stated_j - machine_j) > 0.01 * max(stated_j, machine_j) + 1e-3:
        raise ValueError("energy_consumed: not the sum of cpu_energy, gpu_energy and ram_energy")
    version = row.get("codecarbon_version", "")
    run_id = (row.get("run_id") or "").strip()
    measured_by = f"codecarbon {version}" if version else "no codecarbon_version: not measured by codecarbon"
    mode = row.get("tracking_mode", "") or "machine"
    emissions_g = _number(row, "emissions") * 1000
    kwh = machine_j / _KWH_J
    water = _number(row, "water_consumed") if "water_consumed" in row else 0.0
    country, iso = row.get("country_name", ""), row.get("country_iso_code", "")
    region = row.get("region", "")
    place = f"{country} ({iso})" if iso else country or "unknown"
    if region:
        place += f" / {region}"
    ids = [d.id for d in domains]
    average_w = machine_j / duration if duration > 0 else 0.0
    gpu_count = int(_number(row, "gpu_count"))
    return _checked(
        Run(
            # codecarbon always writes its version; a row without one was written by another
            # tool (aicarbon's --emissions-csv leaves it empty): who measured is not known.
            tool=ToolRecord(name="codecarbon" if version else "unknown", version=version),
            command=[],
            start_utc=start,
            end_utc=_utc(end),
            duration_s=duration,
            exit=ExitRecord(0, None, None),
            host=HostRecord(
                hostname="",
                os=row.get("os", ""),
                cpu_model=row.get("cpu_model", ""),
                logical_cpus=int(_number(row, "cpu_count")),
                ram_bytes=int(_number(row, "ram_total_size") * _GB),
                gpus=[row.get("gpu_model", "")] if gpu_count > 0 else [],
            ),
            sampling=SamplingRecord(
                interval_s=duration if duration > 0 else 1.0, samples=0, sampler_cpu_s=0.0
            ),
            energy=EnergyRecord(average_w, domains),
            attribution=AttributionRecord(
                tree_cpu_s=0.0,
                machine_busy_cpu_s=0.0,
                gpus_shared_with_other_processes=[],
                method=f"codecarbon, tracking_mode {mode}",
            ),
            unavailable=[],
            notes=[
                f"imported from {SOURCE} ({generation} columns, {measured_by}): no command, exit "
                "status or samples were recorded; every figure is the row's"
            ],
            labels=LabelsRecord(
                name=row.get("project_name") or None,
                tags=["codecarbon"],
                # codecarbon's run id: what tells an imported row again (none: it cannot be told)
                note=f"codecarbon run {run_id}"[:200] if run_id else None,
            ),
            work=WorkRecord(),
            timeline=TimelineRecord(
                bucket_s=duration if duration > 0 else 1.0,
                domains=ids,
                t_s=[0.0],
                duration_s=[duration],
                power_w=[[d.energy_j / duration if duration > 0 else 0.0 for d in domains]],
                peak_power_w=[average_w],
            ),
            impact=ImpactRecord(
                energy_kwh=kwh,
                attributed_kwh=kwh,
                pue=pue,
                pue_origin=SOURCE,
                grid=GridRecord(
                    g_per_kwh=emissions_g / (kwh * pue) if kwh > 0 else 0.0,
                    label=place,
                    source=f"{SOURCE} (emissions over energy)",
                    year=None,
                    origin=SOURCE,
                ),
                emissions_g=emissions_g,
                attributed_emissions_g=emissions_g,
                water=WaterRecord(
                    litres=water,
                    attributed_litres=water,
                    wue_l_per_kwh=_number(row, "wue") if "wue" in row else 0.0,
                    wue_origin=SOURCE,
                    electricity_l_per_kwh=0.0,
                    electricity_origin=SOURCE,
                    source=SOURCE,
                ),
            ),
        )
    )


def _checked(run: Run) -> Run:
    """The record as a reader would check it (one JSON round trip: what the history stores)."""
    return Run.from_dict(run.to_dict(), "the row")


def _number(row: Mapping[str, str], name: str, default: float = 0.0) -> float:
    text = (row.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text[:40]!r} is not a number") from None
    if not math.isfinite(value) or not 0 <= value <= 1e15:
        raise ValueError(f"{name}: {text[:40]!r} is not a finite figure from 0 to 1e15")
    return value


def _utc_of_local(stamp: str) -> float:
    """codecarbon's naive local timestamp (``2026-12-07T12:04:57``, seconds optional
    fractions) as seconds since the epoch."""
    try:
        parsed = time.strptime(stamp.strip()[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise ValueError(f"timestamp: {stamp[:40]!r} is not a date and time") from None
    return time.mktime(parsed)


def _utc(seconds: float) -> str:
    moment = time.gmtime(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{int(seconds * 1000) % 1000:03d}Z"
