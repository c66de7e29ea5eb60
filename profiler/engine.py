"""The engine's one entry for a measurement: what the command line, ``aicarbon.track`` (and
through it the pytest plugin and the notebook magic) call.

A measurement goes through three steps, the same for a wrapped command and for in-process code:

1. ``prepare(settings)``: every setting checked and resolved (grid, PUE, water, the reference
   task) *before* anything runs, so a typo costs nothing;
2. measuring: ``measure_command`` here (a child process), or ``track.Tracker`` (this process);
3. ``finish(record, prepared)``: the units the measured code counted, the impact and the
   comparison added to the record. A failure there is a note in the record: nothing measured is
   lost to it.

Errors a user can cause are ``AicarbonError`` subclasses carrying their exit status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from .settings import RunSettings

if TYPE_CHECKING:  # imported where used: a run's start-up pays only for what it needs
    import subprocess

    from .impact.plan import ImpactPlan
    from .measurement.child_process import ChildExit
    from .measurement.command import Watch
    from .measurement.process_tree import TreeAccounting
    from .measurement.session import Session
    from .records.run import Run


class Prepared(NamedTuple):
    """Settings resolved against the environment and config files, ready to apply."""

    settings: RunSettings
    plan: ImpactPlan


class MeasuredCommand(NamedTuple):
    record: Run
    exit: ChildExit

    @property
    def exit_status(self) -> int:
        """The command's own exit status: what ``aicarbon run`` exits with."""
        return self.exit.status


def prepare(
    settings: RunSettings,
    *,
    units_later: bool = True,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Prepared:
    """Resolve and check every setting (``SettingsError``, ``GridError``, ``ReferenceError``).
    ``units_later``: the measured code may count its own units, so ``task`` without ``units``
    is not refused yet."""
    from .impact.plan import ImpactPlan

    plan = ImpactPlan.prepare(
        settings.impact_flags(),
        settings.units,
        settings.task,
        settings.unit_name,
        environ=dict(environ) if environ is not None else None,
        cwd=cwd,
        units_later=units_later,
    )
    return Prepared(settings, plan)


def finish(record: Run, prepared: Prepared) -> Run:
    """Label the record and add its impact and comparison; never raises for those."""
    settings = prepared.settings
    record.labels.name = settings.name
    record.labels.tags = list(settings.tags)
    record.labels.note = settings.note
    try:
        prepared.plan.with_counted_units(record).apply(record)
    except Exception as exc:  # noqa: BLE001 - the measurement is kept even if this fails
        record.notes.append(f"emissions not computed ({exc!r}); energy is reported alone")
    return record


def warm_up(prepared: Prepared, *, report: bool, save: bool) -> None:
    """Import and read now what ``finish`` (and the report, the history) will need: called in
    a thread while the measured command runs, so that none of it adds to the command's wall
    time. Idempotent; a failure here is left for ``finish`` to meet and report."""
    from .impact import grid, references
    from .impact.plan import CONTRAST_GRIDS, water_defaults
    from .records import codec, output_file, run  # noqa: F401 - imported for their cost
    from .sensors import host  # noqa: F401

    try:
        water_defaults()
        grid.world_average()
        for iso3 in CONTRAST_GRIDS:
            if iso3:
                grid.country(iso3)
        references.tasks()
        references.equivalents(1.0, 1.0)
    except Exception:  # noqa: BLE001, S110 - finish() meets it again, and says so in the record
        pass
    if report:
        from .report import terminal  # noqa: F401 - rich, the renderer
    if save:
        from .history import store  # noqa: F401 - sqlite3


def save_to_history(record: Run, environ: Mapping[str, str] | None = None) -> int:
    """Save a finished run in the user's local history (``store``); its id. ``StoreError``
    when the history cannot take it: the caller still has the record."""
    from .history.store import History

    with History.open(environ) as history:
        return history.save(record)


def resolve_command(command: Sequence[str], module: str | None = None) -> list[str]:
    """The argv to run for ``aicarbon run``'s arguments: a program, a ``.py`` script, ``-m
    module`` or ``package.module:function`` (``EntrypointError`` before anything runs)."""
    from .measurement.entrypoints import resolve

    return resolve(list(command), module)


def measure_command(
    argv: Sequence[str],
    prepared: Prepared,
    *,
    tree: TreeAccounting | None = None,
    environ: Mapping[str, str] | None = None,
    nvml_module: ModuleType | None = None,
    meanwhile: Callable[[], None] | None = None,
    after_command: Callable[[Callable[[], bool]], None] | None = None,
    watch: Callable[[Session, subprocess.Popen[bytes]], Watch] | None = None,
) -> MeasuredCommand:
    """Run ``argv`` to completion, measuring it; ``CommandError`` when it cannot start.
    ``meanwhile`` runs in a thread while the command runs (``warm_up``)."""
    from .measurement.command import MeasureOptions
    from .measurement.command import measure_command as measure

    settings = prepared.settings
    options = MeasureOptions(
        interval_s=settings.interval_s,
        sensors=settings.sensors,
        backend=settings.backend,
        tree=tree,
        environ=environ,
        nvml_module=nvml_module,
        meanwhile=meanwhile,
        after_command=after_command,
        watch=watch,
        # The command starts before the sensors open (measurement.command); not under codecarbon,
        # whose tracker counts from its own start, a second or so after its imports.
        fast_start=settings.backend == "native",
    )
    record, exit_ = measure(argv, options)
    return MeasuredCommand(finish(record, prepared), exit_)


__all__ = [
    "MeasuredCommand",
    "Prepared",
    "RunSettings",
    "finish",
    "measure_command",
    "prepare",
    "resolve_command",
    "save_to_history",
    "warm_up",
]
