"""Every codecarbon data file grid.py reads, read from the installed codecarbon; a codecarbon
with another layout is one sentence naming its version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aicarbon.impact import grid
from conftest import run_aicarbon as aicarbon


@pytest.mark.parametrize("relative", grid.DATA_FILES)
def test_every_data_file_exists_in_the_installed_codecarbon(relative: str) -> None:
    assert (grid.codecarbon_data_dir() / relative).is_file()


def test_the_installed_codecarbon_is_a_verified_version() -> None:
    major, minor, patch = (int(p) for p in grid.codecarbon_version().split(".")[:3])
    assert (3, 3, 2) <= (major, minor, patch) < (3, 4, 0)


def test_every_table_reads_with_plausible_values() -> None:
    world = grid.world_average()
    assert 300 < world.g_per_kwh < 600
    countries = [grid.country(code) for code in grid.country_codes()]
    assert len(countries) > 150 and all(0 <= c.g_per_kwh < 1500 for c in countries)
    for iso3 in grid.REGION_TABLES:
        table = grid.regions(iso3)
        assert table and all(0 <= v.g_per_kwh < 1500 for v in table.values()), iso3
    cloud = grid.cloud_regions()
    assert cloud and all(0 <= v.g_per_kwh < 1500 for v in cloud.values())
    assert grid.resolve("USA", "california").g_per_kwh == pytest.approx(
        grid.regions("USA")["california"].g_per_kwh
    )


def fake_codecarbon(
    root: Path, version: str, drop: str | None = None, replace: tuple[str, str] | None = None
) -> Path:
    """A stand-in codecarbon package (data files copied from the real one) on a path of its own."""
    package = root / "codecarbon"
    shutil.copytree(grid.codecarbon_data_dir(), package / "data")
    (package / "__init__.py").write_text("raise ImportError('aicarbon must never import codecarbon')\n")
    dist = root / f"codecarbon-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: codecarbon\nVersion: {version}\n")
    if drop:
        (package / "data" / drop).unlink()
    if replace:
        (package / "data" / replace[0]).write_text(replace[1])
    return root


def test_a_missing_data_file_names_the_codecarbon_version_found(tmp_path: Path) -> None:
    root = fake_codecarbon(tmp_path, "3.3.0", drop="private_infra/2023/usa_emissions.json")
    out = aicarbon("run", "--region", "california", "--", "true", env={"PYTHONPATH": str(root)})
    assert out.returncode == 2
    assert out.stderr == (
        "aicarbon: codecarbon 3.3.0 has no usable grid data file private_infra/2023/usa_emissions.json "
        "(missing); aicarbon reads the layout of codecarbon >=3.3.2,<3.4: "
        "pip install 'codecarbon>=3.3.2,<3.4', or set --carbon-intensity\n"
    )


@pytest.mark.parametrize(
    ("relative", "content", "args", "why"),
    [
        ("private_infra/global_energy_mix.json", "[1, 2]", ["--country", "FRA"], "(not a JSON object)"),
        ("private_infra/global_energy_mix.json", "{", ["--country", "FRA"], "(not valid JSON)"),
        (
            "private_infra/carbon_intensity_per_source.json",
            '{"coal": 995}',
            [],
            "'s grid data is not laid out as aicarbon expects (KeyError: 'world_average')",
        ),
        (
            "cloud/impact.csv",
            "a,b\n1,2\n",
            ["--region", "gcp:europe-west1"],
            "is not laid out as aicarbon expects",
        ),
    ],
)
def test_a_data_file_of_another_layout_is_one_line(
    tmp_path: Path, relative: str, content: str, args: list[str], why: str
) -> None:
    root = fake_codecarbon(tmp_path, "3.9.0", replace=(relative, content))
    out = aicarbon("run", *args, "--", "true", env={"PYTHONPATH": str(root)})
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("aicarbon: codecarbon 3.9.0") and why in out.stderr, out.stderr
