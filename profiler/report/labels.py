"""The labels a user gave a run, on one line."""

from __future__ import annotations

from ..records.run import Run


def label_text(run: Run) -> str:
    """``name · tags: a, b · note: ...``, or "" for an unlabelled run."""
    parts = []
    if run.name:
        parts.append(f"name: {run.name}")
    if run.tags:
        parts.append(f"tags: {', '.join(run.tags)}")
    if run.note:
        parts.append(f"note: {run.note}")
    return " · ".join(parts)
