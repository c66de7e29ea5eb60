"""What a CI system reads from the gate: GitHub Actions' step summary, annotations and step
outputs, and exports in the formats existing benchmark dashboards take (Bencher's metric
format, github-action-benchmark's ``customSmallerIsBetter``).

No token and no network: a sticky pull-request comment is a documented workflow step that
posts the Markdown summary (docs/ci-gate.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from ..records.check import GateComparison, Verdict, overall
from ..records.codec import dumps
from .escape import visible
from .gate_report import fmt_j, fmt_ratio, markdown

MAX_ANNOTATIONS = 10  # GitHub shows about ten per step; the rest are aggregated


def annotation(level: str, message: str, title: str = "aicarbon") -> str:
    """A workflow command (``::error title=...::message``), escaped as GitHub requires:
    ``%``, CR and LF in the message; also ``:`` and ``,`` in properties."""
    return f"::{level} title={_property(title)}::{_data(visible(message))}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_lines(comparisons: list[GateComparison]) -> list[str]:
    """One annotation per benchmark that needs attention, at most ``MAX_ANNOTATIONS``; beyond
    that, one more that counts the rest."""
    level = {
        Verdict.REGRESSION: "error",
        Verdict.OVER_BUDGET: "error",
        Verdict.WARN: "warning",
        Verdict.INCONCLUSIVE: "warning",
        Verdict.IMPROVED: "notice",
    }
    flagged = [c for c in comparisons if c.verdict in level]
    flagged.sort(key=lambda c: list(level).index(c.verdict))
    lines = [
        annotation(
            level[c.verdict],
            f"{c.name}: {c.verdict.value}, {c.metric} {fmt_j(c.base_median)} -> {fmt_j(c.new_median)} "
            f"(ratio {fmt_ratio(c)})" + "".join(f"; {r}" for r in c.reasons),
            f"energy {c.verdict.value}",
        )
        for c in flagged[: MAX_ANNOTATIONS - 1 if len(flagged) > MAX_ANNOTATIONS else MAX_ANNOTATIONS]
    ]
    rest = flagged[len(lines) :]
    if rest:
        worst = "error" if any(level[c.verdict] == "error" for c in rest) else "warning"
        names = ", ".join(c.name for c in rest)
        lines.append(annotation(worst, f"{len(rest)} more benchmarks need attention: {names}", "energy"))
    return lines


def step_outputs(comparisons: list[GateComparison]) -> str:
    """``verdict=...`` and ``ratio=...`` lines for ``$GITHUB_OUTPUT`` (the largest ratio)."""
    ratios = [c.ratio for c in comparisons if c.ratio is not None and math.isfinite(c.ratio)]
    ratio = f"{max(ratios):.4f}" if ratios else ""
    return f"verdict={overall(comparisons).value.replace(' ', '-')}\nratio={ratio}\n"


def write_github(
    comparisons: list[GateComparison], environ: Mapping[str, str], print_line: Callable[[str], None]
) -> list[str]:
    """When ``GITHUB_ACTIONS=true``: annotations printed (through ``print_line``), the summary
    appended to ``$GITHUB_STEP_SUMMARY``, the outputs to ``$GITHUB_OUTPUT``. Returns the
    problems met (a file that cannot be written), which never change the verdict."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return []
    for line in annotation_lines(comparisons):
        print_line(line)
    problems = []
    for variable, text in (
        ("GITHUB_STEP_SUMMARY", markdown(comparisons)),
        ("GITHUB_OUTPUT", step_outputs(comparisons)),
    ):
        path = environ.get(variable)
        if not path:
            continue
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            problems.append(f"could not append to ${variable} ({path}): {exc.strerror}")
    return problems


def bencher_json(comparisons: list[GateComparison]) -> str:
    """Bencher Metric Format: ``{benchmark: {"energy": {value, lower_value, upper_value}}}``,
    joules, the new median with the range of the new runs."""
    data = {
        visible(c.name): {
            "energy": {
                "value": c.new_median,
                "lower_value": min(c.new_values),
                "upper_value": max(c.new_values),
            }
        }
        for c in comparisons
    }
    return dumps(data)


def github_benchmark_json(comparisons: list[GateComparison]) -> str:
    """github-action-benchmark's ``customSmallerIsBetter``: a list of ``{name, unit, value,
    range, extra}``, joules."""
    data = [
        {
            "name": visible(c.name),
            "unit": "J",
            "value": c.new_median,
            "range": f"± {(max(c.new_values) - min(c.new_values)) / 2:.6g}",
            "extra": visible(f"{c.metric}; {c.n_new} runs; verdict {c.verdict.value}"),
        }
        for c in comparisons
    ]
    return dumps(data)
