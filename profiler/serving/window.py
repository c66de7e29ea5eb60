"""The serving window: pairs of (energy, counters) read together, and what they add up to.

Each scrape is bracketed by two readings of the measured energy; the reading after the
server's answer is paired with its counters, and the time between the two readings is the
pair's skew (the record keeps the largest). The window opens at the first pair at or after the
warm-up and closes at the last pair before its end (or the server's). A counter that goes down
(the server restarted) closes the window's segment at the pair before and opens another at that
pair: the totals are the segments' sums, never negative.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..records.run import ServingRecord
from .dialects import Counters, Dialect


@dataclass(frozen=True)
class Pair:
    t_s: float  # seconds from the run's start
    machine_j: float  # cumulative, the run's counted domains
    gpu_j: float | None  # cumulative, the GPUs (None: none measured)
    counters: Counters
    skew_s: float


def _went_down(before: Counters, after: Counters) -> bool:
    pairs = [(before.output_tokens, after.output_tokens), (before.prompt_tokens, after.prompt_tokens),
             (before.requests, after.requests)]  # fmt: skip
    return any(b is not None and a is not None and a < b for b, a in pairs)


def _delta(first: float | None, last: float | None) -> float | None:
    return last - first if first is not None and last is not None else None


def _add(total: float | None, more: float | None) -> float | None:
    if more is None:
        return total
    return (total or 0.0) + more


def window(
    pairs: list[Pair], dialect: Dialect, url: str, failed: int, problem: str | None = None
) -> ServingRecord:
    """The record of ``pairs`` (those of the window, in time order; at least one)."""
    segments: list[tuple[Pair, Pair]] = []
    first = previous = pairs[0]
    for pair in pairs[1:]:
        if _went_down(previous.counters, pair.counters):
            segments.append((first, previous))
            first = pair
        previous = pair
    segments.append((first, previous))
    output = energy = duration = 0.0
    prompt: float | None = None
    requests: float | None = None
    gpu: float | None = None
    for a, b in segments:
        output += b.counters.output_tokens - a.counters.output_tokens
        prompt = _add(prompt, _delta(a.counters.prompt_tokens, b.counters.prompt_tokens))
        requests = _add(requests, _delta(a.counters.requests, b.counters.requests))
        energy += b.machine_j - a.machine_j
        gpu = _add(gpu, _delta(a.gpu_j, b.gpu_j))
        duration += b.t_s - a.t_s
    running = [p.counters.running for p in pairs if p.counters.running is not None]

    def per(joules: float | None, count: float | None) -> float | None:
        return joules / count if joules is not None and count else None

    if duration <= 0 and problem is None:
        problem = "the window holds one scrape: no energy per token (scrape longer, or warm up less)"
    return ServingRecord(
        dialect=dialect.name,
        url=url,
        start_s=round(pairs[0].t_s, 6),
        end_s=round(pairs[-1].t_s, 6),
        duration_s=duration,
        segments=len(segments),
        output_tokens=output,
        prompt_tokens=prompt,
        requests=requests,
        mean_running=sum(running) / len(running) if running else None,
        energy_j=energy,
        gpu_energy_j=gpu,
        j_per_output_token=per(energy, output),
        gpu_j_per_output_token=per(gpu, output),
        j_per_prompt_token=per(energy, prompt),
        j_per_request=per(energy, requests),
        scrapes=len(pairs),
        failed_scrapes=failed,
        max_skew_s=max(p.skew_s for p in pairs),
        coarse=dialect.coarse,
        problem=problem,
    )
