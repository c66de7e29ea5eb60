"""The ``aicarbon`` executable's entry point, kept import-light on purpose.

Everything here runs before typer, click and rich are imported (about 50 ms), so that:

* a Ctrl-C during start-up ends aicarbon quietly with status 130, never with a traceback;
* standard streams that were closed (``2>&-``, ``>&-``) are held by ``/dev/null`` placeholders,
  so that no file aicarbon opens can land on descriptor 0, 1 or 2 and be inherited by the
  command as its stdin, stdout or stderr. The placeholders are close-on-exec: the command sees
  its streams exactly as the user arranged them, closed ones closed;
* aicarbon's own writes to a stream that is closed, full or a broken pipe (``| head -1``) are
  dropped instead of raising: the exit status is always the command's own.
"""

from __future__ import annotations

import os
import sys

from aicarbon.cli.streams import flush_std_streams, guard_std_streams, reserve_std_fds


def main() -> None:
    try:
        closed = reserve_std_fds()
        guard_std_streams()
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
