"""Embodied emissions: hand-computed amortisations and shares, every data row's source, no silent
zero for unknown hardware, bounds refused in one line, and the report's separate line."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from aicarbon.datafiles import read_csv
from aicarbon.impact.embodied import SECONDS_PER_YEAR, embodied
from aicarbon.records.run import Run
from aicarbon.report.impact_text import embodied_lines
from conftest import run_aicarbon

BASE = Run.load(Path(__file__).resolve().parent / "data" / "run-v3-generate-text.json")
YEAR = SECONDS_PER_YEAR


def run_on(cpu: str, gpus: list[str], logical_cpus: int, duration_s: float) -> Run:
    host = replace(BASE.host, cpu_model=cpu, gpus=gpus, logical_cpus=logical_cpus)
    return replace(BASE, host=host, duration_s=duration_s)


def test_a_gpu_for_one_percent_of_its_lifespan() -> None:
    """An H100 (575 kg) held for 1% of 4 years: 5.75 kg; the unknown host is named, not 0."""
    e = embodied(run_on("Intel Xeon", ["NVIDIA H100 80GB HBM3"], 16, 0.04 * YEAR), None, 4.0)
    assert e.low_g == e.high_g == pytest.approx(575_000 * 0.01)
    assert [p.part for p in e.parts] == ["GPU NVIDIA H100 80GB HBM3"] and e.missing == [
        "the machine (Intel Xeon)"
    ]


def test_a_runner_holds_its_share_of_the_host() -> None:
    """GitHub's 4-vCPU runner on a 128-thread EPYC 7763 host (1,151.7 kg): an hour over 4 years."""
    e = embodied(run_on("AMD EPYC 7763 64-Core Processor", [], 4, 3600), None, 4.0)
    assert e.parts[0].share == pytest.approx(4 / 128)
    assert e.low_g == pytest.approx(1_151_700 * 4 / 128 * 3600 / (4 * YEAR))
    assert e.missing == []


def test_the_users_figure_covers_the_whole_machine_and_the_lifespan_scales_it() -> None:
    run = run_on("Some CPU", [], 8, 1000)
    four, eight = embodied(run, 2000.0, 4.0), embodied(run, 2000.0, 8.0)
    assert four.low_g == pytest.approx(2_000_000 * 1000 / (4 * YEAR)) and four.missing == []
    assert eight.low_g == pytest.approx(four.low_g / 2)


def test_unknown_hardware_is_said_never_a_silent_zero() -> None:
    e = embodied(run_on("Mystery CPU", ["Mystery GPU"], 8, 100), None, 4.0)
    assert e.parts == [] and e.missing == ["GPU Mystery GPU", "the machine (Mystery CPU)"]
    lines = embodied_lines(e)
    assert lines[0] == "Embodied: not counted (making the hardware); no figure for this hardware"
    assert lines[1].strip() == "no figure for GPU Mystery GPU, the machine (Mystery CPU)"
    assert "--embodied-kg KG" in lines[2] and all(len(line) <= 80 for line in lines)


def test_every_data_row_has_a_source_and_a_range() -> None:
    rows = read_csv("embodied.csv")
    assert rows and all(r["source"] and 0 < float(r["low_kg"]) <= float(r["high_kg"]) for r in rows)
    assert all(r["kind"] in ("gpu", "host") for r in rows)
    assert all(float(r["threads"]) > 0 for r in rows if r["kind"] == "host")


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [("--lifespan", "0.1", "at least 0.5 years"), ("--lifespan", "nan", "finite"),
     ("--embodied-kg", "-1", "must not be negative"), ("--embodied-kg", "1e9", "at most 1e6")],
)  # fmt: skip
def test_bounds_are_refused_in_one_line_before_the_command_runs(
    tmp_path: Path, flag: str, value: str, said: str
) -> None:
    out = run_aicarbon("run", flag, value, "--", "touch", str(tmp_path / "ran"))
    assert out.returncode == 2 and said in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    assert not (tmp_path / "ran").exists()


def test_the_report_shows_embodied_apart_from_co2e(tmp_path: Path) -> None:
    out = run_aicarbon("run", "--sensors", "estimate", "--embodied-kg", "1500", "--lifespan", "5", "--",
                       sys.executable, "-c", "pass")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Embodied ~" in out.stderr and "5-year lifespan; not in CO2e" in out.stderr
    assert "the machine (your figure): 1500 kg (--embodied-kg)" in out.stderr


def test_devices_says_which_figures_apply_here() -> None:
    from aicarbon.impact.embodied import applying

    host = replace(BASE.host, cpu_model="AMD EPYC 7763 64-Core Processor", logical_cpus=4,
                   gpus=["NVIDIA H100 80GB HBM3", "Mystery GPU"])  # fmt: skip
    assert applying(host) == [
        "GPU NVIDIA H100 80GB HBM3: 575 kgCO2e (Boavizta bottom-up (H100 SXM))",
        "host AMD EPYC 7763: 1151.7 kgCO2e, share 0.0312 (Eco-CI (GitHub-hosted runner host))",
        "GPU Mystery GPU: no figure",
        "give the machine's with --embodied-kg KG (docs/impact.md)",
    ]


def test_a_jobs_nodes_each_count_their_own_time() -> None:
    job = Run.load(Path(__file__).resolve().parent / "data" / "run-v4-job.json")
    e = embodied(job, 1000.0, 4.0)
    node_seconds = sum(n.duration_s for n in job.nodes)
    assert e.low_g == pytest.approx(1_000_000 * node_seconds / (4 * YEAR))
    assert e.parts[0].part == "the machine (your figure), on each of 2 nodes"
