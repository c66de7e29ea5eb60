"""Embodied emissions: the manufacturing emissions of the hardware a run held, amortised by its
duration over the hardware's lifespan and by its share of it (as SCI, ISO/IEC 21031:2024, counts
them: M = TE x TiR/EL x RR/ToR). Always kept apart from the operational emissions.

- GPUs: each GPU the run measured, at its card's figure (``embodied.csv``, matched on its whole
  name as NVML gives it), share 1 (the run held it; GPUs it did not measure are not counted).
- The rest of the machine: the user's figure (``--embodied-kg``, the whole machine's) at the
  share of its logical CPUs the run may use (its cpuset: ``HostRecord.cpus_allowed``); else the
  host rows matched in the CPU's model, at the run's CPUs over the host's threads (a 4-vCPU
  runner on a 128-thread host: 4/128). Several rows (sources, server configurations) are
  alternatives: the range spans them, each at its own host's thread count.
- Anything with no figure is named (``missing``), never counted as 0.
"""

from __future__ import annotations

import re
from collections import Counter

from ..datafiles import read_csv
from ..records.run import EmbodiedPart, EmbodiedRecord, HostRecord, Run

SECONDS_PER_YEAR = 365.25 * 86400
DEFAULT_LIFESPAN_YEARS = 4.0


def _rows(kind: str, table: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """The data file's rows of one kind (of ``table``, the file already read, where given)."""
    return [r for r in (read_csv("embodied.csv") if table is None else table) if r["kind"] == kind]


def _share(allowed: int, of: float) -> float:
    """The share of ``of`` CPUs (or threads) that ``allowed`` of them make; 1 where ``of`` is not
    known."""
    return min(allowed / of, 1.0) if of > 0 else 1.0


def _words(name: str) -> str:
    """A hardware name as matched: lower case, no (R)/(TM), words of letters and digits, without
    "cpu" and "processor", padded with spaces (``Intel(R) Xeon(R) CPU E5-2670 v2 @ 2.50GHz``:
    `` intel xeon e5 2670 v2 2 50ghz ``)."""
    text = re.sub(r"\((r|tm)\)", " ", name.lower())
    words = [w for w in re.split(r"[^a-z0-9]+", text) if w and w not in ("cpu", "processor")]
    return " " + " ".join(words) + " "


def _gpu_row(name: str, table: list[dict[str, str]]) -> dict[str, str] | None:
    """The card's row: its whole name, as NVML gives it (``NVIDIA H200`` is not ``NVIDIA H200
    NVL``)."""
    words = _words(name)
    return next((r for r in _rows("gpu", table) if _words(r["match"]) == words), None)


def host_rows(cpu_model: str, table: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """The rows whose CPU the model names, as whole words not followed by another version
    (``Xeon E5-2670`` is not ``Xeon E5-2670 v2``; ``Xeon Platinum 8280`` not ``8280L``)."""
    model = _words(cpu_model)
    found = []
    for r in _rows("host", table):
        match = _words(r["match"])
        at = model.find(match)
        if at >= 0 and not re.fullmatch(r"v\d+", model[at + len(match) :].split(" ", 1)[0]):
            found.append(r)
    return found


def servers() -> list[dict[str, str]]:
    """Generic servers (Boavizta's archetypes), for a machine with no figure of its own."""
    return _rows("server")


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
    if any(m.startswith("the machine") for m in record.missing):
        generic = [r for r in servers() if r["match"].startswith("platform_compute")]
        if generic:
            low = min(float(r["low_kg"]) for r in generic)
            high = max(float(r["high_kg"]) for r in generic)
            lines.append(f"a generic compute server: {low:g}-{high:g} kgCO2e ({generic[0]['source']})")
    if record.missing:
        lines.append("give the machine's with --embodied-kg KG (docs/impact.md)")
    return lines


def embodied_for(
    host: HostRecord, duration_s: float, user_kg: float | None, lifespan_years: float
) -> EmbodiedRecord:
    amortised = duration_s / (lifespan_years * SECONDS_PER_YEAR)
    parts: list[EmbodiedPart] = []
    missing: list[str] = []
    table = read_csv("embodied.csv")
    for gpu in host.gpus:
        row = _gpu_row(gpu, table)
        if row is None:
            missing.append(f"GPU {gpu}")
            continue
        parts.append(
            EmbodiedPart(f"GPU {gpu}", float(row["low_kg"]), float(row["high_kg"]), 1.0, row["source"])
        )
    allowed = host.cpus_allowed or host.logical_cpus
    if user_kg is not None:
        share = _share(allowed, host.logical_cpus)
        parts.append(EmbodiedPart("the machine (your figure)", user_kg, user_kg, share, "--embodied-kg"))
    else:
        rows = host_rows(host.cpu_model, table) if host.cpu_model else []
        if rows:
            parts.append(_host_part(rows, allowed))
        else:
            missing.append(f"the machine ({host.cpu_model or 'unknown CPU'})")
    low = sum(p.low_kg * p.share for p in parts) * 1000 * amortised
    high = sum(p.high_kg * p.share for p in parts) * 1000 * amortised
    return EmbodiedRecord(low_g=low, high_g=high, lifespan_years=lifespan_years, parts=parts, missing=missing)


def _host_part(rows: list[dict[str, str]], allowed: int) -> EmbodiedPart:
    """The host as one part: the share at the thread count most rows give it; its figure's range
    the span of every row's figure at that row's own share, expressed at that share."""

    def share_of(row: dict[str, str]) -> float:
        return _share(allowed, float(row["threads"] or 0))

    common = Counter(r["threads"] for r in rows).most_common(1)[0][0]
    share = share_of(next(r for r in rows if r["threads"] == common))
    low = min(float(r["low_kg"]) * share_of(r) for r in rows) / share
    high = max(float(r["high_kg"]) * share_of(r) for r in rows) / share
    sources = "; ".join(dict.fromkeys(r["source"] for r in rows))
    return EmbodiedPart(f"host {rows[0]['match']}", low, high, share, sources)
