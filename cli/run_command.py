"""``aicarbon run``: its arguments, parsed from the declared settings, and the measured run.

``run`` is parsed here, not by typer, for two reasons. Its grammar is a launcher's, not a
subcommand's: options end at the first word that is not one (the command), after ``--``, and
after ``-m MODULE`` (what follows goes to the module, as with ``python -m``); click can carry
that only with workarounds that re-parse its own parameters. And a run must start its command
fast: typer, click and the other commands' option tables cost some 40 ms before the command
could start. The options come from ``settings.RUN_SETTINGS`` (each declared once, with its
flag, type, bounds and help) plus the three that only the command line has: ``--json``,
``-q`` and ``-m``. ``aicarbon --help`` lists ``run`` through the typer registry, which hands
the arguments here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from aicarbon.errors import AicarbonError
from aicarbon.settings import RUN_SETTINGS, Declared, check_number

if TYPE_CHECKING:
    from aicarbon.job.launcher import Launch
    from aicarbon.records.run import Run

SEE = "(see 'aicarbon run --help')"
DEFAULT_JOB_TIMEOUT_S = 120.0  # how long rank 0 waits for the other nodes' parts (docs/jobs.md)
USAGE = "aicarbon run [OPTIONS] COMMAND [ARGS]...\n   or: aicarbon run [OPTIONS] -m MODULE [ARGS]..."
SUMMARY = "Run a command, measure the energy it used, and print a report on stderr."

# The options only the command line has (not settings of a measurement).
CLI_ONLY: tuple[Declared, ...] = (
    Declared(
        "json",
        "--json",
        str,
        None,
        "write the run record ([schema `aicarbon.run/4`](docs/run-record.md)); `-` or "
        "`/dev/stdout` for standard output",
        metavar="PATH",
        in_api=False,
    ),
    Declared(
        "emissions_csv",
        "--emissions-csv",
        str,
        None,
        "append a row to codecarbon's `emissions.csv` at PATH, by header name "
        "([docs/codecarbon.md](docs/codecarbon.md))",
        metavar="PATH",
        in_api=False,
    ),
    Declared(
        "prometheus_textfile",
        "--prometheus-textfile",
        str,
        None,
        "add the run to node_exporter's textfile-collector metrics at PATH (`.prom`; "
        "[docs/metrics.md](docs/metrics.md))",
        metavar="PATH",
        in_api=False,
    ),
    Declared(
        "job_dir",
        "--job-dir",
        str,
        None,
        "under a launcher (srun, mpirun, torchrun): where the job's ranks meet, on a file system "
        "every node sees (default: `.aicarbon-jobs` in Slurm's submit directory or here; "
        "[docs/jobs.md](docs/jobs.md))",
        metavar="DIR",
        env="AICARBON_JOB_DIR",
        in_api=False,
    ),
    Declared(
        "job_timeout_s",
        "--job-timeout",
        float,
        DEFAULT_JOB_TIMEOUT_S,
        "under a launcher: how long the job's first rank waits for the other nodes' parts before it "
        "writes the job record without them",
        metavar="S",
        low=0.0,
        high=86400.0,
        high_text="must be at most 86400 s (a day)",
        in_api=False,
    ),
    Declared("quiet", "--quiet", bool, False, "print no report", short="-q", in_api=False),
    Declared(
        "module",
        "--module",
        str,
        None,
        "run `python -m MODULE ARGS...` with aicarbon's interpreter",
        metavar="MODULE",
        short="-m",
        in_api=False,
    ),
)
CLI_ONLY_NAMES = frozenset(d.name for d in CLI_ONLY)
OPTIONS: tuple[Declared, ...] = (*CLI_ONLY, *(d for d in RUN_SETTINGS if d.flag))


class UsageError(AicarbonError):
    """A bad ``aicarbon run`` command line: one line, status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message} {SEE}")


class RunArgs:
    """The parsed command line: the settings given (by ``Declared.name``), the command."""

    def __init__(self, options: tuple[Declared, ...] | None = None) -> None:
        self.options = OPTIONS if options is None else options
        self.given: dict[str, Any] = {}
        self.command: list[str] = []
        self.help = False

    def get(self, name: str) -> Any:
        return self.given.get(name, next(d.default for d in self.options if d.name == name))


def parse(args: Sequence[str], options: tuple[Declared, ...] | None = None) -> RunArgs:
    """``aicarbon run``'s arguments (those after ``run``; ``options``: another command's, as
    ``serve``'s); ``UsageError`` for a bad one."""
    options = OPTIONS if options is None else options
    longs = {d.flag: d for d in options if d.flag}
    shorts = {d.short: d for d in options if d.short}
    parsed = RunArgs(options)
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            parsed.command = list(args[i + 1 :])
            return parsed
        if token == "--help":
            parsed.help = True
            return parsed
        if token.startswith("--"):
            name, has_value, inline = token.partition("=")
            declared = longs.get(name)
            if declared is None:
                raise UsageError(_no_such_option(name, list(longs)))
            if declared.kind is bool:
                if has_value:
                    raise UsageError(f"option '{name}' does not take a value.")
                _take(parsed, declared, name, True)
                i += 1
                continue
            if has_value:
                value, i = inline, i + 1
            elif i + 1 < len(args):
                value, i = args[i + 1], i + 2
            else:
                raise UsageError(f"option '{name}' requires an argument.")
            _take(parsed, declared, name, value)
            if declared.name == "module":
                parsed.command = list(args[i:])
                return parsed
            continue
        if token.startswith("-") and token != "-":
            i += 1
            for j, letter in enumerate(token[1:], start=1):
                declared = shorts.get(f"-{letter}")
                if declared is None:
                    raise UsageError(_no_such_option(f"-{letter}", list(longs)))
                if declared.kind is bool:
                    _take(parsed, declared, f"-{letter}", True)
                    continue
                if j + 1 < len(token):  # -mpkg.mod: the rest of the word is the value
                    value = token[j + 1 :]
                elif i < len(args):
                    value, i = args[i], i + 1
                else:
                    raise UsageError(f"option '-{letter}' requires an argument.")
                _take(parsed, declared, f"-{letter}", value)
                if declared.name == "module":
                    parsed.command = list(args[i:])
                    return parsed
                break
            continue
        parsed.command = list(args[i:])  # the first word that is not an option: the command
        return parsed
    return parsed


def _take(parsed: RunArgs, declared: Declared, spelt: str, value: Any) -> None:
    if declared.name == "save":  # --no-save
        parsed.given["save"] = False
    elif declared.kind is bool:
        parsed.given[declared.name] = True
    elif declared.kind is float:
        try:
            parsed.given[declared.name] = float(value)
        except ValueError:
            raise UsageError(f"invalid value for '{spelt}': {value!r} is not a valid float.") from None
    elif declared.kind == "repeat":
        parsed.given[declared.name] = (*parsed.given.get(declared.name, ()), value)
    elif declared.kind == "names":
        parsed.given[declared.name] = frozenset(n.strip().lower() for n in value.split(",") if n.strip())
    else:
        parsed.given[declared.name] = value


def _no_such_option(name: str, known: list[str]) -> str:
    import difflib  # only for a mistyped option

    close = difflib.get_close_matches(name, known, n=3)
    message = f"no such option: {name}"
    if close:
        message += f" (possible options: {', '.join(sorted(close))})"
    return message + "; a command that starts with '-' goes after --"


def _number(value: float) -> str:
    return f"{value:.0e}".replace("e+", "e") if value >= 1e6 else f"{value:g}"


def help_text(
    width: int = 80,
    options: tuple[Declared, ...] | None = None,
    usage: str = USAGE,
    summary: str = SUMMARY,
    status: str = "Exits with the command's own exit status.",
) -> str:
    """``aicarbon run --help`` (or another command's, as ``serve``'s), wrapped to ``width``."""
    import textwrap

    lines = [f"Usage: {usage}", "", summary, "", status, "", "Options:"]
    for d in OPTIONS if options is None else options:
        names = f"{d.short}, {d.flag}" if d.short else f"    {d.flag}"
        names += f" {d.metavar}" if d.metavar else ""
        shown = d.shown_default.strip("`")
        default = f" [default: {shown}]" if shown and d.kind is not bool else ""
        text = textwrap.wrap(_plain(d.help) + default, width - 25) or [""]
        if len(names) > 22:  # a long name: its help on the next line
            lines.append(f"  {names}")
            names = ""
        lines.append(f"  {names:<22} {text[0]}")
        lines += [" " * 25 + more for more in text[1:]]
    lines.append(f"  {'    --help':<22} Show this message and exit.")
    return "\n".join(lines) + "\n"


def _plain(text: str) -> str:
    """The table's Markdown, as a terminal shows it."""
    if "](" in text:  # a link: keep its text
        start, rest = text.split("[", 1)
        label, after = rest.split("](", 1)
        text = start + label + after.split(")", 1)[1]
    return text.replace("`", "")


def options_table() -> str:
    """The README's table of ``aicarbon run``'s options (a test keeps the README equal to it)."""
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for d in OPTIONS:
        names = f"`{d.short}`, `{d.flag}`" if d.short else f"`{d.flag}{' ' + d.metavar if d.metavar else ''}`"
        if d.short and d.metavar:
            names = f"`{d.short} {d.metavar}`, `{d.flag} {d.metavar}`"
        meaning = d.help
        if d.numeric and d.high:
            meaning += f" ({_number(d.low)} to {_number(d.high)})"
        env = f"; `{d.env}`" if d.env else ""
        rows.append(f"| {names} | {d.shown_default} | {meaning}{env} |")
    return "\n".join(rows) + "\n"


# -- the run -----------------------------------------------------------------------------------------


def main(args: Sequence[str], closed_fds: frozenset[int] = frozenset()) -> int:
    """``aicarbon run ARGS``; the exit status (the command's own, or 2 for a bad command line)."""
    from aicarbon.cli.streams import say

    try:
        return _run(args, closed_fds)
    except AicarbonError as exc:  # the user's problem, not a bug: its sentence and its status
        say(str(exc))
        return exc.status


def _run(args: Sequence[str], closed_fds: frozenset[int]) -> int:
    from contextlib import closing

    from aicarbon.cli.streams import say
    from aicarbon.measurement.process_tree import open_tree

    parsed = parse(args)
    if parsed.help:
        sys.stdout.write(help_text())
        return 0
    # First of all, so that entering the command's cgroup (some 20 ms of kernel time) overlaps
    # what follows; closed by measure_command, or here when the run stops at a bad option.
    with closing(open_tree()) as tree:
        from aicarbon import engine

        argv = engine.resolve_command(parsed.command, parsed.get("module"))
        if not argv:
            raise AicarbonError(
                "no command given; usage: aicarbon run [OPTIONS] COMMAND [ARGS]... or -m MODULE"
            )
        settings = engine.RunSettings(
            **{k: v for k, v in parsed.given.items() if k not in CLI_ONLY_NAMES},
            spelling="flag",
        )
        outputs = checked_outputs(parsed, closed_fds)
        prepared = engine.prepare(settings)  # everything checked before the command runs
        quiet = bool(parsed.get("quiet"))

        def meanwhile() -> None:  # while the command runs: what its report and record need
            engine.warm_up(prepared, report=not quiet, save=settings.save)
            from aicarbon.cli import deliver  # noqa: F401

        timeout_s = check_number("--job-timeout", parsed.get("job_timeout_s"), 0.0, 86400.0)
        job = _job(parsed) if any(v in os.environ for v in LAUNCHER_MARKERS) else None
        if job is None:
            measured = engine.measure_command(argv, prepared, tree=tree, meanwhile=meanwhile)
            record, status = measured.record, measured.exit_status
        else:
            from aicarbon.job.rank import run_job_rank

            launch, job_dir = job
            outcome = run_job_rank(argv, prepared, launch, job_dir, timeout_s, tree, meanwhile)
            for line in outcome.lines:
                say(line)
            # node_exporter runs on every node: each node's own figures go to its textfile.
            if outputs.textfile is not None and outcome.node_record is not None:
                _write_metrics(outcome.node_record, outputs.textfile)
                outputs = outputs._replace(textfile=None)
            if outcome.record is None:  # another rank reports the job
                return outcome.exit_status
            record, status = outcome.record, outcome.exit_status
    deliver_all(record, outputs, quiet, settings.save)
    return status


class Outputs(NamedTuple):
    """Where a measured run goes besides the report (None: not asked for)."""

    json: Path | None
    emissions_csv: Path | None
    textfile: Path | None


def checked_outputs(parsed: RunArgs, closed_fds: frozenset[int]) -> Outputs:
    """``--json``, ``--emissions-csv`` and ``--prometheus-textfile``, each refused before the
    command runs when it cannot be written whatever happens."""
    outputs = Outputs(
        _path(parsed, "json"), _path(parsed, "emissions_csv"), _path(parsed, "prometheus_textfile")
    )
    if outputs.json is not None:
        from aicarbon.records.output_file import check_writable

        check_writable(outputs.json, closed_fds, what="--json")
    if outputs.emissions_csv is not None:
        from aicarbon.report.emissions_csv import check_target

        check_target(outputs.emissions_csv)
    if outputs.textfile is not None:
        from aicarbon.report.metrics import check_textfile

        check_textfile(outputs.textfile)
    return outputs


def deliver_all(record: Run, outputs: Outputs, quiet: bool, save: bool) -> None:
    """The report, the record and the rows and metrics asked for, then the history; each
    failure one line, never the run."""
    from aicarbon.cli.deliver import deliver

    deliver(record, outputs.json, quiet)
    if outputs.emissions_csv is not None:
        _append_row(record, outputs.emissions_csv, quiet)
    if outputs.textfile is not None:
        _write_metrics(record, outputs.textfile)
    if save:
        _save(record, quiet, only_copy=quiet and outputs.json is None)


# A launcher's rank variable (job.launcher): only then is the job's code imported.
LAUNCHER_MARKERS = ("LOCAL_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")


def _job(parsed: RunArgs) -> tuple[Launch, Path] | None:
    """This rank's job: its launch and directory; None (a plain run, said in one line when the
    launcher's variables are there but unusable)."""
    from aicarbon.cli.streams import say
    from aicarbon.job.launcher import LaunchError, detect
    from aicarbon.job.rank import job_directory

    try:
        launch = detect(os.environ)
    except LaunchError as exc:
        say(f"inconsistent launcher variables ({exc}): this rank is measured alone")
        return None
    if launch is None:
        return None
    job_dir = job_directory(launch, parsed.get("job_dir"), os.environ, Path.cwd())
    if job_dir is None:
        say(f"{launch.launcher} names no job: pass --job-dir DIR (one per job); this rank is measured alone")
        return None
    return launch, job_dir


def _path(parsed: RunArgs, name: str) -> Path | None:
    """A path option's value (None: not given)."""
    given = parsed.get(name)
    return Path(given) if given is not None else None


def _append_row(record: Run, path: Path, quiet: bool) -> None:
    """The run's row in codecarbon's emissions.csv; a file that cannot take it costs one line,
    never the run (the record is in the history, or where --json said)."""
    from aicarbon.cli.streams import say
    from aicarbon.report import emissions_csv

    try:
        generation = emissions_csv.append(path, emissions_csv.row(record))
    except AicarbonError as exc:
        say(f"emissions.csv: {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - a bug here must not cost the exit status or the run
        say(f"emissions.csv: no row appended to {path} (an aicarbon bug: {exc!r})")
        return
    if not quiet:
        say(f"appended a row to {path} ({generation} columns)")


def _write_metrics(record: Run, path: Path) -> None:
    """The run in node_exporter's textfile; a failure is one line, never the run."""
    from aicarbon.cli.streams import say
    from aicarbon.report.metrics import write_textfile

    try:
        write_textfile(path, record)
    except OSError as exc:
        say(f"--prometheus-textfile: could not write {path} ({exc.strerror or exc}); the run is kept")
    except Exception as exc:  # noqa: BLE001 - a bug here must not cost the exit status or the run
        say(f"--prometheus-textfile: could not write {path} (an aicarbon bug: {exc!r})")


def _save(record: Run, quiet: bool, only_copy: bool) -> None:
    """Into the local history; a history that cannot take it costs one line, never the run:
    where the history was to be its only copy (``-q`` without ``--json``), the record is saved
    in the temporary directory instead, as a ``--json`` that cannot be written is."""
    from aicarbon import engine
    from aicarbon.cli.deliver import rescue
    from aicarbon.cli.streams import say

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
