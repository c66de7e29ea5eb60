"""What every command module shares, without importing the registry (``app``): the one-line
failure, and the mark that registers a function as a command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
from aicarbon.cli.streams import say

F = TypeVar("F", bound=Callable[..., Any])
COMMAND_MARK = "__aicarbon_command__"


def fail(message: str, status: int = 2) -> typer.Exit:
    """Print one clear line on stderr (escaped: it may quote user input); the caller raises
    the returned Exit."""
    say(message)
    return typer.Exit(status)


def command(name: str | None = None, **settings: Any) -> Callable[[F], F]:
    """Mark a function as an ``aicarbon`` command (``settings``: typer's ``command()``
    arguments); ``cli.app`` registers every marked function of the command modules."""

    def mark(func: F) -> F:
        setattr(func, COMMAND_MARK, (name, settings))
        return func

    return mark
