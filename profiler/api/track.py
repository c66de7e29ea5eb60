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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..limits import MAX_UNITS
from ..settings import DECLARED

if TYPE_CHECKING:
    from ..measurement.session import Session
    from ..records.run import PhaseRecord, Run

F = TypeVar("F", bound=Callable[..., Any])
_ACTIVE: ContextVar[Tracker | None] = ContextVar("aicarbon_tracker", default=None)


@dataclass
class PhaseHandle:
    """What ``Tracker.phase`` yields: the phase's figures, once it has ended (None while it is
    open, or when it could not be opened: ``phases.MAX_OPEN`` phases were open already)."""

    name: str
    record: PhaseRecord | None = None


class Tracker:
    """One measurement of in-process code; a context manager, or a decorator."""

    def __init__(
        self,
        name: str | None = None,
        *,
        # Each keyword is a declared setting (settings.RUN_SETTINGS), with its default there;
        # tests/test_settings_agree.py holds this signature to the declarations.
        units: float | None = None,
        unit_name: str = DECLARED["unit_name"].default,
        task: str | None = None,
        country: str | None = None,
        region: str | None = None,
        carbon_intensity: float | None = None,
        pue: float | None = None,
        wue: float | None = None,
        water_intensity: float | None = None,
        embodied_kg: float | None = None,
        lifespan_years: float | None = None,
        interval_s: float = DECLARED["interval_s"].default,
        sensors: Iterable[str] | None = None,
        backend: str = DECLARED["backend"].default,
        sync_gpu: bool = DECLARED["sync_gpu"].default,
        tags: Iterable[str] = (),
        note: str | None = None,
    ) -> None:
        from ..engine import prepare
        from ..settings import RunSettings

        # Every setting checked now, before anything is measured (SettingsError, a ValueError).
        self.settings = RunSettings(
            interval_s=interval_s,
            sensors=frozenset(sensors) if sensors is not None else None,
            backend=backend,
            country=country,
            region=region,
            carbon_intensity=carbon_intensity,
            pue=pue,
            wue=wue,
            water_intensity=water_intensity,
            embodied_kg=embodied_kg,
            lifespan_years=lifespan_years,
            units=units,
            unit_name=unit_name,
            task=task,
            name=name,
            tags=tuple(tags),
            note=note,
            sync_gpu=sync_gpu,
        )
        self._prepared = prepare(self.settings)
        self._state: Session | None = None
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
        tracker._state, tracker._token, tracker.record = None, None, None
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
        from ..measurement.session import Session, SessionOptions, ThisProcess

        options = SessionOptions(
            self.settings.interval_s, self.settings.sensors, backend=self.settings.backend
        )
        hook = _synchronise_gpu if self.settings.sync_gpu else None
        session = Session(options, ThisProcess(), before_mark=hook)
        session.start()
        self._state = session
        self._token = _ACTIVE.set(self)

    def stop(self) -> Run:
        session = self._state
        if session is None:
            raise RuntimeError("this tracker is not measuring")
        try:
            # Phases left open by an exception end with the run.
            run = session.stop([self.settings.name or Path(sys.argv[0] or "python").name])
        finally:
            if self._token is not None:
                _ACTIVE.reset(self._token)
                self._token = None
            self._state = None
        from ..engine import finish

        self.record = finish(run, self._prepared)
        return run

    @property
    def measuring(self) -> bool:
        return self._state is not None

    # -- phases and units ----------------------------------------------------------------------------

    def add_units(self, n: float = 1, unit: str | None = None) -> None:
        """Count ``n`` units done, for the run and open phases; ``unit`` names them
        (``"inferences"``, ``"output tokens"``, ``"images"``: what the grade compares like with
        like, see docs/impact.md)."""
        check_units(n)
        check_unit_name(unit)
        if self._state is None:
            raise RuntimeError("add_units() needs a tracker that is measuring")
        if not self._state.book.add_units(float(n), unit):
            raise ValueError(
                f"add_units({n!r}) would take the run's count past {MAX_UNITS:.0e} units; not counted"
            )

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseHandle]:
        """Measure a named part of the tracked code (see the module's notes on nesting); the
        handle's ``record`` holds the phase's figures once it has ended."""
        if self._state is None:
            raise RuntimeError("phase() needs a tracker that is measuring")
        book, key, handle = self._state.book, object(), PhaseHandle(str(name))
        book.start(key, handle.name)
        try:
            yield handle
        except BaseException as exc:  # closed and marked, and the exception goes on
            handle.record = book.end(key, type(exc).__name__)
            raise
        else:
            handle.record = book.end(key)

    # -- results ---------------------------------------------------------------------------------

    def report(self) -> None:
        """Print the terminal report of the finished measurement (on stderr)."""
        from ..report.terminal import make_console, render

        render(self._finished(), make_console())

    def save(self, path: str | os.PathLike[str]) -> None:
        self._finished().save(Path(path))

    def _finished(self) -> Run:
        if self.record is None:
            raise RuntimeError("the tracker has not finished measuring")
        return self.record


def check_units(n: object) -> None:
    """``ValueError`` unless ``n`` is a number from 0 to ``MAX_UNITS`` (NaN, infinities and
    integers too large for a float fail every comparison here, so none gets through)."""
    from ..measurement.phases import countable

    if not countable(n):
        shown = repr(n)
        if isinstance(n, int) and abs(n) >= 10**30:  # repr() of 5,000 digits raises ValueError
            shown = f"an integer of about {int(abs(n).bit_length() * 0.30103) + 1} digits"
        raise ValueError(f"add_units needs a number of units from 0 to {MAX_UNITS:.0e}; got {shown}")


def check_unit_name(unit: object) -> None:
    """``ValueError`` unless ``unit`` is None or a name of 1 to 64 characters."""
    if unit is not None and not (isinstance(unit, str) and 0 < len(unit.strip()) <= 64):
        raise ValueError(f"add_units(unit=...) needs a name of 1 to 64 characters, or None; got {unit!r:.80}")


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
    """A phase of the tracker measuring in this context; under ``aicarbon run``, a phase of the
    run (sent to aicarbon through its channel); otherwise nothing."""
    tracker = _ACTIVE.get()
    if tracker is not None:
        with tracker.phase(name):
            yield
        return
    from ..measurement.channel import CHANNEL_ENV, send

    if CHANNEL_ENV not in os.environ:
        yield
        return
    marker = object()  # alive for the whole phase: its id is unique meanwhile
    key = str(id(marker))
    send({"e": "start", "pid": os.getpid(), "id": key, "name": str(name)})
    try:
        yield
    except BaseException as exc:  # the phase is marked failed in the run, and the exception goes on
        send({"e": "end", "pid": os.getpid(), "id": key, "failed": type(exc).__name__})
        raise
    else:
        send({"e": "end", "pid": os.getpid(), "id": key})


def add_units(n: float = 1, unit: str | None = None) -> None:
    """Count units on the tracker measuring in this context, or for ``aicarbon run``; ``unit``
    names them (``"output tokens"``, ``"images"``; inferences when not named)."""
    check_units(n)
    check_unit_name(unit)
    tracker = _ACTIVE.get()
    if tracker is not None:
        tracker.add_units(n, unit)
        return
    from ..measurement.channel import CHANNEL_ENV, send

    if CHANNEL_ENV in os.environ:
        send({"e": "units", "n": n} if unit is None else {"e": "units", "n": n, "unit": unit})
