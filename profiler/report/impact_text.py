"""The report's impact and comparison sections, as plain lines of at most 80 columns."""

from __future__ import annotations

import math

from ..records.run import ComparisonRecord, EmbodiedRecord, ImpactRecord
from .units import fmt_count, fmt_energy, fmt_mass_g, fmt_mass_range_g, fmt_volume_l

BAR_WIDTH = 24
SET_GRID_HINT = "set your grid with --country ISO3 (e.g. FRA) or AICARBON_COUNTRY"


def impact_lines(impact: ImpactRecord) -> list[str]:
    g = impact.grid
    year = f", {g.year}" if g.year else ""
    lines = [
        f"CO2e   {fmt_mass_g(impact.emissions_g)} (energy x PUE {impact.pue:.2f} x {g.g_per_kwh:.0f} g/kWh)",
        f"       grid: {g.label[:60]}{year}",
    ]
    if impact.attributed_kwh < impact.energy_kwh:
        lines.append(f"       your command's share: {fmt_mass_g(impact.attributed_emissions_g)}")
    if g.is_world_default:
        lines.append(f"       {SET_GRID_HINT}")
    if impact.contrast:
        others = " · ".join(f"{c.label.split(' (')[0]} {fmt_mass_g(c.emissions_g)}" for c in impact.contrast)
        lines.append(f"Same energy elsewhere: {others}")
    w = impact.water
    lines.append(
        f"Water  ~{fmt_volume_l(w.litres)} (estimate: {w.wue_l_per_kwh:g} L/kWh on site, "
        f"{w.electricity_l_per_kwh:g} L/kWh generating)"
    )
    if impact.embodied is not None:
        lines += embodied_lines(impact.embodied)
    return lines


def embodied_lines(e: EmbodiedRecord) -> list[str]:
    """Making the hardware, apart from the operational CO2e above: the amortised range, what it
    covers, and what has no figure."""
    if e.parts:
        span = fmt_mass_range_g(e.low_g, e.high_g)
        lines = [
            f"Embodied ~{span} CO2e (making the hardware, {e.lifespan_years:g}-year lifespan; not in CO2e)"
        ]
        for p in e.parts[:4]:
            share = "" if p.share == 1 else f" x share {p.share:.3g}"
            lines.append(f"       {p.part[:40]}: {p.kg} kg{share} ({p.source[:40]})")
    else:
        lines = ["Embodied: not counted (making the hardware); no figure for this hardware"]
    if e.missing:
        lines.append(f"       no figure for {', '.join(m[:40] for m in e.missing[:3])}")
        lines.append("       give the machine's with --embodied-kg KG (docs/impact.md)")
    return lines


def comparison_lines(comparison: ComparisonRecord, unit: str) -> list[str]:
    if comparison.units is None:
        return _equivalent_lines(comparison)
    return _per_unit_lines(comparison, unit)


def _equivalent_lines(c: ComparisonRecord) -> list[str]:
    eq = {e.key: e for e in c.equivalents}
    chat = eq["chatbot_queries"]
    return [
        "In everyday terms (this run's machine energy):",
        f"  {fmt_count(eq['smartphone_charges'].value)} smartphone charges (0.022 kWh each, US EPA 2024)",
        f"  {fmt_count(eq['petrol_ml'].value)} mL of petrol burned for the same CO2",
        f"  {fmt_count(eq['web_searches'].value)} web searches (0.3 Wh each, Google 2009)",
        f"  {fmt_count(chat.value)} to {fmt_count(chat.high or chat.value)} chatbot queries "
        "(2.9 to 0.3 Wh each: disputed)",
        f"  ≈ {fmt_count(eq['image_generations'].value)} image generations or "
        f"≈ {fmt_count(eq['text_generations'].value)} text generations",
        "  (study means of Power Hungry Processing: whole-node A100 figures, GPU+CPU+RAM)",
    ]


def _per_unit_lines(c: ComparisonRecord, unit: str) -> list[str]:
    assert c.units is not None and c.energy_per_unit_j is not None and c.kwh_per_1000 is not None
    name = c.unit_name
    lines = [
        f"Per {singular(name)} {fmt_energy(c.energy_per_unit_j)} · per 1,000 "
        f"{fmt_energy(c.energy_per_unit_j * 1000)} = {c.kwh_per_1000:.3g} kWh ({fmt_count(c.units)} {name})"
    ]
    if c.task is not None:
        t = c.task
        if t.inference_is and t.inferences is not None:
            lines.append(
                f"Graded per study inference: {t.inference_is} ({fmt_count(c.units)} {name} = "
                f"{fmt_count(t.inferences)} inferences)"
            )
        lines += [
            f"vs {t.task} (study mean {t.mean_kwh_per_1000:g} kWh per 1,000, sd {t.std_kwh_per_1000:g}):",
            f"  {ratio_text(t.ratio_to_mean)}: grade {t.grade} (A best to G worst),",
            f"  less energy than {_share(1 - t.share_of_models_below)} of its models (log-normal fit)",
        ]
    if c.task_declined:
        lines.append(f"Not {c.task_declined}")
    if c.units is not None and not any(p.is_run for p in c.scale):
        lines.append(f"({name} are not the study's inferences: the run is not placed on its scale)")
    lines.append("kWh per 1,000 inferences, log scale (study: whole-node A100 means, GPU+CPU+RAM):")
    values = [p.kwh_per_1000 for p in c.scale if p.kwh_per_1000 > 0]
    if not values:
        return lines
    lo, hi = math.log10(min(values) / 2), math.log10(max(values) * 1.5)
    for p in c.scale:
        if p.kwh_per_1000 > 0:
            filled = 1 + round((math.log10(p.kwh_per_1000) - lo) / (hi - lo) * (BAR_WIDTH - 1))
        else:
            filled = 0
        marker = ">" if p.is_run else " "
        lines.append(f"{marker} {p.label[:30]:<30} {p.kwh_per_1000:>9.3g}  {'#' * filled}")
    return lines


def ratio_text(ratio: float) -> str:
    if ratio >= 1:
        return f"{fmt_count(ratio)}x the mean"
    return f"{fmt_count(1 / ratio)}x less than the mean"


def _share(fraction: float) -> str:
    """A share of models, never rounded to a misleading 0% or 100%."""
    percent = 100 * fraction
    if percent > 99.5:
        return "over 99%"
    if percent < 0.5:
        return "under 1%"
    return f"{percent:.0f}%"


def singular(name: str) -> str:
    """``inferences`` as ``inference`` (a unit's name, for 'per ...')."""
    return name[:-1] if name.endswith("s") and len(name) > 1 else name
