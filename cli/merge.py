"""``aicarbon merge DIR``: a job's record from its job directory, by hand (after a node that
never reported, or to read a job again)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from aicarbon.cli.common import command, fail
from aicarbon.cli.streams import say


@command()
def merge(
    directory: Annotated[Path, typer.Argument(help="The job's directory (JOB_DIR/job-ID, as the run said).")],
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the job record here (`-` for standard output).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no report.")] = False,
    save: Annotated[bool, typer.Option("--save", help="Also save the job record in the history.")] = False,
) -> None:
    """Merge the parts a job's nodes wrote into one job record, and report it."""
    from aicarbon import engine
    from aicarbon.cli.deliver import deliver
    from aicarbon.job.merge import merge_directory
    from aicarbon.records.codec import RecordError
    from aicarbon.records.output_file import check_writable

    if not directory.is_dir():
        raise fail(f"{directory} is not a directory: give the job's directory (JOB_DIR/job-ID)")
    if json_path is not None:
        check_writable(json_path, what="--json")
    try:
        record, problems = merge_directory(directory)
    except RecordError as exc:
        raise fail(str(exc)) from None
    for line in problems:
        say(line)
    record = engine.finish(record, engine.prepare(engine.RunSettings(), units_later=False))
    deliver(record, json_path, quiet)
    if save:
        run_id = engine.save_to_history(record)
        if not quiet:
            say(f"saved as run {run_id} ('aicarbon show {run_id}')")
