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
    gpus: int | None  # None: several, their count not published
    batch: str
    point: str  # which point of the source's data: "min", "batch 64", "3 stars"
    task: str
    j_per_output_token: float | None
    kwh_per_1000_queries: float | None

    @property
    def setting(self) -> tuple[str, str, int | None, str]:
        """The published run this row is a point of: source, hardware, GPU count, task."""
        return (self.source, self.hardware, self.gpus, self.task)

    @property
    def on(self) -> str:
        """``1x NVIDIA H100``, or ``several NVIDIA H100`` where the count is not published."""
        return f"{self.gpus}x {self.hardware}" if self.gpus else f"several {self.hardware}"


def references() -> list[ServingReference]:
    return [
        ServingReference(
            r["source"],
            r["date"],
            r["model"],
            r["hardware"],
            int(r["gpus"]) if r["gpus"] else None,
            r["batch"],
            r["point"],
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
    """The rows whose model one of ``words`` names (a server's command line or its metrics'
    ``model_name``), in the data file's order."""
    keys = {_key(w) for w in words if w}
    return [r for r in references() if _key(r.model) in keys]


def _alike(r: ServingReference, gpus: list[str]) -> tuple[bool, bool]:
    """Whether a machine with ``gpus`` has the published run's GPU model, and that many of them."""
    model = r.hardware.lower().removeprefix("nvidia ") in " ".join(gpus).lower()
    return model, model and r.gpus == len(gpus)


def closest(rows: list[ServingReference], gpus: list[str]) -> list[ServingReference]:
    """The rows of the one published setting closest to a machine with ``gpus``: ML.ENERGY's
    per-token figures before the AI Energy Score's per-query ones, then the same GPU model and
    count, then the same GPU model, then the fewest GPUs."""
    if not rows:
        return []

    def distance(r: ServingReference) -> tuple[int, int, int, int]:
        model, count = _alike(r, gpus)
        return (r.j_per_output_token is None, not model, not count, r.gpus or 99)

    best = min(rows, key=distance).setting
    return [r for r in rows if r.setting == best]


def summary(rows: list[ServingReference]) -> str:
    """One published setting in a line: ``meta-llama/Llama-3.1-8B-Instruct on 1x NVIDIA H100:
    0.07019-0.1186 J per output token (ML.ENERGY v3.0, 2026-02-16, LLM Chat (LM Arena); batch 512
    (min) to 64; GPU only)``; per query for the AI Energy Score, in J too."""
    first = rows[0]
    where = f"{first.model} on {first.on}"
    points = "; ".join(f"batch {r.batch} ({r.point})" for r in rows)
    of = f"{first.source}, {first.date}, {first.task}; {points}; GPU only"
    tokens = sorted(r.j_per_output_token for r in rows if r.j_per_output_token is not None)
    if tokens:
        span = f"{tokens[0]:g}" if len(tokens) == 1 else f"{tokens[0]:g}-{tokens[-1]:g}"
        return f"{where}: {span} J per output token ({of})"
    kwh = first.kwh_per_1000_queries or 0.0
    return f"{where}: {kwh:g} kWh per 1,000 queries, {kwh * 3600:.3g} J per query ({of})"


def published(run: Run) -> list[str]:
    """The lines the report shows beside a served model's figures: the closest published setting
    for the same model, and why the comparison is only indicative."""
    s = run.serving
    if s is None:
        return []
    rows = closest(matching([*s.models, *run.command]), run.host.gpus)
    if not rows:
        return []
    lines = [f"published: {summary(rows)}"]
    first = rows[0]
    if not _alike(first, run.host.gpus)[1]:
        lines.append("indicative only: this machine's GPUs differ from the published run's")
    if first.j_per_output_token is None:
        lines.append("indicative only: published at batch 1 with Transformers, per query of its own dataset")
    elif s.mean_running is None or s.mean_running < 16:
        running = "not known" if s.mean_running is None else f"{s.mean_running:.3g}"
        batches = sorted(int(r.batch) for r in rows if r.batch.isdigit())
        span = f"{batches[0]} to {batches[-1]}" if batches else "unknown"
        lines.append(f"indicative only: requests running here {running}, published batches {span}")
    return lines
