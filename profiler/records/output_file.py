"""Write a file the user named, without harming what is already there.

* A regular file (or a name that does not exist yet) is replaced atomically: the text goes to a
  uniquely named temporary file in the same directory, which is renamed over the target only
  once it is complete. Parallel writers never share a temporary name; a failed write (a full
  disk) removes its temporary file and leaves the old file as it was. A file that existed keeps
  its permission bits; a new one gets the usual ``0666 & ~umask``. A writable file in a
  directory where no file may be created is written in place.
* A symbolic link is followed: its final target is written (atomically when it is a regular
  file); the link itself stays.
* Anything else is written through, never replaced: a FIFO, a character device
  (``/dev/full``, a terminal), a regular file with other hard links (so that every name sees the
  new text), and the standard streams ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``,
  ``/proc/self/fd/N`` and ``-`` (standard output), which are written on aicarbon's own
  descriptor.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..errors import AicarbonError

_STD_NAMES = {"-": 1, "/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_FD_PATH = re.compile(r"^/(?:dev/fd|proc/self/fd)/(\d+)$")


class OutputPathError(AicarbonError, ValueError):
    """A path that can never be written (checked before a command runs)."""


def std_descriptor(path: Path | str) -> int | None:
    """The descriptor a path names when it is a standard stream (``-``, ``/dev/stdout``...)."""
    text = os.fspath(path)
    if text in _STD_NAMES:
        return _STD_NAMES[text]
    match = _FD_PATH.match(text)
    return int(match.group(1)) if match else None


def check_writable(path: Path, closed_fds: frozenset[int] = frozenset(), what: str = "") -> None:
    """Refuse, before any work is done, a path that cannot be written whatever happens;
    ``what`` (an option's name) starts the sentence."""
    try:
        _check_writable(path, closed_fds)
    except OutputPathError as exc:
        raise OutputPathError(f"{what}: {exc}" if what else str(exc)) from None


def _check_writable(path: Path, closed_fds: frozenset[int]) -> None:
    fd = std_descriptor(path)
    if fd is not None:
        try:
            os.fstat(fd)
        except OSError:
            raise OutputPathError(f"cannot write {path}: descriptor {fd} is not open") from None
        if fd in closed_fds:
            raise OutputPathError(f"cannot write {path}: that stream was closed when aicarbon started")
        return
    if path.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a directory")
    target = Path(os.path.realpath(path))
    if target.exists():
        if not (os.access(target, os.W_OK) or os.access(target.parent, os.W_OK)):
            raise OutputPathError(f"cannot write {path}: permission denied")
    elif not target.parent.is_dir():
        raise OutputPathError(f"cannot write {path}: directory {target.parent} does not exist")
    elif not os.access(target.parent, os.W_OK):
        raise OutputPathError(f"cannot write {path}: directory {target.parent} is not writable")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as described in the module's docstring; raises OSError."""
    data = text.encode("utf-8")
    fd = std_descriptor(path)
    if fd is not None:
        _write_all(fd, data)
        return
    try:
        info = os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        info = None
    if info is not None and (not stat.S_ISREG(info.st_mode) or info.st_nlink > 1):
        _write_through(path, data, truncate=stat.S_ISREG(info.st_mode))
        return
    _replace_atomically(Path(os.path.realpath(path)), data, info)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_through(path: Path, data: bytes, *, truncate: bool) -> None:
    flags = os.O_WRONLY | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _temporary_beside(target: Path) -> tuple[int, Path]:
    """A new file with a unique name in the target's directory (O_EXCL: never shared)."""
    while True:
        path = target.with_name(f".{target.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileExistsError:  # pragma: no cover - 32 random bits and our pid collided
            continue


def _replace_atomically(target: Path, data: bytes, existing: os.stat_result | None) -> None:
    try:
        fd, tmp_name = _temporary_beside(target)
    except PermissionError:
        if existing is None:
            raise
        # A writable file in a directory we may not create files in: write it in place.
        _write_through(target, data, truncate=True)
        return
    try:
        try:
            _write_all(fd, data)
            os.fchmod(fd, stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_umask())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc, 4.7+)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - older kernels and other systems
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover
