"""Measure one command to completion: its process tree under a measuring ``Session``, its
signals forwarded, its phases and units received through the channel, into a ``Run``.

Two starts. By default the session opens its sensors and takes its first reading, then the
command starts. With ``fast_start`` (``aicarbon run``) and a tree followed through a cgroup,
the command starts first, as soon as its tree and its channel exist, and the session opens its
sensors while it starts: the command waits for none of it. (Through the /proc walk, the CPU
time of exited processes reaches aicarbon late, when they are reaped; its attribution relies on
the samples taken from the command's very start, so such runs start the usual way.)
The run then begins at the command's start (``start.Start``:
its time and CPU figures read exactly, cheaply); the energy of the gap until the first reading
(some 10 to 20 ms) is extrapolated from the first interval's power, and the record says how
long it was (``sampling.extrapolated_start_s``). Phases the command reports before the sensors
are open wait in the channel's pipe, and start at the first reading.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..settings import DEFAULT_INTERVAL_S, INTERVAL_RANGE_S
from .channel import ChannelReader, NoChannel, open_channel
from .child_process import ChildExit, SignalForwarder, become_subreaper, spawn, wait
from .phases import PhaseBook
from .process_tree import ProcessTree, TreeAccounting, open_tree

if TYPE_CHECKING:
    import subprocess

    from ..records.run import Run
    from .session import Session, SessionOptions


class Watch(Protocol):
    def stop(self) -> None: ...

    def add_to(self, run: Run) -> None: ...


class MeasureOptions(NamedTuple):
    interval_s: float = DEFAULT_INTERVAL_S
    sensors: frozenset[str] | None = None  # None: every sensor that works here
    environ: Mapping[str, str] | None = None
    nvml_module: ModuleType | None = None  # a stand-in pynvml, for tests
    # The process is aicarbon's own (the CLI): it may become a child subreaper and reap every
    # orphan, and move itself into a cgroup for an instant to start the command there. A
    # library caller's process is left as it was: the tree is then followed through /proc.
    own_process: bool = True
    # The tree's accounting, opened by the caller as early as it can (open_tree): entering a
    # new cgroup waits some 20 ms on the kernel, which then overlaps the caller's own start-up.
    # measure_command closes it. None: opened here.
    tree: TreeAccounting | None = None
    cwd: str | None = None  # the command's working directory (None: aicarbon's)
    # Run in a thread while the command runs (imports and data the record and report will
    # need): work that then adds nothing to the command's wall time.
    meanwhile: Callable[[], None] | None = None
    fast_start: bool = False  # start the command before the sensors are open (see above)
    backend: str = "native"  # settings.BACKENDS
    # Called once the command has ended, while the sensors are still read, with a function that
    # says whether aicarbon has received a signal (Ctrl-C) since: a job's node waits here for its
    # other ranks (job.rank), whose energy is the node's too, and stops waiting when told to.
    after_command: Callable[[Callable[[], bool]], None] | None = None
    # Started once the command runs, with its session and its process: something that watches
    # the command beside the sensors (a served model's counters, serving.serve). It is stopped
    # when the command has ended and adds what it saw to the record.
    watch: Callable[[Session, subprocess.Popen[bytes]], Watch] | None = None

    @property
    def session(self) -> SessionOptions:
        from .session import SessionOptions

        return SessionOptions(self.interval_s, self.sensors, self.environ, self.nvml_module, self.backend)


def measure_command(argv: Sequence[str], options: MeasureOptions | None = None) -> tuple[Run, ChildExit]:
    """Run ``argv`` to completion while measuring; raises ``CommandError`` if it cannot start."""
    if options is None:
        options = MeasureOptions()
    # The tree's cgroup first (if the caller has not opened it): entering a new cgroup waits
    # some 20 ms on the kernel, which then overlaps opening the sensors.
    if options.own_process:
        become_subreaper()
    if options.tree is not None:
        tree = options.tree
    elif options.own_process:
        tree = open_tree(options.environ)
    else:
        tree = ProcessTree(reason="not aicarbon's own process")
    try:
        # Only with a cgroup: the /proc walk sees the time of exited processes late, and its
        # attribution needs the run's samples from the command's very start.
        if options.fast_start and tree.method.startswith("cgroup"):
            return _measure_fast(argv, options, tree)
        from .session import Session

        session = Session(options.session, tree)
        try:
            return _measure(argv, options, session, tree)
        finally:
            session.close()
    finally:
        tree.close()


def _measure(
    argv: Sequence[str], options: MeasureOptions, session: Session, tree: TreeAccounting
) -> tuple[Run, ChildExit]:
    channel = open_channel(session.book)
    forwarder = SignalForwarder()
    with forwarder.installed():
        session.start()
        channel.start()
        child = spawn_in_tree(argv, options.cwd, tree, channel)
        session.sampler.check_gpus_soon()
        forwarder.attach(child)
        return _finish(argv, options, session, tree, channel, forwarder, child)


def _measure_fast(
    argv: Sequence[str], options: MeasureOptions, tree: TreeAccounting
) -> tuple[Run, ChildExit]:
    from .start import start_now

    if options.own_process:
        # The reading threads (channel, sampler) get the interpreter within a millisecond, while
        # the main thread opens the sensors and the warm-up imports: phase edges stay sharp.
        sys.setswitchinterval(0.001)
    book = PhaseBook(_not_yet, lambda: None)  # bound to the session's sampler once it exists
    channel = open_channel(book)
    forwarder = SignalForwarder()
    with forwarder.installed():
        started = start_now(tree.cpu_seconds)
        child = spawn_in_tree(argv, options.cwd, tree, channel)
        forwarder.attach(child)
        from .session import Session

        try:
            session = Session(options.session, tree, started=started, book=book)
        except BaseException:
            # The command runs already: it is never killed for aicarbon's sake.
            wait(child, forwarder, reap_orphans=options.own_process)
            channel.finish(0.0)
            raise
        try:
            session.start()
            channel.start()  # the events that waited in the pipe are taken now
            session.sampler.check_gpus_soon()
            return _finish(argv, options, session, tree, channel, forwarder, child)
        finally:
            session.close()


def spawn_in_tree(
    argv: Sequence[str], cwd: str | None, tree: TreeAccounting, channel: ChannelReader | NoChannel
) -> subprocess.Popen[bytes]:
    """Start the command in its tree, with the channel in its environment; a command that cannot
    start closes the channel (``CommandError`` goes on)."""
    try:
        child = tree.spawn(lambda: spawn(argv, cwd, channel.child_env))
    except BaseException:
        channel.finish(0.0)
        raise
    tree.set_main_pid(child.pid)
    return child


def _not_yet() -> tuple[float, tuple[float, float]]:
    raise RuntimeError("a phase was marked before the session existed")  # pragma: no cover


def _finish(
    argv: Sequence[str],
    options: MeasureOptions,
    session: Session,
    tree: TreeAccounting,
    channel: ChannelReader | NoChannel,
    forwarder: SignalForwarder,
    child: subprocess.Popen[bytes],
) -> tuple[Run, ChildExit]:
    helper = _in_background(options.meanwhile)
    watch = options.watch(session, child) if options.watch is not None else None
    try:
        exit_ = wait(child, forwarder, reap_orphans=options.own_process)
    finally:
        channel.finish()
        if helper is not None:
            helper.join()
        if watch is not None:
            watch.stop()
    if options.after_command is not None:
        options.after_command(lambda: forwarder.received is not None)
    left_running = tree.running_descendants()
    run = session.stop(list(argv), exit_)
    if watch is not None:
        watch.add_to(run)
    run.attribution.descendants_left_running = left_running
    run.notes += channel_notes(channel)
    return run, exit_


def _in_background(work: Callable[[], None] | None) -> threading.Thread | None:
    if work is None:
        return None

    def guarded() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001, S110 - whatever it prepares is prepared again later
            pass

    thread = threading.Thread(target=guarded, name="aicarbon-meanwhile", daemon=True)
    thread.start()
    return thread


def channel_notes(channel: ChannelReader | NoChannel) -> list[str]:
    if isinstance(channel, NoChannel):
        return [channel.why]
    notes = []
    if channel.ignored:
        notes.append(
            f"{channel.ignored} lines the command wrote to aicarbon's channel were ignored (too long, "
            "not an event, or out of bounds)"
        )
    if channel.failure:
        notes.append(f"the channel stopped taking events after an aicarbon bug ({channel.failure})")
    return notes


__all__ = ["DEFAULT_INTERVAL_S", "INTERVAL_RANGE_S", "MeasureOptions", "measure_command"]
