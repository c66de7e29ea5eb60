"""``aicarbon watch --serve``: the machine's energy and power on ``/metrics``, for Prometheus.

Each refresh of the watch adds every domain's energy over the interval (its power times the
interval) to a counter since the server started, ``aicarbon_energy_joules_total``, and sets the
gauge ``aicarbon_power_watts``, both labelled with the host, domain, kind and method. A scrape
gets the Prometheus text format, or OpenMetrics when its ``Accept`` header asks for
``application/openmetrics-text`` (report/metrics.py writes both).

The server listens on a loopback address unless the caller says otherwise explicitly
(``allow_remote``): energy figures tell what a machine is doing. A port in use or privileged is
one sentence (``ServeError``).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import AicarbonError
from ..records.watch import WatchFrame
from ..report.metrics import Family, Labels, openmetrics, text

OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_PORT = 9464


class ServeError(AicarbonError):
    """An address that cannot be served, in one sentence."""


def parse_address(spec: str, allow_remote: bool) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` as (host, port); loopback unless allowed."""
    host, _, port_text = spec.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ServeError(f"--serve must be PORT or HOST:PORT (e.g. 127.0.0.1:{DEFAULT_PORT}); got {spec!r}")
    if not allow_remote and not _loopback(host):
        raise ServeError(
            f"--serve {spec}: {host} is not a loopback address; energy figures tell what this machine "
            "is doing: add --allow-remote to serve them to the network"
        )
    return host, int(port_text)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MachineMetrics:
    """Counters and gauges fed by the watch's frames; read by the server's threads."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._energy_j: dict[Labels, float] = {}
        self._power_w: dict[Labels, float] = {}

    def add(self, frame: WatchFrame) -> None:
        with self._lock:
            for d in frame.domains:
                if d.power_w is None:
                    continue
                labels: Labels = (
                    ("host", self.host),
                    ("domain", d.id),
                    ("kind", d.id.split(":", 1)[0]),
                    ("method", d.method),
                )
                self._energy_j[labels] = self._energy_j.get(labels, 0.0) + d.power_w * frame.interval_s
                self._power_w[labels] = d.power_w

    def families(self) -> list[Family]:
        energy = Family("aicarbon_energy_joules", "counter", "joules", "Energy since aicarbon watch started.")
        power = Family("aicarbon_power_watts", "gauge", "watts", "Power over the last refresh.")
        with self._lock:
            for labels, value in sorted(self._energy_j.items()):
                energy.add(labels, value)
            for labels, value in sorted(self._power_w.items()):
                power.add(labels, value)
        return [energy, power]


def serve(metrics: MachineMetrics, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving ``/metrics`` in a daemon thread; the server (``server_address`` says the
    port when 0 was asked). ``ServeError`` for a port in use or not allowed."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served")
                return
            wants_openmetrics = "application/openmetrics-text" in self.headers.get("Accept", "")
            families = metrics.families()
            body = (openmetrics(families) if wants_openmetrics else text(families)).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", OPENMETRICS_TYPE if wants_openmetrics else TEXT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
    try:
        server: ThreadingHTTPServer = server_class((host, port), Handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"--serve: port {port} on {host} is in use") from None
        if exc.errno == errno.EACCES:
            raise ServeError(f"--serve: port {port} is privileged (below 1024): choose one above") from None
        raise ServeError(f"--serve: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    threading.Thread(target=server.serve_forever, name="aicarbon-metrics", daemon=True).start()
    return server
