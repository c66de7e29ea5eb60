"""The measured process tree's CPU time from a cgroup of its own, where one can be made.

A cgroup counts the CPU time of every process in it, including those that already exited, at
once and exactly: one read, whatever the size of the tree, and no late arrival of a child's
time when its parent reaps it. aicarbon makes a child cgroup of its own cgroup
(``aicarbon-PID-RANDOM``) in the cgroup v2 hierarchy (``cpu.stat``, ``usage_usec``) or else in
the v1 ``cpuacct`` one (``cpuacct.usage``, nanoseconds), moves itself in until it has started
the command, so that the command is born inside and every descendant stays inside, and moves
itself back out. Its own CPU time while inside is subtracted. Each move waits some 10-20 ms on
the kernel (an RCU grace period): both are made in a thread, overlapping aicarbon's start-up
and the command's.

That needs write access to aicarbon's cgroup: root, or a cgroup delegated to the user (for
example under ``systemd-run --user --scope``). Anything else raises ``CgroupUnavailable`` and
the /proc walk of process_tree is used instead.

When the run ends, processes of the tree still running are moved back to aicarbon's own
cgroup, and the child cgroup is removed. Empty cgroups left behind by an aicarbon that was
killed are removed when the next one starts.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

T = TypeVar("T")
PREFIX = "aicarbon-"


class CgroupUnavailable(Exception):
    """No cgroup can be made for the tree here; the reason, in a few words."""


class Hierarchy(NamedTuple):
    version: int  # 2: the unified hierarchy; 1: the cpuacct controller's
    directory: Path  # aicarbon's own cgroup, in the mounted hierarchy

    @property
    def usage_file(self) -> str:
        return "cpu.stat" if self.version == 2 else "cpuacct.usage"

    @property
    def method(self) -> str:
        return "cgroup v2 cpu.stat" if self.version == 2 else "cgroup v1 cpuacct"


def find_hierarchies(mountinfo: str, own_cgroups: str) -> list[Hierarchy]:
    """Where aicarbon's own cgroup is, v2 first, from /proc/self/mountinfo and
    /proc/self/cgroup (passed as text)."""
    paths: dict[str, str] = {}  # "2" or "cpuacct" -> path of our cgroup in that hierarchy
    for line in own_cgroups.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        number, controllers, path = parts
        if number == "0" and controllers == "":
            paths["2"] = path
        elif "cpuacct" in controllers.split(","):
            paths["cpuacct"] = path
    found: list[Hierarchy] = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, mount_point, fstype, options = fields[3], fields[4], tail[0], tail[2].split(",")
        key = (
            "2" if fstype == "cgroup2" else "cpuacct" if fstype == "cgroup" and "cpuacct" in options else None
        )
        if key is None or key not in paths:
            continue
        own = paths[key]
        if own != root and not own.startswith(root.rstrip("/") + "/"):
            continue  # our cgroup is outside what this mount shows
        relative = own[len(root) :].lstrip("/")
        hierarchy = Hierarchy(2 if key == "2" else 1, Path(_unescape(mount_point)) / relative)
        if hierarchy not in found:
            found.append(hierarchy)
    return sorted(found, key=lambda h: -h.version)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TreeCgroup:
    """A cgroup holding the measured tree; ``cpu_seconds`` is one read of its usage."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy
        self.method = hierarchy.method
        self.parent = hierarchy.directory
        self.path = self.parent / f"{PREFIX}{os.getpid()}-{os.urandom(3).hex()}"
        self._remove_stale_siblings()
        try:
            self.path.mkdir()
        except OSError as exc:
            raise CgroupUnavailable(f"cannot create a cgroup in {self.parent} ({exc.strerror})") from None
        try:
            self._usage_fd = os.open(self.path / hierarchy.usage_file, os.O_RDONLY)
        except OSError as exc:
            self._remove()
            raise CgroupUnavailable(f"{hierarchy.usage_file} cannot be read ({exc.strerror})") from None
        self._own_s = 0.0  # aicarbon's own CPU time spent inside, subtracted
        self._inside_since: float | None = None
        self._last_s = 0.0
        self._main_pid: int | None = None
        # aicarbon moves itself in at once, in a thread: the first move into a new cgroup
        # waits some 20 ms on the kernel, which overlaps the caller's own start-up.
        self._entered_at_s = 0.0
        self._enter_error: OSError | None = None
        self._entering = threading.Thread(target=self._enter, name="aicarbon-cgroup", daemon=True)
        self._entering.start()
        self._leaving: threading.Thread | None = None

    def _enter(self) -> None:
        try:
            self._move(os.getpid(), self.path)
        except OSError as exc:
            self._enter_error = exc
            return
        # Only from here on does the cgroup count aicarbon's own time: subtract it from here.
        self._entered_at_s = _own_cpu_s()
        self._inside_since = self._entered_at_s

    @classmethod
    def create(cls, proc: Path = Path("/proc")) -> TreeCgroup:
        try:
            mountinfo = (proc / "self" / "mountinfo").read_text()
            own = (proc / "self" / "cgroup").read_text()
        except OSError as exc:
            raise CgroupUnavailable(f"cannot read /proc/self/cgroup ({exc.strerror})") from None
        reasons = []
        for hierarchy in find_hierarchies(mountinfo, own):
            try:
                return cls(hierarchy)
            except CgroupUnavailable as exc:
                reasons.append(str(exc))
        raise CgroupUnavailable("; ".join(reasons) or "no cgroup v2 or cpuacct hierarchy is mounted")

    # -- the tree ---------------------------------------------------------------------------

    def spawn(self, start: Callable[[], T]) -> T:
        """Call ``start`` (which forks the command) with aicarbon inside the cgroup, so the
        command is born there; then aicarbon moves back out, in a thread (another 10 ms or so
        of kernel time), and the CPU time it spent inside is subtracted. CgroupUnavailable,
        before ``start`` is called, if aicarbon could not move itself in."""
        self._entering.join()
        if self._enter_error is not None:
            why = self._enter_error.strerror
            raise CgroupUnavailable(f"cannot move a process into {self.path} ({why})")
        try:
            return start()
        finally:
            self._leaving = threading.Thread(target=self._leave, name="aicarbon-cgroup", daemon=True)
            self._leaving.start()

    def _leave(self) -> None:
        try:
            self._move(os.getpid(), self.parent)
        except OSError:
            return  # stuck inside: our own time keeps being subtracted
        self._own_s += _own_cpu_s() - self._entered_at_s
        self._inside_since = None

    def set_main_pid(self, pid: int) -> None:
        self._main_pid = pid

    def cpu_seconds(self, fresh: bool = False) -> float:  # noqa: ARG002 - always fresh here
        """Cumulative CPU seconds of every process that ever was in the cgroup, minus aicarbon's."""
        raw = os.pread(self._usage_fd, 4096, 0)
        if self.hierarchy.version == 2:  # "usage_usec N" is the first line of cpu.stat
            used_s = int(raw.split(b"usage_usec ", 1)[1].split(b"\n", 1)[0]) / 1e6
        else:
            used_s = int(raw) / 1e9
        own = self._own_s
        if self._inside_since is not None:
            own += _own_cpu_s() - self._inside_since
        self._last_s = max(self._last_s, used_s - own)
        return self._last_s

    @property
    def pids(self) -> set[int]:
        return set(self._procs())

    def running_descendants(self) -> int:
        """Processes of the tree still running (not zombies) besides the command itself."""
        return sum(1 for pid in self._procs() if pid not in (self._main_pid, os.getpid()) and is_running(pid))

    def close(self) -> None:
        """Move what still runs back to aicarbon's cgroup and remove the tree's (once)."""
        self._entering.join()
        if self._leaving is not None:
            self._leaving.join()
        if self._usage_fd < 0:
            return
        os.close(self._usage_fd)
        self._usage_fd = -1
        for _ in range(3):  # a process may fork while its siblings are moved
            for pid in self._procs():
                try:
                    self._move(pid, self.parent)
                except OSError:
                    pass
            if self._remove():
                return

    # -- plumbing -----------------------------------------------------------------------------

    def _procs(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    @staticmethod
    def _move(pid: int, cgroup: Path) -> None:
        with open(cgroup / "cgroup.procs", "w", encoding="ascii") as procs:
            procs.write(str(pid))

    def _remove(self) -> bool:
        try:
            self.path.rmdir()
        except OSError:
            return False
        return True

    def _remove_stale_siblings(self) -> None:
        """Empty cgroups of aicarbon processes that no longer exist (killed before cleaning up)."""
        try:
            siblings = [p for p in self.parent.iterdir() if p.name.startswith(PREFIX)]
        except OSError:
            return
        for sibling in siblings:
            owner = sibling.name[len(PREFIX) :].split("-", 1)[0]
            if owner.isdigit() and not _exists(int(owner)):
                try:
                    sibling.rmdir()  # fails, harmlessly, while a process is still inside
                except OSError:
                    pass


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_running(pid: int) -> bool:
    """True for a process that exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return False
    state = raw[raw.rfind(b")") + 2 :][:1]
    return state != b"Z"
