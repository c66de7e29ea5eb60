"""aicarbon: energy and emissions profiler for AI workloads.

In-process measurement: ``aicarbon.track`` (a context manager or decorator),
``aicarbon.phase`` and ``aicarbon.add_units`` (see the module docs of ``aicarbon.api.track``); in a
notebook, ``%load_ext aicarbon`` then ``%%aicarbon`` measures a cell.
Importing aicarbon is cheap: sensors start only when a tracker does.
"""

__version__ = "0.1.0"

from .api.notebook import load_ipython_extension
from .api.track import Tracker, add_units, phase, track

__all__ = ["Tracker", "__version__", "add_units", "load_ipython_extension", "phase", "track"]
