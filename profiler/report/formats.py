"""Every format a run record renders to, by name: ``aicarbon report --format NAME``.

One registry instead of an if-chain: a new format is one line here. Each renderer is imported
when it is asked for (rich, the HTML templates and csv stay out of what does not need them).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..records.run import Run

# name -> (module of aicarbon.report, function of that module taking a Run, returning text)
RENDERERS: dict[str, tuple[str, str]] = {
    "terminal": ("terminal", "plain_text"),
    "markdown": ("markdown", "render"),
    "html": ("html", "render"),
    "json": ("formats", "record_json"),
    "csv": ("csv_table", "render"),
    "boamps": ("boamps", "render"),
}
FORMATS = tuple(RENDERERS)


def renderer(name: str) -> Callable[[Run], str]:
    """The function that renders a run as ``name`` (a key of ``RENDERERS``)."""
    module, function = RENDERERS[name]
    render: Callable[[Run], str] = getattr(import_module(f"{__package__}.{module}"), function)
    return render


def record_json(run: Run) -> str:
    return run.to_json()


__all__ = ["FORMATS", "RENDERERS", "record_json", "renderer"]
