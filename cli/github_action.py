"""The GitHub Action's gate step (action.yml): its inputs, read from the environment the action
sets (``AICARBON_ACTION_*``: never interpolated into a script), turned into one ``aicarbon ab``
or ``aicarbon check`` command line, which then runs here. The gate itself writes the step
summary, the annotations and ``$GITHUB_OUTPUT`` (verdict, ratio) on a runner; the step's exit
status is the gate's.

    baseline            -> aicarbon check --baseline FILE ... -- COMMAND
    base-dir (head-dir) -> aicarbon ab --base-dir DIR --head-dir DIR ... -- COMMAND
    base and head       -> aicarbon ab --base CMD --head CMD ...
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping

PREFIX = "AICARBON_ACTION_"
# input (as the environment names it) -> the gate's flag
FLAGS = {
    "RUNS": "--runs",
    "WARMUP": "--warmup",
    "THRESHOLD": "--threshold",
    "FAIL_ON": "--fail-on",
    "UNITS": "--units",
    "UNIT_NAME": "--unit-name",
    "NAME": "--name",
    "JUNIT_XML": "--junit-xml",
    "MARKDOWN": "--markdown",
}


class ActionInputError(Exception):
    """Inputs that name no gate, or contradict each other (one sentence)."""


def command_line(environ: Mapping[str, str]) -> list[str]:
    """The gate's argv (without ``aicarbon``) for the action's inputs."""

    def given(name: str) -> str:
        return environ.get(PREFIX + name, "").strip()

    try:
        command = shlex.split(given("COMMAND"))
    except ValueError as exc:
        raise ActionInputError(f"the command input is not a list of words ({exc})") from None
    options: list[str] = []
    for name, flag in FLAGS.items():
        if given(name):
            options += [flag, given(name)]
    if given("BASELINE"):
        if given("BASE_DIR") or given("BASE"):
            raise ActionInputError("give baseline, or base-dir, or base and head: not several")
        if not command:
            raise ActionInputError("baseline needs the command to check")
        return ["check", "--baseline", given("BASELINE"), *options, "--", *command]
    if given("BASE_DIR"):
        if given("BASE") or not command:
            raise ActionInputError("base-dir needs the command (and no base input)")
        return ["ab", "--base-dir", given("BASE_DIR"), "--head-dir", given("HEAD_DIR") or ".", *options,
                "--", *command]  # fmt: skip
    if given("BASE") or given("HEAD"):
        if not (given("BASE") and given("HEAD")) or command:
            raise ActionInputError("base and head go together, without the command input")
        return ["ab", "--base", given("BASE"), "--head", given("HEAD"), *options]
    raise ActionInputError("give baseline, or base-dir (with command), or base and head")


def main() -> int:
    from aicarbon.cli.app import run_cli
    from aicarbon.cli.streams import say

    try:
        argv = command_line(os.environ)
    except ActionInputError as exc:
        say(str(exc))
        return 2
    return run_cli(argv)


if __name__ == "__main__":
    sys.exit(main())
