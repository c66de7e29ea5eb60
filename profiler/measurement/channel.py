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
    {"e": "units", "n": 32, "unit": "output tokens"}

Each line is one ``write`` of less than PIPE_BUF bytes, so lines from several threads or
processes never interleave. The parent reads them in a thread and takes a sample at each
boundary (``PhaseBook``): a phase's edges are where the parent read them, tens of microseconds
after the child wrote them.

Lines are untrusted, and the reader survives whatever arrives (any bytes, any size, any rate,
any JSON): a line longer than ``MAX_LINE`` is dropped, and so is one that is not an event
this version knows (counted in ``ignored``); names are cut to 200 characters and escaped
where shown; a unit count must be a number from 0 to ``phases.MAX_UNITS``; at most
``phases.MAX_OPEN`` phases are open at once. Only the parent can stop the reader (with a
random token that no child sees). The writer never waits for the reader: it opens the pipe
without blocking (no reader: nothing to do), and an event that finds the pipe full (1 MB,
some 16,000 events behind) is dropped. Without the variable (code run outside aicarbon),
or once aicarbon stopped reading, the calls do nothing.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from typing import Any

from .phases import PhaseBook, countable

CHANNEL_ENV = "AICARBON_CHANNEL"
MAX_LINE = 512  # below PIPE_BUF (4096 on Linux): one atomic write
MAX_NAME = 200
MAX_KEY = 64  # characters of a phase's id
PIPE_SIZE = 1 << 20  # room for some 16,000 events behind the reader (Linux's unprivileged maximum)
READ_CHUNK = 1 << 16


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


def temporary_roots(environ: dict[str, str] | None = None) -> list[str]:
    """Where temporary files go, in tempfile's order: $TMPDIR, $TEMP, $TMP, then /tmp,
    /var/tmp, /usr/tmp (tempfile itself costs a millisecond of every run's start-up)."""
    env = os.environ if environ is None else environ
    named = [env[v] for v in ("TMPDIR", "TEMP", "TMP") if env.get(v)]
    return [*named, "/tmp", "/var/tmp", "/usr/tmp"]  # noqa: S108 - tempfile's own list


def private_directory(prefix: str) -> str:
    """A new directory only this user can enter, in the first temporary root that takes one,
    as tempfile.mkdtemp makes it (``OSError`` when none does)."""
    last: OSError = FileNotFoundError(errno.ENOENT, "no temporary directory")
    for root in temporary_roots():
        for _ in range(100):
            path = os.path.join(root, prefix + os.urandom(6).hex())
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except OSError as exc:  # read-only, missing, not ours: the next root
                last = exc
                break
            return os.path.abspath(path)
    raise last


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
        _write_without_waiting(fd, line.encode())
    except OSError:
        pass  # measuring must never break the measured code
    finally:
        os.close(fd)


def _write_without_waiting(fd: int, data: bytes) -> None:
    """One atomic write (``data`` is under PIPE_BUF) on a non-blocking pipe. A full pipe (a
    reader thousands of events behind, or stopped) drops the event: the measured code never
    waits for aicarbon."""
    try:
        os.write(fd, data)
    except BlockingIOError:
        pass


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
        self._dir = private_directory(CHANNEL_PREFIX)
        self.path = os.path.join(self._dir, "events")
        os.mkfifo(self.path, 0o600)
        self._read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(self._read_fd, True)
        try:  # a larger pipe: bursts of events wait in it rather than being dropped
            fcntl.fcntl(self._read_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
        except OSError:
            pass  # above /proc/sys/fs/pipe-max-size: the default 64 kB
        # Held open so that the reader never sees the end of the pipe between writers.
        self._keep_fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        # Not JSON, and secret: no child can stop the reader by writing it.
        self._stop_line = b"\x00stop " + os.urandom(16).hex().encode()
        self._thread = threading.Thread(target=self._read, name="aicarbon-channel", daemon=True)
        self.ignored = 0  # lines dropped: too long, not JSON, not an event, out of bounds
        self.failure: str | None = None  # a bug in the reader (it then drains and drops)

    @property
    def child_env(self) -> dict[str, str]:
        return {CHANNEL_ENV: f"fifo:{self.path}"}

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout_s: float = 2.0) -> None:
        """Read what is in flight, stop, clean up, and end the phases left open."""
        if self._keep_fd >= 0:
            try:
                os.write(self._keep_fd, self._stop_line + b"\n")
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
        fd = self._read_fd
        try:
            self._read_lines(fd)
        except Exception as exc:  # noqa: BLE001 - a bug here must not hang the measured command
            self.failure = f"{type(exc).__name__}: {exc}"
            self._drain(fd)
        finally:
            os.close(fd)

    def _read_lines(self, fd: int) -> None:
        """Split the stream into lines of at most ``MAX_LINE`` bytes; longer ones are skipped
        to their end without being kept (memory stays bounded whatever a child writes)."""
        pending = b""
        skipping = False  # inside a line already too long
        while True:
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                return  # every writer gone (cannot happen while _keep_fd is open)
            lines = chunk.split(b"\n")
            for i, piece in enumerate(lines):
                last = i == len(lines) - 1
                if skipping:
                    if not last:
                        skipping = False  # the long line ends here
                    continue
                pending += piece
                if last:
                    if len(pending) > MAX_LINE:
                        self.ignored += 1
                        pending, skipping = b"", True
                    break
                line, pending = pending, b""
                if line == self._stop_line:
                    return
                self._take(line)

    def _drain(self, fd: int) -> None:
        """After a reader bug: keep the pipe empty (writers never wait) until the stop line."""
        tail = b""
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError:
                return
            if not chunk or self._stop_line in tail + chunk:
                return
            tail = chunk[-len(self._stop_line) :]

    def _take(self, raw: bytes) -> None:
        if len(raw) > MAX_LINE:
            self.ignored += 1
            return
        try:
            event = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, a number of 5,000 digits
            self.ignored += 1
            return
        try:
            if not (isinstance(event, dict) and self.handle(event)):
                self.ignored += 1
        except Exception:  # noqa: BLE001 - a sampling hiccup loses one event, not the channel
            self.ignored += 1

    def handle(self, event: dict[str, Any]) -> bool:
        """Apply one event; False when it is not one this version knows, or out of bounds."""
        kind = event.get("e")
        if kind == "units":
            n, unit = event.get("n"), event.get("unit")
            if unit is not None and not isinstance(unit, str):
                return False
            return countable(n) and self.book.add_units(float(n), unit)
        key = _key(event)
        if key is None:
            return False
        if kind == "start" and isinstance(event.get("name"), str):
            return self.book.start(key, event["name"][:MAX_NAME])
        if kind == "end":
            failed = event.get("failed")
            self.book.end(key, failed[:MAX_NAME] if isinstance(failed, str) and failed else None)
            return True
        return False


def _key(event: dict[str, Any]) -> tuple[int, str] | None:
    """A phase's key: the writer's PID and the phase's id (both checked: a key is hashed)."""
    pid, ident = event.get("pid"), event.get("id")
    if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 1 << 32:
        if isinstance(ident, str) and len(ident) <= MAX_KEY:
            return pid, ident
    return None
