"""``pytest --aicarbon``: the energy of each test, and the top consumers at the end.

Registered through the ``pytest11`` entry point and inert unless ``--aicarbon`` (or
``--aicarbon-json PATH``) is given: without the flag nothing is imported or started.

One tracker measures the whole session in pytest's own process (aicarbon.track: the process's
CPU time against the machine's, its own GPU contexts), and each test's call phase is a phase of
it, so a test costs two samples (about 100 µs), not a tracker's start-up. Set-up and tear-down
are not charged to the test. ``--aicarbon-json PATH`` writes every test's figures
(``aicarbon.pytest/1``) and the session's run record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..settings import BACKENDS

if TYPE_CHECKING:
    from ..records.run import PhaseRecord
    from .track import Tracker

PLUGIN_NAME = "aicarbon-energy"
SCHEMA = "aicarbon.pytest/1"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aicarbon", "energy of each test (aicarbon)")
    group.addoption(
        "--aicarbon", action="store_true", help="Measure each test's energy; list the top consumers."
    )
    group.addoption(
        "--aicarbon-json",
        metavar="PATH",
        default=None,
        help="Also write each test's energy here (implies --aicarbon).",
    )
    group.addoption(
        "--aicarbon-top", metavar="N", type=int, default=10, help="How many tests to list (default 10)."
    )
    group.addoption(
        "--aicarbon-backend",
        metavar="NAME",
        default="native",
        choices=BACKENDS,
        help="Who measures: native (aicarbon's sensors), codecarbon, or both (default native).",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not (config.getoption("aicarbon") or config.getoption("aicarbon_json")):
        return
    if hasattr(config, "workerinput"):
        return  # a pytest-xdist worker: the controller says why nothing is measured
    config.pluginmanager.register(EnergyPlugin(config), PLUGIN_NAME)


@dataclass
class TestEnergy:
    """One test's call, measured: its figures and how it ended."""

    nodeid: str
    record: PhaseRecord
    outcome: str = "passed"  # passed, failed, skipped (inside the test), xfailed, xpassed


class EnergyPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.json_path: str | None = config.getoption("aicarbon_json")
        self.top = max(int(config.getoption("aicarbon_top")), 0)
        self.tracker: Tracker | None = None
        self.problem: str | None = None
        self.tests: list[TestEnergy] = []  # the plugin's own list: code under test has phases too
        self.not_run: dict[str, int] = {}  # outcome -> tests whose call never ran (nothing measured)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from .track import Tracker

        if getattr(self.config.option, "dist", "no") != "no" or getattr(
            self.config.option, "numprocesses", None
        ):
            self.problem = (
                "pytest-xdist runs the tests in worker processes, which aicarbon does not measure "
                "per test: run with -p no:xdist (or -n 0) for per-test energy"
            )
            return
        try:
            self.tracker = Tracker(
                "pytest", interval_s=0.05, backend=self.config.getoption("aicarbon_backend")
            )
            self.tracker.start()
        except Exception as exc:  # noqa: BLE001 - measuring must never fail the test run
            self.tracker, self.problem = None, f"aicarbon could not start measuring: {exc}"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        if self.tracker is None or not self.tracker.measuring:
            yield
            return
        with self.tracker.phase(item.nodeid) as handle:
            yield
        if handle.record is not None:
            self.tests.append(TestEnergy(item.nodeid, handle.record))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """The outcome of each measured call; a test that failed or was skipped before its call
        (set-up error, skip mark) is counted, with nothing measured."""
        if report.when == "call":
            for test in reversed(self.tests):
                if test.nodeid == report.nodeid:
                    test.outcome = _outcome(report)
                    break
        elif report.when == "setup" and not report.passed:
            outcome = "error" if report.failed else _outcome(report)
            self.not_run[outcome] = self.not_run.get(outcome, 0) + 1

    @pytest.hookimpl(tryfirst=True)  # before the terminal reporter prints its summary
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.tracker is None or not self.tracker.measuring:
            return
        try:
            self.tracker.stop()
        except Exception as exc:  # noqa: BLE001
            self.problem = f"aicarbon could not finish measuring: {exc}"
            return
        if self.json_path:
            try:
                from ..records.codec import dumps

                Path(self.json_path).write_text(dumps(self.results()))
            except OSError as exc:
                self.problem = f"aicarbon could not write {self.json_path}: {exc.strerror or exc}"

    def results(self) -> dict[str, Any]:
        run = self.tracker.record if self.tracker is not None else None
        if run is None:
            return {"schema": SCHEMA, "tests": []}
        return {
            "schema": SCHEMA,
            "method": run.method,
            "machine_j": run.machine_energy_j,
            "attributed_j": run.attributed_energy_j,
            "tests": [
                {
                    "nodeid": t.nodeid,
                    "outcome": t.outcome,
                    "energy_j": t.record.energy_j,
                    "attributed_j": t.record.attributed_j,
                    "duration_s": t.record.duration_s,
                }
                for t in self.tests
            ],
            "not_measured": dict(sorted(self.not_run.items())),
            "run": json.loads(run.to_json()),
        }

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from ..report.escape import visible
        from ..report.units import fmt_duration, fmt_energy

        write = terminalreporter.write_line
        terminalreporter.section("aicarbon: energy per test")
        if self.problem:
            write(visible(self.problem))
        run = self.tracker.record if self.tracker is not None else None
        if run is None:
            return
        ranked = sorted(self.tests, key=lambda t: t.record.attributed_j, reverse=True)
        not_run = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.not_run.items()))
        shown = min(self.top, len(ranked))
        tests = f"{len(self.tests)} test{'' if len(self.tests) == 1 else 's'}"
        write(
            f"session: {fmt_energy(run.machine_energy_j)} machine, {fmt_energy(run.attributed_energy_j)} "
            f"this process ({run.method}); {tests} measured"
            + (f" ({not_run} before their call: nothing to measure)" if not_run else "")
            + (f"; top {shown} by the process's energy:" if shown else "")
        )
        for t in ranked[: self.top]:
            mark = "" if t.outcome == "passed" else f"  [{t.outcome}]"
            write(
                f"  {fmt_energy(t.record.attributed_j):>10}  {fmt_duration(t.record.duration_s):>8}  "
                f"{visible(t.nodeid)}{mark}"
            )
        for note in run.notes:
            write(f"note: {visible(note)}")
        if self.json_path and not self.problem:
            write(f"per-test figures written to {visible(self.json_path)}")


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return str(report.outcome)
