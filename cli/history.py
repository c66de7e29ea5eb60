"""``aicarbon history``, ``show``, ``report`` and ``diff``: the runs saved on this machine, and
saved records re-rendered. Parse, call the store and the renderers, print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from aicarbon.cli.common import command, fail
from aicarbon.cli.streams import say

if TYPE_CHECKING:
    from aicarbon.records.run import Run

RUN_REF = "A run id from 'aicarbon history' (or 'last'), or a run record file."
SINCE = "Only runs started since: 2026-11-25, 2026-11-25T14:00, or a time ago: 12h, 7d."


def load_run(ref: str) -> tuple[Run, str]:
    """A run named by a record file or a history id (``12``, ``last``); and how to call it."""
    from aicarbon.history.store import History
    from aicarbon.records.run import Run

    path = Path(ref)
    is_id = ref.isascii() and ref.isdigit()  # ASCII digits only: '١' is not run 1
    if _is_file(path) or not (is_id or ref == "last"):
        return Run.load(path), str(path)
    with History.open(create=False) as history:
        if len(ref) > 20:  # beyond any SQLite id (and int() of 5,000 digits would raise)
            raise fail(f"no run {ref[:20]}… in the history at {history.path} (see 'aicarbon history')")
        run_id = history.last_id() if ref == "last" else int(ref)
        if run_id is None:
            raise fail(f"the history at {history.path} is empty: no last run")
        return history.get(run_id), f"run {run_id}"


def _is_file(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long to be a file (thousands of digits): not one
        return False


history_app = typer.Typer(
    invoke_without_command=True,
    add_completion=False,
    help="List the runs saved on this machine (newest first), prune them, or import codecarbon's.",
)


@history_app.callback()
def history(
    ctx: typer.Context,
    command: Annotated[
        str | None, typer.Option("--command", "-c", help="Only runs whose command line contains this.")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only runs with this tag.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help=SINCE),
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only runs started before this.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many runs (newest first).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete old runs by the retention rule (--keep, --max-age-days).")
    ] = False,
    keep: Annotated[int, typer.Option("--keep", help="With --prune: keep the newest N runs.")] = 1000,
    max_age_days: Annotated[
        float, typer.Option("--max-age-days", help="With --prune: delete runs older than this.")
    ] = 365.0,
) -> None:
    """List the runs saved on this machine (newest first), or prune them."""
    if ctx.invoked_subcommand is not None:
        return
    from aicarbon.history.store import Filter, History, parse_when
    from aicarbon.report.history_table import render

    if limit < 1:
        raise fail(f"--limit must be at least 1; got {limit}")
    if prune:
        if keep < 0 or not (0 < max_age_days < 1e6):
            raise fail("--keep must not be negative and --max-age-days must be a positive number of days")
        with History.open(create=False) as store:
            deleted = store.prune(keep=keep, older_than_days=max_age_days) if store.path.exists() else 0
            left = store.count()
        say(f"pruned {deleted} run(s) from {store.path}; {left} left")
        return
    where = Filter(
        command=command,
        tag=tag,
        since_utc=parse_when(since) if since else None,
        until_utc=parse_when(until) if until else None,
        limit=limit,
    )
    with History.open(create=False) as store:
        runs = store.runs(where)
    if as_json:
        from aicarbon.records.codec import dumps

        typer.echo(dumps([r.to_dict() for r in runs]), nl=False)
        return
    typer.echo(render(runs, store.path), nl=False)


@history_app.command("import")
def import_rows(
    path: Annotated[Path, typer.Argument(help="codecarbon's emissions.csv (any of its generations).")],
) -> None:
    """Import codecarbon's emissions.csv rows as runs measured by codecarbon (tag: codecarbon)."""
    from aicarbon.history.codecarbon_import import read_runs
    from aicarbon.history.store import History

    runs, problems = read_runs(path)
    for problem in problems:
        say(f"{path}: {problem}: not imported")
    with History.open() as store:
        ids, skipped = store.save_all(runs, skip_same_note=True)
    already = f"; {skipped} already in the history" if skipped else ""
    span = f" (runs {ids[0]} to {ids[-1]})" if len(ids) > 1 else f" (run {ids[0]})" if ids else ""
    say(
        f"imported {len(ids)} row(s) of {path}{span}{already}; 'aicarbon history --tag codecarbon' lists them"
    )
    if problems:
        raise typer.Exit(1)


@command()
def show(
    ref: Annotated[str, typer.Argument(help=RUN_REF)],
) -> None:
    """Print the report of a saved run."""
    from aicarbon.report.terminal import make_console, render

    run, _ = load_run(ref)
    render(run, make_console())


@command()
def report(
    ref: Annotated[str, typer.Argument(help=RUN_REF)],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="terminal (on stderr), markdown, html, json, csv or boamps (Boavizta's BoAmps report).",
        ),
    ] = "terminal",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Re-render a saved run: from its record file or from the history."""
    from aicarbon.records.output_file import check_writable
    from aicarbon.report.formats import FORMATS

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if output is not None:
        check_writable(output, what="--output")
    run, _ = load_run(ref)
    if fmt == "terminal" and output is None:
        from aicarbon.report.terminal import make_console, render

        render(run, make_console())
        return
    _deliver(_rendered(run, fmt), output)


def _deliver(text: str, output: Path | None) -> None:
    """``text`` to standard output, or to ``--output`` (one line and exit 2 when it cannot be
    written)."""
    from aicarbon.records.output_file import write_text

    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_text(output, text)
    except OSError as exc:
        raise fail(f"--output: cannot write {output} ({exc.strerror or exc})") from None


def _rendered(run: Run, fmt: str) -> str:
    from aicarbon.report.formats import renderer

    return renderer(fmt)(run)


@command()
def diff(
    base: Annotated[str, typer.Argument(help="The first run: a record file or a history id.")],
    new: Annotated[str, typer.Argument(help="The second run: a record file or a history id.")],
) -> None:
    """Show two runs side by side: energy by domain, duration, per-unit figures, ratios."""
    from aicarbon.report.diff_table import render

    a, a_name = load_run(base)
    b, b_name = load_run(new)
    typer.echo(render(a, b, a_name, b_name), nl=False)


@command()
def label(
    ref: Annotated[str, typer.Argument(help=RUN_REF)],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the SVG here (default: stdout).")
    ] = None,
    badge: Annotated[
        bool, typer.Option("--badge", help="A small badge for a README instead of the label.")
    ] = False,
) -> None:
    """An energy label for a run (SVG, self-contained, offline): the A-G scale of its reference
    task, energy per unit, CO2e, water, hardware."""
    from aicarbon.records.output_file import check_writable
    from aicarbon.report import label_svg

    if output is not None:
        check_writable(output, what="--output")
    run, _ = load_run(ref)
    _deliver(label_svg.badge(run) if badge else label_svg.label(run), output)
