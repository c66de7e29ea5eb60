"""A run as one self-contained HTML page: power over time per domain (inline SVG), the energy
breakdown, the comparison with reference tasks and the grade, the contrasting grids.

No script, no font, no stylesheet or image from anywhere: the page works offline from a
``file://`` URL, and its Content-Security-Policy (``default-src 'none'``) forbids the browser to
fetch anything or run any script even if some text got through unescaped. Every string of the
record is untrusted: it goes through ``visible`` (no terminal controls or bidi overrides) and
then ``html.escape`` (text, and attribute values in quotes).
"""

from __future__ import annotations

import html
import math

from ..records.run import DomainRecord, EmbodiedRecord, Run
from .escape import visible
from .impact_text import ratio_text
from .labels import label_text
from .terminal import detail_lines, how_measured, phase_groups
from .units import energy_unit, fmt_duration, fmt_energy, fmt_mass_g, fmt_mass_range_g, fmt_power

# Colour-blind-safe (Okabe & Ito, 2008), one per domain in turn.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
CHART_W, CHART_H = 760, 260
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 56, 16, 12, 36

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:820px;
color:#1b1b1b;padding:0 1rem}
h1{font-size:1.3rem;margin:0 0 .2rem}h2{font-size:1.05rem;margin:1.6rem 0 .5rem}
code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f3f3f3;padding:.1rem .3rem;border-radius:3px;
word-break:break-all}
.facts{color:#555}.labels{color:#333}
table{border-collapse:collapse;width:100%}
th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;border-top:2px solid #888}
.bar{height:.9rem;display:inline-block;vertical-align:middle;border-radius:2px}
.legend span{margin-right:1rem;white-space:nowrap}.swatch{display:inline-block;width:.8rem;height:.8rem;
margin-right:.3rem;vertical-align:-1px;border-radius:2px}
.grade{font-size:2rem;font-weight:700;border:2px solid currentColor;border-radius:6px;padding:0 .6rem;
display:inline-block;margin-right:.8rem}
pre{background:#f7f7f7;padding:.8rem;overflow-x:auto;font-size:13px;white-space:pre-wrap}
svg text{font:11px system-ui,sans-serif;fill:#444}
"""


def h(text: object) -> str:
    """Untrusted text for HTML: text nodes and quoted attribute values alike."""
    return html.escape(visible(str(text)), quote=True)


def render(run: Run) -> str:
    unit = energy_unit(max([run.machine_energy_j] + [d.energy_j for d in run.energy.domains]))
    title = f"aicarbon: {run.command_line}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{h(title[:200])}</title><style>{_CSS}</style></head><body>",
        f"<h1>aicarbon run report</h1><p><code>{h(run.command_line)}</code></p>",
        f'<p class="facts">exit {run.exit.status} · {h(fmt_duration(run.duration_s))} · started '
        f"{h(run.start_utc)} · host {h(run.host.hostname)} · {h(run.host.cpu_model)}"
        f"{' · ' + h(', '.join(run.host.gpus)) if run.host.gpus else ''}</p>",
    ]
    labels = label_text(run)
    if labels:
        parts.append(f'<p class="labels">{h(labels)}</p>')
    parts.append(_grade(run))
    parts.append("<h2>Power over time</h2>")
    parts.append(power_chart(run))
    parts.append("<h2>Energy</h2>")
    parts.append(_energy_table(run, unit))
    if run.work.phases:
        parts.append("<h2>Phases</h2>")
        parts.append(_phase_table(run, unit))
    if run.impact is not None:
        parts.append("<h2>Emissions and water</h2>")
        parts.append(_grids(run))
        if run.impact.embodied is not None:
            parts.append(_embodied(run.impact.embodied))
    if run.comparison is not None:
        parts.append("<h2>Compared with reference AI tasks</h2>")
        parts.append(_scale(run))
    parts.append("<h2>Details</h2>")
    parts.append("<pre>" + "\n".join(h(line) for line in detail_lines(run, unit)) + "</pre>")
    parts.append(f'<p class="facts">aicarbon {h(run.tool.version)} · record schema aicarbon.run</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _grade(run: Run) -> str:
    c = run.comparison
    if c is None or c.task is None:
        return ""
    t = c.task
    return (
        f'<p><span class="grade" title="A best to G worst">{h(t.grade)}</span>'
        f"{h(t.task)}: {h(ratio_text(t.ratio_to_mean))} of the study "
        f"({c.kwh_per_1000:.3g} kWh per 1,000 {h(c.unit_name)})</p>"
    )


def _bar(percent: float, colour: str) -> str:
    """A horizontal bar, ``percent`` of its cell wide (clamped to 0..100)."""
    width = max(0.0, min(100.0, percent))
    return f'<span class="bar" style="width:{width:.1f}%;background:{colour}"></span>'


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _energy_table(run: Run, unit: str) -> str:
    if not run.counted:
        return "<p>Nothing was measured: no sensor worked, and the estimate was not selected.</p>"
    total = run.machine_energy_j or 1.0
    rows = [
        '<table><tr><th>Domain</th><th class="n">Energy</th><th class="n">Avg power</th><th>How</th>'
        '<th class="n">Your command</th><th>Share</th></tr>'
    ]
    for i, d in enumerate(run.energy.domains):
        share = 100 * d.energy_j / total if d.in_total else 0.0
        approx = "~" if d.estimated else ""
        rows.append(
            f"<tr><td>{h(d.label)}{'' if d.in_total else ' (not in total)'}</td>"
            f'<td class="n">{approx}{h(fmt_energy(d.energy_j, unit))}</td>'
            f'<td class="n">{h(fmt_power(d.energy_j / (run.duration_s or 1.0)))}</td>'
            f"<td>{h(how_measured(d))}</td>"
            f'<td class="n">{h(fmt_energy(d.attributed_j, unit)) if d.in_total else ""}</td>'
            f"<td>{_bar(share, _colour(i))}</td></tr>"
        )
    rows.append(
        f'<tr class="total"><td>Total</td><td class="n">{h(fmt_energy(run.machine_energy_j, unit))}</td>'
        f'<td class="n">{h(fmt_power(run.average_power_w))}</td>'
        f"<td>{h(run.method)}{', partial' if run.partial else ''}</td>"
        f'<td class="n">{h(fmt_energy(run.attributed_energy_j, unit))}</td><td></td></tr></table>'
    )
    return "".join(rows)


def _phase_table(run: Run, unit: str) -> str:
    total = run.machine_energy_j or 1.0
    rows = [
        '<table><tr><th>Phase</th><th class="n">Energy</th><th class="n">Yours</th><th class="n">Time</th>'
        '<th class="n">Avg power</th><th class="n">Per unit</th><th>Share of the run</th></tr>'
    ]
    for g in phase_groups(run):
        per_unit = h(fmt_energy(g.energy_j / g.units, unit)) if g.units else ""
        power = h(fmt_power(g.energy_j / g.duration_s)) if g.duration_s > 0 else ""
        rows.append(
            f'<tr><td style="padding-left:{0.5 + 1.2 * g.depth:.1f}rem">{h(g.label)}</td>'
            f'<td class="n">{h(fmt_energy(g.energy_j, unit))}</td>'
            f'<td class="n">{h(fmt_energy(g.attributed_j, unit))}</td>'
            f'<td class="n">{h(fmt_duration(g.duration_s))}</td><td class="n">{power}</td>'
            f'<td class="n">{per_unit}</td>'
            f"<td>{_bar(100 * g.energy_j / total, '#009E73')}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _grids(run: Run) -> str:
    impact = run.impact
    assert impact is not None
    rows = [
        f"<p>{h(fmt_mass_g(impact.emissions_g))} CO2e on this run's grid: {h(impact.grid.label)} "
        f"({impact.grid.g_per_kwh:.0f} g/kWh, {h(impact.grid.origin)}); water about "
        f"{impact.water.litres * 1000:.3g} mL.</p>"
    ]
    if impact.contrast:
        top = max(c.emissions_g for c in impact.contrast) or 1.0
        rows.append('<table><tr><th>Same energy on the grid of</th><th class="n">CO2e</th><th></th></tr>')
        for c in impact.contrast:
            rows.append(
                f"<tr><td>{h(c.label)} ({c.g_per_kwh:.0f} g/kWh)</td>"
                f'<td class="n">{h(fmt_mass_g(c.emissions_g))}</td>'
                f"<td>{_bar(100 * c.emissions_g / top, '#777')}</td></tr>"
            )
        rows.append("</table>")
    return "".join(rows)


def _embodied(e: EmbodiedRecord) -> str:
    """Making the hardware, apart from the CO2e above: the range, each part with its figure,
    share and source, and what has no figure (never a silent 0)."""
    rows = ["<h3>Embodied: making the hardware (not in the CO2e above)</h3>"]
    if e.parts:
        span = fmt_mass_range_g(e.low_g, e.high_g)
        rows.append(f"<p>About {h(span)} CO2e, amortised over a {e.lifespan_years:g}-year lifespan.</p>")
        rows.append(
            '<table><tr><th>Part</th><th class="n">kgCO2e</th><th class="n">share</th><th>source</th></tr>'
        )
        for p in e.parts:
            rows.append(
                f'<tr><td>{h(p.part)}</td><td class="n">{h(p.kg)}</td>'
                f'<td class="n">{p.share:.3g}</td><td>{h(p.source)}</td></tr>'
            )
        rows.append("</table>")
    else:
        rows.append("<p>Not counted: no figure for this hardware.</p>")
    if e.missing:
        rows.append(
            f"<p>No figure for {h(', '.join(e.missing))}: give the machine's with "
            "<code>--embodied-kg KG</code>.</p>"
        )
    return "".join(rows)


def _scale(run: Run) -> str:
    c = run.comparison
    assert c is not None
    points = [p for p in c.scale if p.kwh_per_1000 > 0]
    if not points:
        eq = ", ".join(f"{e.value:.3g} {e.label}" for e in c.equivalents[:4])
        return f"<p>In everyday terms: {h(eq)}.</p>"
    lo = math.log10(min(p.kwh_per_1000 for p in points) / 2)
    hi = math.log10(max(p.kwh_per_1000 for p in points) * 1.5)
    rows = ['<table><tr><th>kWh per 1,000 (log scale)</th><th class="n">kWh</th><th></th></tr>']
    for p in points:
        width = 2 + 98 * (math.log10(p.kwh_per_1000) - lo) / ((hi - lo) or 1.0)
        colour = "#D55E00" if p.is_run else "#0072B2"
        label = f"<strong>{h(p.label)}</strong>" if p.is_run else h(p.label)
        rows.append(
            f'<tr><td>{label}</td><td class="n">{p.kwh_per_1000:.3g}</td>'
            f'<td style="width:45%">{_bar(width, colour)}</td></tr>'
        )
    rows.append(f'</table><p class="facts">{h(c.study)}. {h(c.boundary)}.</p>')
    return "".join(rows)


# -- the chart --------------------------------------------------------------------------------------


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks if span > 0 else 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(float(m) * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def power_chart(run: Run) -> str:
    """Average power per domain in each timeline bucket, as steps; the total dashed on top."""
    tl = run.timeline
    counted = {d.id for d in run.counted}
    domains: list[tuple[int, DomainRecord]] = [
        (tl.domains.index(d.id), d) for d in run.energy.domains if d.id in tl.domains
    ]
    if not tl.t_s or not domains:
        return '<p class="facts">No power timeline in this record.</p>'
    end = max(t + d for t, d in zip(tl.t_s, tl.duration_s, strict=True)) or 1.0
    totals = tl.total_power_w(counted)
    top = max([*totals, *(row[i] for row in tl.power_w for i, _ in domains), 0.001])
    y_step = _nice_step(top)
    y_max = y_step * math.ceil(top / y_step)
    x_step = _nice_step(end, 6)
    plot_w, plot_h = CHART_W - MARGIN_L - MARGIN_R, CHART_H - MARGIN_T - MARGIN_B

    def x(t: float) -> float:
        return MARGIN_L + plot_w * t / end

    def y(p: float) -> float:
        return MARGIN_T + plot_h * (1 - p / y_max)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_W} {CHART_H}" width="100%" '
        f'role="img" aria-label="Power over time by domain" id="power-chart">'
    ]
    tick = 0.0
    while tick <= y_max + 1e-9:
        out.append(
            f'<line x1="{MARGIN_L}" x2="{CHART_W - MARGIN_R}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#e4e4e4"/>'
            f'<text x="{MARGIN_L - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{h(fmt_power(tick))}</text>'
        )
        tick += y_step
    tick = 0.0
    while tick <= end + 1e-9:
        out.append(
            f'<text x="{x(tick):.1f}" y="{CHART_H - MARGIN_B + 16}" text-anchor="middle">'
            f"{h(fmt_duration(tick))}</text>"
        )
        tick += x_step
    out.append(
        f'<line x1="{MARGIN_L}" x2="{MARGIN_L}" y1="{MARGIN_T}" y2="{CHART_H - MARGIN_B}" stroke="#888"/>'
        f'<line x1="{MARGIN_L}" x2="{CHART_W - MARGIN_R}" y1="{CHART_H - MARGIN_B}" '
        f'y2="{CHART_H - MARGIN_B}" stroke="#888"/>'
    )
    series = [
        (f"{d.label}", [row[i] for row in tl.power_w], _colour(n), "") for n, (i, d) in enumerate(domains)
    ]
    if len([d for _, d in domains if d.in_total]) > 1:
        series.append(("Total", totals, "#333", ' stroke-dasharray="5 3"'))
    for label, values, colour, dash in series:
        points = []
        for t, duration, p in zip(tl.t_s, tl.duration_s, values, strict=True):
            points += [f"{x(t):.1f},{y(p):.1f}", f"{x(t + duration):.1f},{y(p):.1f}"]
        out.append(
            f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2"{dash} '
            f'points="{" ".join(points)}"><title>{h(label)}</title></polyline>'
        )
    out.append(
        f'<text x="{MARGIN_L + plot_w / 2:.0f}" y="{CHART_H - 4}" text-anchor="middle">'
        "time since the start</text>"
        "</svg>"
    )
    legend = "".join(
        f'<span><i class="swatch" style="background:{colour}"></i>{h(label)}</span>'
        for label, _, colour, _ in series
    )
    out.append(f'<p class="legend">{legend}</p>')
    return "".join(out)
