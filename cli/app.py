"""``aicarbon`` commands: parse, call the engine, render."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from aicarbon import __version__
from aicarbon.cli.deliver import deliver, rescue, say
from aicarbon.errors import AicarbonError

if TYPE_CHECKING:
    from aicarbon.records.run import Run

# Click's exception classes, found through typer's public ones: typer 0.28 vendors click as a
# private module, older versions use click itself.
_USAGE_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_EXCEPTION: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)

app = typer.Typer(
    name="aicarbon",
    help="Measure the energy of a command (CPU via RAPL, GPU via NVML, RAM) and report it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass(frozen=True)
class CliState:
    """What the entry point learnt before the command line was parsed."""

    closed_fds: frozenset[int] = frozenset()  # standard streams closed when aicarbon started


def fail(message: str, status: int = 2) -> typer.Exit:
    """Print one clear line on stderr (escaped: it may quote user input); the caller raises
    the returned Exit."""
    say(message)
    return typer.Exit(status)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aicarbon {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """aicarbon: what did that run cost the planet?"""


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help=(
                "The command to run and measure: a program (python infer.py), a Python script "
                "(infer.py), or a function (package.module:function); use -- before a command "
                "that starts with '-'."
            )
        ),
    ] = None,
    module: Annotated[
        str | None,
        typer.Option(
            "-m", "--module", help="Run a Python module, as python -m MODULE (what follows goes to it)."
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help=(
                "Write the run record (JSON, schema aicarbon.run/2) to this file; "
                "- or /dev/stdout for standard output."
            ),
        ),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", help="Sampling period in seconds (0.01 to 60).")
    ] = 0.1,
    sensors: Annotated[
        str | None,
        typer.Option("--sensors", help="Only use these sensors: a comma list of rapl, nvml, estimate."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no report (use with --json).")] = False,
    country: Annotated[
        str | None, typer.Option("--country", help="Grid of this country, ISO 3166 alpha-3 (FRA, USA...).")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="A region of the country (US state, Canadian or Chinese province...) or a cloud region.",
        ),
    ] = None,
    carbon_intensity: Annotated[
        float | None,
        typer.Option("--carbon-intensity", help="Grid intensity in gCO2e/kWh (overrides --country)."),
    ] = None,
    pue: Annotated[
        float | None, typer.Option("--pue", help="Power usage effectiveness (default 1.0: no data centre).")
    ] = None,
    wue: Annotated[
        float | None, typer.Option("--wue", help="On-site water usage effectiveness, L/kWh (default 0).")
    ] = None,
    water_intensity: Annotated[
        float | None,
        typer.Option(
            "--water-intensity", help="Water used to generate the electricity, L/kWh (default 3.14)."
        ),
    ] = None,
    units: Annotated[
        float | None, typer.Option("--units", help="How many inferences (or other units) the run did.")
    ] = None,
    unit_name: Annotated[str, typer.Option("--unit-name", help="What a unit is called.")] = "inferences",
    task: Annotated[
        str | None,
        typer.Option("--task", help="Reference task to grade against (see 'aicarbon references')."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Label the run (repeat for several tags).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note kept with the run.")] = None,
    no_save: Annotated[
        bool, typer.Option("--no-save", help="Do not save the run in the local history.")
    ] = False,
) -> None:
    """Run a command, measure the energy it used, and print a report on stderr.

    Exits with the command's own exit status.
    """
    from contextlib import closing

    from aicarbon.measurement.process_tree import open_tree

    # First of all, so that entering the command's cgroup (some 20 ms of kernel time) overlaps
    # what follows; closed by measure_command, or here when the run stops at a bad option.
    with closing(open_tree()) as tree:
        from aicarbon import engine
        from aicarbon.records.output_file import check_writable

        state: CliState = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
        argv = engine.resolve_command(command or [], module)
        if not argv:
            raise fail("no command given; usage: aicarbon run [OPTIONS] COMMAND [ARGS]... or -m MODULE")
        settings = engine.RunSettings(
            interval_s=interval,
            sensors=_sensor_names(sensors),
            country=country,
            region=region,
            carbon_intensity=carbon_intensity,
            pue=pue,
            wue=wue,
            water_intensity=water_intensity,
            units=units,
            unit_name=unit_name,
            task=task,
            tags=tuple(tag or ()),
            note=note,
            save=not no_save,
            spelling="flag",
        )
        if json_path is not None:
            check_writable(json_path, state.closed_fds, what="--json")
        prepared = engine.prepare(settings)  # everything checked before the command runs
        measured = engine.measure_command(argv, prepared, tree=tree)
    deliver(measured.record, json_path, quiet)
    if settings.save:
        _save(measured.record, quiet, only_copy=quiet and json_path is None)
    raise typer.Exit(measured.exit_status)


def _save(record: Run, quiet: bool, only_copy: bool) -> None:
    """Into the local history; a history that cannot take it costs one line, never the run:
    where the history was to be its only copy (``-q`` without ``--json``), the record is saved
    in the temporary directory instead, as a ``--json`` that cannot be written is."""
    from aicarbon import engine

    try:
        run_id = engine.save_to_history(record)
    except Exception as exc:  # noqa: BLE001 - a bug here must not cost the exit status or the run
        why = f"not saved in the history: {exc}"
        if not isinstance(exc, AicarbonError):
            why = f"not saved in the history (an aicarbon bug: {exc!r})"
        if only_copy:
            rescue(record.to_json(), "run record", why, shown=False)
        else:
            say(why)
        return
    if not quiet:
        say(f"saved as run {run_id} ('aicarbon show {run_id}'; 'aicarbon history' lists runs)")


def _sensor_names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(n.strip().lower() for n in value.split(",") if n.strip())


@app.command()
def references() -> None:
    """List the reference AI tasks that --task grades against, with their source."""
    from aicarbon.impact.references import BOUNDARY, STUDY, tasks

    typer.echo(f"{'key':<22} {'task':<31} {'mean':>7} {'sd':>6}  kWh per 1,000 inferences")
    for t in tasks():
        typer.echo(f"{t.key:<22} {t.task:<31} {t.mean_kwh_per_1000:>7g} {t.std_kwh_per_1000:>6g}")
    typer.echo(f"\nSource: {STUDY}.\nBoundary: {BOUNDARY}.")


@app.command()
def regions(
    country: Annotated[str | None, typer.Argument(help="ISO3 country code; none lists countries.")] = None,
) -> None:
    """List the grid intensities aicarbon knows (from codecarbon's data)."""
    from aicarbon.impact import grid
    from aicarbon.report.escape import visible

    if country is None:
        table = {code: grid.country(code) for code in grid.country_codes()}
        typer.echo(
            "Countries (--country); regions exist for "
            + ", ".join(grid.REGION_TABLES)
            + " and cloud (aicarbon regions cloud)"
        )
    elif country.lower() == "cloud":
        table = grid.cloud_regions()
    else:
        grid.country(country)
        table = grid.regions(country)
    for key, value in sorted(table.items()):
        typer.echo(visible(f"{key:<28} {value.g_per_kwh:8.1f} g/kWh  {value.label}"))


# -- the command line as a whole ------------------------------------------------------------------


def run_cli(args: Sequence[str], closed_fds: frozenset[int] = frozenset()) -> int:
    """Parse and run one aicarbon command line; the exit status. Usage errors are one line and
    status 2, whatever click would print."""
    command = typer.main.get_command(app)
    args = _end_options_after_module(list(args), command)
    try:
        status = command.main(
            args=args, prog_name="aicarbon", standalone_mode=False, obj=CliState(closed_fds)
        )
    except _USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was the answer: already shown
            if exc.format_message().strip():  # type: ignore[attr-defined]
                typer.echo(exc.format_message(), err=True)  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        context = exc.ctx  # type: ignore[attr-defined]
        where = f"aicarbon {context.info_name} --help" if context and context.parent else "aicarbon --help"
        message = _sentence(exc.format_message())  # type: ignore[attr-defined]
        if message.startswith("no such option") and where == "aicarbon run --help":
            message += "; a command that starts with '-' goes after --"
        say(f"{message} (see '{where}')")
        return 2
    except AicarbonError as exc:  # the user's problem, not a bug: its sentence and its status
        say(str(exc))
        return exc.status
    except _CLICK_EXCEPTION as exc:
        say(_sentence(exc.format_message()))  # type: ignore[attr-defined]
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except typer.Abort:
        return 130
    return status if isinstance(status, int) else 0


def _sentence(message: str) -> str:
    """Click's message on one line, in aicarbon's lower case ("no such option", "(possible")."""
    message = " ".join(message.split()).replace("(Possible options:", "(possible options:")
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        return message[0].lower() + message[1:]
    return message


def _end_options_after_module(args: list[str], group: Any) -> list[str]:
    """``aicarbon run -m MODULE ARGS...`` hands ARGS to the module as ``python -m`` does, even
    those that look like aicarbon's options: a ``--`` goes right after MODULE."""
    run_command = getattr(group, "commands", {}).get("run")
    if not args or args[0] != "run" or run_command is None:
        return args
    takes_value = {
        name: not (param.is_flag or param.count)
        for param in run_command.params
        if param.param_type_name == "option"
        for name in [*param.opts, *param.secondary_opts]
    }
    i = 1
    while i < len(args):
        token = args[i]
        if token == "--" or token == "-" or not token.startswith("-"):
            return args
        if token.startswith("--"):
            name, has_value, _ = token.partition("=")
            after = i + 1 if has_value or not takes_value.get(name, False) else i + 2
            if name == "--module":
                return [*args[:after], "--", *args[after:]]
            i = after
            continue
        after = i + 1
        for j, letter in enumerate(token[1:], start=1):  # a cluster of short options: -qm MOD
            if takes_value.get(f"-{letter}", False):
                after = i + 1 if j + 1 < len(token) else i + 2
                if letter == "m":
                    return [*args[:after], "--", *args[after:]]
                break
        i = after
    return args


# The CI gate's and the history's commands register themselves on ``app``.
from aicarbon.cli import gate as _gate  # noqa: E402, F401
from aicarbon.cli import history as _history  # noqa: E402, F401
from aicarbon.cli import machine as _machine  # noqa: E402, F401
