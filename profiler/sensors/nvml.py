"""GPU energy through NVML, with the ``pynvml`` module of NVIDIA's ``nvidia-ml-py``.

Per GPU, the best counter it has:

* ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since the driver loaded; Volta and
  newer): read directly, the difference from the first reading is the run's energy.
* otherwise ``nvmlDeviceGetPowerUsage`` (milliwatts), read about 125 times a second at
  jittered instants and integrated (``power_poll``), so the sensor still exposes a cumulative
  counter and a periodic load cannot alias with the readings.

Each GPU domain carries the most it can draw: twice NVML's maximum power limit
(``nvmlDeviceGetPowerManagementLimitConstraints``), else 5 kW; a reading implying more is a
sensor fault (see sampler).

Which GPUs: every GPU NVML enumerates, or, when ``CUDA_VISIBLE_DEVICES`` is set, the ones it
names. NVML ignores that variable and numbers GPUs in PCI bus order, so:

* a ``GPU-<uuid>`` entry (or a unique prefix of one) is matched against NVML's UUIDs: exact;
* an integer entry is taken as an NVML (PCI bus order) index. CUDA numbers the same way when
  ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, and also by default when all GPUs are the same model; on a
  mixed machine with CUDA's default FASTEST_FIRST order, use UUIDs;
* as CUDA does, parsing stops at the first entry that names no GPU; an empty value means none;
* ``MIG-`` entries cannot be mapped to a parent GPU here and stop the list (noted in the report).

Domains are named by NVML index (``gpu:0``), and each records the GPU's UUID and name. Vendor
errors are translated here: nothing above this module imports ``pynvml``.
"""

from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .base import (
    Domain,
    DomainFailure,
    DomainKind,
    Method,
    Reading,
    SensorUnavailableError,
    Unavailable,
)
from .power_poll import PowerIntegrator

if TYPE_CHECKING:
    import random

INSTALL_FIX = "pip install nvidia-ml-py (NVIDIA's official bindings, which provide 'pynvml')"
DEFAULT_MAX_POWER_W = 5000.0  # above any single GPU module (GB200: about 2.7 kW)


@dataclass
class GpuInfo:
    index: int
    name: str
    uuid: str


@dataclass
class _Gpu:
    info: GpuInfo
    handle: Any
    domain: Domain
    has_energy_counter: bool
    first_mj: float = 0.0
    total_j: float = 0.0
    failed: bool = False


def select_visible(value: str | None, uuids: list[str]) -> tuple[list[int], str | None]:
    """NVML indices named by a ``CUDA_VISIBLE_DEVICES`` value, and a note when it stopped early.

    ``uuids`` are NVML's UUIDs in NVML index order.
    """
    if value is None:
        return list(range(len(uuids))), None
    selected: list[int] = []
    for raw in value.split(","):
        token = raw.strip()
        index: int | None = None
        if token.lstrip("-").isdigit():
            number = int(token)
            index = number if 0 <= number < len(uuids) else None
        elif token.startswith("GPU-"):
            matches = [i for i, u in enumerate(uuids) if u.startswith(token)]
            index = matches[0] if len(matches) == 1 else None
        if index is None:
            if token:
                return selected, (
                    f"CUDA_VISIBLE_DEVICES entry {token!r} names no GPU NVML can see; "
                    "entries from there on are ignored, as CUDA ignores them"
                )
            return selected, None
        if index not in selected:
            selected.append(index)
    return selected, None


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


def _import_pynvml() -> ModuleType:
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


class NvmlSensor:
    """Cumulative joules for each visible NVIDIA GPU."""

    name = "nvml"

    def __init__(
        self,
        nvml: ModuleType | None = None,
        environ: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        poll_in_background: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._nvml = nvml if nvml is not None else _import_pynvml()
        self._clock = clock
        self._poll_in_background = poll_in_background
        self._rng = rng
        self._power: PowerIntegrator | None = None
        env = os.environ if environ is None else environ
        self.unavailable: list[Unavailable] = []  # GPUs skipped at start, one line each
        self.notes: list[str] = []
        self._gpus: list[_Gpu] = []
        self._init_library()
        try:
            self._discover(env.get("CUDA_VISIBLE_DEVICES"))
        except SensorUnavailableError:
            self.close()
            raise

    def _init_library(self) -> None:
        nv = self._nvml
        try:
            nv.nvmlInit()
        except nv.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code == getattr(nv, "NVML_ERROR_LIBRARY_NOT_FOUND", object()):
                reason = "no NVIDIA driver (libnvidia-ml.so.1 not found)"
                fix = None
            elif code == getattr(nv, "NVML_ERROR_DRIVER_NOT_LOADED", object()):
                reason = "the NVIDIA driver is installed but not loaded"
                fix = "load it ('sudo modprobe nvidia') or reboot after a driver update"
            else:
                reason, fix = f"NVML failed to start: {exc}", None
            raise SensorUnavailableError(Unavailable(self.name, reason, fix)) from exc

    def _discover(self, visible: str | None) -> None:
        nv = self._nvml
        count = nv.nvmlDeviceGetCount()
        if count == 0:
            raise SensorUnavailableError(Unavailable(self.name, "NVML sees no NVIDIA GPU"))
        handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        uuids = [_text(nv.nvmlDeviceGetUUID(h)) for h in handles]
        indices, note = select_visible(visible, uuids)
        if note:
            self.notes.append(note)
        if not indices:
            raise SensorUnavailableError(
                Unavailable(
                    self.name,
                    f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU",
                    "unset CUDA_VISIBLE_DEVICES or name the GPUs to measure",
                )
            )
        for index in indices:
            handle = handles[index]
            info = GpuInfo(index, _text(nv.nvmlDeviceGetName(handle)), uuids[index])
            gpu = self._start_gpu(info, handle)
            if gpu is not None:
                self._gpus.append(gpu)
        if not self._gpus:
            raise SensorUnavailableError(Unavailable(self.name, "no visible GPU reports energy or power"))
        polled = {g.domain.id: self._power_reader(g.handle) for g in self._gpus if not g.has_energy_counter}
        if polled:
            self._power = PowerIntegrator(polled, clock=self._clock, rng=self._rng)
            if self._poll_in_background:
                self._power.start()

    def _start_gpu(self, info: GpuInfo, handle: Any) -> _Gpu | None:
        nv = self._nvml
        label = f"GPU {info.index} {info.name}"
        max_w = self._max_power_w(handle)
        try:
            first_mj = float(nv.nvmlDeviceGetTotalEnergyConsumption(handle))
            source = f"nvml total energy counter ({info.uuid})"
            domain = Domain(
                f"gpu:{info.index}", DomainKind.GPU, Method.MEASURED, source, label, max_power_w=max_w
            )
            return _Gpu(info, handle, domain, True, first_mj=first_mj)
        except nv.NVMLError as exc:
            if getattr(exc, "value", None) != nv.NVML_ERROR_NOT_SUPPORTED:
                self.unavailable.append(
                    Unavailable(f"nvml gpu:{info.index}", f"{label}: {exc}", uncounted=True)
                )
                return None
        try:
            nv.nvmlDeviceGetPowerUsage(handle)
        except nv.NVMLError as exc:
            self.unavailable.append(
                Unavailable(
                    f"nvml gpu:{info.index}",
                    f"{label} reports neither energy nor power: {exc}",
                    uncounted=True,
                )
            )
            return None
        source = f"nvml power draw, read at jittered instants and integrated ({info.uuid}; no energy counter)"
        domain = Domain(
            f"gpu:{info.index}", DomainKind.GPU, Method.MEASURED, source, label, max_power_w=max_w
        )
        return _Gpu(info, handle, domain, False)

    def _power_reader(self, handle: Any) -> Callable[[], float]:
        nv = self._nvml
        return lambda: nv.nvmlDeviceGetPowerUsage(handle) / 1000.0

    def _max_power_w(self, handle: Any) -> float:
        """Twice the GPU's maximum power limit: more than it can draw, even in a spike."""
        query = getattr(self._nvml, "nvmlDeviceGetPowerManagementLimitConstraints", None)
        try:
            _, max_mw = query(handle) if query is not None else (0, 0)
            max_w = 2.0 * float(max_mw) / 1000.0
        except Exception:  # noqa: BLE001 - not supported, or an unexpected answer
            return DEFAULT_MAX_POWER_W
        return max_w if math.isfinite(max_w) and max_w > 0 else DEFAULT_MAX_POWER_W

    # -- reading -----------------------------------------------------------------------------

    @property
    def domains(self) -> list[Domain]:
        return [g.domain for g in self._gpus]

    @property
    def gpus(self) -> list[GpuInfo]:
        return [g.info for g in self._gpus]

    def read(self) -> Reading:
        nv = self._nvml
        failures: list[DomainFailure] = []
        polled = self._power.totals_j() if self._power is not None else {}
        poll_errors = self._power.errors() if self._power is not None else {}
        for gpu in self._gpus:
            if gpu.failed:
                continue
            if not gpu.has_energy_counter:
                gpu.total_j = polled[gpu.domain.id]
                if gpu.domain.id in poll_errors:
                    gpu.failed = True
                    failures.append(DomainFailure(gpu.domain.id, poll_errors[gpu.domain.id]))
                continue
            try:
                mj = float(nv.nvmlDeviceGetTotalEnergyConsumption(gpu.handle))
                gpu.total_j = max(gpu.total_j, (mj - gpu.first_mj) / 1000.0)
            except nv.NVMLError as exc:
                gpu.failed = True
                failures.append(DomainFailure(gpu.domain.id, str(exc)))
        return Reading({g.domain.id: g.total_j for g in self._gpus}, failures)

    def compute_pids(self) -> dict[str, set[int]]:
        """PIDs holding a compute context, per GPU domain (NVML's running-process list)."""
        nv = self._nvml
        result: dict[str, set[int]] = {}
        for gpu in self._gpus:
            if gpu.failed:
                continue
            try:
                processes = nv.nvmlDeviceGetComputeRunningProcesses(gpu.handle)
            except nv.NVMLError:
                continue
            result[gpu.domain.id] = {int(p.pid) for p in processes}
        return result

    def close(self) -> None:
        if self._power is not None:
            self._power.stop()
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down a library that may be half started
            pass


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
