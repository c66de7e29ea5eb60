"""Importing NVIDIA's ``pynvml`` (from the ``nvidia-ml-py`` distribution), and refusing an
old or unofficial module of the same name, whose calls differ."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from .base import SensorUnavailableError, Unavailable

INSTALL_FIX = "pip install nvidia-ml-py (NVIDIA's official bindings, which provide 'pynvml')"


def official_pynvml_problem(module_file: str | None, official_file: str | None) -> str | None:
    """Why an imported ``pynvml`` is not NVIDIA's, or None when it is.

    ``official_file`` is where the ``nvidia-ml-py`` distribution installed ``pynvml.py``
    (None when that distribution is not installed).
    """
    if official_file is None:
        return f"the 'pynvml' module at {module_file} does not come from nvidia-ml-py"
    if module_file is None or Path(module_file).resolve() != Path(official_file).resolve():
        return (
            f"the 'pynvml' module at {module_file} shadows NVIDIA's nvidia-ml-py "
            f"({official_file}): an old or unofficial 'pynvml' package is installed"
        )
    return None


def _official_pynvml_file(module_file: str | None) -> str | None:
    """Where nvidia-ml-py installed pynvml.py, from its RECORD next to the imported module.

    (importlib.metadata would answer too, at the cost of ~30 ms on every start.)"""
    if module_file is None:
        return None
    site = Path(module_file).resolve().parent
    for dist_info in site.glob("nvidia_ml_py-*.dist-info"):
        try:
            record = (dist_info / "RECORD").read_text(encoding="utf-8")
        except OSError:
            continue
        if any(line.split(",", 1)[0] == "pynvml.py" for line in record.splitlines()):
            return str(site / "pynvml.py")
    return None


def import_pynvml() -> ModuleType:
    try:
        module = importlib.import_module("pynvml")
    except ImportError as exc:
        raise SensorUnavailableError(
            Unavailable("nvml", "the 'pynvml' module is not installed", INSTALL_FIX)
        ) from exc
    module_file = getattr(module, "__file__", None)
    problem = official_pynvml_problem(module_file, _official_pynvml_file(module_file))
    if problem:
        raise SensorUnavailableError(Unavailable("nvml", problem, "pip uninstall pynvml && " + INSTALL_FIX))
    return module


def check_pynvml_unimported() -> None:
    """The checks of ``import_pynvml`` that need no import: a 'pynvml' on the path that is not
    NVIDIA's is ``SensorUnavailableError`` (none at all is fine: nothing would use it)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("pynvml")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return
    problem = official_pynvml_problem(spec.origin, _official_pynvml_file(spec.origin))
    if problem:
        raise SensorUnavailableError(Unavailable("nvml", problem, "pip uninstall pynvml && " + INSTALL_FIX))
