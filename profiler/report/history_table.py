"""``aicarbon history``: one line per saved run, 80 columns, newest first."""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len

from ..records.history import RunSummary
from .escape import visible
from .terminal import shorten
from .units import fmt_duration, fmt_energy, fmt_mass_range_g

WIDTH = 80


def _fit(text: str, width: int) -> str:
    text = shorten(visible(text), width)
    return text + " " * (width - cell_len(text))


def render(runs: list[RunSummary], where: Path) -> str:
    if not runs:
        return f"No runs saved in {visible(str(where))} (yet): 'aicarbon run' saves each run there.\n"
    head = f"{'id':>5}  {'started (UTC)':<16}  {'time':>8}  {'energy':>9}  {'exit':>4}  command"
    lines = [head]
    for r in runs:
        started = r.start_utc.replace("T", " ")[:16]
        left = f"{r.id:>5}  {visible(started):<16}  {fmt_duration(r.duration_s):>8}  "
        energy = ("~" if r.method == "estimated" else "") + fmt_energy(r.energy_j)
        left += f"{energy:>9}  {r.exit_status:>4}  "
        room = WIDTH - cell_len(left)
        # The command keeps at least 10 cells and gives way to the tags: what listings filter on.
        tags = shorten(visible("  [" + ", ".join(r.tags) + "]"), room - 10) if r.tags else ""
        label = shorten(visible(" ".join(r.command)), room - cell_len(tags)) + tags
        lines.append(left + label)
        extra = []
        if r.nodes:
            extra.append(f"job of {r.nodes} node{'s' if r.nodes != 1 else ''}")
        if r.units:
            extra.append(f"{fmt_energy(r.energy_j / r.units)} per unit ({r.units:g})")
        if r.embodied_low_g is not None and r.embodied_high_g is not None:
            extra.append(f"embodied ~{fmt_mass_range_g(r.embodied_low_g, r.embodied_high_g)} CO2e")
        if r.name:
            extra.append(f"name: {r.name}")
        if r.note:
            extra.append(f"note: {r.note}")
        if extra:
            lines.append(" " * 7 + _fit(" · ".join(extra), WIDTH - 7).rstrip())
    lines.append("~ estimated, not measured. 'aicarbon show ID' prints a run's report.")
    lines.append(f"History: {visible(str(where))}")
    return "\n".join(lines) + "\n"
