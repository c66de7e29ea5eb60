"""aicarbon: energy and emissions profiler for AI workloads.

In-process measurement: ``aicarbon.track`` (a context manager or decorator),
``aicarbon.phase`` and ``aicarbon.add_units`` (see the module docs of ``aicarbon.api.track``); in
a notebook, ``%load_ext aicarbon`` then ``%%aicarbon`` measures a cell.
Importing aicarbon is cheap: these names load on first use (``aicarbon run`` never needs them),
and sensors start only when a tracker does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api.notebook import load_ipython_extension
    from .api.track import Tracker, add_units, phase, track

_LAZY = {
    "Tracker": "api.track",
    "add_units": "api.track",
    "phase": "api.track",
    "track": "api.track",
    "load_ipython_extension": "api.notebook",
}


def __getattr__(name: str) -> Any:
    """The public names, imported when first used (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aicarbon' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["Tracker", "__version__", "add_units", "load_ipython_extension", "phase", "track"]
