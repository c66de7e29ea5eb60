"""The ``aicarbon`` executable's entry point, kept import-light on purpose.

Everything here runs before typer, click and rich are imported (about 50 ms), so that:

* a Ctrl-C while no command is being measured (start-up, the report) ends aicarbon at once,
  quietly, with status 130: no traceback, and no "Exception ignored" from a callback the
  interrupt happened to land in (while a command runs, the signal forwarder takes over);
* standard streams that were closed (``2>&-``, ``>&-``) are held by ``/dev/null`` placeholders,
  so that no file aicarbon opens can land on descriptor 0, 1 or 2 and be inherited by the
  command as its stdin, stdout or stderr. The placeholders are close-on-exec: the command sees
  its streams exactly as the user arranged them, closed ones closed;
* aicarbon's own writes to a stream that is closed, full or a broken pipe (``| head -1``) are
  dropped instead of raising: the exit status is always the command's own.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from aicarbon.cli.streams import flush_std_streams, guard_std_streams, reserve_std_fds


def _interrupted(_signum: int, _frame: FrameType | None) -> None:
    os._exit(130)  # nothing measured is in flight: the forwarder handles SIGINT during a run


def main() -> None:
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # ignored by our parent: keep so
            signal.signal(signal.SIGINT, _interrupted)
        closed = reserve_std_fds()
        guard_std_streams()
        if sys.argv[1:2] == ["run"]:  # the measured path: no typer, no other command's code
            from aicarbon.cli.run_command import main as run

            status = run(sys.argv[2:], closed)
        else:
            from aicarbon.cli.app import run_cli

            status = run_cli(sys.argv[1:], closed_fds=closed)
    except KeyboardInterrupt:
        status = 130
    flush_std_streams()
    # Everything is written: skip the interpreter's teardown (40-60 ms of module clean-up),
    # part of the wall time aicarbon adds to every measured command.
    os._exit(status)


if __name__ == "__main__":
    main()
