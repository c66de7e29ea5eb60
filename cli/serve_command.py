"""``aicarbon serve``: a served model's energy per token, per prompt token and per request.

Parsed as ``run`` is (``run_command.parse``, its measurement options and outputs), plus the
serving options. ``aicarbon serve --metrics-url URL -- SERVER...`` wraps the server;
``aicarbon serve --attach --metrics-url URL --duration S`` measures one already running here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aicarbon.cli import run_command
from aicarbon.cli.run_command import CLI_ONLY, UsageError, parse
from aicarbon.errors import AicarbonError
from aicarbon.settings import RUN_SETTINGS, Declared, check_number

if TYPE_CHECKING:
    from aicarbon.serving.serve import ServeOptions

USAGE = (
    "aicarbon serve [OPTIONS] --metrics-url URL -- SERVER [ARGS]...\n"
    "   or: aicarbon serve [OPTIONS] --attach --metrics-url URL --duration S"
)
SUMMARY = (
    "Run (or attach to) a model server, scrape its Prometheus metrics, and report the energy\n"
    "per output token, per prompt token and per request over a window (docs/serving.md)."
)
SERVE_ONLY: tuple[Declared, ...] = (
    Declared("metrics_url", "--metrics-url", str, None,
             "the server's Prometheus endpoint (http or https), e.g. `http://127.0.0.1:8000/metrics`",
             metavar="URL", in_api=False),
    Declared("attach", "--attach", bool, False,
             "measure a server already running on this machine (with --duration; no command)", in_api=False),
    Declared("warmup_s", "--warmup", float, 0.0,
             "seconds after the server's first answer left out of the window", metavar="S", low=0.0,
             high=86400.0, in_api=False),
    Declared("duration_s", "--duration", float, None,
             "the window's length in seconds, after the warm-up (default: until the server exits); "
             "then aicarbon stops the server it started", metavar="S", low=1e-3, high=30 * 86400.0,
             in_api=False),
    Declared("scrape_interval_s", "--scrape-interval", float, 1.0, "seconds between scrapes",
             metavar="S", low=0.1, high=60.0, in_api=False),
    Declared("token_metric", "--token-metric", str, None,
             "the output-token counter, for a server of no known dialect", metavar="NAME", in_api=False),
)  # fmt: skip
_OUTPUTS = tuple(d for d in CLI_ONLY if d.name not in ("job_dir", "job_timeout_s"))
OPTIONS: tuple[Declared, ...] = (*SERVE_ONLY, *_OUTPUTS, *(d for d in RUN_SETTINGS if d.flag))
NOT_SETTINGS = frozenset(d.name for d in (*SERVE_ONLY, *_OUTPUTS))


def main(args: Sequence[str], closed_fds: frozenset[int] = frozenset()) -> int:
    """``aicarbon serve ARGS``; the server's exit status (0 when aicarbon ended the window and the
    server stopped on its SIGTERM), or 2 for a bad command line."""
    from aicarbon.cli.streams import say

    try:
        return _serve(args, closed_fds)
    except AicarbonError as exc:
        say(str(exc))
        return exc.status


def _serve_options(parsed: run_command.RunArgs) -> ServeOptions:
    from aicarbon.serving.dialects import generic
    from aicarbon.serving.scrape import checked_url
    from aicarbon.serving.serve import ServeOptions

    url = parsed.get("metrics_url")
    if url is None:
        raise UsageError("--metrics-url URL is needed: the server's Prometheus endpoint")
    numbers = {}
    for d in SERVE_ONLY:
        value = parsed.get(d.name)
        if d.numeric and value is not None:
            numbers[d.name] = check_number(d.flag or d.name, value, d.low, d.high)
    if parsed.get("attach"):
        if parsed.command:
            raise UsageError("--attach measures a running server: give no command")
        if numbers.get("duration_s") is None:
            raise UsageError("--attach needs --duration S: how long to measure the running server")
    elif not parsed.command:
        raise UsageError("no server command given; or use --attach for a server already running")
    token_metric = parsed.get("token_metric")
    if token_metric is not None:
        generic(token_metric)
    return ServeOptions(
        checked_url(url),
        token_metric,
        numbers["scrape_interval_s"],  # both have defaults: always given
        numbers["warmup_s"],
        numbers.get("duration_s"),
    )


def _serve(args: Sequence[str], closed_fds: frozenset[int]) -> int:
    from contextlib import closing

    from aicarbon import engine
    from aicarbon.cli.streams import say
    from aicarbon.measurement.process_tree import open_tree

    parsed = parse(args, OPTIONS)
    if parsed.help:
        status_line = "Exits with the server's own exit status."
        sys.stdout.write(
            run_command.help_text(options=OPTIONS, usage=USAGE, summary=SUMMARY, status=status_line)
        )
        return 0
    options = _serve_options(parsed)
    settings = engine.RunSettings(
        **{k: v for k, v in parsed.given.items() if k not in NOT_SETTINGS}, spelling="flag"
    )
    outputs = run_command.checked_outputs(parsed, closed_fds)
    prepared = engine.prepare(settings)
    quiet = bool(parsed.get("quiet"))
    if parsed.get("attach"):
        from aicarbon.serving.serve import serve_attached

        record, watcher, lines = serve_attached(prepared, options)
        for line in lines:
            say(line)
        status = 0
    else:
        from aicarbon.serving.serve import serve_command

        argv = engine.resolve_command(parsed.command, parsed.get("module"))
        with closing(open_tree()) as tree:
            measured, watcher = serve_command(argv, prepared, options, tree)
        record, status = measured.record, measured.exit_status
        if watcher.stopped_server and status in (0, 143):  # our SIGTERM ended it: the window's end
            status = 0
    if record.serving is None and watcher.problem:
        say(f"no serving window: {watcher.problem}; the server's energy is still measured")
    run_command.deliver_all(record, outputs, quiet, settings.save)
    return status
