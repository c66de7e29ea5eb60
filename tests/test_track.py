"""``aicarbon.track``, ``phase`` and ``add_units`` in the test process itself: the record, the
phases, the decorator, typed settings, and a caller's process left as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import aicarbon
import pytest
from aicarbon.records.run import Run


def busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_tracked_block_gives_a_record_with_nested_phases_and_units(tmp_path: Path) -> None:
    with aicarbon.track("demo", interval_s=0.05) as t:
        with aicarbon.phase("load"):
            busy(0.15)
        with aicarbon.phase("infer"):
            for _ in range(3):
                with aicarbon.phase("step"):
                    busy(0.03)
                aicarbon.add_units(10)
    run = t.record
    assert (
        run is not None
        and run.command == ["demo"]
        and run.attribution.method == "process CPU time (in-process)"
    )
    assert [(p.name, p.depth, p.units) for p in run.work.phases] == [
        ("load", 0, 0.0),
        ("step", 1, 0.0),
        ("step", 1, 0.0),
        ("step", 1, 0.0),
        ("infer", 0, 30.0),
    ]
    load, *steps, infer = run.work.phases
    assert load.energy_j > 0 and infer.energy_j >= sum(s.energy_j for s in steps) - 1e-9
    assert load.start_s < steps[0].start_s < infer.start_s + infer.duration_s
    assert sum(p.energy_j for p in (load, infer)) <= run.machine_energy_j + 1e-9
    assert run.comparison is not None and run.comparison.units == 30  # counted units reach the record
    t.save(tmp_path / "run.json")
    data = json.loads((tmp_path / "run.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert [p["name"] for p in data["work"]["phases"]] == ["load", "step", "step", "step", "infer"]
    assert Run.load(tmp_path / "run.json").work.phases == run.work.phases


def test_the_report_shows_phases_summed_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with aicarbon.track("report") as t:
        for _ in range(4):
            with aicarbon.phase("step"):
                busy(0.01)
            t.add_units(2)
    t.report()
    err = " ".join(capsys.readouterr().err.split())
    assert "Phases (energy · share · yours · time · avg power · per unit):" in err
    assert "step x4:" in err


def test_the_decorator_measures_each_call() -> None:
    @aicarbon.track(name="work", interval_s=0.05)
    def work(n: int) -> int:
        busy(0.02)
        return n * 2

    assert work(21) == 42
    first = work.last_tracker  # type: ignore[attr-defined]
    assert work(1) == 2
    assert work.last_tracker is not first and first.record.command == ["work"]  # type: ignore[attr-defined]


def test_settings_are_typed_and_checked_before_measuring() -> None:
    with pytest.raises(TypeError, match="contry"):
        aicarbon.track(contry="FRA")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="pue must be at least 1.0"):
        aicarbon.track(pue=0.5)
    with pytest.raises(ValueError, match="interval_s must be a number from 0.01 to 60"):
        aicarbon.track(interval_s=0)


def test_phases_and_units_outside_a_tracker_do_nothing_and_bad_units_are_refused() -> None:
    with aicarbon.phase("nothing"):
        aicarbon.add_units(5)
    with (
        aicarbon.track() as t,
        pytest.raises(ValueError, match=r"a number of units from 0 to 1e\+15; got nan"),
    ):
        t.add_units(float("nan"))
    with pytest.raises(RuntimeError, match="not finished"):
        aicarbon.track().report()


def test_an_exception_ends_open_phases_keeps_the_record_and_propagates() -> None:
    tracker = aicarbon.track("fails")
    with pytest.raises(KeyError), tracker, aicarbon.phase("doomed"):
        busy(0.02)
        raise KeyError("x")
    assert tracker.record is not None and [p.name for p in tracker.record.work.phases] == ["doomed"]


def test_the_callers_process_is_left_as_it_was() -> None:
    handlers = {
        s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    }
    cgroup = Path("/proc/self/cgroup").read_text()
    threads = threading.active_count()
    with aicarbon.track():
        busy(0.02)
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    assert Path("/proc/self/cgroup").read_text() == cgroup
    assert threading.active_count() == threads  # the sampling thread is gone
    assert _child_subreaper() is False


def _child_subreaper() -> bool:
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    flag = ctypes.c_int(0)
    libc.prctl(37, ctypes.byref(flag), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    return bool(flag.value)


def test_unrelated_children_of_the_caller_are_not_charged() -> None:
    # A notebook kernel with a busy child of its own: the tracked code only sleeps.
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        with aicarbon.track(interval_s=0.05) as t:
            time.sleep(0.6)
    finally:
        spinner.kill()
        spinner.wait()
    run = t.record
    assert run is not None and run.machine_energy_j > 0
    assert run.attributed_energy_j < 0.1 * run.machine_energy_j, (
        run.attributed_energy_j,
        run.machine_energy_j,
    )


def test_a_tracker_works_from_another_thread() -> None:
    results: list[Run | None] = []

    def worker() -> None:
        with aicarbon.track("thread") as t, aicarbon.phase("inside"):
            busy(0.05)
        results.append(t.record)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    (run,) = results
    assert run is not None and [p.name for p in run.work.phases] == ["inside"]
    assert run.attributed_energy_j > 0


def test_importing_aicarbon_starts_nothing() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, aicarbon\n"
            "print(sorted(m for m in ('pynvml', 'codecarbon', 'psutil', 'rich') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    assert out.stdout.strip() == "[]"


def test_a_phase_whose_body_raised_is_closed_marked_and_the_exception_goes_on() -> None:
    import io

    from aicarbon.report.terminal import make_console, render

    with aicarbon.track("failing", interval_s=0.05) as t:
        for i in range(3):
            try:
                with aicarbon.phase("step"):
                    if i == 1:
                        raise ValueError("no")
            except ValueError:
                pass
        with pytest.raises(RuntimeError), t.phase("last") as handle:
            raise RuntimeError("stop")
    assert handle.record is not None and handle.record.failed == "RuntimeError"
    record = t.record
    assert record is not None
    assert [(p.name, p.failed) for p in record.work.phases] == [
        ("step", None),
        ("step", "ValueError"),
        ("step", None),
        ("last", "RuntimeError"),
    ]
    again = type(record).from_dict(record.to_dict())
    assert [p.failed for p in again.work.phases] == [None, "ValueError", None, "RuntimeError"]
    buffer = io.StringIO()
    render(record, make_console(buffer, force_plain=True))
    text = " ".join(buffer.getvalue().split())
    assert "step x3 [1 failed: ValueError]:" in text and "last [failed: RuntimeError]:" in text
