"""Simulated hardware at the OS boundary: a powercap tree on disk and a stand-in pynvml."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

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


@pytest.fixture
def powercap(tmp_path: Path) -> PowercapTree:
    return PowercapTree(tmp_path / "sys")


# -- NVML -----------------------------------------------------------------------------------


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    energy_mj: float | None = 1_000_000.0  # None: the energy counter is not supported
    power_mw: float = 100_000.0
    fail_after_reads: int | None = None  # GPU lost after this many energy/power reads
    step_mj: float = 0.0  # the energy counter grows by this much at every read
    pids: Callable[[], list[int]] = field(default=list)
    reads: int = 0


def make_fake_pynvml(gpus: list[FakeGpu], init_error: int | None = None) -> types.ModuleType:
    """A stand-in for NVIDIA's pynvml with the calls, constants and error classes aicarbon
    uses, behaving as the real bindings do (errors carry ``.value``; subclasses by code)."""
    nv = types.ModuleType("pynvml")
    nv.NVML_ERROR_NOT_SUPPORTED = 3
    nv.NVML_ERROR_DRIVER_NOT_LOADED = 9
    nv.NVML_ERROR_LIBRARY_NOT_FOUND = 12
    nv.NVML_ERROR_GPU_IS_LOST = 15
    messages = {
        3: "Not Supported",
        9: "Driver Not Loaded",
        12: "NVML Shared Library Not Found",
        15: "GPU is lost",
    }

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(messages.get(value, f"error {value}"))
            self.value = value

    nv.NVMLError = NVMLError
    nv.shutdown_calls = 0

    def init() -> None:
        if init_error is not None:
            raise NVMLError(init_error)

    def shutdown() -> None:
        nv.shutdown_calls += 1

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

    nv.nvmlInit = init
    nv.nvmlShutdown = shutdown
    nv.nvmlDeviceGetCount = lambda: len(gpus)
    nv.nvmlDeviceGetHandleByIndex = lambda i: gpus[i]
    nv.nvmlDeviceGetName = lambda h: h.name.encode()  # older bindings return bytes
    nv.nvmlDeviceGetUUID = lambda h: h.uuid
    nv.nvmlDeviceGetTotalEnergyConsumption = energy
    nv.nvmlDeviceGetPowerUsage = power
    nv.nvmlDeviceGetComputeRunningProcesses = lambda h: [
        types.SimpleNamespace(pid=p, usedGpuMemory=1 << 20) for p in h.pids()
    ]
    return nv


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


def hermetic_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any AICARBON_* variable or user config file of the
    developer's; ``extra`` adds to it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AICARBON_")}
    base["XDG_CONFIG_HOME"] = NO_CONFIG_HOME  # no user config file there
    return {**base, **(extra or {})}


def run_hermetic(
    argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``argv`` in a subprocess, in its own session (no terminal), in ``hermetic_env(env)``."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        start_new_session=True,
        cwd=cwd,
        env=hermetic_env(env),
        input=input,
    )


def run_aicarbon(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``aicarbon ARGS``, hermetic (see run_hermetic)."""
    return run_hermetic([*AICARBON, *args], cwd=cwd, env=env, input=input)
