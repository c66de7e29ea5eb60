"""Hand a measured run to the user: the report on stderr, the record where ``--json`` says.

A measurement is never lost to a failure here. The report is rendered first (so that a FIFO
waiting for its reader does not hold it back); then the record is saved. If the record cannot
be written where asked, it is saved to a new file in the temporary directory and the user is
told where; if that fails too, and no report was shown, the record itself is printed on
stderr. None of this changes the exit status, which stays the command's.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from aicarbon.cli.streams import say
from aicarbon.records.run import Run


def deliver(record: Run, json_path: Path | None, quiet: bool) -> None:
    report_error = None if quiet else _render(record)
    shown = not quiet and report_error is None
    saved: Path | None = None
    if json_path is not None:
        try:
            record.save(json_path)
            saved = json_path
        except (OSError, ValueError) as exc:
            saved = _rescue(record, f"could not write {json_path} ({_why(exc)})", shown)
    elif report_error is not None:
        saved = _rescue(record, "the report could not be rendered", shown)
    if report_error is not None and saved is not None:
        say(f"report failed ({report_error!r}); the run record is at {saved}")


def _render(record: Run) -> Exception | None:
    try:
        from aicarbon.report.terminal import make_console, render

        render(record, make_console())
    except Exception as exc:  # noqa: BLE001 - a reporting bug must not lose the run
        return exc
    return None


def _rescue(record: Run, why: str, shown: bool) -> Path | None:
    return rescue(record.to_json(), "run record", why, shown)


def rescue(text: str, what: str, why: str, shown: bool) -> Path | None:
    """Save ``text`` (a ``what``: "run record", "samples") to a new file in the temporary
    directory; None if that fails too, and then, unless already ``shown``, print it on stderr."""
    import tempfile  # only on this rare path: it costs start-up time

    try:
        fd, name = tempfile.mkstemp(prefix=f"aicarbon-{what.split()[0]}-", suffix=".json")
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        say(f"{why}; nor could it be saved in the temporary directory ({_why(exc)})")
        if not shown:
            say(f"the {what} follows, so that it is not lost:")
            sys.stderr.write(text)
        return None
    say(f"{why}; the {what} was saved to {name} instead")
    return Path(name)


def _why(exc: BaseException) -> str:
    """ "No space left on device" for an OSError; the message otherwise."""
    if isinstance(exc, OSError) and exc.strerror:
        code = errno.errorcode.get(exc.errno, "") if exc.errno is not None else ""
        return f"{exc.strerror}, {code}" if code else exc.strerror
    return str(exc) or type(exc).__name__
