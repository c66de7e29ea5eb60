"""The per-run report for a terminal (rich), falling back to plain text in CI logs.

Reads well at 80 columns. On a terminal it uses colour and Unicode; elsewhere (a pipe, a CI
log) rich emits no colour codes, the table is drawn in ASCII, and the width is 80 columns
whatever ``COLUMNS`` says, so that a log reads the same on every machine.

Every string of the record is untrusted (records are shared, commands come from anywhere): the
renderer only ever sees an ``escaped_copy`` of the run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..records.run import DomainRecord, PhaseRecord, Run
from .escape import escaped_copy
from .impact_text import comparison_lines, impact_lines
from .job_text import job_lines
from .labels import label_text
from .serving_text import serving_lines
from .sparkline import resample, sparkline
from .units import energy_unit, fmt_duration, fmt_energy, fmt_percent, fmt_power

SPARK_WIDTH = 32
REPORT_WIDTH = 80


def make_console(file: TextIO | None = None, *, force_plain: bool = False) -> Console:
    """A console on ``file`` (default: stderr), plain (no colour, ASCII, 80 columns) unless it
    writes to a terminal."""
    stream = file if file is not None else sys.stderr
    try:
        terminal = not force_plain and stream.isatty()
    except (AttributeError, OSError, ValueError):
        terminal = False
    # markup=False: report text such as "[tool.aicarbon]" is printed as written.
    kwargs: dict[str, object] = {"file": stream, "highlight": False, "soft_wrap": False, "markup": False}
    if not terminal:
        kwargs.update(width=REPORT_WIDTH)
    if force_plain:
        kwargs.update(force_terminal=False, no_color=True)
    return Console(**kwargs)  # type: ignore[arg-type]


def how_measured(domain: DomainRecord) -> str:
    source = domain.source.split(" ", 1)[0]
    if domain.method == "estimated":
        return "estimated"
    return f"measured ({source.upper() if source in ('rapl', 'nvml') else source})"


def render(run: Run, console: Console) -> None:
    run = escaped_copy(run)
    plain = not console.is_terminal
    unit = energy_unit(max([run.machine_energy_j] + [d.energy_j for d in run.energy.domains]))
    console.print(_header(run))
    labels = label_text(run)
    if labels:
        console.print(labels)
    if not run.counted:
        console.print("Nothing was measured: no sensor worked, and the estimate was not selected.")
        _print_problems(run, console)
        return

    table = Table(
        box=box.ASCII2 if plain else box.SIMPLE_HEAD,
        show_edge=not plain,
        pad_edge=False,
        expand=False,
        header_style="bold",
    )
    table.add_column("Domain")
    table.add_column("Energy", justify="right")
    table.add_column("Avg power", justify="right")
    table.add_column("How")
    table.add_column("Your command", justify="right")
    duration = run.duration_s or 1.0
    for d in run.energy.domains:
        energy = fmt_energy(d.energy_j, unit)
        if d.estimated and d.low_j is not None and d.high_j is not None:
            energy = f"≈{energy}" if not plain else f"~{energy}"
        name = d.label + ("" if d.in_total else " *")
        if d.failed:
            name += " !"
        table.add_row(
            name,
            energy,
            fmt_power(d.energy_j / duration),
            how_measured(d),
            fmt_energy(d.attributed_j, unit) if d.in_total else "",
            style="dim" if not d.in_total else None,
        )
    if run.energy.domains:
        table.add_row(
            Text("Total", style="bold"),
            Text(fmt_energy(run.machine_energy_j, unit), style="bold"),
            fmt_power(run.average_power_w),
            run.method + (", partial" if run.partial else ""),
            Text(fmt_energy(run.attributed_energy_j, unit), style="bold"),
            end_section=True,
        )
    console.print(table)
    if run.partial:
        missing = [u.sensor for u in run.unavailable if u.uncounted]
        missing += [d.label for d in run.counted if d.failed]
        console.print(f"Partial total: the machine used more. Not counted: {', '.join(missing)}.")

    totals = run.timeline.total_power_w({d.id for d in run.counted})
    if totals:
        line = sparkline(
            resample(totals, run.timeline.duration_s, SPARK_WIDTH),
            unicode=console.encoding.lower().startswith("utf") and not plain,
        )
        console.print(
            f"Power  {line}  avg {fmt_power(run.average_power_w)} · peak {fmt_power(run.energy.peak_power_w)}"
        )
    for line in job_lines(run, unit) + serving_lines(run) + attribution_lines(run, unit):
        console.print(line)
    for line in phase_lines(run, unit):
        console.print(line)
    if run.impact is not None:
        for line in impact_lines(run.impact):
            console.print(line)
    if run.comparison is not None:
        for line in comparison_lines(run.comparison, unit):
            console.print(line)
    for line in estimate_lines(run, unit):
        console.print(line, style="dim" if not plain else None)
    _print_problems(run, console)


def detail_lines(run: Run, unit: str) -> list[str]:
    """Everything below the energy table, as plain lines: attribution, phases, impact,
    comparison, estimates, problems (what the Markdown and HTML reports show as details)."""
    lines = job_lines(run, unit) + serving_lines(run) + attribution_lines(run, unit) + phase_lines(run, unit)
    if run.impact is not None:
        lines += impact_lines(run.impact)
    if run.comparison is not None:
        lines += comparison_lines(run.comparison, unit)
    return lines + estimate_lines(run, unit) + problem_lines(run)


def _print_problems(run: Run, console: Console) -> None:
    for line in problem_lines(run):
        console.print(line)


def side_by_side(run: Run) -> str | None:
    """``--backend both``: codecarbon's total beside aicarbon's sensors', with their ratio."""
    theirs = [d for d in run.energy.domains if d.by_codecarbon and not d.in_total]
    if not theirs:
        return None
    unit = "J"
    codecarbon_j, native_j = sum(d.energy_j for d in theirs), run.machine_energy_j
    ratio = f"{codecarbon_j / native_j:.3g}" if native_j > 0 else "-"
    return (
        f"Backends: codecarbon {fmt_energy(codecarbon_j, unit)}, aicarbon's sensors "
        f"{fmt_energy(native_j, unit)}: codecarbon / aicarbon = {ratio}"
    )


def problem_lines(run: Run) -> list[str]:
    """Domains out of the total, failures, faults, leftovers, unavailable sensors, notes."""
    lines: list[str] = []
    side = side_by_side(run)
    if side is not None:
        lines.append(side)
    for d in run.energy.domains:
        if not d.in_total:
            lines.append(f"* {d.label}: shown for reference, not added to the total.")
        if d.failed:
            at = f" after {fmt_duration(d.failed_at_s)}" if d.failed_at_s is not None else ""
            lines.append(f"! {d.label} stopped answering{at}: {d.failed}; its energy stops there.")
        if d.implausible_readings:
            worst = max(d.implausible, key=lambda r: r.reported_j, default=None)
            claim = ""
            if worst is not None and worst.duration_s > 0:
                claim = f", e.g. {fmt_energy(worst.reported_j)} in {fmt_duration(worst.duration_s)}"
            lines.append(
                f"! {d.label}: {d.implausible_readings} implausible reading(s){claim}, more than it "
                "can draw: a sensor fault; counted at its last plausible power instead."
            )
    left_running = run.attribution.descendants_left_running
    if left_running:
        lines.append(
            f"Note: {left_running} process(es) the command started were still running "
            "when it exited; they are not measured after that."
        )
    for u in run.unavailable:
        lines.append(f"Unavailable: {u.sensor}: {u.reason}")
        if u.fix:
            lines.append(f"  fix: {u.fix}")
    for note in run.notes:
        lines.append(f"Note: {note}")
    return lines


def attribution_lines(run: Run, unit: str) -> list[str]:
    if not run.counted:
        return []
    total = run.machine_energy_j
    share = run.attributed_energy_j / total if total > 0 else 0.0
    attribution = run.attribution
    lines = [
        f"Your command: {fmt_energy(run.attributed_energy_j, unit)} of {fmt_energy(total, unit)} "
        f"({fmt_percent(share)}); CPU time {attribution.tree_cpu_s:.2f} s of "
        f"{attribution.machine_busy_cpu_s:.2f} s busy."
    ]
    shared = attribution.gpus_shared_with_other_processes
    if shared:
        lines.append(f"Shared GPUs (other processes used them too; all counted): {', '.join(shared)}")
    for d in run.energy.domains:
        if d.owner_unknown_s > 0:
            lines.append(
                f"! {d.label}: {d.owner_note or 'in use, owner unknown'}. "
                f"{fmt_duration(d.owner_unknown_s)} of its use counted as your command's."
            )
        elif d.owner_note:
            lines.append(f"{d.label}: {d.owner_note}")
    return lines


@dataclass(frozen=True)
class PhaseGroup:
    """The phases of one name at one depth, summed (``step x500``)."""

    depth: int
    label: str
    energy_j: float
    attributed_j: float
    duration_s: float
    units: float
    failed: int = 0  # how many of them did not finish (marked in the label)


def phase_groups(run: Run) -> list[PhaseGroup]:
    """Phases grouped by name and depth, in order of first appearance; a group with phases
    that did not finish says so in its label: ``load [failed: ValueError]``, ``step x500
    [2 failed: KeyError, not ended]``."""
    groups: dict[tuple[int, str], list[PhaseRecord]] = {}
    for p in sorted(run.work.phases, key=lambda p: (p.start_s, p.depth)):
        groups.setdefault((p.depth, p.name), []).append(p)
    return [
        PhaseGroup(
            depth,
            _phase_label(name, members),
            sum(p.energy_j for p in members),
            sum(p.attributed_j for p in members),
            sum(p.duration_s for p in members),
            sum(p.units for p in members),
            sum(p.failed is not None for p in members),
        )
        for (depth, name), members in groups.items()
    ]


def _phase_label(name: str, members: list[PhaseRecord]) -> str:
    label = name if len(members) == 1 else f"{name} x{len(members)}"
    why = list(dict.fromkeys(p.failed for p in members if p.failed is not None))
    if not why:
        return label
    count = sum(p.failed is not None for p in members)
    reasons = ", ".join(why[:3]) + (", ..." if len(why) > 3 else "")
    return f"{label} [{'' if len(members) == 1 else f'{count} '}failed: {reasons}]"


def phase_lines(run: Run, unit: str) -> list[str]:
    """One line per phase name and depth, repeated phases summed (``step x500``), in order of
    first appearance, indented by depth; shares of the run's machine energy."""
    if not run.work.phases:
        return []
    total = run.machine_energy_j
    lines = ["Phases (energy · share · yours · time · avg power · per unit):"]
    for g in phase_groups(run):
        per_unit = f" · {fmt_energy(g.energy_j / g.units, unit)}/unit" if g.units else ""
        power = fmt_power(g.energy_j / g.duration_s) if g.duration_s > 0 else "-"
        share = fmt_percent(g.energy_j / total) if total > 0 else "-"
        lines.append(
            f"{'  ' * (g.depth + 1)}{g.label}: {fmt_energy(g.energy_j, unit)} · {share} · "
            f"{fmt_energy(g.attributed_j, unit)} · {fmt_duration(g.duration_s)} · "
            f"{power}{per_unit}"
        )
    return lines


def estimate_lines(run: Run, unit: str) -> list[str]:
    lines = []
    for d in run.energy.domains:
        if d.estimated:
            band = ""
            if d.low_j is not None and d.high_j is not None:
                band = f"range {fmt_energy(d.low_j, unit)}–{fmt_energy(d.high_j, unit)}; "
            lines.append(f"~ {d.label} is estimated, not measured: {band}model {d.model}")
    return lines


def _header(run: Run) -> Text:
    """``aicarbon  COMMAND  ·  exit STATUS  ·  DURATION`` in at most 80 columns: the command is
    shortened to the room the rest leaves, never the exit status."""
    exit_text = f"exit {run.exit.status}"
    if run.exit.signal:
        exit_text += f" (killed by signal {run.exit.signal})"
    duration = fmt_duration(run.duration_s)
    lead, middle = "aicarbon  ", f"  ·  {exit_text}  ·  "
    room = REPORT_WIDTH - cell_len(lead + middle + duration)
    return Text.assemble(
        (lead.rstrip(), "bold"),
        "  " + shorten(run.command_line, room) + middle,
        (duration, "bold"),
    )


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells (wide characters count twice), with an ellipsis."""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(width - 1, 0)).rstrip() + "…"


def plain_text(run: Run) -> str:
    """The terminal report as plain text (no colour, no terminal): ``report --format terminal``
    written to a file or a pipe."""
    import io

    buffer = io.StringIO()
    render(run, make_console(buffer, force_plain=True))
    return buffer.getvalue()
