"""``aicarbon references`` and ``aicarbon regions``: the reference tasks and the grids known."""

from __future__ import annotations

from typing import Annotated

import typer
from aicarbon.cli.common import command


@command()
def references() -> None:
    """List the reference AI tasks that --task grades against, with their source."""
    from aicarbon.impact.references import BOUNDARY, STUDY, tasks

    typer.echo(f"{'key':<22} {'task':<31} {'mean':>7} {'sd':>6}  kWh per 1,000 inferences")
    for t in tasks():
        typer.echo(f"{t.key:<22} {t.task:<31} {t.mean_kwh_per_1000:>7g} {t.std_kwh_per_1000:>6g}")
    typer.echo(f"\nSource: {STUDY}.\nBoundary: {BOUNDARY}.")


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
