"""``aicarbon devices`` and ``aicarbon watch``: what this machine can measure, and what it
draws now. Parse, call the engine, render."""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from aicarbon.cli.common import command, fail
from aicarbon.cli.streams import say


@command()
def devices(
    as_json: Annotated[bool, typer.Option("--json", help="Print the survey as JSON.")] = False,
) -> None:
    """Which sensors work on this machine, what they draw now, and how to fix those that don't.

    Always exits 0, even when nothing can be measured (aicarbon then estimates)."""
    from aicarbon.machine.devices import survey
    from aicarbon.report.devices_table import render

    record = survey()
    typer.echo(record.to_json() if as_json else render(record), nl=False)


@contextmanager
def keys_from_terminal() -> Iterator[int | None]:
    """Standard input, key by key, while it is a terminal (its settings restored on the way
    out, whatever happens); None when it is not one."""
    try:
        fd = sys.stdin.fileno()
        interactive = os.isatty(fd)
    except (AttributeError, OSError, ValueError):
        interactive = False
    if not interactive:
        yield None
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)  # keys arrive one by one, unechoed; Ctrl-C still sends SIGINT
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _key(fd: int | None, timeout_s: float) -> str:
    """A key pressed within ``timeout_s`` (""), or just the wait when there is no terminal."""
    if fd is None:
        time.sleep(max(timeout_s, 0.0))
        return ""
    ready, _, _ = select.select([fd], [], [], max(timeout_s, 0.0))
    if not ready:
        return ""
    data = os.read(fd, 32)
    return data.decode("utf-8", "replace") if data else "q"  # end of input: quit


@command()
def watch(
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between refreshes (0.1 to 60).")
    ] = 1.0,
    count: Annotated[
        int | None, typer.Option("--count", "-n", help="Stop after this many refreshes.")
    ] = None,
    serve_at: Annotated[
        str | None,
        typer.Option(
            "--serve",
            metavar="[HOST:]PORT",
            help="Serve the machine's energy and power on /metrics for Prometheus (Prometheus text or "
            "OpenMetrics), instead of showing them; 127.0.0.1 unless HOST is given.",
        ),
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="With --serve: allow a HOST that is not loopback.")
    ] = False,
) -> None:
    """Live power by domain, like top, and the processes drawing the most.

    Each domain's watts and its last minute; on a terminal, q or Ctrl-C quits; elsewhere, one
    plain line per interval."""
    from aicarbon.machine.watch import INTERVAL_RANGE_S, PowerWatch
    from aicarbon.report.terminal import make_console
    from aicarbon.report.watch_view import live_view, plain_line

    low, high = INTERVAL_RANGE_S
    if not low <= interval <= high:
        raise fail(f"--interval must be a number from {low:g} to {high:g}; got {interval!r}")
    if count is not None and count < 1:
        raise fail(f"--count must be at least 1; got {count}")
    if serve_at is not None:
        _serve(serve_at, allow_remote, interval, count)
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: a clean stop
    shown = 0
    try:
        with PowerWatch(interval) as power, keys_from_terminal() as keys:
            live = sys.stdout.isatty()
            if live:
                from rich.live import Live

                console = make_console(sys.stdout)
                unicode = console.encoding.lower().startswith("utf")
                with Live(live_view(None, interval), console=console, auto_refresh=False) as screen:
                    deadline = time.monotonic() + interval
                    while count is None or shown < count:
                        pressed = _key(keys, deadline - time.monotonic())
                        if pressed[:1] in ("q", "Q"):
                            break
                        if time.monotonic() >= deadline:
                            view = live_view(power.frame(), interval, unicode, console.size.width)
                            screen.update(view, refresh=True)
                            shown += 1
                            deadline = max(deadline + interval, time.monotonic())
                return
            deadline = time.monotonic() + interval
            while count is None or shown < count:
                time.sleep(max(deadline - time.monotonic(), 0.0))
                print(plain_line(power.frame()), flush=True)
                shown += 1
                if getattr(sys.stdout, "broken", False):  # the reader left (| head): stop
                    return
                deadline = max(deadline + interval, time.monotonic())
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGINT, previous)


def _serve(spec: str, allow_remote: bool, interval: float, count: int | None) -> None:
    """``watch --serve``: no screen; the watch's frames feed /metrics until Ctrl-C or --count."""
    import socket
    import time

    from aicarbon.machine.metrics_server import MachineMetrics, parse_address, serve
    from aicarbon.machine.watch import PowerWatch

    host, port = parse_address(spec, allow_remote)
    metrics = MachineMetrics(socket.gethostname())
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with PowerWatch(interval) as power:
            server = serve(metrics, host, port)
            bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
            shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
            say(f"serving http://{shown_host}:{bound_port}/metrics every {interval:g} s (Ctrl-C stops)")
            try:
                shown = 0
                deadline = time.monotonic() + interval
                while count is None or shown < count:
                    time.sleep(max(deadline - time.monotonic(), 0.0))
                    metrics.add(power.frame())
                    shown += 1
                    deadline = max(deadline + interval, time.monotonic())
            finally:
                server.shutdown()
                server.server_close()
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGINT, previous)
