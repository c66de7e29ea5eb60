"""One read of a server's Prometheus endpoint: bounded in time and size, http(s) only.

A scrape never stalls the measurement: every read has a timeout (``TIMEOUT_S``), a body
beyond ``MAX_BYTES`` is refused, an HTML page or a redirect elsewhere is not taken for metrics.
Every failure is a ``ScrapeError`` of one sentence; the caller counts it and goes on.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import AicarbonError

TIMEOUT_S = 2.0
MAX_BYTES = 8 << 20  # a busy vLLM's page is some 100 kB
ACCEPT = "text/plain;version=0.0.4;q=1.0, */*;q=0.1"


class ScrapeError(AicarbonError):
    """The endpoint did not answer with metrics (one sentence)."""


def checked_url(url: str) -> str:
    """``url`` if aicarbon may read it: http or https, a host, no user or password in it
    (``ScrapeError`` otherwise, before anything runs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScrapeError(f"--metrics-url must be an http:// or https:// URL; got {url[:80]!r}")
    if parts.username is not None or parts.password is not None:
        raise ScrapeError("--metrics-url must not hold a user or password (the record would keep them)")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ScrapeError(f"--metrics-url has a port that is not a number: {url[:80]!r}") from None
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a metrics endpoint answers where it is asked


def fetch(url: str, timeout_s: float = TIMEOUT_S, max_bytes: int = MAX_BYTES) -> str:
    """The endpoint's text; ``ScrapeError`` for anything that is not a metrics page."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Accept": ACCEPT, "User-Agent": "aicarbon"})
    deadline = time.monotonic() + timeout_s
    try:
        with opener.open(request, timeout=timeout_s) as response:
            kind = response.headers.get("Content-Type", "")
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes:
                chunk = response.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:  # a server that drips its answer
                    raise ScrapeError(f"{url} took more than {timeout_s:g} s to answer")
            body = b"".join(chunks)
    except urllib.error.HTTPError as exc:
        raise ScrapeError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ScrapeError(f"{url} did not answer ({str(reason)[:100] or type(exc).__name__})") from None
    if len(body) > max_bytes:
        raise ScrapeError(f"{url} sent more than {max_bytes >> 20} MB: not a metrics page")
    if "html" in kind.lower():
        raise ScrapeError(f"{url} sent an HTML page, not metrics")
    return body.decode("utf-8", errors="replace")
