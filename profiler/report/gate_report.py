"""The CI gate's outputs, from comparisons only: a plain table, Markdown, JSON and JUnit XML.

Every string that came from a command line or a file (benchmark names) is escaped for where it
goes: control characters made visible for terminals and XML, Markdown's table and HTML
characters neutralised for summaries.
"""

from __future__ import annotations

import html
import math
import xml.etree.ElementTree as ET
from dataclasses import asdict

from ..records.check import GateComparison, Verdict, overall
from ..records.codec import dumps
from .escape import visible
from .units import fmt_energy


def fmt_j(value: float | None) -> str:
    """An energy as every report prints it (report.units: the same unit under run, check,
    diff, history, HTML and Markdown); "-" for none."""
    return "-" if value is None else fmt_energy(value)


def fmt_ratio(c: GateComparison) -> str:
    if c.ratio is None or not math.isfinite(c.ratio):
        return "-"
    text = f"{c.ratio:.3f}"
    if c.ratio_low is not None and c.ratio_high is not None and math.isfinite(c.ratio_high):
        text += f" [{c.ratio_low:.3f}, {c.ratio_high:.3f}]"
    return text


def fmt_p(c: GateComparison) -> str:
    return "-" if c.p_greater is None else f"{c.p_greater:.3g}"


HEADER = ("name", "base", "new", "ratio [95% CI]", "p", "n", "verdict")


def rows(comparisons: list[GateComparison]) -> list[tuple[str, ...]]:
    return [
        (
            visible(c.name),
            fmt_j(c.base_median),
            fmt_j(c.new_median),
            fmt_ratio(c),
            fmt_p(c),
            f"{c.n_base}/{c.n_new}",
            c.verdict.value.upper(),
        )
        for c in comparisons
    ]


def table(comparisons: list[GateComparison]) -> str:
    """``name | base | new | ratio [95% CI] | p | n | verdict``, padded, plain ASCII."""
    from rich.cells import cell_len  # columns in terminal cells: a CJK name is two per character

    body = rows(comparisons)
    widths = [max(cell_len(r[i]) for r in [HEADER, *body]) for i in range(len(HEADER))]
    lines = [
        " | ".join(cell + " " * (widths[i] - cell_len(cell)) for i, cell in enumerate(r)).rstrip()
        for r in [HEADER, *body]
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    notes = [f"{visible(c.name)}: {visible(reason)}" for c in comparisons for reason in c.reasons]
    extra = [f"{c.name}: {c.metric}; {_beside(c)}" for c in comparisons if _beside(c)]
    return "\n".join([*lines, *[visible(e) for e in extra], *notes]) + "\n"


def _beside(c: GateComparison) -> str:
    parts = []
    if c.duration_ratio is not None:
        parts.append(f"duration x{c.duration_ratio:.3f}")
    if c.power_ratio is not None:
        parts.append(f"average power x{c.power_ratio:.3f}")
    return ", ".join(parts) + " (reported, not gated)" if parts else ""


def _md(text: str) -> str:
    """A cell of a Markdown table: no HTML, no pipes, no line breaks, nothing invisible."""
    return html.escape(visible(text), quote=False).replace("|", "\\|").replace("`", "'")


def markdown(comparisons: list[GateComparison], title: str = "aicarbon energy check") -> str:
    """Verdict first, then the table, then the per-run values in a collapsed section."""
    verdict = overall(comparisons)
    icon = {
        Verdict.REGRESSION: "❌",
        Verdict.OVER_BUDGET: "❌",
        Verdict.INCONCLUSIVE: "⚠️",
        Verdict.WARN: "⚠️",
    }.get(verdict, "✅")
    out = [f"### {icon} {title}: {verdict.value.upper()}", ""]
    out.append("| " + " | ".join(HEADER) + " |")
    out.append("|" + "|".join("---" for _ in HEADER) + "|")
    for r in rows(comparisons):
        out.append("| " + " | ".join(_md(cell) for cell in r) + " |")
    for c in comparisons:
        for reason in c.reasons:
            out.append(f"\n- {_md(c.name)}: {_md(reason)}")
    out += ["", "<details><summary>Per-run values</summary>", ""]
    for c in comparisons:
        base = ", ".join(fmt_j(v) for v in c.base_values) or "none"
        new = ", ".join(fmt_j(v) for v in c.new_values)
        out.append(f"- **{_md(c.name)}** ({_md(c.metric)}, {_md(c.rule)}): base {base}; new {new}")
    out += ["", "</details>", ""]
    return "\n".join(out)


def to_json(comparisons: list[GateComparison]) -> str:
    data = {
        "schema": "aicarbon.check/1",
        "verdict": overall(comparisons).value,
        "comparisons": [{**asdict(c), "verdict": c.verdict.value, **_finite(c)} for c in comparisons],
    }
    return dumps(data)


def _finite(c: GateComparison) -> dict[str, float | None]:
    """Infinite ratios (a zero base) are written as null: JSON has no infinity."""
    fields = ("ratio", "ratio_low", "ratio_high", "duration_ratio", "power_ratio")
    return {f: (v if v is None or math.isfinite(v) else None) for f in fields for v in [getattr(c, f)]}


def junit_xml(comparisons: list[GateComparison], suite: str = "aicarbon") -> str:
    """One test case per benchmark: a regression or blown budget is a failure, an
    inconclusive or warned one passes with its message in system-out."""
    failures = sum(c.verdict in (Verdict.REGRESSION, Verdict.OVER_BUDGET) for c in comparisons)
    root = ET.Element("testsuites", name=suite, tests=str(len(comparisons)), failures=str(failures))
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(comparisons)), failures=str(failures))
    for c in comparisons:
        case = ET.SubElement(node, "testcase", classname=f"{suite}.energy", name=visible(c.name))
        message = visible(
            f"{c.verdict.value}: {c.metric} {fmt_j(c.base_median)} -> {fmt_j(c.new_median)}, "
            f"ratio {fmt_ratio(c)}, p {fmt_p(c)}" + "".join(f"; {r}" for r in c.reasons)
        )
        if c.verdict in (Verdict.REGRESSION, Verdict.OVER_BUDGET):
            failure = ET.SubElement(case, "failure", message=message, type=c.verdict.value)
            failure.text = message
        else:
            ET.SubElement(case, "system-out").text = message
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
