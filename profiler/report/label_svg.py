"""An energy label for a run, in the spirit of the EU energy label and the French DPE: one
self-contained SVG (no script, no link, no image, no font fetched: only shapes and text in the
system's sans-serif), readable at 300 px wide, every string from the record escaped.

The A-G scale is the reference task's (``impact.references``: the study's models of that task,
log-normal); the run's band is marked with its letter. A run with no grade (no task, no units,
units of another kind) still gets a label, which says why. ``badge`` is a small shields-style
badge for a README: the grade and the energy per unit.
"""

from __future__ import annotations

import re

from ..records.run import Run
from .escape import visible
from .html import h
from .impact_text import singular
from .units import fmt_count, fmt_energy

WIDTH, HEIGHT = 300, 430
COLOURS = ("#00a651", "#50b848", "#bed630", "#fff200", "#fdb913", "#f37021", "#ed1c24")  # A to G


def text(value: str, limit: int = 48) -> str:
    """Record text made safe inside an SVG element, cut to ``limit`` characters: the HTML
    report's ``h`` (control characters visible, markup and quotes escaped), and the two
    characters XML 1.0 forbids that ``visible`` keeps (U+FFFE, U+FFFF) as ``?``."""
    shown = visible(value).replace("\ufffe", "?").replace("\uffff", "?")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return h(shown)


def _short(grid_label: str) -> str:
    """``France (FRA)`` as ``FRA``, ``world average`` as ``world``."""
    found = re.search(r"\(([A-Z]{3})\)$", grid_label)
    return found.group(1) if found else grid_label.split()[0]


def _embodied(run: Run) -> str:
    e = run.impact.embodied if run.impact is not None else None
    if e is None or not e.parts:
        return "embodied (making the hardware): no figure"
    span = f"{e.low_g:.3g} g" if e.low_g == e.high_g else f"{e.low_g:.3g}-{e.high_g:.3g} g"
    return f"embodied ~{span} CO2e ({e.lifespan_years:g}-year lifespan)" + (
        " + unknown parts" if e.missing else ""
    )


def _grade(run: Run) -> tuple[str | None, str]:
    """The run's letter and the line under the scale."""
    c = run.comparison
    if c is None:
        return None, "not graded: nothing was measured"
    if c.task is not None:
        if c.task.grade not in tuple("ABCDEFG"):  # a record from elsewhere: its text is untrusted
            return None, f"not graded: the record's grade {c.task.grade!r} is not A to G"
        return c.task.grade, f"grade {c.task.grade} against {c.task.task}"
    if c.task_declined:
        return None, c.task_declined
    if c.units is None:
        return None, "not graded: no units counted (--units, add_units)"
    return None, "not graded: no reference task (--task)"


def _per_unit(run: Run) -> list[str]:
    c = run.comparison
    if c is None or c.units is None or c.energy_per_unit_j is None:
        return ["energy per unit: no units counted"]
    name = singular(c.unit_name)
    lines = [f"{fmt_energy(c.energy_per_unit_j)} per {name} ({fmt_count(c.units)} {c.unit_name})"]
    if c.kwh_per_1000_inferences is not None:
        lines.append(f"{c.kwh_per_1000_inferences:.3g} kWh per 1,000 inferences")
    if c.task is not None:
        lines.append(f"study mean: {c.task.mean_kwh_per_1000:g} kWh per 1,000")
    return lines


def label(run: Run) -> str:
    """The label's SVG text."""
    letter, verdict = _grade(run)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="energy label">',
        f"<title>aicarbon energy label: {text(run.command_line, 80)}</title>",
        '<g font-family="sans-serif" fill="#111">',
        f'<rect x="1" y="1" width="{WIDTH - 2}" height="{HEIGHT - 2}" rx="8" fill="#fff" '
        'stroke="#222" stroke-width="2"/>',
        '<text x="14" y="30" font-size="18" font-weight="bold">Energy</text>',
        f'<text x="{WIDTH - 14}" y="30" font-size="11" text-anchor="end">'
        f"{text(run.start_utc[:10], 10)}</text>",
        f'<text x="14" y="48" font-size="11">{text(run.command_line)}</text>',
    ]
    top = 62
    for i, colour in enumerate(COLOURS):
        grade = "ABCDEFG"[i]
        width = 90 + i * 18
        y = top + i * 24
        parts.append(
            f'<path d="M14 {y}h{width}l10 10l-10 10h-{width}z" fill="{colour}"/>'
            f'<text x="22" y="{y + 15}" font-size="13" font-weight="bold" fill="#fff" '
            f'stroke="#000" stroke-width="0.4">{grade}</text>'
        )
        if grade == letter:
            parts.append(
                f'<path d="M{WIDTH - 14} {y - 2}h-52l-12 12l12 12h52z" fill="#111"/>'
                f'<text x="{WIDTH - 40}" y="{y + 16}" font-size="18" font-weight="bold" fill="#fff" '
                f'text-anchor="middle">{grade}</text>'
            )
    y = top + 7 * 24 + 14
    parts.append(f'<text x="14" y="{y}" font-size="11" font-weight="bold">{text(verdict, 52)}</text>')
    y += 20
    for line in _per_unit(run):
        parts.append(f'<text x="14" y="{y}" font-size="11">{text(line, 52)}</text>')
        y += 15
    y += 4
    parts.append(f'<text x="14" y="{y}" font-size="11">energy {text(fmt_energy(run.machine_energy_j))}'
                 f' ({text(run.method)}) in {run.duration_s:.3g} s</text>')  # fmt: skip
    y += 15
    impact = run.impact
    if impact is not None:
        grid = impact.grid
        parts.append(f'<text x="14" y="{y}" font-size="11">CO2e {impact.emissions_g:.3g} g at '
                     f"{grid.g_per_kwh:.0f} g/kWh ({text(grid.label, 24)})</text>")  # fmt: skip
        y += 15
        others = " · ".join(f"{text(_short(c.label), 8)} {c.emissions_g:.2g} g" for c in impact.contrast)
        if others:
            parts.append(f'<text x="14" y="{y}" font-size="10" fill="#444">elsewhere: {others}</text>')
            y += 15
        parts.append(f'<text x="14" y="{y}" font-size="11">water ~{impact.water.litres * 1000:.3g} mL</text>')
        y += 15
    parts.append(f'<text x="14" y="{y}" font-size="10" fill="#444">{text(_embodied(run), 60)}</text>')
    y += 15
    host = run.host
    hardware = host.cpu_model + (f" + {len(host.gpus)} GPU" if host.gpus else "")
    parts.append(f'<text x="14" y="{y}" font-size="10" fill="#444">{text(hardware, 56)}</text>')
    parts.append(
        f'<text x="14" y="{HEIGHT - 12}" font-size="9" fill="#666">aicarbon {text(run.tool.version, 12)}'
        " · measured offline · Power Hungry Processing (2024)</text>"
    )
    parts += ["</g>", "</svg>"]
    return "\n".join(parts) + "\n"


def badge(run: Run) -> str:
    """A shields-style badge: ``energy | B · 1.58 mJ/inference``."""
    letter, _ = _grade(run)
    c = run.comparison
    value = fmt_energy(run.machine_energy_j)
    if c is not None and c.energy_per_unit_j is not None:
        name = singular(c.unit_name)
        value = f"{fmt_energy(c.energy_per_unit_j)}/{name}"
    right = text(f"{letter} · {value}" if letter else value, 40)
    colour = COLOURS["ABCDEFG".index(letter)] if letter else "#9f9f9f"
    right_w = 12 + 7 * len(re.sub("&[a-z]+;", "_", right))
    ink = "#111" if letter in ("C", "D", "E") else "#fff"  # dark text on the light bands
    width = 54 + right_w
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="energy: {right}"><title>energy: {right}</title>'
        '<rect width="54" height="20" fill="#555"/>'
        f'<rect x="54" width="{right_w}" height="20" fill="{colour}"/>'
        '<g fill="#fff" font-family="sans-serif" font-size="11" text-anchor="middle">'
        f'<text x="27" y="14">energy</text>'
        f'<text x="{54 + right_w / 2:g}" y="14" fill="{ink}">{right}</text>'
        "</g></svg>\n"
    )
