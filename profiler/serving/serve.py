"""``aicarbon serve``: a served model measured as ``run`` measures a command, with its counters
scraped beside the sensors (``watcher``) and the window's energy per token in the record.

Two ways: wrap the server (``serve_command``: every sensor, attribution, signals and exit
status as ``run``; the window ends with the server, or after ``--duration``, when aicarbon
stops the server with SIGTERM), or attach to one already running on this machine
(``serve_attached``: the whole machine is charged to it, for ``--duration`` or until Ctrl-C).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .watcher import DEFAULT_INTERVAL_S, Mark, ServingWatcher

if TYPE_CHECKING:
    import subprocess

    from ..engine import MeasuredCommand, Prepared
    from ..measurement.process_tree import TreeAccounting
    from ..measurement.session import Session
    from ..records.run import Run, ServingRecord


@dataclass(frozen=True)
class ServeOptions:
    url: str
    token_metric: str | None = None
    interval_s: float = DEFAULT_INTERVAL_S
    warmup_s: float = 0.0
    duration_s: float | None = None  # None: until the server exits (wrapped) - attached needs one


def session_mark(session: Session) -> Mark:
    """The phases' mark (``phases.sample_mark``: a sample now, its time and the counted
    domains' cumulative joules), with the GPUs' joules beside them."""
    from ..measurement.phases import sample_mark

    acc = session.accumulator
    plain = sample_mark(session.sampler, acc)
    gpus = [d.id for d in session.opened.domains if d.in_total and d.kind.value == "gpu"]

    def mark() -> tuple[float, float, float | None]:
        t_s, (machine_j, _) = plain()
        return t_s, machine_j, sum(acc.totals[i].energy_j for i in gpus) if gpus else None

    return mark


def watcher_for(
    options: ServeOptions, session: Session, stop_server: Callable[[], None] | None = None
) -> ServingWatcher:
    return ServingWatcher(
        options.url,
        session_mark(session),
        token_metric=options.token_metric,
        interval_s=options.interval_s,
        warmup_s=options.warmup_s,
        duration_s=options.duration_s,
        stop_server=stop_server,
    )


def _origin(session: Session) -> float:
    if session.started is not None:
        return session.started.t_s
    return session.sampler.start_t if session.sampler.start_t is not None else time.monotonic()


class _Watching:
    """The wrapped server's watcher, as ``measurement.command`` drives it."""

    def __init__(self, options: ServeOptions, session: Session, child: subprocess.Popen[bytes]) -> None:
        self.session = session
        self.watcher = watcher_for(options, session, stop_server=lambda: child.send_signal(signal.SIGTERM))
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()

    def add_to(self, run: Run) -> None:
        _add(run, self.watcher.finish(_origin(self.session)), self.watcher)


def serve_command(
    argv: Sequence[str],
    prepared: Prepared,
    options: ServeOptions,
    tree: TreeAccounting,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[MeasuredCommand, ServingWatcher]:
    """Run the server to its end (or the window's), measuring it; its watcher says how it went."""
    from .. import engine

    watching: list[_Watching] = []

    def watch(session: Session, child: subprocess.Popen[bytes]) -> _Watching:
        watching.append(_Watching(options, session, child))
        return watching[0]

    measured = engine.measure_command(argv, prepared, tree=tree, meanwhile=meanwhile, watch=watch)
    return measured, watching[0].watcher


class WholeMachine:
    """Attribution when attached: the server is not aicarbon's child, so the whole machine is
    charged to it (its CPU time is the machine's busy time; every process may own a GPU)."""

    method = "attached to a running server: the whole machine"

    def __init__(self) -> None:
        from ..sensors.cpu_load import ProcStat

        self._stat = ProcStat()
        self._start_s = self._stat().busy_s

    def cpu_seconds(self, fresh: bool = False) -> float:
        return self._stat().busy_s - self._start_s

    @property
    def pids(self) -> set[int]:
        return {int(name) for name in os.listdir("/proc") if name.isdigit()}


def serve_attached(prepared: Prepared, options: ServeOptions) -> tuple[Run, ServingWatcher, list[str]]:
    """Measure this machine while the server at ``options.url`` serves, for the window (or
    until SIGINT or SIGTERM, which end it early and keep what was measured)."""
    from .. import engine
    from ..measurement.child_process import stop_on_signal
    from ..measurement.session import Session, SessionOptions

    settings = prepared.settings
    session = Session(
        SessionOptions(settings.interval_s, settings.sensors, None, None, settings.backend), WholeMachine()
    )
    lines: list[str] = []
    try:
        session.start()
        watcher = watcher_for(options, session)
        with stop_on_signal() as stopped:
            watcher.start()
            while not watcher.done.wait(0.05):
                if stopped:
                    lines.append("interrupted: the window ends here")
                    break
        record = watcher.finish(_origin(session))
        run = session.stop(["aicarbon", "serve", "--attach", "--metrics-url", options.url])
    finally:
        session.close()
    _add(run, record, watcher)
    return engine.finish(run, prepared), watcher, lines


def _add(run: Run, record: ServingRecord | None, watcher: ServingWatcher) -> None:
    """The window into the run, with the published figures for its model; or why there is none."""
    from .references import published

    run.serving = record
    if record is None:
        if watcher.problem:
            run.notes.append(f"no serving window: {watcher.problem}")
        return
    try:
        record.published = published(run)
    except Exception as exc:  # noqa: BLE001 - the reference data is never worth the measurement
        run.notes.append(f"published figures not compared ({exc!r})")
