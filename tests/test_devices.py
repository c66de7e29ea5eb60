"""``aicarbon devices`` on simulated machines: nothing to measure, RAPL measured, RAPL readable
only by root, GPUs with and without an energy counter, a GPU that fails, a sensor that breaks
in a way nobody foresaw. It always exits 0 and never prints a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aicarbon.machine import devices as devices_module
from aicarbon.machine.devices import survey
from aicarbon.report.devices_table import render
from aicarbon.sensors.base import Domain, DomainKind, Method
from aicarbon.sensors.opening import OpenSensors
from conftest import (
    AICARBON,
    FakeGpu,
    PowercapTree,
    bare_metal_proc,
    call_aicarbon,
    hermetic_env,
    make_fake_pynvml,
    run_aicarbon,
)
from test_rapl import _drop_file_read_override


def no_sensor_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "empty-sys").mkdir(exist_ok=True)
    return {"AICARBON_SYSFS_ROOT": str(tmp_path / "empty-sys")}


def strict(text: str) -> dict[str, object]:
    def refuse(name: str) -> None:
        raise ValueError(f"non-finite number {name} in the JSON")

    return json.loads(text, parse_constant=refuse)  # type: ignore[no-any-return]


def test_a_machine_with_nothing_to_measure_exits_0_and_says_so(tmp_path: Path) -> None:
    out = call_aicarbon("devices", "--json", env=no_sensor_env(tmp_path))
    assert out.returncode == 0, out.stderr
    data = strict(out.stdout)
    assert data["schema"] == "aicarbon.machine.devices/1" and data["measured"] is False
    rows = {d["sensor"] + (":" + d["kind"] if d["kind"] else ""): d for d in data["devices"]}  # type: ignore[union-attr]
    assert rows["estimate:cpu"]["available"] and rows["estimate:cpu"]["method"] == "estimated"
    assert rows["estimate:cpu"]["power_w"] > 0 and "utilisation" in rows["estimate:cpu"]["model"]
    assert not rows["rapl"]["available"] and "no RAPL powercap interface" in rows["rapl"]["reason"]
    assert not rows["nvml"]["available"] and rows["nvml"]["reason"]
    text = call_aicarbon("devices", env=no_sensor_env(tmp_path))
    assert text.returncode == 0 and "Nothing here is measured" in text.stdout
    assert max(len(line) for line in text.stdout.splitlines()) <= 80


def test_rapl_zones_give_their_power_over_the_window(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.zone("intel-rapl:0", "package-0", 1_000_000)
    tree.zone("intel-rapl:0:0", "dram", 500_000)
    tree.zone("intel-rapl:1", "psys", 9_000_000)
    env = {
        "AICARBON_SYSFS_ROOT": str(tree.sysfs_root),
        "AICARBON_PROC_ROOT": str(bare_metal_proc(tmp_path / "proc")),
    }
    times = iter([100.0, 100.5])

    def half_a_second(_s: float) -> None:  # what the counters did meanwhile
        tree.set_energy("intel-rapl:0", 1_000_000 + 20_000_000)  # 20 J in 0.5 s: 40 W
        tree.set_energy("intel-rapl:0:0", 500_000 + 2_500_000)  # 5 W
        tree.set_energy("intel-rapl:1", 9_000_000 + 30_000_000)  # 60 W

    record = survey(environ=env, sleep=half_a_second, clock=lambda: next(times))
    by_domain = {d.domain: d for d in record.devices if d.domain}
    assert by_domain["cpu:package-0"].power_w == pytest.approx(40.0)
    assert by_domain["dram:0"].power_w == pytest.approx(5.0)
    assert by_domain["platform:psys"].power_w == pytest.approx(60.0)
    assert not by_domain["platform:psys"].in_total  # overlaps the package: shown, not added
    assert record.measurable and all(d.method == "measured" for d in by_domain.values())
    assert any(
        d.sensor == "estimate" and d.reason and d.reason.startswith("not needed") for d in record.devices
    )
    text = render(record)
    assert "40.0 W" in text and "Measured here: CPU package 0" in text
    assert "* overlaps other domains" in text


def test_gpus_with_a_counter_without_one_and_failing(tmp_path: Path) -> None:
    gpus = [
        FakeGpu(name="NVIDIA H100 80GB HBM3", uuid="GPU-a", step_mj=50_000),  # 50 J per read
        FakeGpu(name="Tesla T4", uuid="GPU-b", energy_mj=None, power_mw=70_000),  # power only
        FakeGpu(name="NVIDIA A100", uuid="GPU-c", fail_after_reads=1),  # lost after one read
    ]
    env = {**no_sensor_env(tmp_path), "AICARBON_PROC_ROOT": str(tmp_path / "proc")}
    record = survey(environ=env, nvml_module=make_fake_pynvml(gpus), window_s=0.2)
    rows = {d.domain: d for d in record.devices if d.kind == "gpu"}
    assert rows["gpu:0"].available and rows["gpu:0"].energy_counter is True
    assert rows["gpu:0"].power_w == pytest.approx(50.0 / record.window_s, rel=0.01)
    assert rows["gpu:1"].energy_counter is False and rows["gpu:1"].available
    assert rows["gpu:1"].power_w == pytest.approx(70.0, rel=0.05)  # integrated from its power
    assert not rows["gpu:2"].available and rows["gpu:2"].reason
    assert rows["gpu:2"].power_w is None
    text = render(record)
    assert "energy counter" in text and "power only, integrated" in text and "unavailable" in text
    assert "NVIDIA H100" in record.host.gpus[0]


def test_a_sensor_that_breaks_unexpectedly_is_a_row_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        name = "rapl"
        domains = [Domain("cpu:package-0", DomainKind.CPU, Method.MEASURED, "rapl x", "CPU package 0")]

        def read(self) -> object:
            raise ZeroDivisionError("boom")

        def close(self) -> None:
            pass

    monkeypatch.setattr(devices_module, "open_sensors", lambda *a, **k: OpenSensors(sensors=[Broken()]))
    record = survey(window_s=0.0)
    (row,) = [d for d in record.devices if d.domain == "cpu:package-0"]
    assert not row.available and "ZeroDivisionError" in (row.reason or "")
    assert row.fix and "bug in aicarbon" in row.fix

    def explode(*_a: object, **_k: object) -> OpenSensors:
        raise OSError("what nobody foresaw")

    monkeypatch.setattr(devices_module, "open_sensors", explode)
    record = survey(window_s=0.0)
    assert [d.sensor for d in record.devices] == ["sensors"] and "nobody foresaw" in (
        record.devices[0].reason or ""
    )


def test_energy_files_readable_only_by_root_give_the_reason_and_the_safe_fix(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    energy = tree.zone("intel-rapl:0", "package-0", 123) / "energy_uj"
    if os.geteuid() == 0:
        os.chown(energy, 65534, 65534)
    energy.chmod(0o400 if os.geteuid() == 0 else 0o000)
    env = hermetic_env(
        {
            "AICARBON_SYSFS_ROOT": str(tree.sysfs_root),
            "AICARBON_PROC_ROOT": str(bare_metal_proc(tmp_path / "proc")),
        }
    )
    out = subprocess.run(
        [*AICARBON, "devices", "--json"],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_drop_file_read_override if os.geteuid() == 0 else None,  # noqa: PLW1509
        timeout=120,
        check=False,
    )
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    (rapl,) = [d for d in strict(out.stdout)["devices"] if d["sensor"] == "rapl"]  # type: ignore[union-attr]
    assert not rapl["available"] and "readable only by root" in rapl["reason"]
    assert "group" in rapl["fix"] and "not by everyone" in rapl["fix"]


def test_devices_survives_a_broken_python_environment_for_nvml(tmp_path: Path) -> None:
    """The wrong 'pynvml' package (the old, unofficial one) on the path: a reason and a fix."""
    fake = tmp_path / "site"
    (fake / "pynvml").mkdir(parents=True)
    (fake / "pynvml" / "__init__.py").write_text("raise ImportError('this pynvml is broken')\n")
    env = {**no_sensor_env(tmp_path), "PYTHONPATH": str(fake)}
    out = run_aicarbon("devices", "--json", env=env)  # PYTHONPATH: a process of its own
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    (nvml,) = [d for d in strict(out.stdout)["devices"] if d["sensor"] == "nvml"]  # type: ignore[union-attr]
    assert not nvml["available"] and nvml["reason"] and nvml["fix"] and "nvidia-ml-py" in nvml["fix"]


def test_the_table_escapes_what_the_machine_says() -> None:
    from aicarbon.records.devices import DeviceRecord, DevicesRecord
    from aicarbon.sensors.host import HostRecord

    host = HostRecord("host\x1b[2J", "Linux", "CPU\u202e", 2, 1 << 30)
    record = DevicesRecord(
        host, [DeviceRecord("nvml", False, reason="GPU \x1b]0;x\x07 lost", fix="\x9b2J")], 0.5
    )
    text = render(record)
    assert "\x1b" not in text and "\u202e" not in text and "\x9b" not in text
    assert "\\x1b[2J" in text and "\\x1b]0;x\\x07" in text


def test_devices_is_fast_to_import_and_never_opens_a_gpu_it_does_not_list() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import aicarbon.machine.devices, sys; print('pynvml' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.stdout.strip() == "False"  # NVML is loaded when the survey runs, not at import


def test_a_host_whose_facts_cannot_be_read_still_gets_its_survey(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object, **_k: object) -> object:
        raise PermissionError(13, "Permission denied: '/proc/meminfo'")

    monkeypatch.setattr(devices_module, "host_info", broken)
    record = survey(window_s=0.0)
    assert record.host.hostname == "unknown" and any(d.sensor == "estimate" for d in record.devices)
    assert any("could not read the host's facts" in n for n in record.notes)
    assert "aicarbon devices · unknown" in render(record)
