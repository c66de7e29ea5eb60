"""A run as Markdown: for a pull-request comment, a wiki page or a notebook.

Every string of the record is untrusted: the text goes through ``escaped_copy`` (no terminal
controls), then ``md`` (no HTML, no Markdown syntax that could turn into a link or an image).
"""

from __future__ import annotations

import re

from ..records.run import Run
from .escape import escaped_copy
from .labels import label_text
from .terminal import detail_lines, how_measured
from .units import energy_unit, fmt_duration, fmt_energy, fmt_power

# Inline syntax anywhere in a line: code, emphasis, links and images (no "[" means neither),
# tables, strike-through. Block syntax (#, -, +, 1.) only acts at a line's start, where
# untrusted text never is.
_SPECIAL = re.compile(r"([\\`*_{}\[\]|~])")


def md(text: str) -> str:
    """Plain text in Markdown: ``<``, ``>`` and ``&`` as entities (no HTML), every inline
    syntax character backslash-escaped, so ``[x](javascript:...)`` or ``![](http://tracker)``
    stay text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def render(run: Run) -> str:
    run = escaped_copy(run)
    unit = energy_unit(max([run.machine_energy_j] + [d.energy_j for d in run.energy.domains]))
    out = [f"## aicarbon: {md(run.command_line)}", ""]
    facts = [
        f"exit {run.exit.status}",
        fmt_duration(run.duration_s),
        f"started {md(run.start_utc)}",
        f"host {md(run.host.hostname)}",
    ]
    out.append(" · ".join(facts))
    labels = label_text(run)
    if labels:
        out += ["", md(labels)]
    out.append("")
    if not run.counted:
        out.append("Nothing was measured: no sensor worked, and the estimate was not selected.")
    else:
        out += ["| Domain | Energy | Avg power | How | Your command |", "|---|---:|---:|---|---:|"]
        duration = run.duration_s or 1.0
        for d in run.energy.domains:
            mark = "" if d.in_total else " \\*"
            out.append(
                f"| {md(d.label)}{mark} | {fmt_energy(d.energy_j, unit)} "
                f"| {fmt_power(d.energy_j / duration)} | {md(how_measured(d))} "
                f"| {fmt_energy(d.attributed_j, unit) if d.in_total else ''} |"
            )
        out.append(
            f"| **Total** | **{fmt_energy(run.machine_energy_j, unit)}** | {fmt_power(run.average_power_w)} "
            f"| {md(run.method)}{', partial' if run.partial else ''} "
            f"| **{fmt_energy(run.attributed_energy_j, unit)}** |"
        )
        out.append("")
    lines = detail_lines(run, unit)
    if lines:
        out += ["```text", *(line.replace("```", "'''") for line in lines), "```"]
    return "\n".join(out) + "\n"
