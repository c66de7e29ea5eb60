"""``aicarbon`` commands."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from aicarbon import __version__

if TYPE_CHECKING:
    from aicarbon.impact import ImpactPlan
    from aicarbon.run import Run

app = typer.Typer(
    name="aicarbon",
    help="Measure the energy of a command (CPU via RAPL, GPU via NVML, RAM) and report it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, status: int = 2) -> typer.Exit:
    """Print one clear line on stderr; the caller raises the returned Exit."""
    typer.echo(f"aicarbon: {message}", err=True)
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


def _parse_sensors(value: str | None) -> frozenset[str] | None:
    from aicarbon.sensors import SENSOR_NAMES

    if value is None:
        return None
    names = frozenset(n.strip().lower() for n in value.split(",") if n.strip())
    unknown = sorted(names - set(SENSOR_NAMES))
    if unknown or not names:
        raise fail(
            f"unknown sensor {', '.join(unknown) or repr(value)}; choose from {', '.join(SENSOR_NAMES)}"
        )
    return names


def _check_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise fail(f"cannot write --json {path}: directory {parent} does not exist")
    if path.is_dir():
        raise fail(f"cannot write --json {path}: it is a directory")


@app.command(
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def run(
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help=(
                "The command to run and measure, e.g. python infer.py "
                "(use -- before a command whose options clash with aicarbon's)."
            )
        ),
    ] = None,
    module: Annotated[
        str | None, typer.Option("-m", "--module", help="Run a Python module, as python -m MODULE.")
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write the run record (JSON, schema aicarbon.run/1) to this file."),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.01, max=60.0, help="Sampling period in seconds.")
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
) -> None:
    """Run a command, measure the energy it used, and print a report on stderr.

    Exits with the command's own exit status.
    """
    from aicarbon.measure import MeasureOptions, measure_command
    from aicarbon.runner import CommandError, python_module_argv

    args = list(command or [])
    if not module and args and args[0].startswith("-") and "--" not in sys.argv:
        raise fail(f"no such option: {args[0]} (a command that starts with '-' goes after --)")
    if module:
        argv = python_module_argv(module, args)
    elif args:
        argv = args
    else:
        raise fail("no command given; usage: aicarbon run [OPTIONS] COMMAND [ARGS]... or -m MODULE")
    selected = _parse_sensors(sensors)
    if json_path is not None:
        _check_writable(json_path)
    flags = {
        "country": country,
        "region": region,
        "carbon-intensity": carbon_intensity,
        "pue": pue,
        "wue": wue,
        "water-intensity": water_intensity,
    }
    plan = _impact_plan(flags, units, task, unit_name)  # everything checked before the command runs

    try:
        record, exit_ = measure_command(argv, MeasureOptions(interval_s=interval, sensors=selected))
    except CommandError as exc:
        raise fail(str(exc), exc.status) from None
    try:
        plan.apply(record)
    except Exception as exc:  # noqa: BLE001 - the measurement is kept even if this fails
        typer.echo(f"aicarbon: could not compute emissions ({exc!r}); energy is reported alone", err=True)
    deliver(record, json_path, quiet)
    raise typer.Exit(exit_.status)


def _impact_plan(
    flags: dict[str, object], units: float | None, task: str | None, unit_name: str
) -> ImpactPlan:
    from aicarbon.grid import GridError
    from aicarbon.impact import ImpactPlan
    from aicarbon.references import ReferenceError
    from aicarbon.settings import SettingsError

    try:
        return ImpactPlan.prepare(flags, units, task, unit_name)
    except (SettingsError, GridError, ReferenceError) as exc:
        raise fail(str(exc)) from None


def deliver(record: Run, json_path: Path | None, quiet: bool) -> None:
    """Save, then render. A failure in either never loses the measurement."""
    saved: Path | None = None
    if json_path is not None:
        try:
            record.save(json_path)
            saved = json_path
        except OSError as exc:
            saved = _rescue(record, f"could not write {json_path} ({exc.strerror})")
    if quiet:
        return
    try:
        from aicarbon.report.terminal import make_console, render

        render(record, make_console())
    except Exception as exc:  # noqa: BLE001 - a reporting bug must not lose the run
        where = saved or _rescue(record, "the report could not be rendered")
        typer.echo(f"aicarbon: report failed ({exc!r}); the run record is at {where}", err=True)


def _rescue(record: Run, why: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="aicarbon-run-", suffix=".json")
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(record.to_json())
    typer.echo(f"aicarbon: {why}; the run record was saved to {name} instead", err=True)
    return Path(name)


@app.command()
def report(
    path: Annotated[Path, typer.Argument(help="A run record written by aicarbon run --json.")],
) -> None:
    """Re-render a saved run record."""
    from aicarbon.report.terminal import make_console, render
    from aicarbon.run import RecordError, Run

    try:
        record = Run.load(path)
    except FileNotFoundError:
        raise fail(f"no such file: {path}") from None
    except (RecordError, OSError) as exc:
        raise fail(str(exc)) from None
    render(record, make_console())


@app.command()
def references() -> None:
    """List the reference AI tasks that --task grades against, with their source."""
    from aicarbon.references import BOUNDARY, STUDY, tasks

    typer.echo(f"{'key':<22} {'task':<31} {'mean':>7} {'sd':>6}  kWh per 1,000 inferences")
    for t in tasks():
        typer.echo(f"{t.key:<22} {t.task:<31} {t.mean_kwh_per_1000:>7g} {t.std_kwh_per_1000:>6g}")
    typer.echo(f"\nSource: {STUDY}.\nBoundary: {BOUNDARY}.")


@app.command()
def regions(
    country: Annotated[str | None, typer.Argument(help="ISO3 country code; none lists countries.")] = None,
) -> None:
    """List the grid intensities aicarbon knows (from codecarbon's data)."""
    from aicarbon import grid

    try:
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
    except grid.GridError as exc:
        raise fail(str(exc)) from None
    for key, value in sorted(table.items()):
        typer.echo(f"{key:<28} {value.g_per_kwh:8.1f} g/kWh  {value.label}")


def main() -> None:
    status: int = 0
    try:
        app(prog_name="aicarbon")
    except SystemExit as exc:
        if isinstance(exc.code, int):
            status = exc.code
        elif exc.code is not None:
            print(exc.code, file=sys.stderr)
            status = 1
    # Everything is written and flushed by now: skip the interpreter's teardown (40-60 ms of
    # module clean-up), part of the wall time aicarbon adds to every measured command.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
