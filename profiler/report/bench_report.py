"""``aicarbon bench``'s report: each run's figures, the median and spread, the warnings."""

from __future__ import annotations

import statistics

from ..records.samples import Samples
from .escape import visible
from .gate_report import fmt_j


def text(samples: Samples) -> str:
    values = samples.metric()
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median if median > 0 else 0.0
    lines = [
        visible(
            f"{samples.name}: {len(samples.runs)} runs after {samples.warmup} warm-up, {samples.metric_name}"
        ),
        f"{'run':>4} | {'energy':>10} | {'machine':>10} | {'duration':>9} | {'avg power':>9} | exit",
    ]
    for i, (run, value) in enumerate(zip(samples.runs, values, strict=True), start=1):
        lines.append(
            f"{i:>4} | {fmt_j(value):>10} | {fmt_j(run.energy_j):>10} | {run.duration_s:>7.3f} s | "
            f"{run.average_power_w:>7.3g} W | {run.exit_status}"
        )
    fp = samples.fingerprint
    lines += [
        f"median {fmt_j(median)}, spread {spread:.1%} (max - min over the median), "
        f"duration median {statistics.median(samples.durations()):.3f} s",
        visible(
            f"environment: {fp.key()}; kernel {fp.kernel or '?'}; aicarbon {fp.aicarbon_version}"
            + (f"; commit {fp.git_commit[:12]}" if fp.git_commit else "")
        ),
        *[visible(f"warning: {note}") for note in samples.notes],
    ]
    return "\n".join(lines) + "\n"
