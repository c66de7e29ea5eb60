"""Start the measured command, forward signals to it, and turn its end into an exit status.

* stdin, stdout and stderr are inherited, never captured.
* Exit status: the child's own; ``128 + N`` when signal N killed it (the shell's convention,
  so Ctrl-C gives 130 and SIGTERM 143); 127 when the command does not exist, 126 when it
  cannot be executed.
* Signals: SIGTERM is always forwarded. SIGINT, SIGQUIT and SIGHUP are forwarded unless
  aicarbon is in the terminal's foreground process group: there the terminal already sent the
  same signal to the whole group, child included, and a second copy would interrupt the
  child's own clean-up.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import NamedTuple

from ..errors import AicarbonError

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_TERMINAL_SIGNALS = {signal.SIGINT, signal.SIGQUIT, signal.SIGHUP}
_PR_SET_CHILD_SUBREAPER = 36


class CommandError(AicarbonError):
    """The command could not be started: a message for the user and the status to exit with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ChildExit(NamedTuple):
    status: int  # what aicarbon exits with
    returncode: int | None  # the child's exit code, None when a signal killed it
    signal: int | None  # the signal that killed it
    received_signal: int | None  # the first signal aicarbon itself received, if any


def spawn(
    argv: Sequence[str],
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start the command; ``env`` adds variables to aicarbon's environment, ``pass_fds`` are
    inherited (the phase channel)."""
    if not argv:
        raise CommandError("no command given", 2)
    if cwd is not None and not os.path.isdir(cwd):
        raise CommandError(f"{cwd}: no such directory", 2)
    try:
        environ = {**os.environ, **env} if env else None
        return subprocess.Popen(list(argv), cwd=cwd, env=environ, pass_fds=tuple(pass_fds))  # noqa: S603
    except FileNotFoundError:
        if os.sep in argv[0] and os.path.exists(argv[0]):
            # The file is there but its interpreter (#! line) is not.
            raise CommandError(f"{argv[0]}: cannot execute: interpreter not found", 126) from None
        raise CommandError(f"{argv[0]}: command not found", 127) from None
    except PermissionError:
        raise CommandError(f"{argv[0]}: permission denied (not executable)", 126) from None
    except OSError as exc:  # ENOEXEC and friends
        raise CommandError(f"{argv[0]}: cannot execute: {exc.strerror}", 126) from None


def exit_status(returncode: int) -> int:
    """A Popen/waitpid return code to a shell-style exit status."""
    return 128 - returncode if returncode < 0 else returncode


def _in_terminal_foreground() -> bool:
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def become_subreaper() -> bool:
    """Ask Linux to re-parent our orphaned descendants to us rather than to init, so a
    grandchild whose parent exits stays in the measured tree. False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols include libc's: no find_library (it runs ldconfig).
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class SignalForwarder:
    """Forwards signals aicarbon receives to the child while it runs."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        self.received: int | None = None
        self._lock = threading.RLock()  # the handler may run inside attach(), on the same thread

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._child = child
            pending, self._pending = self._pending, []
        for signum in pending:
            self._send(signum)

    def handle(self, signum: int, _frame: FrameType | None = None) -> None:
        if self.received is None:
            self.received = signum
        with self._lock:
            if self._child is None:  # not started yet: the terminal could not reach it
                self._pending.append(signum)
                return
        if signum in _TERMINAL_SIGNALS and _in_terminal_foreground():
            return  # the terminal delivered it to the child already
        self._send(signum)

    def _send(self, signum: int) -> None:
        child = self._child
        if child is not None and child.returncode is None:
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass

    @contextmanager
    def installed(self) -> Iterator[SignalForwarder]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signal handlers can only be set from the main thread
            return
        previous = {s: signal.getsignal(s) for s in FORWARDED}
        for s in FORWARDED:
            signal.signal(s, self.handle)
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def wait(
    child: subprocess.Popen[bytes], forwarder: SignalForwarder, *, reap_orphans: bool = False
) -> ChildExit:
    """Wait for the child to exit. With ``reap_orphans`` (aicarbon is a child subreaper),
    every descendant re-parented to aicarbon is reaped the moment it exits, so that none stays
    a zombie and its CPU time is accounted at once."""
    while True:
        try:
            pid, raw = os.waitpid(-1 if reap_orphans else child.pid, 0)
        except ChildProcessError:  # reaped elsewhere: Popen knows its code
            raw = None
            break
        except InterruptedError:
            continue
        if pid == child.pid:
            break
    if raw is None:
        returncode = child.wait()
    else:
        returncode = os.waitstatus_to_exitcode(raw)
        child.returncode = returncode
    killed_by = -returncode if returncode < 0 else None
    return ChildExit(
        status=exit_status(returncode),
        returncode=None if killed_by else returncode,
        signal=killed_by,
        received_signal=forwarder.received,
    )


@contextmanager
def stop_on_signal() -> Iterator[list[int]]:
    """While aicarbon waits with nothing running (a job's other nodes, a served model's window):
    SIGINT and SIGTERM are added to the list, for the waiter to stop and deliver what it has,
    instead of ending the process before its measurement is delivered."""
    received: list[int] = []
    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, _frame: received.append(signum)) for s in watched}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
