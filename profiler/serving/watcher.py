"""Scrape a server about once a second while its machine is measured, pairing each answer with
the energy read around it (``window``).

The watcher runs in a thread of its own: a scrape that hangs costs its timeout, never a sample.
It knows the measurement only through ``mark`` (a sample now: its time, the counted domains'
cumulative joules and the GPUs'), and the server only through ``stop_server`` (called once the
window is over, when aicarbon started the server).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..records.run import ServingRecord
from .dialects import Dialect, DialectError, counters, detect, sums
from .scrape import ScrapeError, fetch
from .window import Pair, window

Mark = Callable[[], tuple[float, float, float | None]]  # monotonic s, machine J, GPU J (or None)
DEFAULT_INTERVAL_S = 1.0


class ServingWatcher:
    def __init__(
        self,
        url: str,
        mark: Mark,
        *,
        token_metric: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        warmup_s: float = 0.0,
        duration_s: float | None = None,
        stop_server: Callable[[], None] | None = None,
        fetch_text: Callable[[str], str] = fetch,
    ) -> None:
        self.url, self._mark, self._token_metric = url, mark, token_metric
        self.interval_s, self.warmup_s, self.duration_s = interval_s, warmup_s, duration_s
        self._stop_server, self._fetch = stop_server, fetch_text
        self.dialect: Dialect | None = None
        self.pairs: list[Pair] = []
        self.failed = 0
        self.problem: str | None = None  # the last failure, one sentence
        self.stopped_server = False  # the window ended it (--duration)
        self.models: set[str] = set()  # the served models the metrics' labels name
        self.done = threading.Event()  # the window is over
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_answer_s: float | None = None  # when the server first answered with metrics
        self._reasons: dict[str, int] = {}  # why scrapes failed, and how often

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aicarbon-serving", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No more scrapes (the server has ended)."""
        self._quit.set()

    def _run(self) -> None:
        try:
            while not self._quit.is_set():
                self.scrape()
                if self._over():
                    if self._stop_server is not None and not self._quit.is_set():
                        self.stopped_server = True
                        self._stop_server()
                    return
                self._quit.wait(self.interval_s)
        except Exception as exc:  # noqa: BLE001 - an aicarbon bug ends the window, never the run
            self.problem = f"the serving window stopped after an aicarbon bug ({exc!r})"
        finally:
            self.done.set()

    def _over(self) -> bool:
        if self.duration_s is None or not self.pairs:
            return False
        return self.pairs[-1].t_s - self.pairs[0].t_s >= self.duration_s

    def scrape(self) -> None:
        """One scrape, bracketed by two marks; the pair kept once the warm-up is over (counted
        from the server's first answer: a server loading its model answers nothing yet, and
        those scrapes are not failures)."""
        before_s, _, _ = self._mark()
        try:
            found = sums(self._fetch(self.url), self.models)
            if self.dialect is None:
                self.dialect = detect(found, self._token_metric)
            figures = counters(found, self.dialect)
        except (ScrapeError, DialectError) as exc:
            if str(exc) in self._reasons or len(self._reasons) < 16:
                self._reasons[str(exc)] = self._reasons.get(str(exc), 0) + 1
            reason = max(self._reasons, key=lambda r: self._reasons[r])  # the usual one, not the last
            if self._first_answer_s is None:
                self.problem = f"the endpoint never answered with metrics: {reason}"
                return
            self.failed += 1
            self.problem = reason
            return
        t_s, machine_j, gpu_j = self._mark()
        if self._first_answer_s is None:
            self._first_answer_s, self.problem = t_s, None
            self._reasons.clear()
        if t_s - self._first_answer_s >= self.warmup_s:
            self.pairs.append(Pair(t_s, machine_j, gpu_j, figures, t_s - before_s))

    def finish(self, origin_s: float) -> ServingRecord | None:
        """Stop scraping; the window's record (times from ``origin_s``, the run's start), or None
        when no scrape after the warm-up answered (``problem`` says why)."""
        self._quit.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        if not self.pairs or self.dialect is None:
            if self.problem is None:
                self.problem = "the server ended before the warm-up was over: no window"
            return None
        pairs = [Pair(p.t_s - origin_s, p.machine_j, p.gpu_j, p.counters, p.skew_s) for p in self.pairs]
        record = window(pairs, self.dialect, self.url, self.failed, self.problem if self.failed else None)
        record.models = sorted(self.models)
        return record
