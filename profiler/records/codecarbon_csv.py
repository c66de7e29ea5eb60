"""codecarbon's ``emissions.csv``: the columns of each of its generations, which a reader and
a writer match by name (codecarbon's own writer, ``FileOutput``, compares the header's *set* of
names with its row's; their order is free).

The lists are ``EmissionsData``'s fields, in order, in each version's source
(``codecarbon/output_methods/emissions_data.py``; tests/test_emissions_csv.py checks the newest
against the installed codecarbon). Every generation multiplies energy and power by the PUE.
"""

from __future__ import annotations

from collections.abc import Sequence

# codecarbon's EmissionsData fields, in its order (codecarbon/output_methods/emissions_data.py).
COLUMNS_32 = (  # codecarbon 2.8.0 to 3.0.x
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "country_name", "country_iso_code", "region",
    "cloud_provider", "cloud_region", "os", "python_version", "codecarbon_version", "cpu_count",
    "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude", "ram_total_size",
    "tracking_mode", "on_cloud", "pue",
)  # fmt: skip
COLUMNS_34 = (  # codecarbon 3.0.x to 3.1.x: water
    *COLUMNS_32[:14], "water_consumed", *COLUMNS_32[14:], "wue",
)  # fmt: skip
COLUMNS_38 = (  # codecarbon 3.2.0 to 3.3.x: utilisation
    *COLUMNS_34[:31], "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", *COLUMNS_34[31:],
)  # fmt: skip
GENERATIONS = {
    frozenset(COLUMNS_38): "codecarbon 3.2-3.3",
    frozenset(COLUMNS_34): "codecarbon 3.0-3.1",
    frozenset(COLUMNS_32): "codecarbon 2.8-3.0",
}


def generation_of(names: Sequence[str]) -> str | None:
    """Which generation a header is (its names, in any order, each once), or None."""
    if len(set(names)) != len(names):
        return None
    return GENERATIONS.get(frozenset(names))
