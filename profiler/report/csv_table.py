"""A run as CSV, for a spreadsheet: one row per domain, with the run's facts repeated on each
row so that the CSV of several runs can be concatenated and pivoted.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return) as a formula: text from the record (a command line, a label) that starts so is
prefixed with ``'`` (the OWASP rule for CSV injection). Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io

from ..records.run import Run
from .escape import visible

COLUMNS = (
    "run_start_utc",
    "command",
    "name",
    "tags",
    "exit_status",
    "duration_s",
    "domain",
    "kind",
    "label",
    "method",
    "in_total",
    "energy_j",
    "attributed_j",
    "average_power_w",
    "low_j",
    "high_j",
    "emissions_g",
    "units",
    "energy_per_unit_j",
)


def cell(text: str) -> str:
    text = visible(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render(run: Run) -> str:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(COLUMNS)
    total = run.machine_energy_j
    emissions = run.impact.emissions_g if run.impact is not None else None
    units = run.comparison.units if run.comparison is not None else None
    for d in run.energy.domains:
        share = d.energy_j / total if total > 0 and d.in_total else 0.0
        out.writerow(
            [
                cell(run.start_utc),
                cell(run.command_line),
                cell(run.labels.name or ""),
                cell(";".join(run.labels.tags)),
                run.exit.status,
                run.duration_s,
                cell(d.id),
                cell(d.kind),
                cell(d.label),
                cell(d.method),
                int(d.in_total),
                d.energy_j,
                d.attributed_j,
                d.energy_j / run.duration_s if run.duration_s > 0 else 0.0,
                "" if d.low_j is None else d.low_j,
                "" if d.high_j is None else d.high_j,
                "" if emissions is None else emissions * share,
                "" if units is None else units,
                "" if not units or not d.in_total else d.energy_j / units,
            ]
        )
    return buffer.getvalue()
