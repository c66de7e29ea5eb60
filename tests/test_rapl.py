from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from aicarbon.sensors.base import DomainKind, Method, SensorUnavailableError
from aicarbon.sensors.rapl import RaplSensor, counter_delta, powercap_root
from conftest import PowercapTree


def two_socket_server(tree: PowercapTree) -> None:
    """Intel server: two packages, each with core (inside the package) and dram subzones."""
    tree.zone("intel-rapl:0", "package-0", 1_000_000)
    tree.zone("intel-rapl:0:0", "core", 500_000)
    tree.zone("intel-rapl:0:1", "dram", 200_000)
    tree.zone("intel-rapl:1", "package-1", 3_000_000)
    tree.zone("intel-rapl:1:0", "core", 100_000)
    tree.zone("intel-rapl:1:1", "dram", 400_000)


def test_two_packages_with_dram_never_count_core_twice(powercap: PowercapTree) -> None:
    two_socket_server(powercap)
    sensor = RaplSensor(powercap.powercap)
    assert [d.id for d in sensor.domains] == ["cpu:package-0", "dram:0", "cpu:package-1", "dram:1"]
    assert all(d.method is Method.MEASURED and d.in_total for d in sensor.domains)

    powercap.set_energy("intel-rapl:0", 1_000_000 + 12_500_000)  # +12.5 J
    powercap.set_energy("intel-rapl:0:0", 500_000 + 9_000_000)  # core: inside package-0
    powercap.set_energy("intel-rapl:0:1", 200_000 + 2_000_000)  # +2 J
    powercap.set_energy("intel-rapl:1", 3_000_000 + 7_250_000)  # +7.25 J
    powercap.set_energy("intel-rapl:1:1", 400_000 + 1_000_000)  # +1 J
    reading = sensor.read()
    assert reading.energy_j == pytest.approx(
        {"cpu:package-0": 12.5, "dram:0": 2.0, "cpu:package-1": 7.25, "dram:1": 1.0}
    )
    assert any("core" in s and "inside package-0" in s for s in sensor.skipped)


def test_wraparound_during_run_adds_the_remainder_of_the_range(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0", 990_000, max_uj=1_000_000)
    sensor = RaplSensor(powercap.powercap)
    powercap.set_energy("intel-rapl:0", 999_000)
    assert sensor.read().energy_j["cpu:package-0"] == pytest.approx(0.009)
    powercap.set_energy("intel-rapl:0", 4_000)  # wrapped: 1_000 to the top, then 4_000
    assert sensor.read().energy_j["cpu:package-0"] == pytest.approx(0.009 + 0.005)
    powercap.set_energy("intel-rapl:0", 10_000)
    assert sensor.read().energy_j["cpu:package-0"] == pytest.approx(0.020)


def test_counter_delta_arithmetic() -> None:
    assert counter_delta(100, 250, 1000) == 150
    assert counter_delta(900, 50, 1000) == 150
    assert counter_delta(0, 0, 1000) == 0


def test_psys_is_reported_but_not_added_to_the_total(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0", 0)
    powercap.zone("intel-rapl:0:0", "core", 0)
    powercap.zone("intel-rapl:0:1", "uncore", 0)
    powercap.zone("intel-rapl:1", "psys", 0)
    sensor = RaplSensor(powercap.powercap)
    psys = next(d for d in sensor.domains if d.id == "platform:psys")
    assert psys.kind is DomainKind.PLATFORM and psys.in_total is False
    assert [d.id for d in sensor.domains if d.in_total] == ["cpu:package-0"]


def test_amd_zen_layout_package_and_core_only(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0", 5_000_000)
    powercap.zone("intel-rapl:0:0", "core", 1_000_000)
    sensor = RaplSensor(powercap.powercap)
    assert [d.id for d in sensor.domains] == ["cpu:package-0"]


def test_multi_die_packages_keep_separate_dram_domains(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0-die-0", 0)
    powercap.zone("intel-rapl:0:0", "dram", 0)
    powercap.zone("intel-rapl:1", "package-0-die-1", 0)
    powercap.zone("intel-rapl:1:0", "dram", 0)
    ids = [d.id for d in RaplSensor(powercap.powercap).domains]
    assert ids == ["cpu:package-0-die-0", "dram:0-die-0", "cpu:package-0-die-1", "dram:0-die-1"]


def test_mmio_twin_is_skipped_when_msr_zone_exists(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0", 0)
    mmio = powercap.powercap / "intel-rapl-mmio:0"
    mmio.mkdir()
    (mmio / "name").write_text("package-0\n")
    (mmio / "energy_uj").write_text("0\n")
    (mmio / "max_energy_range_uj").write_text("1000\n")
    sensor = RaplSensor(powercap.powercap)
    assert [d.id for d in sensor.domains] == ["cpu:package-0"]
    assert any("intel-rapl-mmio:0: twin of the intel-rapl counters" in s for s in sensor.skipped)


def test_missing_powercap_is_unavailable_with_reason(tmp_path: Path) -> None:
    with pytest.raises(SensorUnavailableError) as info:
        RaplSensor(tmp_path / "nothing" / "class" / "powercap")
    assert "no RAPL powercap interface" in info.value.unavailable.reason


def test_sysfs_root_comes_from_environment(tmp_path: Path) -> None:
    assert powercap_root({"AICARBON_SYSFS_ROOT": str(tmp_path)}) == tmp_path / "class" / "powercap"
    assert powercap_root({}) == Path("/sys/class/powercap")


def test_zone_that_fails_mid_run_is_reported_once_and_keeps_its_energy(powercap: PowercapTree) -> None:
    powercap.zone("intel-rapl:0", "package-0", 0)
    powercap.zone("intel-rapl:1", "package-1", 0)
    sensor = RaplSensor(powercap.powercap)
    powercap.set_energy("intel-rapl:0", 3_000_000)
    powercap.set_energy("intel-rapl:1", 1_000_000)
    sensor.read()
    (powercap.path("intel-rapl:1") / "energy_uj").unlink()  # the zone disappears
    powercap.set_energy("intel-rapl:0", 5_000_000)
    second = sensor.read()
    assert [f.domain_id for f in second.failures] == ["cpu:package-1"]
    assert second.energy_j == pytest.approx({"cpu:package-0": 5.0, "cpu:package-1": 1.0})
    assert sensor.read().failures == []


UNREADABLE_PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from aicarbon.sensors.base import SensorUnavailableError
    from aicarbon.sensors.rapl import RaplSensor
    try:
        RaplSensor(Path(sys.argv[1]))
    except SensorUnavailableError as exc:
        print("REASON:", exc.unavailable.reason)
        print("FIX:", exc.unavailable.fix)
    else:
        print("READABLE")
    """
)


def _drop_file_read_override() -> None:
    """In the probe, before exec: remove root's power to read any file (CAP_DAC_OVERRIDE=1,
    CAP_DAC_READ_SEARCH=2) from the bounding set, so root meets file modes like a user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP failed")


def probe_as_reader(script: str, powercap: Path) -> subprocess.CompletedProcess[str]:
    """Run a probe script on a powercap tree with file modes enforced, as for a non-root user:
    as root, the power to override them is dropped first."""
    return subprocess.run(
        [sys.executable, "-c", script, str(powercap)],
        capture_output=True,
        text=True,
        preexec_fn=_drop_file_read_override if os.geteuid() == 0 else None,
        timeout=60,
        check=False,
    )


def test_root_only_energy_file_makes_sensor_unavailable_with_safe_fix() -> None:
    """energy_uj mode 0400, owned by someone else than the reader (as root-only files are for
    users on kernels since the PLATYPUS fix)."""
    base = Path(tempfile.mkdtemp(prefix="aicarbon-rapl-"))
    try:
        tree = PowercapTree(base / "sys")
        zone = tree.zone("intel-rapl:0", "package-0", 123)
        energy = zone / "energy_uj"
        if os.geteuid() == 0:
            os.chown(energy, 65534, 65534)
        energy.chmod(0o400 if os.geteuid() == 0 else 0o000)
        out = probe_as_reader(UNREADABLE_PROBE, tree.powercap)
        assert out.returncode == 0, out.stderr
        assert "REASON:" in out.stdout, out.stdout
        assert "readable only by root" in out.stdout and "CVE-2020-8694" in out.stdout
        assert "group" in out.stdout and "not by everyone" in out.stdout
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda zone: (zone / "name").unlink(), "intel-rapl:1: it has no name file"),
        (
            lambda zone: (zone / "name").write_bytes(b"\xffpackage-1\n"),
            "intel-rapl:1: its name file is not text",
        ),
        (
            lambda zone: ((zone / "name").unlink(), (zone / "name").mkdir()),
            "intel-rapl:1: its name is a directory, not a file",
        ),
        (
            lambda zone: (zone / "energy_uj").write_text("garbage\n"),
            "CPU package 1: unreadable counter (not a number)",
        ),
        (
            lambda zone: (zone / "energy_uj").unlink(),
            "CPU package 1: unreadable counter (No such file or directory)",
        ),
    ],
)
def test_a_zone_that_cannot_be_read_is_listed_and_the_rest_measured(
    powercap: PowercapTree, spoil, reason: str
) -> None:
    powercap.zone("intel-rapl:0", "package-0", 0)
    spoil(powercap.zone("intel-rapl:1", "package-1", 0))
    sensor = RaplSensor(powercap.powercap)
    assert [d.id for d in sensor.domains] == ["cpu:package-0"]
    (problem,) = sensor.unavailable
    assert (problem.sensor, problem.reason, problem.uncounted) == ("rapl intel-rapl:1", reason, True)


def test_unreadable_second_package_makes_the_total_partial_in_report_and_record(tmp_path: Path) -> None:
    """Through the command line: package 1 exists but its counter is unreadable."""
    import json

    from conftest import bare_metal_proc, run_aicarbon

    tree = PowercapTree(tmp_path / "sys")
    tree.zone("intel-rapl:0", "package-0", 0)
    (tree.zone("intel-rapl:1", "package-1", 0) / "energy_uj").write_text("not a number\n")
    record = tmp_path / "r.json"
    env = {
        "AICARBON_SYSFS_ROOT": str(tmp_path / "sys"),
        "AICARBON_PROC_ROOT": str(bare_metal_proc(tmp_path / "proc")),
    }
    out = run_aicarbon("run", "--sensors", "rapl", "--json", str(record), "--", "true", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(record.read_text())
    assert data["energy"]["partial"] is True
    assert data["unavailable"] == [
        {
            "sensor": "rapl intel-rapl:1",
            "reason": "CPU package 1: unreadable counter (not a number)",
            "fix": None,
            "uncounted": True,
        }
    ]
    assert "measured, partial" in out.stderr
    assert "Partial total: the machine used more. Not counted: rapl intel-rapl:1." in out.stderr
    assert "Unavailable: rapl intel-rapl:1: CPU package 1: unreadable counter (not a number)" in out.stderr


def test_no_readable_zone_at_all_says_why(powercap: PowercapTree) -> None:
    (powercap.zone("intel-rapl:0", "package-0", 0) / "name").unlink()
    with pytest.raises(
        SensorUnavailableError, match="no readable RAPL zone under .*: intel-rapl:0: it has no name file"
    ):
        RaplSensor(powercap.powercap)


def test_empty_sysfs_root_variable_means_sys() -> None:
    assert powercap_root({"AICARBON_SYSFS_ROOT": ""}) == Path("/sys/class/powercap")


UNLISTABLE_PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from aicarbon.sensors.base import SensorUnavailableError
    from aicarbon.sensors.rapl import RaplSensor
    try:
        sensor = RaplSensor(Path(sys.argv[1]))
    except SensorUnavailableError as exc:
        print("UNAVAILABLE:", exc.unavailable.reason)
    else:
        print("DOMAINS:", [d.id for d in sensor.domains])
        print("PROBLEMS:", [u.reason for u in sensor.unavailable])
    """
)


@pytest.mark.parametrize("which", ["powercap", "zone", "name"])
def test_directories_and_files_that_cannot_be_listed_or_read(which: str) -> None:
    """Modes that deny a non-root reader (root meets them too: its override is dropped)."""
    base = Path(tempfile.mkdtemp(prefix="aicarbon-rapl-"))
    try:
        tree = PowercapTree(base / "sys")
        tree.zone("intel-rapl:0", "package-0", 5)
        zone1 = tree.zone("intel-rapl:1", "package-1", 5)
        tree.zone("intel-rapl:1:0", "dram", 5)
        target = {"powercap": tree.powercap, "zone": zone1, "name": zone1 / "name"}[which]
        target.chmod(0o311 if which != "name" else 0o000)  # directories: searchable, not listable
        out = probe_as_reader(UNLISTABLE_PROBE, tree.powercap)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        expected = {
            "powercap": "UNAVAILABLE: cannot list",
            "zone": "intel-rapl:1 (package-1): its subzones (DRAM) cannot be listed (Permission denied)",
            "name": "intel-rapl:1: its name cannot be read (Permission denied)",
        }[which]
        assert expected in out.stdout, out.stdout
        if which != "powercap":
            assert "cpu:package-0" in out.stdout
    finally:
        for path in base.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(base)
