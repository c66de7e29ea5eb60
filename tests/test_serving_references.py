"""The published figures beside a served model: the data file's rows (recomputed from the
sources' own data by profiler/data/sources/serving_references.py, which these tests run on
data shaped like the sources'), the closest published setting for a machine, and the listing."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from aicarbon.records.run import Run
from aicarbon.serving.references import closest, matching, published, references, summary
from conftest import call_aicarbon

ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = ROOT / "profiler" / "data" / "serving_references.csv"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def generator() -> ModuleType:
    path = ROOT / "profiler" / "data" / "sources" / "serving_references.py"
    spec = importlib.util.spec_from_file_location("serving_references_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config(gpu: str, n: int, batch: int, j: float | None) -> dict[str, object]:
    c: dict[str, object] = {"gpu_model": gpu, "num_gpus": n, "max_num_seqs": batch}
    if j is not None:
        c["energy_per_token_joules"] = j
    return c


def test_the_generator_keeps_each_settings_least_energy_and_batch_64() -> None:
    model = {
        "model_id": "org/Model-8B",
        "task": "lm-arena-chat",
        "configurations": [
            config("H100", 1, 8, 0.45), config("H100", 1, 64, 0.12), config("H100", 1, 512, 0.0702),
            config("H100", 1, 768, 0.0713),
            config("H100", 1, 96, 0.0922), config("H100", 1, 96, 0.0876),  # two runs: the lower
            config("H100", 2, 32, 0.2), config("H100", 2, 128, 0.0),  # no energy: left out
            config("B200", 1, 256, None),  # none measured: no row
        ],
    }  # fmt: skip
    rows = generator().ml_energy_rows([model], {"lm-arena-chat": "LLM Chat (LM Arena)"}, "2026-02-16")
    got = [(r["hardware"], r["gpus"], r["batch"], r["point"], r["j_per_output_token"]) for r in rows]
    assert got == [
        ("NVIDIA H100", "1", "512", "min", "0.0702"),
        ("NVIDIA H100", "1", "64", "batch 64", "0.12"),
        ("NVIDIA H100", "2", "32", "min", "0.2"),  # no batch 64 measured on two GPUs
    ]
    assert {r["task"] for r in rows} == {"LLM Chat (LM Arena)"}
    assert all(not r["kwh_per_1000_queries"] for r in rows)


def test_the_generator_keeps_every_ai_energy_score_row_and_leaves_class_c_gpus_unknown() -> None:
    tables = {
        "text_generation": "model,total_gpu_energy,energy_score,class\n"
        "org/small,0.0013,5,A\norg/huge,3.43,1,C\norg/broken,0,3,A\n",
        "asr": "model,total_gpu_energy,energy_score\nopenai/whisper-tiny,0.01344,5\n",
    }
    rows = generator().ai_energy_score_rows(tables, "2025")
    got = [(r["model"], r["gpus"], r["point"], r["task"], r["kwh_per_1000_queries"]) for r in rows]
    assert got == [
        ("openai/whisper-tiny", "1", "5 stars", "speech recognition", "0.01344"),
        ("org/small", "1", "5 stars", "text generation (class A)", "0.0013"),
        ("org/huge", "", "1 stars", "text generation (class C)", "3.43"),
    ]


def test_the_data_file_is_the_generators_output_and_names_its_sources_commits() -> None:
    text = DATA_FILE.read_text(encoding="utf-8")
    head = text.split("\nsource,", 1)[0]
    assert len(re.findall(r"Commit [0-9a-f]{40}\.", head)) == 2  # each source pinned
    assert "https://github.com/ml-energy/leaderboard" in head and "AIEnergyScore/Leaderboard" in head
    rows = references()
    assert {r.source for r in rows} == {"ML.ENERGY v3.0", "AI Energy Score"}
    settings: dict[tuple[str, tuple[str, str, int | None, str]], list[str]] = {}
    for r in rows:
        assert r.date and r.hardware.startswith("NVIDIA ") and r.task and r.batch.isdigit(), r
        assert (r.j_per_output_token is None) != (r.kwh_per_1000_queries is None), r
        settings.setdefault((r.model, r.setting), []).append(r.point)
    for (model, setting), points in settings.items():
        if setting[0] == "ML.ENERGY v3.0":  # one least-energy point per setting, then batch 64
            assert points in (["min"], ["min", "batch 64"]), (model, setting)
    for model, setting in settings:
        if setting[0] != "ML.ENERGY v3.0":
            continue
        at = {r.point: r for r in rows if r.model == model and r.setting == setting}
        if "batch 64" in at:  # the least is the least
            assert at["min"].j_per_output_token <= at["batch 64"].j_per_output_token  # type: ignore[operator]


def test_the_issues_figures_are_the_leaderboards() -> None:
    """The figures issue 19 quotes from ML.ENERGY v3, as recomputed."""
    rows = closest(matching([LLAMA_8B]), ["NVIDIA H100 80GB HBM3"])
    h100 = {(r.point, r.batch): r.j_per_output_token for r in rows}
    assert h100 == {("min", "512"): 0.07019, ("batch 64", "64"): 0.1186}
    seventy = closest(matching(["Llama-3.1-70B-Instruct"]), ["NVIDIA H100 80GB HBM3"] * 4)
    assert [(r.gpus, r.j_per_output_token) for r in seventy][0] == (4, 0.3731)
    oss = closest(matching(["openai/gpt-oss-20b"]), ["NVIDIA H100 80GB HBM3"])
    assert oss[0].j_per_output_token == 0.04422 and oss[0].batch == "1536"


def test_the_closest_setting_follows_the_machines_gpus() -> None:
    rows = matching(["vllm", "serve", LLAMA_8B, "--port", "8000"])
    assert {r.source for r in rows} == {"ML.ENERGY v3.0"} and matching(["some-other-model"]) == []
    b200 = closest(rows, ["NVIDIA B200"])
    assert {r.hardware for r in b200} == {"NVIDIA B200"} and len(b200) == 2
    qwen = matching(["Qwen/Qwen3-32B"])  # published on one H100 and on two
    two = closest(qwen, ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"])
    assert {(r.hardware, r.gpus) for r in two} == {("NVIDIA H100", 2)} and len({r.task for r in two}) == 1
    one = closest(qwen, ["NVIDIA H100 PCIe"] * 3)  # no 3-GPU setting: the fewest H100s
    assert {(r.hardware, r.gpus) for r in one} == {("NVIDIA H100", 1)}


def test_a_model_only_the_ai_energy_score_measured_is_shown_per_query_in_joules_too() -> None:
    rows = closest(matching(["meta-llama/Meta-Llama-3.1-8B"]), ["NVIDIA H100 80GB HBM3"])
    assert len(rows) == 1 and rows[0].kwh_per_1000_queries == 0.01738
    line = summary(rows)
    assert line.startswith(
        "meta-llama/Meta-Llama-3.1-8B on 1x NVIDIA H100: 0.01738 kWh per 1,000 queries, 62.6 J per query"
    )
    assert "AI Energy Score, 2025, text generation (class A); batch 1 (3 stars); GPU only" in line
    huge = closest(matching(["CohereForAI/c4ai-command-r-plus"]), [])
    assert "on several NVIDIA H100" in summary(huge)


def test_the_report_says_why_a_published_figure_is_indicative() -> None:
    run = Run.load(ROOT / "tests" / "data" / "run-v4-serve.json")
    run.command = ["vllm", "serve", LLAMA_8B]
    run.host.gpus = ["NVIDIA H100 80GB HBM3"]
    assert run.serving is not None
    run.serving.mean_running = 3.0
    lines = published(run)
    assert lines[0].startswith(f"published: {LLAMA_8B} on 1x NVIDIA H100: 0.07019-0.1186 J per output token")
    assert lines[1:] == ["indicative only: requests running here 3, published batches 64 to 512"]
    run.host.gpus = ["NVIDIA A100-SXM4-80GB"]
    assert "indicative only: this machine's GPUs differ from the published run's" in published(run)
    run.command = ["python", "-m", "server", "meta-llama/Meta-Llama-3.1-8B"]
    assert published(run)[-1].startswith("indicative only: published at batch 1")


def test_references_serving_lists_every_row_and_filters_by_model() -> None:
    out = call_aicarbon("references", "--serving")
    assert out.returncode == 0
    listed = [line for line in out.stdout.splitlines() if line.startswith(("  ML.ENERGY", "  AI Energy"))]
    assert len(listed) == len(references())
    one = call_aicarbon("references", "--serving", "--model", LLAMA_8B)
    assert one.returncode == 0 and one.stdout.count(LLAMA_8B) == 4
    assert f"{LLAMA_8B:<40} 1x NVIDIA H100    512  min       0.07019 J/output token" in one.stdout
    none = call_aicarbon("references", "--serving", "--model", "x\x1b[2J")
    assert none.returncode == 2 and "\x1b" not in none.stderr and "no published figures" in none.stderr
    alone = call_aicarbon("references", "--model", "x")
    assert alone.returncode == 2 and "give it with --serving" in alone.stderr
    assert "(1 inference = 10 output tokens)" in call_aicarbon("references").stdout


def test_a_served_window_carries_the_published_lines() -> None:
    """serve's own path: the published lines land in the record's serving window."""
    from aicarbon.serving.serve import _add

    run = Run.load(ROOT / "tests" / "data" / "run-v4-serve.json")
    run.command = ["vllm", "serve", LLAMA_8B]
    record = run.serving
    assert record is not None
    record.published = []

    class Watcher:
        problem = None

    _add(run, record, Watcher())  # type: ignore[arg-type]
    assert run.serving is record and record.published and record.published[0].startswith("published: ")
