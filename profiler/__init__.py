"""aicarbon: energy and emissions profiler for AI workloads.

In-process measurement: ``aicarbon.track`` (a context manager or decorator),
``aicarbon.phase`` and ``aicarbon.add_units`` (see ``aicarbon.track``'s module docs); in a
notebook, ``%load_ext aicarbon`` then ``%%aicarbon`` measures a cell.
Importing aicarbon is cheap: sensors start only when a tracker does.
"""

__version__ = "0.1.0"

from .notebook import load_ipython_extension  # noqa: E402  - %load_ext aicarbon
from .track import Tracker, add_units, phase, track  # noqa: E402

__all__ = ["Tracker", "__version__", "add_units", "load_ipython_extension", "phase", "track"]
