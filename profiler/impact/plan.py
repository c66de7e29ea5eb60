"""Energy to emissions and water.

    emissions_g = energy_kWh × PUE × grid intensity (gCO2e/kWh)
    water_L     = energy_kWh × on-site WUE + energy_kWh × PUE × electricity water intensity

``energy_kWh`` is IT energy: what aicarbon measured on the machine. PUE scales it up to what the
building drew (cooling, power conversion); on-site WUE is the water the building's cooling
evaporates per kWh of IT energy; the electricity's water intensity is the water the power plants
used per kWh delivered.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..limits import MAX_UNITS
from ..settings import Setting

if TYPE_CHECKING:
    from ..records.run import GridRecord, ImpactRecord, Run

J_PER_KWH = 3.6e6
CONTRAST_GRIDS = ("FRA", None, "CHN")  # None: the world average


def emissions_g(energy_kwh: float, pue: float, g_per_kwh: float) -> float:
    return energy_kwh * pue * g_per_kwh


def water_litres(energy_kwh: float, pue: float, wue_l_per_kwh: float, electricity_l_per_kwh: float) -> float:
    return energy_kwh * wue_l_per_kwh + energy_kwh * pue * electricity_l_per_kwh


def water_defaults() -> dict[str, float]:
    from ..datafiles import read_csv

    return {r["key"]: float(r["value"]) for r in read_csv("water.csv")}


def grid_for(settings: dict[str, Setting]) -> GridRecord:
    """The grid the settings name; raises grid.GridError for an unknown country or region."""
    from ..records.run import GridRecord
    from . import grid

    override = settings["carbon-intensity"]
    country, region = settings["country"], settings["region"]
    if override.value is not None:
        return GridRecord(
            float(override.value), "your figure", f"set with {override.origin}", None, override.origin
        )
    found = grid.resolve(country.value, region.value)
    origin = region.origin if region.value else country.origin
    return GridRecord(
        found.g_per_kwh,
        found.label,
        found.source,
        found.year,
        origin,
        is_world_default=not country.value and not region.value,
    )


def check_grid(settings: dict[str, Setting]) -> None:
    """``grid.GridError`` for what ``grid_for`` would refuse, without building the record."""
    from . import grid

    if settings["carbon-intensity"].value is None:
        grid.resolve(settings["country"].value, settings["region"].value)


def compute(
    energy_j: float, attributed_j: float, settings: dict[str, Setting], grid_record: GridRecord
) -> ImpactRecord:
    from ..records.run import ContrastRecord, ImpactRecord, WaterRecord
    from . import grid

    energy_kwh, attributed_kwh = energy_j / J_PER_KWH, attributed_j / J_PER_KWH
    pue = float(settings["pue"].value)
    defaults = water_defaults()
    wue = settings["wue"]
    electricity = settings["water-intensity"]
    electricity_l = (
        float(electricity.value) if electricity.value is not None else defaults["electricity_water_intensity"]
    )
    electricity_origin = (
        electricity.origin if electricity.value is not None else "default (Li et al. 2023, U.S. average)"
    )
    contrast = []
    for iso3 in CONTRAST_GRIDS:
        try:
            other = grid.country(iso3) if iso3 else grid.world_average()
        except grid.GridError:
            continue
        contrast.append(
            ContrastRecord(other.label, other.g_per_kwh, emissions_g(energy_kwh, pue, other.g_per_kwh))
        )
    return ImpactRecord(
        energy_kwh=energy_kwh,
        attributed_kwh=attributed_kwh,
        pue=pue,
        pue_origin=settings["pue"].origin,
        grid=grid_record,
        emissions_g=emissions_g(energy_kwh, pue, grid_record.g_per_kwh),
        attributed_emissions_g=emissions_g(attributed_kwh, pue, grid_record.g_per_kwh),
        water=WaterRecord(
            litres=water_litres(energy_kwh, pue, float(wue.value), electricity_l),
            attributed_litres=water_litres(attributed_kwh, pue, float(wue.value), electricity_l),
            wue_l_per_kwh=float(wue.value),
            wue_origin=wue.origin,
            electricity_l_per_kwh=electricity_l,
            electricity_origin=electricity_origin,
            source="Li, Yang, Islam, Ren, 'Making AI Less Thirsty' (2023) for the method and defaults",
        ),
        contrast=contrast,
    )


class ImpactPlan:
    """Settings resolved and checked before the command runs, applied to the record after.
    (A plain class: it is made before the command starts, when every import counts.)"""

    def __init__(
        self,
        settings: dict[str, Setting],
        units: float | None = None,
        unit_name: str = "inferences",
        task_key: str | None = None,
        window_j: float | None = None,
    ) -> None:
        self.settings, self.units, self.unit_name, self.task_key = settings, units, unit_name, task_key
        self.window_j = window_j  # a served model's window: the energy the units are compared with

    def _but(self, **changes: Any) -> ImpactPlan:
        fields = {"units": self.units, "unit_name": self.unit_name, "task_key": self.task_key,
                  "window_j": self.window_j, **changes}  # fmt: skip
        return ImpactPlan(self.settings, **fields)

    @functools.cached_property
    def grid(self) -> GridRecord:
        """The grid the settings name (checked by ``prepare``, before the run)."""
        return grid_for(self.settings)

    @classmethod
    def prepare(
        cls,
        flags: Mapping[str, Any],
        units: float | None,
        task_key: str | None,
        unit_name: str = "inferences",
        environ: dict[str, str] | None = None,
        cwd: Path | None = None,
        units_later: bool = False,
    ) -> ImpactPlan:
        """``units_later``: the measured code may count its units (aicarbon.add_units), so
        ``--task`` without ``--units`` is not refused yet (see ``with_counted_units``)."""
        from ..settings import SettingsError, resolve

        if units is not None and not (math.isfinite(units) and 0 < units <= MAX_UNITS):
            raise SettingsError(
                f"--units must be a positive number of units, at most {MAX_UNITS:.0e}; got {units:g}"
            )
        if task_key is not None:
            from .references import ReferenceError, task  # the reference data: only when asked

            task(task_key)
            if units is None and not units_later:
                raise ReferenceError("--task needs --units: how many inferences the run did")
        settings = resolve(flags, environ=environ, cwd=cwd)
        check_grid(settings)  # an unknown country, or a broken grid data file, stops it here
        return cls(settings, units, unit_name, task_key)

    def with_counted_units(self, run: Run) -> ImpactPlan:
        """The plan with the units the measured code counted, when none were given; without
        any, no grade (and a note saying why)."""
        if self.units is not None:
            return self
        serving = run.serving
        if serving is not None and serving.duration_s > 0 and serving.output_tokens > 0:
            # A served model: its window's requests (the study's inferences) or output tokens,
            # compared with the window's energy, not the whole run's.
            units, name = (
                (serving.requests, "requests")
                if serving.requests
                else (serving.output_tokens, "output tokens")
            )
            return self._but(units=units, unit_name=name, window_j=serving.energy_j)
        if run.work.units_counted > 0:
            # The code's name for its units, unless --unit-name gave another than the default.
            named = run.work.unit_name if run.work.unit_name and self.unit_name == "inferences" else None
            return self._but(units=run.work.units_counted, unit_name=named or self.unit_name)
        if self.task_key is not None:
            run.notes.append(
                f"no grade against {self.task_key}: give --units, or count units in the code "
                "with aicarbon.add_units()"
            )
            return self._but(task_key=None)
        return self

    def apply(self, run: Run) -> None:
        """Add the impact and comparison sections to a measured run; none to a run in which
        nothing was measured (no emissions or equivalents from nothing)."""
        from .references import compare

        if not run.counted:
            return
        run.impact = compute(run.machine_energy_j, run.attributed_energy_j, self.settings, self.grid)
        energy_j, emissions = run.machine_energy_j, run.impact.emissions_g
        if self.window_j is not None and run.machine_energy_j > 0:
            energy_j, emissions = self.window_j, emissions * self.window_j / run.machine_energy_j
        run.comparison = compare(energy_j, emissions, self.units, self.unit_name, self.task_key)
        from .embodied import embodied

        user_kg = self.settings["embodied-kg"].value
        lifespan = self.settings["lifespan"].value
        run.impact.embodied = embodied(run, float(user_kg) if user_kg is not None else None, float(lifespan))
