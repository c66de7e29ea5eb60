"""A stand-in for ``libnvidia-ml.so.1`` under NVIDIA's *real* ``pynvml`` bindings.

``pynvml`` resolves every C function by name on its loaded library object (``nvmlLib``) and
calls it with ctypes arguments: ``byref`` out-parameters, string buffers, struct arrays, device
handles. Putting an object with Python functions of those names in its place runs the real
bindings (their argument marshalling, struct parsing, error classes, version fallbacks) over
simulated GPUs, described with the same ``FakeGpu`` as the pure-Python stand-in. A name left
out is a function the driver lacks: ``nvmlDeviceGetComputeRunningProcesses_v3`` missing is a
driver older than R510, on which nvidia-ml-py 13 raises ``NVMLLibraryMismatchError``.
"""

from __future__ import annotations

import ctypes
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pynvml
from conftest import FakeGpu, FakeMig, fake_bus_id

SUCCESS = 0
INVALID_ARGUMENT = 2
NOT_SUPPORTED = 3
NO_PERMISSION = 4
NOT_FOUND = 6
INSUFFICIENT_SIZE = 7
GPU_IS_LOST = 15

# What drivers before R510 lack (the _v3 process calls came with R510).
OLD_DRIVER_MISSING = frozenset(
    {"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetMPSComputeRunningProcesses_v3"}
)


def _out(ref: Any) -> Any:
    """The ctypes object behind a ``byref()`` argument."""
    return ref._obj  # noqa: SLF001 - CArgObject keeps what it points to here


class StandInLibrary:
    """The C functions aicarbon's NVML calls reach, over a list of FakeGpu."""

    def __init__(self, gpus: list[FakeGpu]) -> None:
        self.gpus = gpus
        self.calls: list[str] = []
        # One opaque device struct per GPU and per MIG instance: a handle points at it.
        self._structs: dict[int, FakeGpu | FakeMig] = {}
        self._keep: list[Any] = []
        for i, gpu in enumerate(gpus):
            if gpu.minor is None:
                gpu.minor = i

    # -- plumbing ----------------------------------------------------------------------------

    def functions(self, missing: frozenset[str] = frozenset()) -> types.SimpleNamespace:
        names = [n for n in dir(self) if n.startswith("nvml") and n not in missing]
        library = types.SimpleNamespace()
        for name in names:
            setattr(library, name, self._traced(name, getattr(self, name)))
        return library

    def _traced(self, name: str, function: Callable[..., int]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            self.calls.append(name)
            return function(*args)

        return call

    def _handle_out(self, ref: Any, device: FakeGpu | FakeMig) -> None:
        struct = pynvml.struct_c_nvmlDevice_t()
        self._keep.append(struct)
        self._structs[ctypes.addressof(struct)] = device
        _out(ref).contents = struct

    def _device(self, handle: Any) -> FakeGpu | FakeMig:
        return self._structs[ctypes.addressof(handle.contents)]

    def _gpu(self, handle: Any) -> FakeGpu:
        device = self._device(handle)
        return device.parent if isinstance(device, FakeMig) else device

    def _open(self, gpu: FakeGpu, ref: Any) -> int:
        if gpu.refused:
            return NO_PERMISSION
        gpu.opened += 1
        self._handle_out(ref, gpu)
        return SUCCESS

    def _read(self, gpu: FakeGpu) -> int:
        gpu.reads += 1
        if gpu.fail_after_reads is not None and gpu.reads > gpu.fail_after_reads:
            return GPU_IS_LOST
        return SUCCESS

    @staticmethod
    def _text_out(buffer: Any, size: Any, text: str) -> int:
        encoded = text.encode()
        if len(encoded) >= size.value:
            return INSUFFICIENT_SIZE
        buffer.value = encoded
        return SUCCESS

    # -- the library ----------------------------------------------------------------------------

    def nvmlInitWithFlags(self, flags: int) -> int:  # noqa: N802 - C names
        return SUCCESS

    def nvmlShutdown(self) -> int:  # noqa: N802
        return SUCCESS

    def nvmlErrorString(self, result: int) -> bytes:  # noqa: N802
        return f"stand-in error {result}".encode()

    def nvmlSystemGetDriverVersion(self, buffer: Any, size: Any) -> int:  # noqa: N802
        return self._text_out(buffer, size, "550.54.15")

    def nvmlDeviceGetCount_v2(self, count: Any) -> int:  # noqa: N802
        _out(count).value = len(self.gpus)
        return SUCCESS

    def nvmlDeviceGetHandleByIndex_v2(self, index: Any, device: Any) -> int:  # noqa: N802
        if not 0 <= index.value < len(self.gpus):
            return INVALID_ARGUMENT
        return self._open(self.gpus[index.value], device)

    def nvmlDeviceGetHandleByPciBusId_v2(self, bus_id: Any, device: Any) -> int:  # noqa: N802
        for i, gpu in enumerate(self.gpus):
            if bus_id.value.decode() == fake_bus_id(i):
                return self._open(gpu, device)
        return NOT_FOUND

    def nvmlDeviceGetHandleByUUID(self, uuid: Any, device: Any) -> int:  # noqa: N802
        text = uuid.value.decode()
        for gpu in self.gpus:
            if gpu.uuid == text:
                return self._open(gpu, device)
            for mig in gpu.migs:
                if mig.uuid == text:
                    self._handle_out(device, mig)
                    return SUCCESS
        return NOT_FOUND

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, mig: Any, device: Any) -> int:  # noqa: N802
        found = self._device(mig)
        if not isinstance(found, FakeMig):
            return INVALID_ARGUMENT
        return self._open(found.parent, device)

    def nvmlDeviceGetIndex(self, handle: Any, index: Any) -> int:  # noqa: N802
        _out(index).value = self.gpus.index(self._gpu(handle))
        return SUCCESS

    def nvmlDeviceGetUUID(self, handle: Any, buffer: Any, size: Any) -> int:  # noqa: N802
        return self._text_out(buffer, size, self._device(handle).uuid)

    def nvmlDeviceGetName(self, handle: Any, buffer: Any, size: Any) -> int:  # noqa: N802
        return self._text_out(buffer, size, self._gpu(handle).name)

    def nvmlDeviceGetMinorNumber(self, handle: Any, minor: Any) -> int:  # noqa: N802
        _out(minor).value = self._gpu(handle).minor
        return SUCCESS

    def nvmlDeviceGetPersistenceMode(self, handle: Any, state: Any) -> int:  # noqa: N802
        _out(state).value = self._gpu(handle).persistence
        return SUCCESS

    def nvmlDeviceGetC2cModeInfoV(self, handle: Any, info: Any) -> int:  # noqa: N802
        _out(info).isC2cEnabled = int(self._gpu(handle).c2c)
        return SUCCESS

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: Any, low: Any, high: Any) -> int:  # noqa: N802
        _out(low).value, _out(high).value = 200_000, 700_000
        return SUCCESS

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any, energy: Any) -> int:  # noqa: N802
        gpu = self._gpu(handle)
        if gpu.energy_mj is None:
            return NOT_SUPPORTED
        status = self._read(gpu)
        if status == SUCCESS:
            gpu.energy_mj += gpu.step_mj
            _out(energy).value = int(gpu.energy_mj)
        return status

    def nvmlDeviceGetPowerUsage(self, handle: Any, power: Any) -> int:  # noqa: N802
        gpu = self._gpu(handle)
        status = self._read(gpu)
        if status == SUCCESS:
            _out(power).value = int(gpu.power_mw)
        return status

    def nvmlDeviceGetFieldValues(self, handle: Any, count: Any, values: Any) -> int:  # noqa: N802
        gpu = self._gpu(handle)
        array = _out(values)
        for i in range(count.value):
            value = array[i]
            if value.fieldId == pynvml.NVML_FI_DEV_POWER_INSTANT and gpu.instant_power:
                self._read(gpu)
                value.nvmlReturn = SUCCESS
                value.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
                value.value.uiVal = int(gpu.power_mw) + 1
            else:
                value.nvmlReturn = NOT_SUPPORTED
        return SUCCESS

    def _processes(self, handle: Any, count: Any, array: Any, kind: str) -> int:
        device = self._device(handle)
        gpu = device.parent if isinstance(device, FakeMig) else device
        if isinstance(device, FakeMig):
            pids = device.pids() if kind == "compute" else []
        elif gpu.migs:
            return NO_PERMISSION  # the parent of MIG instances refuses unprivileged callers
        else:
            pids = gpu.pids() if kind == "compute" else gpu.mps_pids()
        wanted = _out(count)
        if array is None or wanted.value < len(pids):
            wanted.value = len(pids)
            return INSUFFICIENT_SIZE if pids else SUCCESS
        for i, pid in enumerate(pids):
            array[i].pid = pid
            array[i].usedGpuMemory = 1 << 20
        wanted.value = len(pids)
        return SUCCESS

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle: Any, count: Any, array: Any) -> int:  # noqa: N802
        return self._processes(handle, count, array, "compute")

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle: Any, count: Any, array: Any) -> int:  # noqa: N802
        return self._processes(handle, count, array, "compute")

    def nvmlDeviceGetMPSComputeRunningProcesses_v3(self, handle: Any, count: Any, array: Any) -> int:  # noqa: N802
        return self._processes(handle, count, array, "mps")


@contextmanager
def real_pynvml(gpus: list[FakeGpu], missing: frozenset[str] = frozenset()) -> Iterator[StandInLibrary]:
    """NVIDIA's pynvml, loaded over a StandInLibrary of ``gpus``; restored afterwards."""
    library = StandInLibrary(gpus)
    saved = pynvml.nvmlLib
    pynvml._nvmlGetFunctionPointer_cache.clear()  # noqa: SLF001 - its per-library cache
    pynvml.nvmlLib = library.functions(missing)
    try:
        yield library
    finally:
        pynvml.nvmlLib = saved
        pynvml._nvmlGetFunctionPointer_cache.clear()  # noqa: SLF001
