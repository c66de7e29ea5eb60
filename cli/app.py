"""The ``aicarbon`` command line: the registry of commands, and its one entry, ``run_cli``.

Each command lives in a module of its own (``run_command``, ``gate``, ``history``, ``machine``,
``info``) that imports nothing from here; this module registers the functions they mark with
``common.command`` and parses everything but ``run``, which ``run_command`` parses itself (see
its notes) and which the entry point hands there before typer is even imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Annotated

import typer
from aicarbon import __version__
from aicarbon.cli import gate, history, info, machine, merge, run_command, serve_command
from aicarbon.cli.common import COMMAND_MARK
from aicarbon.cli.streams import say
from aicarbon.errors import AicarbonError

app = typer.Typer(
    name="aicarbon",
    help="Measure the energy of a command (CPU via RAPL, GPU via NVML, RAM) and report it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


@app.command(
    help=run_command.SUMMARY + " Exits with the command's own exit status ('aicarbon run --help').",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
def run(ctx: typer.Context) -> None:
    """Listed here for 'aicarbon --help'; run_cli hands 'run' to run_command first."""
    raise typer.Exit(run_command.main(ctx.args))  # pragma: no cover - run_cli routes before typer


@app.command(
    help=serve_command.SUMMARY + " ('aicarbon serve --help').",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
def serve(ctx: typer.Context) -> None:
    """Listed here for 'aicarbon --help'; run_cli hands 'serve' to serve_command first."""
    raise typer.Exit(serve_command.main(ctx.args))  # pragma: no cover - run_cli routes before typer


def _register(module: ModuleType) -> None:
    for value in vars(module).values():
        mark = getattr(value, COMMAND_MARK, None)
        if mark is not None and callable(value):
            name, settings = mark
            app.command(name, **settings)(value)


for _module in (info, gate, history, machine, merge):
    _register(_module)
app.add_typer(gate.baseline_app, name="baseline")
app.add_typer(history.history_app, name="history")


def run_cli(args: Sequence[str], closed_fds: frozenset[int] = frozenset()) -> int:
    """Parse and run one aicarbon command line; the exit status. Usage errors are one line and
    status 2, whatever click would print."""
    args = list(args)
    if args[:1] == ["run"]:
        return run_command.main(args[1:], closed_fds)
    if args[:1] == ["serve"]:
        return serve_command.main(args[1:], closed_fds)
    command = typer.main.get_command(app)
    try:
        status = command.main(args=args, prog_name="aicarbon", standalone_mode=False)
    except AicarbonError as exc:  # the user's problem, not a bug: its sentence and its status
        say(str(exc))
        return exc.status
    except typer.Abort:
        return 130
    except Exception as exc:
        # Click's own errors (a usage error, a bad value) carry a message and a status; they are
        # recognised by those, not by class, since typer has vendored click as a private module.
        if not (hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)):
            raise
        return _click_error(exc)
    return status if isinstance(status, int) else 0


def _click_error(exc: Exception) -> int:
    message = exc.format_message()  # type: ignore[attr-defined]
    status: int = exc.exit_code  # type: ignore[attr-defined]
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help was the answer: already shown
        if message.strip():
            typer.echo(message, err=True)
        return status
    context = getattr(exc, "ctx", None)
    if hasattr(exc, "ctx"):  # a usage error: where to look
        where = f"aicarbon {context.info_name} --help" if context and context.parent else "aicarbon --help"
        say(f"{_sentence(message)} (see '{where}')")
    else:
        say(_sentence(message))
    return status


def _sentence(message: str) -> str:
    """Click's message on one line, in aicarbon's lower case ("no such option", "(possible")."""
    message = " ".join(message.split()).replace("(Possible options:", "(possible options:")
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        return message[0].lower() + message[1:]
    return message
