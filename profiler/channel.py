"""How code measured by ``aicarbon run`` reports its phases and units to aicarbon.

aicarbon (the parent) makes a named pipe in a private temporary directory and names it in the
child's environment, ``AICARBON_CHANNEL=fifo:PATH``; every descendant inherits the variable,
so a subprocess of the command can report too (a path survives ``close_fds``, a descriptor
would not, and a descriptor number could name an unrelated file in a grandchild). In the
measured code, ``aicarbon.phase()`` and ``aicarbon.add_units()`` with no tracker of their own
write one JSON line per event::

    {"e": "start", "pid": 4242, "id": "140…", "name": "load-model"}
    {"e": "end", "pid": 4242, "id": "140…"}
    {"e": "units", "n": 32}

Each line is one ``write`` of less than PIPE_BUF bytes, so lines from several threads or
processes never interleave. The parent reads them in a thread and takes a sample at each
boundary (``PhaseBook``): a phase's edges are where the parent read them, tens of microseconds
after the child wrote them. Lines are untrusted: malformed ones are ignored, names are cut to
200 characters and escaped where shown. Without the variable (code run outside aicarbon), or
once aicarbon stopped reading, the calls do nothing.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
import threading
import time
from typing import Any

from .phases import PhaseBook

CHANNEL_ENV = "AICARBON_CHANNEL"
MAX_LINE = 512  # below PIPE_BUF (4096 on Linux): one atomic write
MAX_NAME = 200


CHANNEL_PREFIX = "aicarbon-channel-"
STALE_AFTER_S = 60.0  # younger directories may belong to an aicarbon that is still starting


def sweep_stale_channels(directory: str, now: float | None = None) -> int:
    """Remove the channel directories that an aicarbon killed with SIGKILL left behind (it had
    no chance to clean up); how many. A channel is alive while its aicarbon holds the pipe's
    read end: opening it for writing then succeeds, whatever PID namespace that aicarbon is
    in; without a reader the open fails with ENXIO, and the directory is stale."""
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith(CHANNEL_PREFIX)]
    except OSError:
        return 0
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or info.st_uid != os.getuid():
                continue
            if now - info.st_mtime < STALE_AFTER_S:
                continue
            fifo = os.path.join(entry.path, "events")
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    continue
            else:
                os.close(fd)  # a reader is there: alive
                continue
            if os.path.exists(fifo):
                os.unlink(fifo)
            os.rmdir(entry.path)
            removed += 1
        except OSError:
            continue  # another user's, or just removed by its owner: not ours to insist on
    return removed


def send(event: dict[str, Any]) -> None:
    """Child side: report an event to the aicarbon measuring this process, if one is."""
    value = os.environ.get(CHANNEL_ENV, "")
    if not value.startswith("fifo:"):
        return
    line = json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n"
    if len(line) > MAX_LINE:
        return
    try:
        # Non-blocking open: no reader (aicarbon gone) is ENXIO at once, never a hang.
        fd = os.open(value[5:], os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.set_blocking(fd, True)
        os.write(fd, line.encode())
    except OSError:
        pass  # measuring must never break the measured code
    finally:
        os.close(fd)


class NoChannel:
    """Where no named pipe can be made (no writable temporary directory): the command runs
    and is measured as usual; its code's phases and units are not received."""

    def __init__(self, book: PhaseBook, why: str) -> None:
        self.book, self.why = book, why
        self.child_env: dict[str, str] = {}

    def start(self) -> None:
        pass

    def finish(self, timeout_s: float = 2.0) -> None:
        self.book.end_all()


def open_channel(book: PhaseBook) -> ChannelReader | NoChannel:
    try:
        return ChannelReader(book)
    except OSError as exc:
        return NoChannel(book, f"phases and units from the command are not received ({exc.strerror or exc})")


class ChannelReader:
    """Parent side: the named pipe, the child's environment entry, and the reading thread."""

    def __init__(self, book: PhaseBook) -> None:
        self.book = book
        self._dir = tempfile.mkdtemp(prefix=CHANNEL_PREFIX)
        self.path = os.path.join(self._dir, "events")
        os.mkfifo(self.path, 0o600)
        self._read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(self._read_fd, True)
        # Held open so that the reader never sees the end of the pipe between writers.
        self._keep_fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._read, name="aicarbon-channel", daemon=True)
        self.ignored = 0

    @property
    def child_env(self) -> dict[str, str]:
        return {CHANNEL_ENV: f"fifo:{self.path}"}

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout_s: float = 2.0) -> None:
        """Read what is in flight, stop, clean up, and end the phases left open."""
        if self._keep_fd >= 0:
            try:
                os.write(self._keep_fd, b'{"e":"_stop"}\n')
            except OSError:
                pass
            if self._thread.is_alive():
                self._thread.join(timeout_s)
            os.close(self._keep_fd)
            self._keep_fd = -1
            try:
                os.unlink(self.path)
                os.rmdir(self._dir)
            except OSError:
                pass
            # Once the command has ended, not before it starts: a large temporary directory
            # must not delay the measured command.
            sweep_stale_channels(os.path.dirname(self._dir))
        self.book.end_all()

    def _read(self) -> None:
        with os.fdopen(self._read_fd, "rb") as pipe:
            for raw in pipe:
                try:
                    event = json.loads(raw)
                    if event.get("e") == "_stop":
                        return
                    self.handle(event)
                except (ValueError, TypeError, AttributeError):
                    self.ignored += 1

    def handle(self, event: Any) -> None:
        kind = event.get("e")
        key = (event.get("pid"), event.get("id"))
        if kind == "start" and isinstance(event.get("name"), str):
            self.book.start(key, event["name"][:MAX_NAME])
        elif kind == "end":
            self.book.end(key)
        elif kind == "units":
            n = event.get("n")
            if isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) and n >= 0:
                self.book.add_units(n)
            else:
                self.ignored += 1
        else:
            self.ignored += 1
