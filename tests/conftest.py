"""Simulated hardware at the OS boundary: a powercap tree on disk and a stand-in pynvml."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

# -- powercap -------------------------------------------------------------------------------


class PowercapTree:
    """Writes a sysfs-like powercap tree: ``<root>/class/powercap/intel-rapl:N[:M]``."""

    def __init__(self, sysfs_root: Path) -> None:
        self.sysfs_root = sysfs_root
        self.powercap = sysfs_root / "class" / "powercap"
        self.powercap.mkdir(parents=True)
        (self.powercap / "intel-rapl").mkdir()  # the control-type directory, not a zone
        (self.powercap / "intel-rapl" / "enabled").write_text("1\n")

    def zone(self, zone_id: str, name: str, energy_uj: int, max_uj: int = 262143328850) -> Path:
        parts = zone_id.split(":")
        if len(parts) == 3:  # subzone: nested in its package directory
            path = self.powercap / f"intel-rapl:{parts[1]}" / zone_id
        else:
            path = self.powercap / zone_id
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text(f"{energy_uj}\n")
        (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
        return path

    def set_energy(self, zone_id: str, energy_uj: int) -> None:
        self.path(zone_id).joinpath("energy_uj").write_text(f"{energy_uj}\n")

    def path(self, zone_id: str) -> Path:
        parts = zone_id.split(":")
        if len(parts) == 3:
            return self.powercap / f"intel-rapl:{parts[1]}" / zone_id
        return self.powercap / zone_id


# Python source for a measured command that must change a simulated counter only once the
# sampler reads it: it waits for three reads of the file (inotify IN_ACCESS: the sensor's probe,
# the first sample, one more), whatever the machine's load, then returns.
WAIT_UNTIL_SAMPLED = """
import ctypes, os, select
def wait_until_sampled(path, reads=3, timeout_s=120):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0 or libc.inotify_add_watch(fd, path.encode(), 0x1) < 0:  # IN_ACCESS
        raise OSError(ctypes.get_errno(), "inotify")
    seen = 0
    try:
        while seen < reads:
            if not select.select([fd], [], [], timeout_s)[0]:
                raise TimeoutError(f"{path} was not read within {timeout_s} s")
            seen += len(os.read(fd, 4096)) // 16  # events without a name: 16 bytes each
    finally:
        os.close(fd)
"""


BARE_METAL_CPUINFO = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
    "model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\nstepping\t: 7\n"
    "flags\t\t: fpu vme de pse tsc msr pae rapl\n\n"
)


def bare_metal_proc(root: Path) -> Path:
    """A /proc with the cpuinfo of a bare-metal Intel server (no 'hypervisor' flag): RAPL is
    then trusted, whatever machine the tests run on (CI runners are VMs)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpuinfo").write_text(BARE_METAL_CPUINFO)
    return root


@pytest.fixture
def powercap(tmp_path: Path) -> PowercapTree:
    return PowercapTree(tmp_path / "sys")


# -- NVML -----------------------------------------------------------------------------------


@dataclass
class FakeMig:
    """A MIG instance of a FakeGpu: its own UUID and process list."""

    uuid: str
    parent: FakeGpu
    pids: Callable[[], list[int]] = field(default=list)


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    energy_mj: float | None = 1_000_000.0  # None: the energy counter is not supported
    power_mw: float = 100_000.0
    fail_after_reads: int | None = None  # GPU lost after this many energy/power reads
    step_mj: float = 0.0  # the energy counter grows by this much at every read
    pids: Callable[[], list[int]] = field(default=list)
    mps_pids: Callable[[], list[int]] = field(default=list)
    refused: bool = False  # a handle is refused with NO_PERMISSION (another Slurm job's GPU)
    process_error: Exception | None = None  # raised by the process queries
    instant_power: bool = False  # has the NVML_FI_DEV_POWER_INSTANT field
    c2c: bool = False  # a C2C superchip (Grace Hopper)
    persistence: int = 1
    minor: int | None = None  # default: its index
    migs: list[FakeMig] = field(default_factory=list)
    reads: int = 0
    opened: int = 0  # handles handed out: opening a GPU initialises it


class FakeLibraryMismatch(Exception):
    """pynvml's NVMLLibraryMismatchError: not an NVMLError."""


def make_fake_pynvml(gpus: list[FakeGpu], init_error: int | None = None) -> types.ModuleType:
    """A stand-in for NVIDIA's pynvml with the calls, constants and error classes aicarbon
    uses, behaving as the real bindings do (errors carry ``.value``; subclasses by code;
    handles by index, PCI bus id and UUID; MIG instances; the field-value API)."""
    nv = types.ModuleType("pynvml")
    nv.NVML_ERROR_INVALID_ARGUMENT = 2
    nv.NVML_ERROR_NOT_SUPPORTED = 3
    nv.NVML_ERROR_NO_PERMISSION = 4
    nv.NVML_ERROR_NOT_FOUND = 6
    nv.NVML_ERROR_DRIVER_NOT_LOADED = 9
    nv.NVML_ERROR_LIBRARY_NOT_FOUND = 12
    nv.NVML_ERROR_GPU_IS_LOST = 15
    nv.NVML_FI_DEV_POWER_INSTANT = 186
    messages = {
        2: "Invalid Argument",
        3: "Not Supported",
        4: "Insufficient Permissions",
        6: "Not Found",
        9: "Driver Not Loaded",
        12: "NVML Shared Library Not Found",
        15: "GPU is lost",
    }

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(messages.get(value, f"error {value}"))
            self.value = value

    nv.NVMLError = NVMLError
    FakeLibraryMismatch.__name__ = "NVMLLibraryMismatchError"
    nv.NVMLLibraryMismatchError = FakeLibraryMismatch
    nv.shutdown_calls = 0
    for i, gpu in enumerate(gpus):
        if gpu.minor is None:
            gpu.minor = i

    def init() -> None:
        if init_error is not None:
            raise NVMLError(init_error)

    def shutdown() -> None:
        nv.shutdown_calls += 1

    def open_gpu(gpu: FakeGpu) -> FakeGpu:
        if gpu.refused:
            raise NVMLError(nv.NVML_ERROR_NO_PERMISSION)
        gpu.opened += 1
        return gpu

    def by_index(i: int) -> FakeGpu:
        if not 0 <= i < len(gpus):
            raise NVMLError(nv.NVML_ERROR_INVALID_ARGUMENT)
        return open_gpu(gpus[i])

    def by_bus_id(bus_id: bytes) -> FakeGpu:
        for i, gpu in enumerate(gpus):
            if bus_id.decode() == fake_bus_id(i):
                return open_gpu(gpu)
        raise NVMLError(nv.NVML_ERROR_NOT_FOUND)

    def by_uuid(uuid: bytes) -> FakeGpu | FakeMig:
        text = uuid.decode()
        for gpu in gpus:
            if gpu.uuid == text:
                return open_gpu(gpu)
            for mig in gpu.migs:
                if mig.uuid == text:
                    open_gpu(gpu)
                    return mig
        raise NVMLError(nv.NVML_ERROR_NOT_FOUND)

    def gpu_read(gpu: FakeGpu) -> None:
        gpu.reads += 1
        if gpu.fail_after_reads is not None and gpu.reads > gpu.fail_after_reads:
            raise NVMLError(nv.NVML_ERROR_GPU_IS_LOST)

    def energy(handle: FakeGpu) -> int:
        if handle.energy_mj is None:
            raise NVMLError(nv.NVML_ERROR_NOT_SUPPORTED)
        gpu_read(handle)
        handle.energy_mj += handle.step_mj
        return int(handle.energy_mj)

    def power(handle: FakeGpu) -> int:
        gpu_read(handle)
        return int(handle.power_mw)

    def field_values(handle: FakeGpu, field_ids: list[int]) -> list[types.SimpleNamespace]:
        values = []
        for field_id in field_ids:
            ok = field_id == nv.NVML_FI_DEV_POWER_INSTANT and handle.instant_power
            if ok:
                gpu_read(handle)
            value = types.SimpleNamespace(uiVal=int(handle.power_mw) + 1 if ok else 0)
            values.append(
                types.SimpleNamespace(fieldId=field_id, valueType=1, nvmlReturn=0 if ok else 3, value=value)
            )
        return values

    def processes(kind: str) -> Callable[[FakeGpu | FakeMig], list[types.SimpleNamespace]]:
        def query(handle: FakeGpu | FakeMig) -> list[types.SimpleNamespace]:
            gpu = handle.parent if isinstance(handle, FakeMig) else handle
            if gpu.process_error is not None:
                raise gpu.process_error
            if isinstance(handle, FakeMig):
                pids = handle.pids() if kind == "compute" else []
            else:
                if gpu.migs:  # the parent of MIG instances refuses unprivileged callers
                    raise NVMLError(nv.NVML_ERROR_NO_PERMISSION)
                pids = gpu.pids() if kind == "compute" else gpu.mps_pids()
            return [types.SimpleNamespace(pid=p, usedGpuMemory=1 << 20) for p in pids]

        return query

    def c2c(handle: FakeGpu) -> types.SimpleNamespace:
        return types.SimpleNamespace(isC2cEnabled=int(handle.c2c))

    def parent_of(handle: FakeMig) -> FakeGpu:
        return handle.parent

    nv.nvmlInit = init
    nv.nvmlShutdown = shutdown
    nv.nvmlDeviceGetCount = lambda: len(gpus)
    nv.nvmlDeviceGetHandleByIndex = by_index
    nv.nvmlDeviceGetHandleByPciBusId = by_bus_id
    nv.nvmlDeviceGetHandleByUUID = by_uuid
    nv.nvmlDeviceGetIndex = lambda h: gpus.index(h)
    nv.nvmlDeviceGetName = lambda h: h.name.encode()  # older bindings return bytes
    nv.nvmlDeviceGetUUID = lambda h: h.uuid
    nv.nvmlDeviceGetMinorNumber = lambda h: h.minor
    nv.nvmlDeviceGetPersistenceMode = lambda h: h.persistence
    nv.nvmlDeviceGetC2cModeInfoV = c2c
    nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle = parent_of
    nv.nvmlDeviceGetTotalEnergyConsumption = energy
    nv.nvmlDeviceGetPowerUsage = power
    nv.nvmlDeviceGetFieldValues = field_values
    nv.nvmlDeviceGetComputeRunningProcesses = processes("compute")
    nv.nvmlDeviceGetMPSComputeRunningProcesses = processes("mps")
    return nv


def fake_bus_id(index: int) -> str:
    """The PCI bus id of the stand-in's GPU ``index``, as the driver writes it."""
    return f"0000:{0x1B + 0x10 * index:02x}:00.0"


def write_driver_gpus(proc_root: Path, gpus: list[FakeGpu], models: list[str] | None = None) -> Path:
    """``<proc_root>/driver/nvidia/gpus/<bus id>/information`` for each GPU, as the driver
    writes it (listed in reverse, so the reader must sort by bus id)."""
    for i in reversed(range(len(gpus))):
        gpu = gpus[i]
        directory = proc_root / "driver" / "nvidia" / "gpus" / fake_bus_id(i)
        directory.mkdir(parents=True)
        model = models[i] if models else gpu.name
        minor = gpu.minor if gpu.minor is not None else i
        (directory / "information").write_text(
            f"Model: \t\t {model}\nIRQ:   \t\t 150\nGPU UUID: \t {gpu.uuid}\n"
            f"Video BIOS: \t 96.00.74.00.0d\nBus Type: \t PCIe\nDMA Size: \t 52 bits\n"
            f"Bus Location: \t {fake_bus_id(i)}\nDevice Minor: \t {minor}\nGPU Excluded:\t No\n"
        )
    return proc_root


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- the command line, hermetic --------------------------------------------------------------

AICARBON = [sys.executable, "-m", "aicarbon"]
NO_CONFIG_HOME = "/nonexistent/aicarbon-test-config-home"
# One history for the whole test session, removed at its end (tests of the history use their own).
TEST_HISTORY_HOME = tempfile.mkdtemp(prefix="aicarbon-test-history-")
atexit.register(shutil.rmtree, TEST_HISTORY_HOME, True)
os.environ["AICARBON_HOME"] = TEST_HISTORY_HOME  # in-process callers and unhermetic children too


def hermetic_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any AICARBON_* variable or user config file of the
    developer's; ``extra`` adds to it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AICARBON_")}
    base["XDG_CONFIG_HOME"] = NO_CONFIG_HOME  # no user config file there
    base["AICARBON_HOME"] = TEST_HISTORY_HOME  # the runs tests make stay out of the user's history
    return {**base, **(extra or {})}


def run_hermetic(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``argv`` in a subprocess, in its own session (no terminal), in ``hermetic_env(env)``; a
    hang past ``timeout`` fails the test (``TimeoutExpired``) instead of hanging the suite."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        start_new_session=True,
        cwd=cwd,
        env=hermetic_env(env),
        input=input,
    )


def run_aicarbon(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``aicarbon ARGS``, hermetic (see run_hermetic)."""
    return run_hermetic([*AICARBON, *args], cwd=cwd, env=env, input=input, timeout=timeout)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """``aicarbon ARGS`` in this process (``call_aicarbon``), as a fixture."""
    return call_aicarbon


def call_aicarbon(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    """``aicarbon ARGS`` in this process, for commands that start no other process (history,
    show, report, diff, compare, devices...): ``hermetic_env(env)`` and ``cwd`` while it runs,
    its output captured. What is process-level (a run, signals, streams) keeps run_aicarbon."""
    import contextlib
    import io

    from aicarbon.cli.app import run_cli

    if args[:1] == ("run",):
        raise ValueError("'aicarbon run' starts a command: use run_aicarbon")
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(hermetic_env(env))
        for key in [k for k in os.environ if k.startswith("GITHUB_") and k not in (env or {})]:
            del os.environ[key]
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = run_cli(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return CliResult(status, out.getvalue(), err.getvalue())
