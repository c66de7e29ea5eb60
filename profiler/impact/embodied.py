"""Embodied emissions: the manufacturing emissions of the hardware a run held, amortised by its
duration over the hardware's lifespan and by its share of it (as SCI, ISO/IEC 21031:2024, counts
them: M = TE x TiR/EL x RR/ToR). Always kept apart from the operational emissions.

- GPUs: each GPU the run measured, at its card's figure (``embodied.csv``, matched in its name),
  share 1 (the run held it).
- The rest of the machine: the user's figure (``--embodied-kg``), else a host row matched in the
  CPU's model, whose share is the run's logical CPUs over the host's threads (a 4-vCPU runner
  on a 128-thread host: 4/128); with the user's figure, the whole machine (share 1).
- Anything with no figure is named (``missing``), never counted as 0.
"""

from __future__ import annotations

from ..datafiles import read_csv
from ..records.run import EmbodiedPart, EmbodiedRecord, HostRecord, Run

SECONDS_PER_YEAR = 365.25 * 86400
DEFAULT_LIFESPAN_YEARS = 4.0


def _rows(kind: str) -> list[dict[str, str]]:
    return [r for r in read_csv("embodied.csv") if r["kind"] == kind]


def _match(kind: str, name: str) -> dict[str, str] | None:
    lowered = name.lower()
    return next((r for r in _rows(kind) if r["match"].lower() in lowered), None)


def embodied(run: Run, user_kg: float | None, lifespan_years: float) -> EmbodiedRecord:
    """The run's embodied emissions (``EmbodiedRecord``): its parts, their shares, what is missing.
    A job's nodes are taken to be alike (the record keeps only rank 0's machine facts): each
    node's own duration counts, at rank 0's node's figures."""
    if not run.nodes:
        return embodied_for(run.host, run.duration_s, user_kg, lifespan_years)
    record = embodied_for(run.host, sum(n.duration_s for n in run.nodes), user_kg, lifespan_years)
    for part in record.parts:
        part.part = f"{part.part}, on each of {len(run.nodes)} nodes"
    return record


def applying(host: HostRecord, user_kg: float | None = None) -> list[str]:
    """Which figures apply to this machine (``aicarbon devices``): one line per part."""
    record = embodied_for(host, 0.0, user_kg, DEFAULT_LIFESPAN_YEARS)
    lines = []
    for p in record.parts:
        share = "" if p.share == 1 else f", share {p.share:.3g}"
        lines.append(f"{p.part}: {p.kg} kgCO2e{share} ({p.source})")
    lines += [f"{m}: no figure" for m in record.missing]
    if record.missing:
        lines.append("give the machine's with --embodied-kg KG (docs/impact.md)")
    return lines


def embodied_for(
    host: HostRecord, duration_s: float, user_kg: float | None, lifespan_years: float
) -> EmbodiedRecord:
    amortised = duration_s / (lifespan_years * SECONDS_PER_YEAR)
    parts: list[EmbodiedPart] = []
    missing: list[str] = []
    for gpu in host.gpus:
        row = _match("gpu", gpu)
        if row is None:
            missing.append(f"GPU {gpu}")
            continue
        parts.append(
            EmbodiedPart(f"GPU {gpu}", float(row["low_kg"]), float(row["high_kg"]), 1.0, row["source"])
        )
    if user_kg is not None:
        parts.append(EmbodiedPart("the machine (your figure)", user_kg, user_kg, 1.0, "--embodied-kg"))
    else:
        row = _match("host", host.cpu_model) if host.cpu_model else None
        if row is None:
            missing.append(f"the machine ({host.cpu_model or 'unknown CPU'})")
        else:
            threads = float(row["threads"] or 0)
            share = min(host.logical_cpus / threads, 1.0) if threads > 0 else 1.0
            parts.append(EmbodiedPart(f"host {row['match']}", float(row["low_kg"]), float(row["high_kg"]),
                                      share, row["source"]))  # fmt: skip
    low = sum(p.low_kg * p.share for p in parts) * 1000 * amortised
    high = sum(p.high_kg * p.share for p in parts) * 1000 * amortised
    return EmbodiedRecord(low_g=low, high_g=high, lifespan_years=lifespan_years, parts=parts, missing=missing)
