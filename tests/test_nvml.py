from __future__ import annotations

import pytest
from aicarbon.sensors.base import SensorUnavailableError
from aicarbon.sensors.gpu_select import parse_visible
from aicarbon.sensors.nvml import NvmlSensor
from conftest import FakeClock, FakeGpu, make_fake_pynvml

UUIDS = ["GPU-aaaa1111", "GPU-bbbb2222", "GPU-cccc3333"]


def three_gpus(**overrides: object) -> list[FakeGpu]:
    return [FakeGpu(name=f"GPU model {i}", uuid=u, **overrides) for i, u in enumerate(UUIDS)]


def test_energy_counter_gives_joules_since_start() -> None:
    gpus = three_gpus()
    sensor = NvmlSensor(make_fake_pynvml(gpus), environ={})
    assert [d.id for d in sensor.domains] == ["gpu:0", "gpu:1", "gpu:2"]
    assert "total energy counter" in sensor.domains[0].source
    gpus[0].energy_mj += 2_500  # 2.5 J
    gpus[2].energy_mj += 300_000  # 300 J
    assert sensor.read().energy_j == pytest.approx({"gpu:0": 2.5, "gpu:1": 0.0, "gpu:2": 300.0})


def test_without_energy_counter_power_is_integrated_trapezoidally(clock: FakeClock) -> None:
    gpu = FakeGpu(energy_mj=None, power_mw=100_000)
    sensor = NvmlSensor(make_fake_pynvml([gpu]), environ={}, clock=clock, poll_in_background=False)
    assert "integrated" in sensor.domains[0].source
    clock.advance(2.0)
    gpu.power_mw = 300_000
    assert sensor.read().energy_j["gpu:0"] == pytest.approx((100 + 300) / 2 * 2.0)  # 400 J
    clock.advance(1.0)
    assert sensor.read().energy_j["gpu:0"] == pytest.approx(400 + 300 * 1.0)


def test_gpu_lost_mid_run_is_marked_and_the_others_go_on() -> None:
    gpus = three_gpus()
    sensor = NvmlSensor(make_fake_pynvml(gpus), environ={})
    gpus[1].fail_after_reads = gpus[1].reads + 1  # one more read works, then it is lost
    for g in gpus:
        g.energy_mj += 1_000
    first = sensor.read()
    assert first.failures == []
    for g in gpus:
        g.energy_mj += 1_000
    second = sensor.read()
    assert [f.domain_id for f in second.failures] == ["gpu:1"]
    assert "GPU is lost" in second.failures[0].reason
    assert second.energy_j == pytest.approx({"gpu:0": 2.0, "gpu:1": 1.0, "gpu:2": 2.0})
    for g in gpus:
        g.energy_mj += 1_000
    third = sensor.read()
    assert third.failures == [] and third.energy_j["gpu:0"] == pytest.approx(3.0)
    assert third.energy_j["gpu:1"] == pytest.approx(1.0)


def test_cuda_visible_devices_by_index_and_by_uuid() -> None:
    nv = make_fake_pynvml(three_gpus())
    assert [d.id for d in NvmlSensor(nv, environ={"CUDA_VISIBLE_DEVICES": "2,0"}).domains] == [
        "gpu:2",
        "gpu:0",
    ]
    by_uuid = NvmlSensor(nv, environ={"CUDA_VISIBLE_DEVICES": "GPU-bbbb"}).domains
    assert [d.id for d in by_uuid] == ["gpu:1"] and "GPU-bbbb2222" in by_uuid[0].source


def test_cuda_visible_devices_stops_at_first_invalid_entry_and_says_so() -> None:
    sensor = NvmlSensor(make_fake_pynvml(three_gpus()), environ={"CUDA_VISIBLE_DEVICES": "1,7,0"})
    assert [d.id for d in sensor.domains] == ["gpu:1"]
    assert "'7'" in sensor.notes[0]


def test_parse_visible_rules() -> None:
    def kinds(value: str) -> list[tuple[str, str]]:
        return [(e.kind, e.text) for e in parse_visible(value)[0]]

    assert kinds("") == []
    assert parse_visible("-1") == ([], "CUDA_VISIBLE_DEVICES entry '-1' is not a GPU index or UUID")
    assert kinds("0,0,1") == [("index", "0"), ("index", "1")]
    assert kinds("GPU-ab, MIG-cd") == [("gpu", "GPU-ab"), ("mig", "MIG-cd")]
    assert kinds("GPU-,1") == []  # CUDA stops at an entry that is not a GPU
    legacy = parse_visible("MIG-GPU-aa11/1/0")[0][0]
    assert legacy.legacy_mig and legacy.uuid == "GPU-aa11"


def test_empty_cuda_visible_devices_makes_nvml_unavailable() -> None:
    nv = make_fake_pynvml(three_gpus())
    with pytest.raises(SensorUnavailableError) as info:
        NvmlSensor(nv, environ={"CUDA_VISIBLE_DEVICES": ""})
    assert "hides every GPU" in info.value.unavailable.reason
    assert nv.shutdown_calls == 1  # NVML is not left initialised


@pytest.mark.parametrize(
    ("code", "text"),
    [(12, "no NVIDIA driver"), (9, "not loaded")],
)
def test_missing_library_or_driver_is_unavailable_not_a_crash(code: int, text: str) -> None:
    with pytest.raises(SensorUnavailableError) as info:
        NvmlSensor(make_fake_pynvml([], init_error=code), environ={})
    assert text in info.value.unavailable.reason


def test_no_gpu_at_all_is_unavailable() -> None:
    with pytest.raises(SensorUnavailableError, match="no NVIDIA GPU"):
        NvmlSensor(make_fake_pynvml([]), environ={})


def test_gpu_with_neither_energy_nor_power_is_skipped_with_a_reason() -> None:
    good = FakeGpu(uuid="GPU-good")
    bad = FakeGpu(uuid="GPU-bad", energy_mj=None, fail_after_reads=0)
    sensor = NvmlSensor(make_fake_pynvml([good, bad]), environ={})
    assert [d.id for d in sensor.domains] == ["gpu:0"]
    assert sensor.unavailable[0].sensor == "nvml gpu:1"
    assert "neither energy nor power" in sensor.unavailable[0].reason


def test_processes_lists_pids_per_gpu() -> None:
    gpus = [FakeGpu(uuid="GPU-a", pids=lambda: [10, 11]), FakeGpu(uuid="GPU-b", pids=lambda: [])]
    sensor = NvmlSensor(make_fake_pynvml(gpus), environ={})
    assert sensor.processes().pids == {"gpu:0": {10, 11}, "gpu:1": set()}


def test_gpu_names_decode_bytes_from_older_bindings() -> None:
    sensor = NvmlSensor(make_fake_pynvml([FakeGpu(name="Tesla V100")]), environ={})
    assert sensor.gpus[0].name == "Tesla V100"
    assert sensor.domains[0].label == "GPU 0 Tesla V100"


def test_shadowing_pynvml_is_refused_with_a_fix(tmp_path) -> None:
    from aicarbon.sensors.nvml_import import official_pynvml_problem

    official = tmp_path / "site" / "pynvml.py"
    official.parent.mkdir()
    official.write_text("")
    assert official_pynvml_problem(str(official), str(official)) is None
    other = tmp_path / "old" / "pynvml.py"
    assert "shadows NVIDIA's nvidia-ml-py" in official_pynvml_problem(str(other), str(official))
    assert "does not come from nvidia-ml-py" in official_pynvml_problem(str(other), None)


def test_real_import_path_accepts_the_installed_nvidia_ml_py() -> None:
    from aicarbon.sensors.nvml_import import import_pynvml

    assert import_pynvml().__name__ == "pynvml"  # nvidia-ml-py is a dependency
