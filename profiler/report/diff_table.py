"""``aicarbon diff A B``: two runs side by side, 80 columns: energy by domain, duration, average
power, the command's share, per-unit figures, emissions; with the ratio B/A of each."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable

from rich.cells import cell_len

from ..records.run import Run
from .escape import visible
from .terminal import shorten
from .units import energy_unit, fmt_duration, fmt_energy, fmt_mass_g, fmt_power

LABEL_W, VALUE_W, RATIO_W = 26, 17, 10


def _cell(text: str, width: int, right: bool = True) -> str:
    text = shorten(visible(text), width)
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return ""
    if a <= 0:
        return "new" if b > 0 else "="
    r = b / a
    return f"x{r:.3f}" if math.isfinite(r) else ""


def _per_unit(run: Run) -> float | None:
    c = run.comparison
    return c.energy_per_unit_j if c is not None else None


def render(a: Run, b: Run, a_name: str = "A", b_name: str = "B") -> str:
    unit = energy_unit(max(a.machine_energy_j, b.machine_energy_j, 0.0))
    lines = [
        f"A: {visible(a_name)}: {visible(a.command_line)}"[:80],
        f"B: {visible(b_name)}: {visible(b.command_line)}"[:80],
        "",
        _cell("", LABEL_W, right=False) + _cell("A", VALUE_W) + _cell("B", VALUE_W) + _cell("B/A", RATIO_W),
    ]

    def row(label: str, va: float | None, vb: float | None, show: Callable[[float], str]) -> None:
        text_a = show(va) if va is not None else "-"
        text_b = show(vb) if vb is not None else "-"
        lines.append(
            _cell(label, LABEL_W, right=False)
            + _cell(text_a, VALUE_W)
            + _cell(text_b, VALUE_W)
            + _cell(_ratio(va, vb), RATIO_W)
        )

    def energy(v: float) -> str:
        return fmt_energy(v, unit)

    row("Energy (machine)", a.machine_energy_j, b.machine_energy_j, energy)
    ids = [d.id for d in a.energy.domains] + [
        d.id for d in b.energy.domains if d.id not in {x.id for x in a.energy.domains}
    ]
    by_a, by_b = {d.id: d for d in a.energy.domains}, {d.id: d for d in b.energy.domains}
    for domain_id in ids:
        da, db = by_a.get(domain_id), by_b.get(domain_id)
        known = da or db
        label = known.label if known is not None else domain_id
        est = "~" if any(d is not None and d.estimated for d in (da, db)) else ""
        row(
            f"  {est}{label}",
            da.energy_j if da else None,
            db.energy_j if db else None,
            energy,
        )
    row("Energy (your command)", a.attributed_energy_j, b.attributed_energy_j, energy)
    row("Duration", a.duration_s, b.duration_s, fmt_duration)
    row("Average power", a.average_power_w, b.average_power_w, fmt_power)
    row("Peak power", a.energy.peak_power_w, b.energy.peak_power_w, fmt_power)
    if _per_unit(a) is not None or _per_unit(b) is not None:
        row("Energy per unit", _per_unit(a), _per_unit(b), fmt_energy)
    ea = a.impact.emissions_g if a.impact else None
    eb = b.impact.emissions_g if b.impact else None
    if ea is not None or eb is not None:
        row("CO2e", ea, eb, fmt_mass_g)
    lines.append(
        _cell("Exit status", LABEL_W, right=False)
        + _cell(str(a.exit.status), VALUE_W)
        + _cell(str(b.exit.status), VALUE_W)
    )
    if a.method != b.method or a.host.hostname != b.host.hostname:
        note = (
            f"Note: A is {a.method} on {visible(a.host.hostname)}, B is {b.method} on "
            f"{visible(b.host.hostname)}: the figures compare less well."
        )
        lines += textwrap.wrap(note, 80, break_long_words=True)
    if "estimated" in (a.method, b.method) or "mixed" in (a.method, b.method):
        lines.append("~ estimated, not measured.")
    lines.append("One run each: on a noisy machine, decide with 'aicarbon compare' or 'ab'.")
    return "\n".join(lines) + "\n"
