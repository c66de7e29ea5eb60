"""aicarbon: energy and emissions profiler for AI workloads.

In-process measurement: ``aicarbon.track`` (a context manager or decorator),
``aicarbon.phase`` and ``aicarbon.add_units`` (see ``aicarbon.track``'s module docs).
Importing aicarbon is cheap: sensors start only when a tracker does.
"""

__version__ = "0.1.0"

from .track import Tracker, add_units, phase, track  # noqa: E402

__all__ = ["Tracker", "__version__", "add_units", "phase", "track"]
