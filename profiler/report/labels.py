"""The labels a user gave a run, on one line."""

from __future__ import annotations

from ..records.run import Run


def label_text(run: Run) -> str:
    """``name · tags: a, b · note: ...``, or "" for an unlabelled run."""
    parts = []
    if run.labels.name:
        parts.append(f"name: {run.labels.name}")
    if run.labels.tags:
        parts.append(f"tags: {', '.join(run.labels.tags)}")
    if run.labels.note:
        parts.append(f"note: {run.labels.note}")
    return " · ".join(parts)
