"""NVML as real machines show it: Slurm's refused GPUs, containers' PID namespaces, MIG, MPS,
superchips, old drivers, counter resets. Each case through the stand-in pynvml (and a
stand-in /proc/driver/nvidia where the driver's GPU list matters)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aicarbon.measurement.child_process import ChildExit
from aicarbon.measurement.command import MeasureOptions, measure_command
from aicarbon.measurement.gpu_owner import PID_NAMESPACE_UNKNOWN, decide
from aicarbon.measurement.process_tree import in_this_namespace, nvidia_minors_open
from aicarbon.records.run import Run
from aicarbon.report.terminal import make_console, render
from aicarbon.sensors.base import DomainKind
from aicarbon.sensors.nvml import NvmlSensor
from aicarbon.sensors.opening import open_sensors
from conftest import FakeClock, FakeGpu, FakeLibraryMismatch, FakeMig, make_fake_pynvml, write_driver_gpus

UUIDS = [f"GPU-{i}{i}{i}{i}aaaa-0000-0000-0000-00000000000{i}" for i in range(4)]


def gpus(n: int = 3, **overrides: object) -> list[FakeGpu]:
    return [FakeGpu(name="NVIDIA H100 80GB HBM3", uuid=UUIDS[i], **overrides) for i in range(n)]


def sensor(fakes: list[FakeGpu], env: dict[str, str] | None = None, **kwargs: object) -> NvmlSensor:
    return NvmlSensor(make_fake_pynvml(fakes), environ=env or {}, **kwargs)


def measure_with(fakes: list[FakeGpu], python_code: str) -> tuple[Run, ChildExit]:
    """``python -c CODE`` measured with the stand-in GPUs (NVML only, no cgroup)."""
    options = MeasureOptions(
        interval_s=0.05,
        sensors=frozenset({"nvml"}),
        environ={},
        nvml_module=make_fake_pynvml(fakes),
        own_process=False,
    )
    return measure_command([sys.executable, "-c", python_code], options)


# -- NO_PERMISSION (Slurm, cgroup device limits) -----------------------------------------------


def test_a_refused_gpu_is_unavailable_with_its_reason_and_the_others_are_measured() -> None:
    fakes = gpus()
    fakes[1].refused = True
    nvml = sensor(fakes)
    assert [d.id for d in nvml.domains] == ["gpu:0", "gpu:2"]
    (refused,) = nvml.unavailable
    assert refused.sensor == "nvml gpu:1" and "NO_PERMISSION" in refused.reason and refused.uncounted
    assert "Slurm" in refused.reason and refused.fix


def test_numbering_counts_only_the_gpus_that_can_be_opened() -> None:
    # The job was given GPUs 1 and 2 of the node (and no SLURM_* variable says so); CUDA
    # numbers them 0 and 1. GPU 0 refuses, so the GPUs are tried in order.
    fakes = gpus()
    fakes[0].refused = True
    nvml = sensor(fakes, {"CUDA_VISIBLE_DEVICES": "0,1"})
    assert [d.id for d in nvml.domains] == ["gpu:1", "gpu:2"] and UUIDS[1] in nvml.domains[0].source
    assert any("gpu:0" in n and "CUDA does not number it" in n for n in nvml.notes)
    assert nvml.unavailable == []


def test_slurm_job_gpus_number_cuda_devices_without_opening_the_others(tmp_path: Path) -> None:
    fakes = gpus(4)
    fakes[0].refused = fakes[3].refused = True
    root = write_driver_gpus(tmp_path, fakes)
    env = {"AICARBON_PROC_ROOT": str(root), "SLURM_JOB_GPUS": "1,2", "CUDA_VISIBLE_DEVICES": "1"}
    nvml = sensor(fakes, env)
    assert [d.id for d in nvml.domains] == ["gpu:2"] and [g.opened for g in fakes] == [0, 0, 1, 0]


def test_a_run_with_a_refused_gpu_runs_and_says_the_total_is_partial() -> None:
    fakes = gpus(2, step_mj=1_000)
    fakes[0].refused = True
    run, exit_ = measure_with(fakes, "pass")
    assert exit_.status == 0 and [d.id for d in run.energy.domains] == ["gpu:1"]
    assert run.partial and run.unavailable[0].sensor == "nvml gpu:0"


def test_every_gpu_refused_is_one_clear_unavailable_line() -> None:
    fakes = gpus(2, refused=True)
    opened = open_sensors(
        frozenset({"nvml"}), environ={}, cpu="x", n_cpu=1, nvml_module=make_fake_pynvml(fakes)
    )
    assert opened.sensors == []
    assert any(u.sensor == "nvml" and "no GPU could be measured" in u.reason for u in opened.unavailable)


# -- only the GPUs measured are opened ---------------------------------------------------------


def test_only_the_named_gpu_is_opened_when_the_driver_lists_the_gpus(tmp_path: Path) -> None:
    fakes = gpus(4)
    env = {"AICARBON_PROC_ROOT": str(write_driver_gpus(tmp_path, fakes)), "CUDA_VISIBLE_DEVICES": "2"}
    nvml = sensor(fakes, env)
    assert [d.id for d in nvml.domains] == ["gpu:2"]
    assert [g.opened for g in fakes] == [0, 0, 1, 0]
    assert nvml.minors == {"gpu:2": 2}


def test_a_full_uuid_opens_that_gpu_alone_even_without_the_driver_list() -> None:
    fakes = gpus(4)
    nvml = sensor(fakes, {"CUDA_VISIBLE_DEVICES": UUIDS[3]})
    assert [d.id for d in nvml.domains] == ["gpu:3"] and [g.opened for g in fakes] == [0, 0, 0, 1]


def test_a_uuid_prefix_is_completed_from_the_driver_list_without_opening_others(tmp_path: Path) -> None:
    fakes = gpus(3)
    env = {"AICARBON_PROC_ROOT": str(write_driver_gpus(tmp_path, fakes)), "CUDA_VISIBLE_DEVICES": "GPU-1111"}
    nvml = sensor(fakes, env)
    assert [d.id for d in nvml.domains] == ["gpu:1"] and [g.opened for g in fakes] == [0, 1, 0]


def test_mixed_models_with_integer_entries_are_noted_unless_cuda_uses_pci_order(tmp_path: Path) -> None:
    fakes = gpus(2)
    root = write_driver_gpus(tmp_path, fakes, models=["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"])
    env = {"AICARBON_PROC_ROOT": str(root), "CUDA_VISIBLE_DEVICES": "1"}
    assert any("different models" in n for n in sensor(fakes, env).notes)
    fakes = gpus(2)
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    assert not any("different models" in n for n in sensor(fakes, env).notes)


def test_persistence_mode_off_is_noted_once_for_all_gpus() -> None:
    fakes = gpus(3, persistence=0)
    fakes[1].persistence = 1
    notes = [n for n in sensor(fakes).notes if "persistence mode is off" in n]
    assert len(notes) == 1 and "on gpu:0, gpu:2:" in notes[0]


# -- MIG and MPS -------------------------------------------------------------------------------


def test_a_mig_instance_measures_its_parent_gpu_labelled_as_shared() -> None:
    fakes = gpus(2)
    mig = FakeMig("MIG-5c4d8c1e-aaaa-bbbb-cccc-000000000001", fakes[1], pids=lambda: [4242])
    fakes[1].migs = [mig]
    nvml = sensor(fakes, {"CUDA_VISIBLE_DEVICES": mig.uuid})
    (domain,) = nvml.domains
    assert domain.id == "gpu:1" and "whole GPU shared by its MIG instances" in domain.label
    assert nvml.gpus[0].mig == [mig.uuid]
    # The parent refuses its process list to unprivileged callers; the instance answers.
    assert nvml.processes().pids == {"gpu:1": {4242}}


def test_mps_clients_count_as_processes_on_the_gpu() -> None:
    fakes = gpus(1, pids=lambda: [10], mps_pids=lambda: [11, 12])
    assert sensor(fakes).processes().pids == {"gpu:0": {10, 11, 12}}


# -- old drivers, failing queries ----------------------------------------------------------------


def test_library_mismatch_falls_back_to_the_older_process_call() -> None:
    fakes = gpus(1, pids=lambda: [7])
    nv = make_fake_pynvml(fakes)
    older_calls = []
    newest = nv.nvmlDeviceGetComputeRunningProcesses

    def mismatch(handle: object) -> list[object]:
        raise FakeLibraryMismatch("Unversioned function called and the pyNVML version does not match")

    def v2(handle: object) -> list[object]:
        older_calls.append(handle)
        return newest(handle)

    nv.nvmlDeviceGetComputeRunningProcesses = mismatch
    nv.nvmlDeviceGetComputeRunningProcesses_v2 = v2
    nvml = NvmlSensor(nv, environ={})
    assert nvml.processes().pids == {"gpu:0": {7}} and len(older_calls) == 1


def test_a_failing_process_query_means_could_not_tell() -> None:
    fakes = gpus(1, process_error=FakeLibraryMismatch("driver too old"))
    result = sensor(fakes).processes()
    assert result.pids == {} and "NVMLLibraryMismatchError" in result.failed["gpu:0"]


def test_a_run_whose_gpu_query_fails_still_runs_and_counts_the_gpu_flagged() -> None:
    fakes = [FakeGpu(uuid=UUIDS[0], step_mj=2_000, process_error=FakeLibraryMismatch("driver too old"))]
    run, exit_ = measure_with(fakes, "import time; time.sleep(0.4)")
    assert exit_.status == 0
    (gpu,) = run.energy.domains
    assert gpu.energy_j > 0 and gpu.attributed_j == pytest.approx(gpu.energy_j)
    assert gpu.owner_unknown_s > 0 and "could not be read" in (gpu.owner_note or "")
    buffer = io.StringIO()
    render(run, make_console(buffer, force_plain=True))
    report = " ".join(buffer.getvalue().split())
    assert "in use, owner unknown (the query failed): the GPU's process list could not be read" in report
    assert "of its use counted as your command's." in report


# -- superchips, counters, power fields ------------------------------------------------------------


@pytest.mark.parametrize("fake", [FakeGpu(name="NVIDIA GH200 480GB"), FakeGpu(name="NVIDIA H100", c2c=True)])
def test_a_module_scope_counter_covers_cpu_and_memory_which_are_not_estimated(fake: FakeGpu) -> None:
    opened = open_sensors(
        frozenset({"nvml", "estimate"}),
        environ={},
        cpu="Neoverse-V2",
        n_cpu=72,
        nvml_module=make_fake_pynvml([fake]),
    )
    (domain,) = opened.domains
    assert "module (GPU + Grace CPU + memory)" in domain.label
    assert domain.covers == {DomainKind.CPU, DomainKind.DRAM}
    assert [s.name for s in opened.sensors] == ["nvml"]  # no estimate on top
    assert any("covers the Grace CPU" in n for n in opened.notes)
    opened.close()


def test_gb10_counts_its_gpu_alone() -> None:
    nvml = sensor([FakeGpu(name="NVIDIA GB10", c2c=True)])
    assert nvml.domains[0].covers == frozenset()


def test_a_counter_reset_is_rebased_and_noted() -> None:
    fakes = gpus(1)
    nvml = sensor(fakes)
    fakes[0].energy_mj += 10_000
    assert nvml.read().energy_j["gpu:0"] == pytest.approx(10.0)
    fakes[0].energy_mj = 500  # the driver reloaded: the counter starts again near 0
    assert nvml.read().energy_j["gpu:0"] == pytest.approx(10.0)
    fakes[0].energy_mj += 3_000
    assert nvml.read().energy_j["gpu:0"] == pytest.approx(13.0)
    assert len(nvml.events) == 1 and "went back" in nvml.events[0]


def test_instant_power_field_is_preferred_and_named(clock: FakeClock) -> None:
    fake = FakeGpu(energy_mj=None, power_mw=100_000, instant_power=True)
    nvml = NvmlSensor(make_fake_pynvml([fake]), environ={}, clock=clock, poll_in_background=False)
    assert "instantaneous power field" in nvml.domains[0].source
    clock.advance(1.0)
    assert nvml.read().energy_j["gpu:0"] == pytest.approx(100.001)  # the field reads 1 mW more
    plain = NvmlSensor(make_fake_pynvml([FakeGpu(energy_mj=None)]), environ={}, poll_in_background=False)
    assert "one-second average" in plain.domains[0].source


def test_call_latency_sets_how_often_the_counters_are_read() -> None:
    ticks = iter(range(10_000))
    slow = NvmlSensor(make_fake_pynvml(gpus(4)), environ={}, timer=lambda: next(ticks) * 0.002)
    assert slow.call_latency_s == pytest.approx(0.002)
    assert slow.min_period_s == pytest.approx(4 * 0.002 / 0.01)  # NVML under 1% of wall time
    fast = NvmlSensor(make_fake_pynvml(gpus(1)), environ={}, timer=lambda: next(ticks) * 1e-5)
    assert fast.min_period_s == pytest.approx(0.1)  # never faster than the counter moves


# -- whose GPU: PID namespaces ------------------------------------------------------------------


FOREIGN = 999_999_999  # no such PID here: NVML speaks the host's namespace


def decide_with(pids: dict[str, set[int]], tree: set[int], open_minors: set[int] | None, failed=None):
    return decide(pids, failed or {}, tree, {"gpu:0": 0, "gpu:1": 1}, in_this_namespace, lambda: open_minors)


def test_foreign_pids_are_matched_by_the_device_file_the_tree_holds_open() -> None:
    owners = decide_with({"gpu:0": {FOREIGN}, "gpu:1": {FOREIGN + 1}}, {1}, {0})
    assert owners.tree == {"gpu:0"} and owners.others == {"gpu:1"}
    assert "/dev/nvidia0" in owners.by_device_file["gpu:0"]


def test_foreign_pids_without_readable_descriptors_are_owner_unknown_never_zero() -> None:
    owners = decide_with({"gpu:0": {FOREIGN}}, {1}, None)
    assert owners.unknown == {"gpu:0": PID_NAMESPACE_UNKNOWN} and owners.tree == frozenset()
    assert "--pid=host" in PID_NAMESPACE_UNKNOWN


def test_pids_of_this_namespace_decide_as_before() -> None:
    me = {os.getpid()}
    assert decide_with({"gpu:0": me}, me, None).tree == {"gpu:0"}
    assert decide_with({"gpu:0": me}, {1}, None).others == {"gpu:0"}
    assert decide_with({"gpu:0": set()}, {1}, None).tree == frozenset()
    failed = decide_with({}, {1}, None, failed={"gpu:1": "boom"}).unknown
    assert failed == {"gpu:1": "in use, owner unknown (the query failed): boom"}
    # Before the command starts the tree has no process: it holds no device file open.
    assert nvidia_minors_open(set()) == set()


def test_nvidia_minors_open_reads_the_descriptors_of_real_processes(tmp_path: Path) -> None:
    for minor in (3, 12):
        (tmp_path / f"nvidia{minor}").write_text("")
    (tmp_path / "nvidiactl").write_text("")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; fs = [open(p) for p in sys.argv[1:]]; print('ready', flush=True); "
            "time.sleep(30)",
            str(tmp_path / "nvidia3"),
            str(tmp_path / "nvidia12"),
            str(tmp_path / "nvidiactl"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        assert nvidia_minors_open({holder.pid}, prefix=str(tmp_path / "nvidia")) == {3, 12}
        assert nvidia_minors_open({FOREIGN}) is None  # nothing readable: cannot tell
    finally:
        holder.kill()
        holder.wait()
    assert in_this_namespace({os.getpid(), FOREIGN}) == {os.getpid()}


# -- the sampler and the accounts ---------------------------------------------------------------


def test_gpu_owner_unknown_is_counted_as_the_trees_and_timed() -> None:
    from aicarbon.measurement.accounting import Accumulator, Snapshot
    from aicarbon.measurement.timeline import Timeline
    from aicarbon.sensors.base import Domain, Method

    gpu = Domain("gpu:0", DomainKind.GPU, Method.MEASURED, "nvml", "GPU 0")
    acc = Accumulator([gpu], Timeline(1.0, 8), interval_s=1.0)
    unknown, others = frozenset({"gpu:0"}), frozenset()
    acc.add(Snapshot(0.0, {"gpu:0": 0}))
    acc.add(Snapshot(1.0, {"gpu:0": 100}))  # nobody seen yet: 100 J unowned
    acc.add(Snapshot(2.0, {"gpu:0": 300}, gpus_owner_unknown=unknown))  # 200 J, owner unknown
    acc.add(Snapshot(3.0, {"gpu:0": 350}))  # 50 J: the unknown owner at its start
    acc.add(Snapshot(4.0, {"gpu:0": 450}, gpus_used_by_others=frozenset({"gpu:0"})))  # others'
    acc.add(Snapshot(5.0, {"gpu:0": 460}, gpus_used_by_others=others))  # others' at its start
    acc.finish()
    # Unknown intervals count fully; the unowned 100 J is split by use: the unknown owner had
    # the GPU 2 of the 4 seconds it was in use.
    assert acc.totals["gpu:0"].attributed_j == pytest.approx(200 + 50 + 100 * 2 / 4)
    assert acc.gpu_owner_unknown_s("gpu:0") == pytest.approx(2.0)


def test_the_sampler_reads_a_slow_sensor_no_more_often_than_it_asks(clock: FakeClock) -> None:
    from aicarbon.measurement.accounting import Accumulator
    from aicarbon.measurement.sampler import Sampler
    from aicarbon.measurement.timeline import Timeline

    fakes = gpus(1, step_mj=1_000)
    nvml = NvmlSensor(make_fake_pynvml(fakes), environ={}, clock=clock)
    nvml.min_period_s = 0.5
    acc = Accumulator(nvml.domains, Timeline(0.1, 64), 0.1)
    sampler = Sampler([nvml], acc, 0.1, clock=clock)
    before = fakes[0].reads
    for _ in range(10):  # one second at 10 Hz
        sampler.sample()
        clock.advance(0.1)
    sampler.sample(final=True)  # the last sample always reads
    assert fakes[0].reads - before == 3  # at 0 s and 0.5 s, and the final one at 1.0 s


def test_a_gpu_check_that_raises_counts_the_gpus_flagged_and_the_run_goes_on(clock: FakeClock) -> None:
    from aicarbon.measurement.accounting import Accumulator
    from aicarbon.measurement.sampler import Sampler
    from aicarbon.measurement.timeline import Timeline

    nvml = sensor(gpus(1, step_mj=1_000))

    def broken() -> object:
        raise OSError("no /proc")

    acc = Accumulator(nvml.domains, Timeline(0.1, 64), 0.1)
    sampler = Sampler([nvml], acc, 0.1, clock=clock, gpu_owners=broken)
    sampler.sample()
    clock.advance(0.1)
    sampler.sample(final=True)
    acc.finish()
    assert acc.totals["gpu:0"].attributed_j == acc.totals["gpu:0"].energy_j > 0
    assert "the GPU check failed (OSError: no /proc)" in sampler.gpu_owner_notes["gpu:0"]
