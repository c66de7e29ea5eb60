"""GPU energy through NVML, with the ``pynvml`` module of NVIDIA's ``nvidia-ml-py``.

Per GPU, the best counter it has:

* ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since the driver loaded; Volta and
  newer; it updates about every 100 ms, so a run shorter than a second carries up to that
  much error): the difference from the first reading is the run's energy. A reading below
  the previous one means the counter was reset (the driver reloaded): the count goes on from
  the new value and the run notes it.
* otherwise power, read about 125 times a second at jittered instants and integrated
  (``power_poll``): the ``NVML_FI_DEV_POWER_INSTANT`` field where the GPU has it, else
  ``nvmlDeviceGetPowerUsage``, which on Ampere and newer is a one-second average. The domain's
  source says which.

Which GPUs: every GPU NVML enumerates, or those ``CUDA_VISIBLE_DEVICES`` names, and only
those are opened (``nvml_open``). A GPU that cannot be opened is listed as unavailable with
its reason; the others are measured.

What a GPU's counter covers: on Grace Hopper and Grace Blackwell superchips (GH200, GB200,
GB300) it is the whole module: GPU, Grace CPU and memory (Zeus, ml-energy/zeus#172). The domain
says so and ``covers`` CPU and memory, which are then not estimated on top. A MIG instance
cannot be measured alone: its parent GPU is, labelled as shared by its MIG instances.

Cost: NVML calls take the driver's lock, and the energy counter is cumulative, so it is read
at most as often as keeps NVML calls under 1% of wall time (``min_period_s``; the latency of
one call is measured at start and kept as ``call_latency_s``) and never faster than it updates.

Domains are named by PCI-order index (``gpu:0``), and each records the GPU's UUID and name.
Vendor errors are translated here: nothing above this module imports ``pynvml``, and nothing
NVML raises (an ``NVMLError``, or ``NVMLLibraryMismatchError`` from new bindings on an old
driver) stops a run.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    median,
)
from .gpu_select import Entry, parse_visible
from .nvidia_driver import driver_gpus, proc_root
from .nvml_import import check_pynvml_unimported, import_pynvml
from .nvml_open import NoSuchGpu, Opener, Refused, Target, error_code, slurm_job_minors
from .power_poll import PowerIntegrator

if TYPE_CHECKING:
    import random

DEFAULT_MAX_POWER_W = 5000.0  # above any single GPU module (GB200: about 2.7 kW)
COUNTER_UPDATE_S = 0.1  # NVML's energy counter moves about every 100 ms
NVML_TIME_BUDGET = 0.01  # NVML calls may hold the driver's lock this share of wall time
LATENCY_PROBES = 3
MODULE_SCOPE_NAMES = ("GH200", "GB200", "GB300")
NVML_ERROR_NOT_SUPPORTED = 3
NVML_SUCCESS = 0


@dataclass
class GpuInfo:
    index: int
    name: str
    uuid: str
    minor: int | None = None  # /dev/nvidia<minor>
    module_scope: bool = False  # the counter covers the Grace CPU and memory too
    mig: list[str] = field(default_factory=list)  # the MIG instances named, if any


@dataclass
class GpuProcesses:
    """NVML's process list per GPU domain, and the GPUs whose list could not be read."""

    pids: dict[str, set[int]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class _Gpu:
    info: GpuInfo
    handle: Any
    process_handles: list[Any]
    domain: Domain
    has_energy_counter: bool
    first_mj: float = 0.0
    last_mj: float = 0.0
    before_reset_j: float = 0.0  # joules counted before the counter was last reset
    total_j: float = 0.0
    failed: bool = False


NVML_LIBRARY = "libnvidia-ml.so.1"  # what pynvml loads on Linux


def _require_library() -> None:
    """Without NVIDIA's library there is no NVML: say so at the cost of one failed dlopen, not
    of importing pynvml (a 5,000-line module) to find out (most machines have no NVIDIA GPU)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(NVML_LIBRARY)  # loaded once: pynvml's own CDLL then finds it in memory
    except OSError as exc:
        check_pynvml_unimported()  # a wrong 'pynvml' is said even so: it would fail next
        raise SensorUnavailableError(
            Unavailable("nvml", f"no NVIDIA driver ({NVML_LIBRARY} not found)")
        ) from exc


class NvmlSensor:
    """Cumulative joules for each GPU to measure."""

    name = "nvml"

    def __init__(
        self,
        nvml: ModuleType | None = None,
        environ: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        poll_in_background: bool = True,
        rng: random.Random | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if nvml is None:
            _require_library()
        self._nvml = nvml if nvml is not None else import_pynvml()
        self._clock = clock
        self._timer = timer
        self._poll_in_background = poll_in_background
        self._rng = rng
        self._power: PowerIntegrator | None = None
        env = os.environ if environ is None else environ
        self.unavailable: list[Unavailable] = []  # GPUs that could not be opened, one line each
        self.notes: list[str] = []  # said at start
        self.events: list[str] = []  # happened during the run (counter resets)
        self.call_latency_s: float | None = None  # one energy-counter call, median at start
        self.min_period_s = COUNTER_UPDATE_S
        self._gpus: list[_Gpu] = []
        self._no_persistence: list[str] = []
        self._init_library()
        self._compute_query: Callable[[Any], list[Any]] = self._nvml.nvmlDeviceGetComputeRunningProcesses
        try:
            self._discover(env)
        except SensorUnavailableError:
            self.close()
            raise
        self._measure_latency()
        driver = _query(lambda: _text(self._nvml.nvmlSystemGetDriverVersion()), "")
        self.driver_version: str = driver if isinstance(driver, str) else ""

    def _init_library(self) -> None:
        nv = self._nvml
        try:
            nv.nvmlInit()
        except Exception as exc:  # noqa: BLE001 - NVMLError, or a broken library
            code = error_code(exc)
            if code == getattr(nv, "NVML_ERROR_LIBRARY_NOT_FOUND", object()):
                reason = "no NVIDIA driver (libnvidia-ml.so.1 not found)"
                fix = None
            elif code == getattr(nv, "NVML_ERROR_DRIVER_NOT_LOADED", object()):
                reason = "the NVIDIA driver is installed but not loaded"
                fix = "load it ('sudo modprobe nvidia') or reboot after a driver update"
            else:
                reason, fix = f"NVML failed to start: {exc}", None
            raise SensorUnavailableError(Unavailable(self.name, reason, fix)) from exc

    # -- which GPUs --------------------------------------------------------------------------

    def _discover(self, env: Any) -> None:
        nv = self._nvml
        try:
            count = int(nv.nvmlDeviceGetCount())
        except Exception as exc:  # noqa: BLE001
            raise SensorUnavailableError(
                Unavailable(self.name, f"NVML cannot count the GPUs: {exc}")
            ) from exc
        if count == 0:
            raise SensorUnavailableError(Unavailable(self.name, "NVML sees no NVIDIA GPU"))
        driver = driver_gpus(proc_root(env))
        opener = Opener(nv, count, driver, slurm_job_minors(env))
        visible = env.get("CUDA_VISIBLE_DEVICES")
        if visible is None:
            entries = [Entry("index", str(i), index=i) for i in range(count)]
        else:
            entries, stop = parse_visible(visible)
            if stop:
                self.notes.append(f"{stop}; entries from there on are ignored, as CUDA ignores them")
        targets: dict[str, Target] = {}
        for entry in entries:
            try:
                if entry.kind == "index":
                    target = (
                        opener.at_position(entry.index)
                        if visible is None
                        else opener.nth_openable(entry.index)
                    )
                elif entry.kind == "gpu":
                    target = opener.by_uuid(entry.uuid)
                else:
                    target = opener.by_mig(entry)
            except NoSuchGpu as why:
                self.notes.append(
                    f"CUDA_VISIBLE_DEVICES entry {entry.text!r} names no GPU NVML can see ({why}); "
                    "entries from there on are ignored, as CUDA ignores them"
                )
                break
            except Refused as refused:
                self.unavailable.append(
                    Unavailable(f"nvml {refused.label}", refused.reason, refused.fix, uncounted=True)
                )
                continue
            targets.setdefault(target.uuid, target)
        self.notes += opener.skipped
        if opener.opened_all:
            self.notes.append(
                "a shortened GPU UUID in CUDA_VISIBLE_DEVICES made every GPU open: give full UUIDs"
            )
        self._note_order(visible, entries, driver, env)
        if visible is not None and not targets and not self.unavailable:
            raise SensorUnavailableError(
                Unavailable(
                    self.name,
                    f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU",
                    "unset CUDA_VISIBLE_DEVICES or name the GPUs to measure",
                )
            )
        minors = {g.uuid: g.minor for g in driver}
        for target in targets.values():
            gpu = self._start_gpu(target, minors.get(target.uuid))
            if gpu is not None:
                self._gpus.append(gpu)
        if self._no_persistence:
            self.notes.append(
                f"persistence mode is off on {', '.join(self._no_persistence)}: each process that "
                "opens such a GPU waits 1-3 s for the driver to initialise it (enable it: "
                "nvidia-persistenced, or 'nvidia-smi -pm 1')"
            )
        if not self._gpus:
            reasons = "; ".join(f"{u.sensor}: {u.reason}" for u in self.unavailable)
            raise SensorUnavailableError(
                Unavailable(self.name, "no GPU could be measured" + (f" ({reasons})" if reasons else ""))
            )
        polled = {g.domain.id: self._power_reader(g) for g in self._gpus if not g.has_energy_counter}
        if polled:
            self._power = PowerIntegrator(polled, clock=self._clock, rng=self._rng)
            if self._poll_in_background:
                self._power.start()

    def _note_order(self, visible: str | None, entries: list[Entry], driver: list[Any], env: Any) -> None:
        """Integer entries follow PCI order; CUDA's default order differs on a mixed machine."""
        if visible is None or not any(e.kind == "index" for e in entries):
            return
        if env.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID":
            return
        if not driver:
            self.notes.append(
                "CUDA_VISIBLE_DEVICES numbers GPUs; they were taken in NVML's (PCI bus) order, which is "
                "CUDA's only with CUDA_DEVICE_ORDER=PCI_BUS_ID or GPUs of one model: UUIDs are exact"
            )
        elif len({g.model for g in driver}) > 1:
            self.notes.append(
                "this machine has GPUs of different models and CUDA numbers them fastest first "
                "by default: the GPUs measured (PCI bus order) may not be the ones the command "
                "used; set CUDA_DEVICE_ORDER=PCI_BUS_ID or name GPUs by UUID"
            )

    def _start_gpu(self, target: Target, minor: int | None) -> _Gpu | None:
        nv = self._nvml
        handle = target.handle
        name = _query(lambda: _text(nv.nvmlDeviceGetName(handle)), "NVIDIA GPU")
        if minor is None:
            minor = _query(lambda: int(nv.nvmlDeviceGetMinorNumber(handle)), None)
        info = GpuInfo(
            target.index,
            name,
            target.uuid,
            minor,
            self._module_scope(handle, name),
            [uuid for uuid, _ in target.mig],
        )
        domain_id = f"gpu:{target.index}" if target.index >= 0 else f"gpu:{target.uuid}"
        label = f"GPU {target.index} {name}" if target.index >= 0 else f"GPU {name}"
        covers: frozenset[DomainKind] = frozenset()
        if info.module_scope:
            label += " module (GPU + Grace CPU + memory)"
            covers = frozenset({DomainKind.CPU, DomainKind.DRAM})
        if info.mig:
            label += ", whole GPU shared by its MIG instances"
        if _query(lambda: int(nv.nvmlDeviceGetPersistenceMode(handle)), 1) == 0:
            self._no_persistence.append(domain_id)
        max_w = self._max_power_w(handle)
        process_handles = [h for _, h in target.mig] or [handle]

        def make(source: str, has_counter: bool, first_mj: float = 0.0) -> _Gpu:
            domain = Domain(
                domain_id, DomainKind.GPU, Method.MEASURED, source, label, max_power_w=max_w, covers=covers
            )
            return _Gpu(info, handle, process_handles, domain, has_counter, first_mj, first_mj)

        try:
            first_mj = float(nv.nvmlDeviceGetTotalEnergyConsumption(handle))
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) != NVML_ERROR_NOT_SUPPORTED:
                self._unusable(domain_id, f"{label}: its energy counter cannot be read ({exc})")
                return None
        else:
            return make(f"nvml total energy counter ({target.uuid})", True, first_mj)
        if self._instant_power(handle) is not None:
            how = "NVML instantaneous power field"
        else:
            try:
                nv.nvmlDeviceGetPowerUsage(handle)
            except Exception as exc:  # noqa: BLE001
                self._unusable(domain_id, f"{label} reports neither energy nor power ({exc})")
                return None
            how = "nvmlDeviceGetPowerUsage (a one-second average on Ampere and newer)"
        return make(
            f"{how}, read at jittered instants and integrated ({target.uuid}; no energy counter)", False
        )

    def _unusable(self, domain_id: str, reason: str) -> None:
        self.unavailable.append(Unavailable(f"nvml {domain_id}", reason, uncounted=True))

    def _module_scope(self, handle: Any, name: str) -> bool:
        """Whether the energy counter covers a superchip's whole module (GH200, GB200)."""
        if any(tag in name for tag in MODULE_SCOPE_NAMES):
            return True
        query = getattr(self._nvml, "nvmlDeviceGetC2cModeInfoV", None)
        if query is None or "GB10" in name:  # DGX Spark's GB10 counts the GPU alone (zeus#242)
            return False
        return bool(_query(lambda: int(query(handle).isC2cEnabled), 0))

    def _instant_power(self, handle: Any) -> Callable[[], float] | None:
        """A reader of the instantaneous power field, or None where the GPU lacks it."""
        nv = self._nvml
        field_id = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None)
        get = getattr(nv, "nvmlDeviceGetFieldValues", None)
        if field_id is None or get is None:
            return None

        def read() -> float:
            value = get(handle, [field_id])[0]
            if int(value.nvmlReturn) != NVML_SUCCESS:
                raise RuntimeError(f"NVML field {field_id} returned error {int(value.nvmlReturn)}")
            return _field_number(value) / 1000.0

        try:
            read()
        except Exception:  # noqa: BLE001 - not supported here
            return None
        return read

    def _power_reader(self, gpu: _Gpu) -> Callable[[], float]:
        instant = self._instant_power(gpu.handle)
        if instant is not None:
            return instant
        nv = self._nvml
        return lambda: nv.nvmlDeviceGetPowerUsage(gpu.handle) / 1000.0

    def _max_power_w(self, handle: Any) -> float:
        """Twice the GPU's maximum power limit: more than it can draw, even in a spike."""
        query = getattr(self._nvml, "nvmlDeviceGetPowerManagementLimitConstraints", None)
        try:
            _, max_mw = query(handle) if query is not None else (0, 0)
            max_w = 2.0 * float(max_mw) / 1000.0
        except Exception:  # noqa: BLE001 - not supported, or an unexpected answer
            return DEFAULT_MAX_POWER_W
        return max_w if math.isfinite(max_w) and max_w > 0 else DEFAULT_MAX_POWER_W

    def _measure_latency(self) -> None:
        """Time a few energy-counter calls; read the counters no more often than keeps NVML
        calls under ``NVML_TIME_BUDGET`` of wall time."""
        counters = [g for g in self._gpus if g.has_energy_counter]
        if not counters:
            return
        samples: list[float] = []
        for gpu in counters:
            for _ in range(LATENCY_PROBES):
                start = self._timer()
                try:
                    self._nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle)
                except Exception:  # noqa: BLE001 - read() reports a failing GPU
                    break
                samples.append(max(self._timer() - start, 0.0))
        if samples:
            self.call_latency_s = median(samples)
            per_read_s = self.call_latency_s * len(counters)
            self.min_period_s = max(COUNTER_UPDATE_S, per_read_s / NVML_TIME_BUDGET)

    # -- reading -----------------------------------------------------------------------------

    @property
    def domains(self) -> list[Domain]:
        return [g.domain for g in self._gpus]

    @property
    def gpus(self) -> list[GpuInfo]:
        return [g.info for g in self._gpus]

    @property
    def minors(self) -> dict[str, int]:
        """The device minor (``/dev/nvidia<minor>``) of each GPU domain, where known."""
        return {g.domain.id: g.info.minor for g in self._gpus if g.info.minor is not None}

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
            except Exception as exc:  # noqa: BLE001 - the GPU fails, the run goes on
                gpu.failed = True
                failures.append(DomainFailure(gpu.domain.id, str(exc) or type(exc).__name__))
                continue
            if mj < gpu.last_mj:
                gpu.before_reset_j = gpu.total_j
                gpu.first_mj = mj
                self.events.append(
                    f"{gpu.domain.id}: the NVML energy counter went back from {gpu.last_mj:.0f} to "
                    f"{mj:.0f} mJ (the driver was reloaded or the GPU reset); counting went on from "
                    "the new value, and the energy of at most one sampling interval is missing"
                )
            gpu.last_mj = mj
            gpu.total_j = gpu.before_reset_j + (mj - gpu.first_mj) / 1000.0
        return Reading({g.domain.id: g.total_j for g in self._gpus}, failures)

    def processes(self) -> GpuProcesses:
        """The PIDs NVML lists on each GPU (compute and MPS clients; per MIG instance where MIG
        instances were named). A GPU whose list cannot be read is in ``failed``, with why: that
        means "could not tell", never "not in use"."""
        result = GpuProcesses()
        for gpu in self._gpus:
            if gpu.failed:
                continue
            try:
                pids: set[int] = set()
                for handle in gpu.process_handles:
                    pids |= self._pids_on(handle)
            except Exception as exc:  # noqa: BLE001 - NVMLError, NVMLLibraryMismatchError, ...
                result.failed[gpu.domain.id] = (
                    f"the GPU's process list could not be read ({type(exc).__name__}: {exc})"
                )
            else:
                result.pids[gpu.domain.id] = pids
        return result

    def _pids_on(self, handle: Any) -> set[int]:
        nv = self._nvml
        try:
            listed = self._compute_query(handle)
        except Exception as exc:  # noqa: BLE001
            older = getattr(nv, "nvmlDeviceGetComputeRunningProcesses_v2", None)
            if not _library_mismatch(exc) or older is None:
                raise
            # nvidia-ml-py 12+ on a driver before R510: the call the bindings make is missing,
            # the versioned one before it is not. Use it from now on.
            self._compute_query = older
            listed = older(handle)
        pids = {int(p.pid) for p in listed}
        mps = getattr(nv, "nvmlDeviceGetMPSComputeRunningProcesses", None)
        if mps is not None:
            try:
                pids |= {int(p.pid) for p in mps(handle)}
            except Exception as exc:  # noqa: BLE001
                if (
                    error_code(exc) != NVML_ERROR_NOT_SUPPORTED
                    and type(exc).__name__ != "NVMLLibraryMismatchError"
                ):
                    raise
        return pids

    def close(self) -> None:
        if self._power is not None:
            self._power.stop()
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down a library that may be half started
            pass


def _library_mismatch(exc: BaseException) -> bool:
    """pynvml's NVMLLibraryMismatchError (bindings newer than the driver), which is not an
    NVMLError: matched by name, since the module that defines it may be a stand-in."""
    return type(exc).__name__ == "NVMLLibraryMismatchError"


def _query(call: Callable[[], Any], default: Any) -> Any:
    """An optional NVML fact: ``default`` when this GPU, driver or binding lacks it."""
    try:
        return call()
    except Exception:  # noqa: BLE001
        return default


_FIELD_MEMBERS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


def _field_number(value: Any) -> float:
    member = _FIELD_MEMBERS.get(int(value.valueType))
    if member is None:
        raise RuntimeError(f"NVML field value of unknown type {int(value.valueType)}")
    return float(getattr(value.value, member))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
