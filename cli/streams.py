"""aicarbon's own standard streams: never a reason to fail.

The command's exit status must survive whatever happened to aicarbon's stdout and stderr: a
pipe whose reader left (``aicarbon run ... 2>&1 | head -1``), a stream closed by the caller
(``2>&-``), a full disk. Writes to such a stream are dropped, silently: there is nowhere left
to say so.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

STD_FDS = (0, 1, 2)


def reserve_std_fds() -> frozenset[int]:
    """Open ``/dev/null`` on each of descriptors 0-2 that is closed; return which were.

    Without this, the next file aicarbon opens (``/proc/stat``, a GPU device) would become
    descriptor 2, and the command would inherit it as its stderr. ``os.open`` makes the
    placeholders close-on-exec (PEP 446), so the command still finds those streams closed.
    """
    closed = set()
    for fd in STD_FDS:
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
    for fd in sorted(closed):
        placeholder = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: ``fd``
        if placeholder != fd:  # pragma: no cover - only if a lower one was opened meanwhile
            os.dup2(placeholder, fd, inheritable=False)
            os.close(placeholder)
    return frozenset(closed)


class GuardedStream:
    """A text stream whose ``write`` and ``flush`` never raise: after the first failure
    (EPIPE, EBADF, ENOSPC, a closed file) everything written to it is dropped."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.broken = stream is None

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)  # type: ignore[union-attr]
            except (OSError, ValueError):
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()  # type: ignore[union-attr]
            except (OSError, ValueError):
                self.broken = True

    def isatty(self) -> bool:
        try:
            return not self.broken and self._stream.isatty()  # type: ignore[union-attr]
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self._stream is None:
            raise OSError("stream is closed")
        return self._stream.fileno()

    def __getattr__(self, name: str) -> Any:  # encoding, errors, buffer...
        if self._stream is None:
            if name == "encoding":
                return "utf-8"
            raise AttributeError(name)
        return getattr(self._stream, name)


def guard_std_streams() -> None:
    """Replace ``sys.stdout`` and ``sys.stderr`` by guarded ones (``None`` when Python found
    the descriptor closed at start-up becomes a stream that drops everything)."""
    if not isinstance(sys.stdout, GuardedStream):
        sys.stdout = GuardedStream(sys.stdout)
    if not isinstance(sys.stderr, GuardedStream):
        sys.stderr = GuardedStream(sys.stderr)


def flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def say(message: str) -> None:
    """One line from aicarbon on stderr, with anything untrusted in it made visible."""
    from aicarbon.report.escape import visible

    sys.stderr.write(f"aicarbon: {visible(message)}\n")
    sys.stderr.flush()
