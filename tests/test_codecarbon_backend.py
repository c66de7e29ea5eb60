"""``--backend codecarbon`` and ``both``: codecarbon's offline tracker as one source of the one
measuring session. A stand-in codecarbon for the mapping and the faults; the real one, in a
subprocess whose every socket connection is recorded, for the whole path and the promise that
nothing leaves the machine."""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path

import pytest
from aicarbon.measurement.session import Session, SessionOptions, ThisProcess
from aicarbon.report.terminal import side_by_side
from aicarbon.sensors.base import DomainKind, Method, SensorUnavailableError
from aicarbon.sensors.codecarbon_tracker import CodecarbonSensor
from conftest import run_aicarbon, run_hermetic


class Energy:
    def __init__(self) -> None:
        self.kWh = 0.0


class CPU:
    def __init__(self, mode: str) -> None:
        self._mode = mode


class GPU:
    pass


class RAM:
    pass


def stand_in(
    version: str = "3.3.2", mode: str = "intel_rapl", gpu: bool = True, fail: str = ""
) -> types.ModuleType:
    """A codecarbon whose tracker adds 1 Wh of CPU, 2 Wh of GPU and 0.5 Wh of RAM per
    measurement, and records how it was made."""
    module = types.ModuleType("codecarbon")
    module.__version__ = version  # type: ignore[attr-defined]
    made: list[dict[str, object]] = []

    class OfflineEmissionsTracker:
        def __init__(self, **kwargs: object) -> None:
            made.append(kwargs)
            if fail == "init":
                raise RuntimeError("no hardware found")
            self._hardware = [CPU(mode), RAM()] + ([GPU()] if gpu else [])
            self._total_cpu_energy, self._total_gpu_energy, self._total_ram_energy = (
                Energy(),
                Energy(),
                Energy(),
            )
            self.measured = 0
            logging.getLogger("codecarbon").warning("We saw that you have a CPU but we don't know it.")

        def start(self) -> None:
            if fail == "start":
                raise OSError("lock file busy")

        def _measure_power_and_energy(self) -> None:
            self.measured += 1
            self._total_cpu_energy.kWh += 1e-3
            self._total_gpu_energy.kWh += 2e-3 if gpu else 0.0
            self._total_ram_energy.kWh += 0.5e-3

        def stop(self) -> float:
            self._measure_power_and_energy()
            if fail == "stop":  # after its final measurement, as codecarbon's emissions come after
                raise ValueError("division by zero in the emissions")
            return 0.0

    module.OfflineEmissionsTracker = OfflineEmissionsTracker  # type: ignore[attr-defined]
    module.made = made  # type: ignore[attr-defined]
    return module


def test_the_tracker_is_made_offline_with_every_output_off() -> None:
    module = stand_in()
    sensor = CodecarbonSensor(0.1, module=module)
    (kwargs,) = module.made  # type: ignore[attr-defined]
    assert kwargs["output_methods"] == [] and kwargs["emissions_endpoint"] is None
    assert kwargs["electricitymaps_api_token"] is None and kwargs["pue"] == 1.0
    assert kwargs["allow_multiple_runs"] is True and kwargs["tracking_mode"] == "machine"
    assert sensor.min_period_s == 1.0  # codecarbon measures once a second at most
    assert {d.id: (d.kind, d.method) for d in sensor.domains} == {
        "cpu:codecarbon": (DomainKind.CPU, Method.MEASURED),  # intel_rapl
        "gpu:codecarbon": (DomainKind.GPU, Method.MEASURED),  # NVML
        "dram:codecarbon": (DomainKind.DRAM, Method.ESTIMATED),  # its RAM model
    }
    assert (
        "CPU mode intel_rapl" in sensor.domains[0].source and "codecarbon 3.3.2" in sensor.domains[0].source
    )
    assert sensor.read().energy_j == pytest.approx(
        {"cpu:codecarbon": 3600.0, "gpu:codecarbon": 7200.0, "dram:codecarbon": 1800.0}
    )
    sensor.close()
    assert sensor.warnings == ["We saw that you have a CPU but we don't know it."] and sensor.events == []


def test_a_cpu_load_estimate_is_labelled_estimated_and_no_gpu_no_domain() -> None:
    sensor = CodecarbonSensor(2.0, module=stand_in(mode="cpu_load", gpu=False))
    assert [(d.id, d.method) for d in sensor.domains] == [
        ("cpu:codecarbon", Method.ESTIMATED),
        ("dram:codecarbon", Method.ESTIMATED),
    ]
    assert sensor.period_s == 2.0 and sensor.domains[0].model is not None
    sensor.close()


@pytest.mark.parametrize(
    "module, says",
    [
        (stand_in(version="2.8.4"), "codecarbon 2.8.4 is not a version aicarbon reads (3.3.2 up to 3.4)"),
        (stand_in(version="3.4.0"), "codecarbon 3.4.0 is not a version aicarbon reads"),
        (stand_in(fail="init"), "codecarbon 3.3.2 failed to start: RuntimeError: no hardware found"),
        (stand_in(fail="start"), "failed to start: OSError: lock file busy"),
    ],
    ids=["old", "new", "init", "start"],
)
def test_what_cannot_measure_is_one_unavailable_line(module: types.ModuleType, says: str) -> None:
    before = list(logging.getLogger("codecarbon").handlers)
    with pytest.raises(SensorUnavailableError) as caught:
        CodecarbonSensor(0.1, module=module)
    assert caught.value.unavailable.sensor == "codecarbon" and says in caught.value.unavailable.reason
    assert logging.getLogger("codecarbon").handlers == before  # its logger is given back


def test_codecarbon_missing_is_one_unavailable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "codecarbon", None)  # import codecarbon raises ImportError
    with pytest.raises(SensorUnavailableError) as caught:
        CodecarbonSensor(0.1)
    assert "codecarbon cannot be imported" in caught.value.unavailable.reason
    assert caught.value.unavailable.fix == "pip install 'codecarbon>=3.3.2,<3.4'"


def measure(backend: str, module: types.ModuleType) -> object:
    session = Session(
        SessionOptions(0.1, frozenset({"estimate"}), backend=backend, codecarbon_module=module), ThisProcess()
    )
    session.start()
    return session.stop(["in-process"])


def test_under_codecarbon_the_session_is_codecarbons_and_counts_its_final_figures(
    capfd: pytest.CaptureFixture[str],
) -> None:
    module = stand_in()
    run = measure("codecarbon", module)
    assert [d.id for d in run.counted] == ["cpu:codecarbon", "gpu:codecarbon", "dram:codecarbon"]  # type: ignore[attr-defined]
    # from the first reading (a measurement) to the final one (at stop): 3.5 Wh
    assert run.machine_energy_j == pytest.approx(3.5 * 3600)  # type: ignore[attr-defined]
    assert run.sampling.interval_s == 1.0  # type: ignore[attr-defined]
    unavailable = [(u.sensor, u.reason) for u in run.unavailable]  # type: ignore[attr-defined]
    assert unavailable == [("codecarbon", "We saw that you have a CPU but we don't know it.")]
    assert capfd.readouterr().err == ""  # codecarbon's log never reaches the terminal


def test_with_both_the_native_total_stands_and_codecarbons_is_beside_it() -> None:
    run = measure("both", stand_in(gpu=False))
    ids = {d.id: d.in_total for d in run.energy.domains}  # type: ignore[attr-defined]
    assert ids == {
        "cpu:codecarbon": False,
        "dram:codecarbon": False,
        "cpu:estimated": True,
        "dram:estimated": True,
    }
    assert run.sampling.interval_s == 0.1  # type: ignore[attr-defined]
    line = side_by_side(run)  # type: ignore[arg-type]
    assert line is not None and line.startswith(
        "Backends: codecarbon 5,400 J, aicarbon's sensors "
    )  # 1.5 Wh: one measurement


def test_a_tracker_that_fails_to_stop_keeps_its_figures_and_says_so() -> None:
    run = measure("codecarbon", stand_in(fail="stop"))
    assert run.machine_energy_j == pytest.approx(3.5 * 3600)  # type: ignore[attr-defined]
    assert any("stopping failed (ValueError: division by zero" in n for n in run.notes)  # type: ignore[attr-defined]


def test_a_backend_that_cannot_start_leaves_the_command_its_status(tmp_path: Path) -> None:
    """A codecarbon that breaks on import: the command runs, keeps its status, and the report
    says what failed."""
    (tmp_path / "codecarbon.py").write_text("raise ImportError('pandas is broken')\n")
    out = run_aicarbon(
        "run", "--backend", "codecarbon", "--carbon-intensity", "100", "--no-save",
        "--", "sh", "-c", "exit 3",
        env={"PYTHONPATH": str(tmp_path)}, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert (
        "Unavailable: codecarbon: codecarbon cannot be imported (ImportError: pandas is broken)"
        in " ".join(out.stderr.split())
    )


# Every socket connection the process makes, and any file codecarbon would write, is recorded.
AUDITED = """
import json, os, sys
log = os.environ["AUDIT_LOG"]
attempts = []
open(log, "w").write("[]")  # aicarbon ends with os._exit: each attempt is written at once
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto"):
        attempts.append([event, repr(args)[:200]])
        open(log, "w").write(json.dumps(attempts))
        raise OSError("no network here")
sys.addaudithook(hook)
from aicarbon.cli.entry import main
sys.argv = ["aicarbon"] + sys.argv[1:]
main()
"""

CONFIG = """[codecarbon]
save_to_api = True
save_to_file = True
save_to_prometheus = True
save_to_logfire = True
emissions_endpoint = http://127.0.0.1:9/collect
api_endpoint = http://127.0.0.1:9
electricitymaps_api_token = x
log_level = debug
"""


def test_the_real_codecarbon_measures_offline_and_nothing_leaves_the_machine(tmp_path: Path) -> None:
    """codecarbon 3.3's own tracker, with a .codecarbon.config and CODECARBON_* variables that
    ask for every output: the run is measured, no socket is opened, no file written."""
    (tmp_path / ".codecarbon.config").write_text(CONFIG)
    audit, record = tmp_path / "audit.json", tmp_path / "r.json"
    env = {
        "AUDIT_LOG": str(audit),
        "CODECARBON_SAVE_TO_API": "True",
        "CODECARBON_EMISSIONS_ENDPOINT": "http://127.0.0.1:9/x",
        "CODECARBON_OUTPUT_METHODS": "csv,api,prometheus,logfire,boamps",
    }
    busy = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 1.2: pass"
    out = run_hermetic(
        [sys.executable, "-c", AUDITED, "run", "--backend", "both", "--no-save", "--json", str(record),
         "--", sys.executable, "-c", busy],
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(audit.read_text()) == []  # not one connection tried
    assert sorted(p.name for p in tmp_path.iterdir()) == [".codecarbon.config", "audit.json", "r.json"]
    data = json.loads(record.read_text())
    theirs = {d["id"]: d for d in data["energy"]["domains"] if d["id"].endswith(":codecarbon")}
    assert {"cpu:codecarbon", "dram:codecarbon"} <= set(theirs)
    assert all(not d["in_total"] and d["energy_j"] > 0 for d in theirs.values())
    assert "codecarbon 3.3" in theirs["cpu:codecarbon"]["source"]
    assert "Backends: codecarbon " in out.stderr and "[codecarbon" not in out.stderr  # its log: ours


def test_an_unknown_backend_is_refused_in_one_sentence() -> None:
    import aicarbon
    from aicarbon.settings import SettingsError

    with pytest.raises(
        SettingsError, match="backend must be one of native, codecarbon, both; got 'codecarbn'"
    ):
        aicarbon.track("x", backend="codecarbn")
    out = run_aicarbon("run", "--backend", "codecarbn", "--", "true")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "--backend must be one of native, codecarbon, both; got 'codecarbn'" in out.stderr


def test_track_measures_through_codecarbon(monkeypatch: pytest.MonkeyPatch) -> None:
    import aicarbon

    monkeypatch.setitem(sys.modules, "codecarbon", stand_in(gpu=False))
    with aicarbon.track("cc", backend="codecarbon", carbon_intensity=100) as t:
        sum(range(1000))
    assert t.record is not None
    assert [d.id for d in t.record.counted] == ["cpu:codecarbon", "dram:codecarbon"]
    assert t.record.machine_energy_j == pytest.approx(1.5 * 3600)


def test_bench_measures_each_run_through_codecarbon_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from aicarbon.gate.bench import Arm, BenchOptions, measure_once
    from aicarbon.records.samples import fingerprint_of

    monkeypatch.setitem(sys.modules, "codecarbon", stand_in(gpu=False))
    # bench runs in aicarbon's own process: here, pytest's must stay as it was (no subreaper,
    # no cgroup of its own)
    monkeypatch.setattr("aicarbon.measurement.command.become_subreaper", lambda: None)
    monkeypatch.setenv("AICARBON_TREE_ACCOUNTING", "proc")
    run = measure_once(Arm("t", ["true"]), BenchOptions(backend="codecarbon"))
    assert [d.id for d in run.counted] == ["cpu:codecarbon", "dram:codecarbon"]
    assert fingerprint_of(run).sensors == ["codecarbon"]  # not compared with native runs unawares
    native = measure_once(Arm("t", ["true"]), BenchOptions(sensors=frozenset({"estimate"})))
    assert any("sensors differ" in why for why in fingerprint_of(native).mismatches(fingerprint_of(run)))


def test_the_gate_refuses_an_unknown_backend(tmp_path: Path) -> None:
    from conftest import call_aicarbon

    out = call_aicarbon("bench", "--backend", "codecarbn", "--", "true", cwd=tmp_path)
    assert (
        out.returncode == 2
        and "--backend must be one of native, codecarbon, both; got 'codecarbn'" in out.stderr
    )


def test_with_both_a_codecarbon_that_cannot_start_leaves_the_native_figures() -> None:
    run = measure("both", stand_in(fail="start"))
    assert [d.id for d in run.energy.domains] == ["cpu:estimated", "dram:estimated"]  # type: ignore[attr-defined]
    assert run.machine_energy_j > 0  # type: ignore[attr-defined]
    reasons = [u.reason for u in run.unavailable if u.sensor == "codecarbon"]  # type: ignore[attr-defined]
    assert reasons == ["codecarbon 3.3.2 failed to start: OSError: lock file busy"]
