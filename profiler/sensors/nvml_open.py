"""Open NVML handles for exactly the GPUs to measure, and no others.

Getting a handle initialises a GPU (1-3 s each without persistence mode), so when
``CUDA_VISIBLE_DEVICES`` names GPUs only those are opened:

* a full ``GPU-<uuid>`` or ``MIG-<uuid>``: ``nvmlDeviceGetHandleByUUID``;
* an integer n: CUDA's n-th GPU, which is the n-th GPU *it can open*, in PCI bus order. The
  order comes from the driver's ``/proc/driver/nvidia/gpus`` (no GPU touched) and each GPU is
  opened by its bus id; without it, NVML's index order (which NVML takes from the PCI bus
  too). Under Slurm, whose device cgroup refuses the node's other GPUs (NO_PERMISSION),
  ``SLURM_STEP_GPUS``/``SLURM_JOB_GPUS`` name the job's GPUs by device minor, and CUDA's n-th
  is the job's n-th. Elsewhere the GPU at position n is opened directly; only if it refuses
  are the GPUs before it tried, to number only the openable ones as CUDA does;
* a UUID prefix is completed from the driver's list (or, without one, by opening every GPU);
* a MIG instance cannot be measured by NVML: its parent GPU is opened
  (``nvmlDeviceGetDeviceHandleFromMigDeviceHandle``) and the instance's handle is kept for
  the process list, which the parent refuses to unprivileged callers.

Nothing raised by NVML (``NVMLError`` or not) escapes: a GPU that cannot be opened becomes a
``Refused`` with its reason, an entry that names no GPU a ``NoSuchGpu``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .gpu_select import Entry, is_full_uuid
from .nvidia_driver import DriverGpu

NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6

NO_PERMISSION_REASON = (
    "NVML refuses to open it (NO_PERMISSION): on Slurm and other cgroup-restricted nodes only "
    "the job's own GPUs can be opened"
)
NO_PERMISSION_FIX = "measure the GPUs the job was given (CUDA_VISIBLE_DEVICES), or ask for this one"


@dataclass
class Target:
    """One physical GPU to measure."""

    index: int  # position in PCI bus order (NVML's index); -1 when it could not be told
    uuid: str
    handle: Any
    bus_id: str | None = None
    mig: list[tuple[str, Any]] = field(default_factory=list)  # (MIG UUID, MIG handle)


class NoSuchGpu(Exception):
    """The entry names no GPU NVML can see."""


class Refused(Exception):
    """The GPU exists but cannot be opened."""

    def __init__(self, label: str, reason: str, fix: str | None = None) -> None:
        super().__init__(reason)
        self.label, self.reason, self.fix = label, reason, fix


def error_code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


class Opener:
    """Resolves ``CUDA_VISIBLE_DEVICES`` entries to handles, opening as few GPUs as it can."""

    def __init__(
        self, nvml: Any, count: int, driver: list[DriverGpu], job_minors: list[int] | None = None
    ) -> None:
        self._nv = nvml
        self.count = count
        # The driver's list only numbers the GPUs if it matches what NVML counts.
        self.driver = driver if len(driver) == count else []
        self.job_minors = (
            job_minors if self.driver and all(g.minor is not None for g in self.driver) else None
        )
        self._by_position: dict[int, Target | Refused] = {}
        self.skipped: list[str] = []  # GPUs passed over while numbering, with why
        self.opened_all = False  # a UUID prefix made every GPU open

    # -- by position -------------------------------------------------------------------------

    def at_position(self, position: int) -> Target:
        """The GPU at ``position`` in PCI order; ``Refused`` when it cannot be opened."""
        if not 0 <= position < self.count:
            raise NoSuchGpu(f"there are {self.count} GPUs")
        cached = self._by_position.get(position)
        if cached is None:
            cached = self._open_position(position)
            self._by_position[position] = cached
        if isinstance(cached, Refused):
            raise cached
        return cached

    def _open_position(self, position: int) -> Target | Refused:
        nv = self._nv
        label = f"gpu:{position}"
        try:
            if self.driver:
                gpu = self.driver[position]
                handle = nv.nvmlDeviceGetHandleByPciBusId(gpu.bus_id.encode())
                return Target(position, gpu.uuid, handle, gpu.bus_id)
            handle = nv.nvmlDeviceGetHandleByIndex(position)
            return Target(position, _text(nv.nvmlDeviceGetUUID(handle)), handle)
        except Exception as exc:  # noqa: BLE001 - any failure here is this GPU's alone
            return _refusal(label, exc)

    def nth_openable(self, n: int) -> Target:
        """CUDA's n-th GPU: the n-th one, in PCI order, that can be opened."""
        if self.job_minors is not None:
            mine = [p for p, g in enumerate(self.driver) if g.minor in self.job_minors]
            if n >= len(mine):
                raise NoSuchGpu(f"the Slurm job has {len(mine)} GPUs")
            return self.at_position(mine[n])
        refused_before = any(isinstance(v, Refused) and p < n for p, v in self._by_position.items())
        if not refused_before:
            try:
                return self.at_position(n)
            except Refused:
                pass  # numbering may skip GPUs before it: try them in order
        seen = 0
        for position in range(self.count):
            try:
                target = self.at_position(position)
            except Refused as refused:
                note = f"{refused.label}: {refused.reason}; CUDA does not number it either"
                if note not in self.skipped:
                    self.skipped.append(note)
                continue
            if seen == n:
                return target
            seen += 1
        raise NoSuchGpu(f"only {seen} GPUs can be opened here")

    # -- by UUID -----------------------------------------------------------------------------

    def by_uuid(self, uuid: str) -> Target:
        full = uuid if is_full_uuid(uuid) else self._complete(uuid)
        position = self._position_of(full)
        if position is not None and position in self._by_position:
            return self.at_position(position)
        nv = self._nv
        try:
            handle = nv.nvmlDeviceGetHandleByUUID(full.encode())
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in (NVML_ERROR_NOT_FOUND, NVML_ERROR_INVALID_ARGUMENT):
                raise NoSuchGpu(f"NVML knows no GPU {full}") from None
            raise _refusal(full, exc) from None
        if position is None:
            position = self._index_of(handle)
        target = Target(position, full, handle, self.driver[position].bus_id if self.driver else None)
        if position >= 0:
            self._by_position[position] = target
        return target

    def by_mig(self, entry: Entry) -> Target:
        """The parent GPU of a MIG instance, with the instance's handle attached."""
        if entry.legacy_mig:  # MIG-GPU-<uuid>/gi/ci: the parent is named; no instance handle
            return self.by_uuid(entry.uuid)
        nv = self._nv
        try:
            mig_handle = nv.nvmlDeviceGetHandleByUUID(entry.uuid.encode())
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in (NVML_ERROR_NOT_FOUND, NVML_ERROR_INVALID_ARGUMENT):
                raise NoSuchGpu(f"NVML knows no MIG instance {entry.uuid}") from None
            raise _refusal(entry.uuid, exc) from None
        try:
            parent = nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig_handle)
            parent_uuid = _text(nv.nvmlDeviceGetUUID(parent))
        except Exception as exc:  # noqa: BLE001
            why = f"NVML cannot tell which GPU holds MIG instance {entry.uuid} ({exc})"
            raise Refused(entry.uuid, why) from None
        target = self.by_uuid(parent_uuid)
        target.mig.append((entry.uuid, mig_handle))
        return target

    def _complete(self, prefix: str) -> str:
        uuids = [g.uuid for g in self.driver]
        if not uuids:
            self.opened_all = True
            uuids = []
            for position in range(self.count):
                try:
                    uuids.append(self.at_position(position).uuid)
                except Refused:
                    continue
        matches = [u for u in uuids if u.startswith(prefix)]
        if len(matches) != 1:
            raise NoSuchGpu("it matches no GPU's UUID" if not matches else "it matches several GPUs' UUIDs")
        return matches[0]

    def _position_of(self, uuid: str) -> int | None:
        for position, gpu in enumerate(self.driver):
            if gpu.uuid == uuid:
                return position
        for position, opened in self._by_position.items():
            if isinstance(opened, Target) and opened.uuid == uuid:
                return position
        return None

    def _index_of(self, handle: Any) -> int:
        try:
            return int(self._nv.nvmlDeviceGetIndex(handle))
        except Exception:  # noqa: BLE001 - then the GPU is named by UUID alone
            return -1


def slurm_job_minors(environ: Any) -> list[int] | None:
    """The device minors of the GPUs Slurm gave this job or step, when it says."""
    for name in ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        value = environ.get(name)
        if value:
            parts = [p.strip() for p in value.split(",")]
            return [int(p) for p in parts] if all(p.isdigit() for p in parts) else None
    return None


def _refusal(label: str, exc: BaseException) -> Refused:
    if error_code(exc) == NVML_ERROR_NO_PERMISSION:
        return Refused(label, NO_PERMISSION_REASON, NO_PERMISSION_FIX)
    return Refused(label, f"NVML could not open it ({type(exc).__name__}: {exc})")


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
