"""``aicarbon references`` and ``aicarbon regions``: the reference tasks and the grids known."""

from __future__ import annotations

from typing import Annotated

import typer
from aicarbon.cli.common import command
from aicarbon.errors import AicarbonError


@command()
def references(
    serving: Annotated[
        bool, typer.Option("--serving", help="List the published figures of served models instead.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="NAME", help="With --serving: only the rows of this model."),
    ] = None,
) -> None:
    """List the reference AI tasks that --task grades against, with their source."""
    if serving:
        _serving_references(model)
        return
    if model is not None:
        raise AicarbonError("--model lists served models' figures: give it with --serving")
    from aicarbon.impact.references import BOUNDARY, STUDY, tasks
    from aicarbon.impact.unit_kinds import describe

    typer.echo(f"{'key':<22} {'task':<31} {'mean':>7} {'sd':>6}  kWh per 1,000 inferences")
    for t in tasks():
        line = f"{t.key:<22} {t.task:<31} {t.mean_kwh_per_1000:>7g} {t.std_kwh_per_1000:>6g}"
        if t.units_per_inference != 1:
            line += f"  (1 inference = {describe(t.unit_kind, t.units_per_inference)})"
        typer.echo(line)
    typer.echo(f"\nSource: {STUDY}.\nBoundary: {BOUNDARY}.")


def _serving_references(model: str | None) -> None:
    """``aicarbon references --serving [--model NAME]``: the rows of serving_references.csv."""
    from aicarbon.report.escape import visible
    from aicarbon.serving.references import matching, references

    rows = references() if model is None else matching([model])
    if not rows:
        raise AicarbonError(f"no published figures for the model {visible(model or '')!r}")
    typer.echo(f"{'model':<40} {'hardware':<15} {'batch':>5}  {'point':<8}  figure; then source, task")
    for r in rows:
        if r.j_per_output_token is not None:
            figure = f"{r.j_per_output_token:g} J/output token"
        else:
            figure = f"{r.kwh_per_1000_queries:g} kWh/1,000 queries"
        typer.echo(f"{r.model:<40} {r.on:<15} {r.batch:>5}  {r.point:<8}  {figure}")
        typer.echo(f"  {r.source} ({r.date}), {r.task}")
    typer.echo(
        "\nGPU energy only, at steady state (ML.ENERGY) or batch 1 (AI Energy Score):\n"
        "compare with the GPU figure of 'aicarbon serve', indicatively (hardware, batch\n"
        "and task differ). Sources: profiler/data/serving_references.csv."
    )


@command()
def regions(
    country: Annotated[str | None, typer.Argument(help="ISO3 country code; none lists countries.")] = None,
) -> None:
    """List the grid intensities aicarbon knows (from codecarbon's data)."""
    from aicarbon.impact import grid
    from aicarbon.report.escape import visible

    if country is None:
        table = {code: grid.country(code) for code in grid.country_codes()}
        typer.echo(
            "Countries (--country); regions exist for "
            + ", ".join(grid.REGION_TABLES)
            + " and cloud (aicarbon regions cloud)"
        )
    elif country.lower() == "cloud":
        table = grid.cloud_regions()
    else:
        grid.country(country)
        table = grid.regions(country)
    for key, value in sorted(table.items()):
        typer.echo(visible(f"{key:<28} {value.g_per_kwh:8.1f} g/kWh  {value.label}"))
