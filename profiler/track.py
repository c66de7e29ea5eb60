"""Measure Python code in the running process: ``aicarbon.track`` and ``aicarbon.phase``.

    import aicarbon

    with aicarbon.track(name="generate", country="FRA") as t:
        with aicarbon.phase("load-model"):
            model = load()
        with aicarbon.phase("generate"):
            for prompt in prompts:
                model(prompt)
                t.add_units(1)
    t.report()          # the terminal report, phases included
    t.record            # the run record (the type ``aicarbon run --json`` writes)
    t.save("run.json")

Also a decorator: ``@aicarbon.track(name="step")`` measures each call; the wrapped function's
``last_tracker`` holds the latest measurement.

**Attribution in a process.** The code's share of the machine's CPU-domain energy is the
process's own CPU time (``time.process_time``: every thread of it, aicarbon's sampling thread
included, about 0.4% of a core) against the machine's busy CPU time; children the process
started are *not* charged (a notebook kernel's other children are none of this code's doing).
A GPU is the code's while this process holds a context on it (its PID in NVML's list).
Nothing of the caller's process is changed: no child subreaper, no signal handler, no
cgroup; it works in a Jupyter kernel and from any thread.

**Phases** are intervals of the tracked time, each measured on its own: a sample is taken at
each boundary, so a phase's energy is the machine's (and the code's) energy between its start
and its end, exactly, however short. Nested phases are included in their parent's figures
(the report indents them); phases that overlap (from two threads) each count the energy of
their own interval, so they can add up to more than the total. Units counted with
``add_units`` while a phase is open count for that phase (and its parents) and for the run.

**GPU work is asynchronous.** CUDA returns before the kernels finish, so a phase boundary
would charge a kernel to the phase after the one that launched it. With ``sync_gpu=True``
(the default) and PyTorch with CUDA already imported, each boundary waits for the device
(``torch.cuda.synchronize()``): phases are charged for their own kernels, at the price of a
pipeline drain per boundary, which per-token phases would feel (pass ``sync_gpu=False``).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .accounting import Accumulator
    from .impact import ImpactPlan
    from .run import PhaseRecord, Run
    from .sampler import Sampler
    from .sensors import OpenSensors
    from .sensors.cpu_load import ProcStat

F = TypeVar("F", bound=Callable[..., Any])
_ACTIVE: ContextVar[Tracker | None] = ContextVar("aicarbon_tracker", default=None)


@dataclass
class _OpenPhase:
    name: str
    depth: int
    start_s: float
    start_j: tuple[float, float]  # (machine, attributed) cumulative at its start
    units: float = 0.0


@dataclass
class _State:
    opened: OpenSensors
    proc_stat: ProcStat
    accumulator: Accumulator
    sampler: Sampler
    start_utc: str
    start_cpu_s: float
    phases: list[PhaseRecord] = field(default_factory=list)


class Tracker:
    """One measurement of in-process code; a context manager, or a decorator."""

    def __init__(
        self,
        name: str | None = None,
        *,
        units: float | None = None,
        unit_name: str = "units",
        task: str | None = None,
        country: str | None = None,
        region: str | None = None,
        carbon_intensity: float | None = None,
        pue: float | None = None,
        wue: float | None = None,
        water_intensity: float | None = None,
        interval_s: float = 0.1,
        sensors: Iterable[str] | None = None,
        sync_gpu: bool = True,
    ) -> None:
        from .impact import ImpactPlan
        from .measure import INTERVAL_RANGE_S
        from .settings import check_number

        self.name = name
        self._flags: dict[str, Any] = {
            "country": country,
            "region": region,
            "carbon-intensity": carbon_intensity,
            "pue": pue,
            "wue": wue,
            "water-intensity": water_intensity,
        }
        self._task, self._unit_name, self._units = task, unit_name, units
        # Every setting checked now, before anything is measured (SettingsError, ValueError).
        ImpactPlan.prepare(self._flags, units, task, unit_name)
        self._interval_s = check_number("interval_s", interval_s, *INTERVAL_RANGE_S)
        self._sensors = frozenset(sensors) if sensors is not None else None
        self._sync_gpu = sync_gpu
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._open: list[_OpenPhase] = []
        self._counted = 0.0
        self._token: Any = None
        self.record: Run | None = None

    # -- as a decorator ------------------------------------------------------------------------

    def __call__(self, func: F) -> F:
        settings = dict(self.__dict__)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tracker = self._fresh(settings)
            wrapper.last_tracker = tracker  # type: ignore[attr-defined]
            with tracker:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _fresh(self, settings: dict[str, Any]) -> Tracker:
        tracker = Tracker.__new__(Tracker)
        tracker.__dict__.update(settings)
        tracker._lock = threading.Lock()
        tracker._state, tracker._open, tracker._counted, tracker.record = None, [], 0.0, None
        return tracker

    # -- as a context manager ------------------------------------------------------------------------

    def __enter__(self) -> Tracker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._state is not None:
            raise RuntimeError("this tracker is already measuring")
        from .accounting import Accumulator
        from .measure import TIMELINE_POINTS, utc_now
        from .sampler import Sampler
        from .sensors import open_sensors
        from .sensors.cpu_info import read_cpu_info
        from .sensors.cpu_load import ProcStat, Throttled, logical_cpus
        from .sensors.nvidia_driver import proc_root
        from .timeline import Timeline

        proc_stat = ProcStat()
        # Shared by the estimate and attribution within one sample, fresh at every phase boundary.
        cpu_times = Throttled(proc_stat, 0.001)
        opened = open_sensors(
            self._sensors,
            cpu=read_cpu_info(proc_root() / "cpuinfo"),
            n_cpu=logical_cpus(),
            cpu_times=cpu_times,
        )
        accumulator = Accumulator(
            opened.domains, Timeline(self._interval_s, TIMELINE_POINTS), self._interval_s
        )
        start_cpu_s = time.process_time()
        sampler = Sampler(
            opened.sensors,
            accumulator,
            self._interval_s,
            tree_cpu_s=lambda fresh=False: time.process_time() - start_cpu_s,
            machine_busy_s=lambda: cpu_times().busy_s,
            gpu_owners=_own_gpus(opened),
        )
        self._state = _State(opened, proc_stat, accumulator, sampler, utc_now(), start_cpu_s)
        sampler.start()
        self._token = _ACTIVE.set(self)

    def stop(self) -> Run:
        state = self._state
        if state is None:
            raise RuntimeError("this tracker is not measuring")
        from .measure import build_run, utc_now
        from .runner import ChildExit
        from .sensors.host import host_info

        try:
            while self._open:  # phases left open by an exception end with the run
                self._end_phase(self._open[-1])
            state.sampler.stop()
            state.accumulator.finish()
            run = build_run(
                [self.name or Path(sys.argv[0] or "python").name],
                state.start_utc,
                utc_now(),
                ChildExit(0, 0, None, None),
                state.accumulator,
                state.sampler,
                state.opened,
                host_info(_cpu(), state.opened.gpu_names, state.opened.gpu_driver),
                self._interval_s,
            )
            run.tree_method = "process CPU time (in-process)"
            run.phases = list(state.phases)
        finally:
            state.opened.close()
            state.proc_stat.close()
            if self._token is not None:
                _ACTIVE.reset(self._token)
                self._token = None
            self._state = None
        units = self._units if self._units is not None else (self._counted or None)
        try:
            self._plan(units).apply(run)
        except Exception as exc:  # noqa: BLE001 - the measurement is kept even if this fails
            run.notes.append(f"emissions not computed: {exc}")
        self.record = run
        return run

    def _plan(self, units: float | None) -> ImpactPlan:
        from .impact import ImpactPlan

        return ImpactPlan.prepare(self._flags, units, self._task if units else None, self._unit_name)

    @property
    def measuring(self) -> bool:
        return self._state is not None

    # -- phases and units ----------------------------------------------------------------------------

    def add_units(self, n: float = 1) -> None:
        """Count ``n`` units (inferences, images, tokens) done: for the run and open phases."""
        if not (isinstance(n, (int, float)) and not isinstance(n, bool) and 0 <= n < float("inf")):
            raise ValueError(f"add_units needs a finite, non-negative number; got {n!r}")
        with self._lock:
            self._counted += n
            for open_phase in self._open:
                open_phase.units += n

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Measure a named part of the tracked code (see the module's notes on nesting)."""
        if self._state is None:
            raise RuntimeError("phase() needs a tracker that is measuring")
        t, totals = self._mark()
        with self._lock:
            open_phase = _OpenPhase(str(name), len(self._open), t, totals)
            self._open.append(open_phase)
        try:
            yield
        finally:
            if open_phase in self._open:
                self._end_phase(open_phase)

    def _end_phase(self, open_phase: _OpenPhase) -> None:
        from .run import PhaseRecord

        state = self._state
        assert state is not None
        t, (machine_j, attributed_j) = self._mark()
        with self._lock:
            self._open.remove(open_phase)
        start = state.sampler.start_t or t
        state.phases.append(
            PhaseRecord(
                open_phase.name,
                open_phase.depth,
                round(open_phase.start_s - start, 6),
                round(t - open_phase.start_s, 6),
                max(machine_j - open_phase.start_j[0], 0.0),
                max(attributed_j - open_phase.start_j[1], 0.0),
                open_phase.units,
            )
        )

    def _mark(self) -> tuple[float, tuple[float, float]]:
        """A sample now: its time and the cumulative (machine, attributed) joules."""
        state = self._state
        assert state is not None
        if self._sync_gpu:
            _synchronise_gpu()
        state.sampler.sample()
        acc = state.accumulator
        totals = [acc.totals[d] for d in acc.in_total]
        t = acc.last.t_s if acc.last is not None else time.monotonic()
        return t, (sum(x.energy_j for x in totals), sum(x.attributed_j for x in totals))

    # -- results ---------------------------------------------------------------------------------

    def report(self) -> None:
        """Print the terminal report of the finished measurement (on stderr)."""
        from .report.terminal import make_console, render

        render(self._finished(), make_console())

    def save(self, path: str | os.PathLike[str]) -> None:
        self._finished().save(Path(path))

    def _finished(self) -> Run:
        if self.record is None:
            raise RuntimeError("the tracker has not finished measuring")
        return self.record


def _cpu() -> Any:
    from .sensors.cpu_info import read_cpu_info
    from .sensors.nvidia_driver import proc_root

    return read_cpu_info(proc_root() / "cpuinfo")


def _own_gpus(opened: OpenSensors) -> Callable[[], Any] | None:
    """GPUs by this process's own PID, or by its open device files in a container."""
    nvml = opened.nvml
    if nvml is None:
        return None
    from .gpu_owner import decide
    from .process_tree import in_this_namespace, nvidia_minors_open

    me = {os.getpid()}

    def owners() -> Any:
        processes = nvml.processes()
        return decide(
            processes.pids,
            processes.failed,
            me,
            nvml.minors,
            in_this_namespace,
            lambda: nvidia_minors_open(me),
        )

    return owners


def _synchronise_gpu() -> None:
    """Wait for queued CUDA work when PyTorch is already loaded and uses CUDA (never import it)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        if cuda is not None and cuda.is_initialized():
            cuda.synchronize()
    except Exception:  # noqa: BLE001 - a broken CUDA must not break the user's code
        pass


def track(name: str | None = None, **settings: Any) -> Tracker:
    """A tracker: ``with aicarbon.track(...) as t:`` or ``@aicarbon.track(...)``. Settings are
    keyword-only and typed; a misspelt one is a ``TypeError``."""
    return Tracker(name, **settings)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """A phase of the tracker measuring in this context; a no-op when none is."""
    tracker = _ACTIVE.get()
    if tracker is None:
        yield
        return
    with tracker.phase(name):
        yield


def add_units(n: float = 1) -> None:
    """Count units on the tracker measuring in this context; a no-op when none is."""
    tracker = _ACTIVE.get()
    if tracker is not None:
        tracker.add_units(n)
