"""Published energy of served models (``serving_references.csv``), and the rows that match a
served model's name: beside the result, never a grade (hardware, batch and task differ)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..datafiles import read_csv
from ..records.run import Run


@dataclass(frozen=True)
class ServingReference:
    source: str
    date: str
    model: str
    hardware: str
    gpus: int
    batch: str
    task: str
    j_per_output_token: float | None
    kwh_per_1000_queries: float | None


def references() -> list[ServingReference]:
    return [
        ServingReference(
            r["source"],
            r["date"],
            r["model"],
            r["hardware"],
            int(r["gpus"]),
            r["batch"],
            r["task"],
            float(r["j_per_output_token"]) if r["j_per_output_token"] else None,
            float(r["kwh_per_1000_queries"]) if r["kwh_per_1000_queries"] else None,
        )  # fmt: skip
        for r in read_csv("serving_references.csv")
    ]


def _key(name: str) -> str:
    """A model's name to match on: its last path part, lower case, letters and digits only
    (``meta-llama/Llama-3.1-8B-Instruct`` and ``llama-3.1-8b-instruct`` agree)."""
    return re.sub(r"[^a-z0-9]", "", name.rsplit("/", 1)[-1].lower())


def matching(words: list[str]) -> list[ServingReference]:
    """The per-token rows whose model one of ``words`` names (a server's command line or its
    metrics' ``model_name``)."""
    keys = {_key(w) for w in words if w}
    return [r for r in references() if r.j_per_output_token is not None and _key(r.model) in keys]


def summary(rows: list[ServingReference]) -> str:
    """``Llama-3.1-8B-Instruct on 1x NVIDIA H100: 0.07-0.119 J per output token (ML.ENERGY v3.0,
    batch min to 64; GPU only)``."""
    first = rows[0]
    values = sorted(r.j_per_output_token for r in rows if r.j_per_output_token is not None)
    span = f"{values[0]:g}" if len(values) == 1 else f"{values[0]:g}-{values[-1]:g}"
    batches = " to ".join(r.batch for r in rows)
    return (
        f"{first.model} on {first.gpus}x {first.hardware}: {span} J per output token "
        f"({first.source}, {first.date}, batch {batches}; GPU only)"
    )


def published(run: Run) -> list[str]:
    """The lines the report shows beside a served model's figures: the published ones for the
    same model, and why the comparison is only indicative."""
    s = run.serving
    if s is None:
        return []
    rows = matching([*s.models, *run.command])
    if not rows:
        return []
    lines = [f"published: {summary(rows)}"]
    first = rows[0]
    if first.hardware.lower() not in " ".join(run.host.gpus).lower() or len(run.host.gpus) != first.gpus:
        lines.append("indicative only: this machine's GPUs differ from the published run's")
    if s.mean_running is None or s.mean_running < 16:
        running = "not known" if s.mean_running is None else f"{s.mean_running:.3g}"
        lines.append(f"indicative only: requests running here {running}, published batches up to 64")
    return lines
