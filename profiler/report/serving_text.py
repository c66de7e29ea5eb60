"""A served model's lines in a report: the window, its counters, energy per token and per
request (machine and GPU), and the published figures for the same model. The record's strings
are escaped by the caller (``escape.escaped_copy``)."""

from __future__ import annotations

from ..records.run import Run
from .units import fmt_count, fmt_duration, fmt_energy


def serving_lines(run: Run) -> list[str]:
    """Nothing for a run that served nothing."""
    s = run.serving
    if s is None:
        return []
    counts = [f"{fmt_count(s.output_tokens)} output tokens"]
    if s.prompt_tokens is not None:
        counts.append(f"{fmt_count(s.prompt_tokens)} prompt tokens")
    if s.requests is not None:
        counts.append(f"{fmt_count(s.requests)} requests")
    load = f", {fmt_count(s.mean_running)} running (mean)" if s.mean_running is not None else ""
    lines = [
        f"Serving  {s.dialect} at {s.url}",
        f"  {', '.join(counts)} in {fmt_duration(s.duration_s)}{load}",
        f"  window {fmt_duration(s.start_s)} to {fmt_duration(s.end_s)} of the run: "
        f"{fmt_energy(s.energy_j)} (machine)"
        + (f", {fmt_energy(s.gpu_energy_j)} (GPU)" if s.gpu_energy_j is not None else ", no GPU measured"),
    ]
    per = []
    if s.j_per_output_token is not None:
        per.append(f"{fmt_energy(s.j_per_output_token)} per output token")
    if s.gpu_j_per_output_token is not None:
        per.append(f"{fmt_energy(s.gpu_j_per_output_token)} per output token on the GPU")
    if s.j_per_prompt_token is not None:
        per.append(f"{fmt_energy(s.j_per_prompt_token)} per prompt token")
    if s.j_per_request is not None:
        per.append(f"{fmt_energy(s.j_per_request)} per request")
    if per:
        lines.append("  " + " · ".join(per))
    lines += [f"  {line}" for line in s.published]
    if s.mean_running is not None and s.mean_running < 1:
        lines.append("  under one request running on average: idle power weighs on every token")
    if s.coarse:
        lines.append("  TGI counts tokens when requests complete: a short window is coarse")
    if s.segments > 1:
        lines.append(
            f"  the server's counters reset {s.segments - 1} time(s): the window has {s.segments} parts"
        )
    if s.failed_scrapes:
        lines.append(f"  {s.failed_scrapes} of {s.scrapes + s.failed_scrapes} scrapes failed")
    if s.problem:
        lines.append(f"  {s.problem}")
    lines.append(f"  energy and counters read at most {s.max_skew_s * 1000:.0f} ms apart")
    return lines
