"""aicarbon's NVML sensor over NVIDIA's real pynvml bindings, the C library replaced by a
stand-in (nvml_library): the bindings' own marshalling, struct parsing, error classes and
version fallbacks meet the cases real machines show."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pynvml
import pytest
from aicarbon.measurement.command import MeasureOptions, measure_command
from aicarbon.sensors.base import DomainKind
from aicarbon.sensors.nvml import NvmlSensor
from conftest import FakeClock, FakeGpu, FakeMig, write_driver_gpus
from nvml_library import OLD_DRIVER_MISSING, real_pynvml

UUIDS = [f"GPU-{i}{i}{i}{i}bbbb-0000-0000-0000-00000000000{i}" for i in range(3)]


def gpus(n: int = 2, **overrides: object) -> list[FakeGpu]:
    return [FakeGpu(name="NVIDIA H100 80GB HBM3", uuid=UUIDS[i], **overrides) for i in range(n)]


def test_energy_counters_through_the_real_bindings() -> None:
    fakes = gpus()
    with real_pynvml(fakes):
        nvml = NvmlSensor(pynvml, environ={})
        assert [d.id for d in nvml.domains] == ["gpu:0", "gpu:1"]
        assert nvml.domains[0].max_power_w == pytest.approx(1400.0)  # twice the 700 W limit
        assert nvml.driver_version == "550.54.15"
        fakes[1].energy_mj += 12_345
        assert nvml.read().energy_j == pytest.approx({"gpu:0": 0.0, "gpu:1": 12.345})
        nvml.close()


def test_no_permission_from_the_real_bindings_is_an_unavailable_gpu() -> None:
    fakes = gpus(3)
    fakes[0].refused = True
    with real_pynvml(fakes):
        nvml = NvmlSensor(pynvml, environ={})
        assert [d.id for d in nvml.domains] == ["gpu:1", "gpu:2"]
        (refused,) = nvml.unavailable
        assert refused.sensor == "nvml gpu:0" and "NO_PERMISSION" in refused.reason


def test_an_old_driver_raises_library_mismatch_and_the_older_call_answers() -> None:
    fakes = gpus(1, pids=lambda: [4242], mps_pids=lambda: [4243])
    with real_pynvml(fakes, missing=OLD_DRIVER_MISSING) as library:
        nvml = NvmlSensor(pynvml, environ={})
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        with pytest.raises(pynvml.NVMLLibraryMismatchError):  # what killed runs before
            pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
        assert not issubclass(pynvml.NVMLLibraryMismatchError, pynvml.NVMLError)
        # The compute list comes from the _v2 call; the MPS list cannot be read and is skipped.
        assert nvml.processes().pids == {"gpu:0": {4242}}
        assert "nvmlDeviceGetComputeRunningProcesses_v2" in library.calls


def test_compute_and_mps_processes_are_parsed_from_the_real_structs() -> None:
    fakes = gpus(1, pids=lambda: [10, 11, 12], mps_pids=lambda: [20])
    with real_pynvml(fakes):
        assert NvmlSensor(pynvml, environ={}).processes().pids == {"gpu:0": {10, 11, 12, 20}}


def test_a_mig_instance_through_the_real_bindings() -> None:
    fakes = gpus(2)
    mig = FakeMig("MIG-7e3c0f1a-aaaa-bbbb-cccc-000000000002", fakes[1], pids=lambda: [31337])
    fakes[1].migs = [mig]
    with real_pynvml(fakes):
        nvml = NvmlSensor(pynvml, environ={"CUDA_VISIBLE_DEVICES": mig.uuid})
        assert [d.id for d in nvml.domains] == ["gpu:1"] and "MIG instances" in nvml.domains[0].label
        assert nvml.processes().pids == {"gpu:1": {31337}}


def test_only_the_named_gpu_is_opened_by_bus_id_through_the_real_bindings(tmp_path: Path) -> None:
    fakes = gpus(3)
    env = {"AICARBON_PROC_ROOT": str(write_driver_gpus(tmp_path, fakes)), "CUDA_VISIBLE_DEVICES": "2"}
    with real_pynvml(fakes) as library:
        nvml = NvmlSensor(pynvml, environ=env)
        assert [d.id for d in nvml.domains] == ["gpu:2"] and [g.opened for g in fakes] == [0, 0, 1]
        assert "nvmlDeviceGetHandleByPciBusId_v2" in library.calls
        assert "nvmlDeviceGetHandleByIndex_v2" not in library.calls


def test_instant_power_field_values_are_read_from_the_real_union(clock: FakeClock) -> None:
    fakes = [FakeGpu(uuid=UUIDS[0], energy_mj=None, power_mw=250_000, instant_power=True)]
    with real_pynvml(fakes):
        nvml = NvmlSensor(pynvml, environ={}, clock=clock, poll_in_background=False)
        assert "instantaneous power field" in nvml.domains[0].source
        clock.advance(2.0)
        assert nvml.read().energy_j["gpu:0"] == pytest.approx(250.001 * 2.0)
        nvml.close()


def test_a_c2c_superchip_is_module_scope_through_the_real_bindings() -> None:
    with real_pynvml([FakeGpu(uuid=UUIDS[0], name="NVIDIA GH200 480GB", c2c=True)]):
        (domain,) = NvmlSensor(pynvml, environ={}).domains
        assert domain.covers == {DomainKind.CPU, DomainKind.DRAM}


def test_a_run_on_an_old_driver_runs_the_command_and_attributes_its_gpu() -> None:
    def descendants() -> list[int]:
        return [p.pid for p in psutil.Process().children(recursive=True)]

    fakes = [FakeGpu(uuid=UUIDS[0], step_mj=3_000, pids=descendants)]
    with real_pynvml(fakes, missing=OLD_DRIVER_MISSING):
        options = MeasureOptions(
            interval_s=0.05, sensors=frozenset({"nvml"}), environ={}, nvml_module=pynvml, own_process=False
        )
        run, exit_ = measure_command([sys.executable, "-c", "import time; time.sleep(0.5)"], options)
    assert exit_.status == 0
    (gpu,) = run.energy.domains
    assert gpu.energy_j > 0 and gpu.attributed_j >= 0.97 * gpu.energy_j
    assert gpu.owner_unknown_s == 0 and gpu.owner_note is None  # told by PID, via the _v2 call
