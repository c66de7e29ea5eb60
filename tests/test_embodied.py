"""Embodied emissions: hand-computed amortisations and shares, every data row's source, no silent
zero for unknown hardware, bounds refused in one line, and the report's separate line."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from aicarbon.datafiles import read_csv
from aicarbon.impact.embodied import SECONDS_PER_YEAR, embodied
from aicarbon.records.run import EmbodiedPart, EmbodiedRecord, Run
from aicarbon.report.impact_text import embodied_lines
from conftest import run_aicarbon

BASE = Run.load(Path(__file__).resolve().parent / "data" / "run-v3-generate-text.json")
YEAR = SECONDS_PER_YEAR


def run_on(cpu: str, gpus: list[str], logical_cpus: int, duration_s: float, allowed: int = 0) -> Run:
    host = replace(BASE.host, cpu_model=cpu, gpus=gpus, logical_cpus=logical_cpus, cpus_allowed=allowed)
    return replace(BASE, host=host, duration_s=duration_s)


def test_a_gpu_for_one_percent_of_its_lifespan() -> None:
    """An H100 SXM (Boavizta: 575.1 kg) held for 1% of 4 years: 5.751 kg; the unknown host is
    named, not 0."""
    e = embodied(run_on("Intel Xeon", ["NVIDIA H100 80GB HBM3"], 16, 0.04 * YEAR), None, 4.0)
    assert e.low_g == e.high_g == pytest.approx(575_100 * 0.01)
    assert [p.part for p in e.parts] == ["GPU NVIDIA H100 80GB HBM3"] and e.missing == [
        "the machine (Intel Xeon)"
    ]


@pytest.mark.parametrize(
    ("nvml", "kg"),
    [("NVIDIA H100 80GB HBM3", 575.1), ("NVIDIA A100-SXM4-80GB", 567.7), ("NVIDIA H200", 1067.0),
     ("NVIDIA L4", 123.5), ("NVIDIA H100 PCIe", 566.7), ("Tesla T4", 130.7)],
)  # fmt: skip
def test_each_card_has_boaviztas_figure_under_nvmls_name(nvml: str, kg: float) -> None:
    """The issue's per-card figures (H100 SXM 575, A100 SXM4 80 GB 568, H200 1,067, L4 124),
    as BoaviztAPI computes them, matched on NVML's whole name."""
    e = embodied(run_on("Intel Xeon", [nvml], 16, 4 * YEAR), None, 4.0)
    assert e.low_g == e.high_g == pytest.approx(kg * 1000) and e.parts[0].source == "Boavizta bottom-up"


def test_a_gpu_is_matched_on_its_whole_name() -> None:
    e = embodied(run_on("Intel Xeon", ["NVIDIA H200 NVL", "NVIDIA H100 80GB HBM3e"], 16, 100), None, 4.0)
    assert e.parts == [] and e.missing[:2] == ["GPU NVIDIA H200 NVL", "GPU NVIDIA H100 80GB HBM3e"]


def test_a_runner_holds_its_share_of_the_host_and_the_sources_make_a_range() -> None:
    """GitHub's 4-vCPU runner on an EPYC 7763 host for an hour over 4 years. Eco-CI: 1,151.7 kg
    at 4/128; Boavizta's Azure archetypes: 1,199-7,245 kg at 4/128; its OVH ones: 441-2,487 kg
    at 4/256. The range: 441 x 4/256 to 7,245 x 4/128 kg, at the share most rows give."""
    e = embodied(run_on("AMD EPYC 7763 64-Core Processor", [], 4, 3600), None, 4.0)
    (part,) = e.parts
    hour = 3600 / (4 * YEAR)
    assert part.share == pytest.approx(4 / 128) and e.missing == []
    assert e.low_g == pytest.approx(441_000 * 4 / 256 * hour)
    assert e.high_g == pytest.approx(7_245_000 * 4 / 128 * hour)
    assert part.low_kg * part.share == pytest.approx(441 * 4 / 256)
    assert part.source == "Boavizta archetypes, BoaviztAPI 2.5.0; Eco-CI"


def test_cloud_carbon_footprints_server_and_boaviztas_archetypes_span_one_aws_cpu() -> None:
    """An m5.2xlarge-like VM (8 vCPUs of a 96-thread Xeon Platinum 8175M host): CCF's AWS
    platforms 1,611-2,944 kg, Boavizta's archetypes 668.1-11,440 kg; all at 8/96."""
    e = embodied(run_on("Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz", [], 8, 4 * YEAR), None, 4.0)
    assert e.parts[0].share == pytest.approx(8 / 96)
    assert (e.low_g, e.high_g) == (pytest.approx(668_100 * 8 / 96), pytest.approx(11_440_000 * 8 / 96))
    assert "Cloud Carbon Footprint, AWS" in e.parts[0].source


def test_a_cpu_is_matched_as_whole_words_and_not_as_its_next_version() -> None:
    from aicarbon.impact.embodied import host_rows

    assert {r["match"] for r in host_rows("Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz")} == {"Xeon E5-2670"}
    assert {r["match"] for r in host_rows("Intel(R) Xeon(R) CPU E5-2670 v2 @ 2.50GHz")} == {
        "Xeon E5-2670 v2",
        "Xeon E5-2670 V2",
    }
    assert host_rows("Intel(R) Xeon(R) Platinum 8280L CPU @ 2.70GHz") == []  # not the 8280's
    assert host_rows("") == [] and host_rows("Intel(R) Xeon(R) Processor") == []


def test_the_users_figure_covers_the_whole_machine_and_the_lifespan_scales_it() -> None:
    run = run_on("Some CPU", [], 8, 1000)
    four, eight = embodied(run, 2000.0, 4.0), embodied(run, 2000.0, 8.0)
    assert four.low_g == pytest.approx(2_000_000 * 1000 / (4 * YEAR)) and four.missing == []
    assert eight.low_g == pytest.approx(four.low_g / 2)


def test_a_cpuset_holds_its_share_of_the_machine() -> None:
    """A container or Slurm task bound to 2 of the machine's 8 CPUs holds a quarter of it; of a
    128-thread EPYC 7763 host, 2/128."""
    mine = embodied(run_on("Some CPU", [], 8, 1000, allowed=2), 2000.0, 4.0)
    assert mine.parts[0].share == 0.25
    assert mine.low_g == pytest.approx(2_000_000 * 0.25 * 1000 / (4 * YEAR))
    runner = embodied(run_on("AMD EPYC 7763 64-Core Processor", [], 4, 3600, allowed=2), None, 4.0)
    assert runner.parts[0].share == pytest.approx(2 / 128)


def test_the_host_records_the_cpus_the_run_may_use() -> None:
    import os

    from aicarbon.sensors.cpu_info import CpuInfo
    from aicarbon.sensors.host import host_info

    host = host_info(CpuInfo("GenuineIntel", "Intel Xeon"))
    assert host.cpus_allowed == len(os.sched_getaffinity(0)) and 1 <= host.cpus_allowed <= host.logical_cpus


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
    assert {r["kind"] for r in rows} == {"gpu", "host", "server"}
    assert all(float(r["threads"]) > 0 for r in rows if r["kind"] == "host")
    header = (Path(__file__).resolve().parent.parent / "profiler" / "data" / "embodied.csv").read_text()
    for source in {r["source"].split(",")[0] for r in rows}:
        assert source in header.split("\nkind,")[0], source  # described above the rows
    assert re.search(r"commit\s*#?\s*[0-9a-f]{40}", header) and "BoaviztAPI 2.5.0" in header
    # No server of the data is beyond what a whole rack of them weighs in CO2e (Boavizta's GCP
    # archetypes, which count hundreds of terabytes of RAM, are left out).
    assert max(float(r["high_kg"]) for r in rows) < 1e6


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
        "GPU NVIDIA H100 80GB HBM3: 575.1 kgCO2e (Boavizta bottom-up)",
        "host EPYC 7763: 220.5-7245 kgCO2e, share 0.0312 (Boavizta archetypes, BoaviztAPI 2.5.0; Eco-CI)",
        "GPU Mystery GPU: no figure",
        "give the machine's with --embodied-kg KG (docs/impact.md)",
    ]
    unknown = replace(host, cpu_model="Mystery CPU", gpus=[])
    assert applying(unknown) == [
        "the machine (Mystery CPU): no figure",
        "a generic compute server: 275.3-3943 kgCO2e (Boavizta archetypes, BoaviztAPI 2.5.0)",
        "give the machine's with --embodied-kg KG (docs/impact.md)",
    ]


def test_a_jobs_nodes_each_count_their_own_time() -> None:
    job = Run.load(Path(__file__).resolve().parent / "data" / "run-v4-job.json")
    e = embodied(job, 1000.0, 4.0)
    node_seconds = sum(n.duration_s for n in job.nodes)
    assert e.low_g == pytest.approx(1_000_000 * node_seconds / (4 * YEAR))
    assert e.parts[0].part == "the machine (your figure), on each of 2 nodes"


def test_the_generator_spans_each_cpus_servers_and_leaves_gpu_platforms_out() -> None:
    """profiler/data/sources/embodied.py on data shaped like CCF's: one row per platform CPU and
    size, the range over its instance types, a platform with GPUs left out (counted per card)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "profiler" / "data" / "sources" / "embodied.py"
    spec = importlib.util.spec_from_file_location("embodied_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    instances = (
        "Instance type,Platform Total Number of vCPU,Platform CPU Name\n"
        "m5.large,96,Xeon Platinum 8175M\nr5.large,96,Xeon Platinum 8175M\np3.2xlarge,64,Xeon E5-2686 v4\n"
    )
    embodied_csv = (
        ",type,additional_memory,additional_storage,additional_cpus,additional_gpus,total\n"
        "0,m5.large,511.0,0.0,100.0,0.0,1611.0\n1,r5.large,1244.0,0.0,100.0,0.0,2344.0\n"
        "2,p3.2xlarge,311.0,0.0,100.0,1200.0,2611.0\n3,unknown.large,0,0,0,0,1000\n"
    )
    found = module.ccf_aws(instances, embodied_csv)
    assert found == [("Xeon Platinum 8175M", 96, 1611.0, 1611.0, "m5.large"),
                     ("Xeon Platinum 8175M", 96, 2344.0, 2344.0, "r5.large")]  # fmt: skip
    (row,) = module.host_rows(found, "Cloud Carbon Footprint, AWS")
    assert (row["match"], row["low_kg"], row["high_kg"], row["threads"], row["detail"]) == (
        "Xeon Platinum 8175M",
        "1611",
        "2344",
        "96",
        "m5.large, r5.large",
    )
    assert module.cpu_match("Intel Xeon Platinum 8124M") == "Xeon Platinum 8124M"
    assert module.cpu_match("Annapurna Labs Graviton2") == "Graviton2"


def with_embodied(run: Run, part: str = "GPU NVIDIA H100 80GB HBM3") -> Run:
    assert run.impact is not None
    e = EmbodiedRecord(low_g=12.5, high_g=40.0, lifespan_years=4.0, missing=["the machine (<b>cpu</b>)"],
                       parts=[EmbodiedPart(part, 500.0, 1600.0, 0.25, "Boavizta")])  # fmt: skip
    return replace(run, impact=replace(run.impact, embodied=e))


def test_the_history_keeps_the_embodied_range_apart_and_lists_it(tmp_path: Path) -> None:
    from aicarbon.history.store import History
    from aicarbon.report.history_table import render

    with History.open({"AICARBON_HOME": str(tmp_path)}) as history:
        history.save(BASE)
        history.save(with_embodied(BASE))
        newer, older = history.runs()
    assert (newer.embodied_low_g, newer.embodied_high_g) == (12.5, 40.0)
    assert (older.embodied_low_g, older.embodied_high_g) == (None, None)
    assert newer.emissions_g == older.emissions_g  # the operational CO2e is not touched
    text = render([newer, older], tmp_path)
    assert text.count("embodied ~12.5 g to 40.0 g CO2e") == 1
    assert newer.to_dict()["embodied_high_g"] == 40.0


def test_a_version_3_history_gains_the_embodied_columns_from_its_records(tmp_path: Path) -> None:
    """A history of schema 3 whose records carry impact.embodied: the migration fills the new
    columns from them."""
    import sqlite3

    from aicarbon.history.store import _V4, SCHEMA_VERSION, History

    with History.open({"AICARBON_HOME": str(tmp_path)}) as history:
        history.save(with_embodied(BASE))
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    db.execute("UPDATE runs SET embodied_low_g = NULL, embodied_high_g = NULL")
    for column in re.findall(r"ADD COLUMN (\w+)", _V4):
        db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    with History.open({"AICARBON_HOME": str(tmp_path)}) as history:
        (run,) = history.runs()
    assert (run.embodied_low_g, run.embodied_high_g) == (12.5, 40.0)
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4


def test_the_html_report_shows_embodied_apart_with_every_string_escaped() -> None:
    from html.parser import HTMLParser

    from aicarbon.report.html import render

    page = render(with_embodied(BASE, part="GPU <script>alert(1)</script>"))
    assert "<h3>Embodied: making the hardware (not in the CO2e above)</h3>" in page
    assert "About 12.5 g to 40.0 g CO2e, amortised over a 4-year lifespan." in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "No figure for the machine (&lt;b&gt;cpu&lt;/b&gt;)" in page
    assert '<td class="n">500-1600</td><td class="n">0.25</td><td>Boavizta</td>' in page
    HTMLParser().feed(page)  # parses
    assert "Embodied" not in render(BASE)  # a record without the figure: no section
