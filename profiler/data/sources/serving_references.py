"""Recompute ``profiler/data/serving_references.csv`` from its sources' own data files.

Not part of the installed package: run it when a source publishes new data, and commit its
output whole (the header names the commits it was made from).

    git clone https://github.com/ml-energy/leaderboard mle
    git clone https://github.com/ebbalg/AI-climate-overview aies
    python profiler/data/sources/serving_references.py \\
        --ml-energy mle --ml-energy-commit "$(git -C mle rev-parse HEAD)" \\
        --ai-energy-score aies/data/AI-energy-leaderboard \\
        --ai-energy-score-commit "$(git -C aies rev-parse HEAD)" > profiler/data/serving_references.csv

- **ML.ENERGY v3** (``public/data/models/*.json`` of the leaderboard's repository, which its web
  page reads): for each language model, task, GPU model and GPU count, the configuration of
  least energy per output token (``point`` ``min``, its ``max_num_seqs`` as ``batch``) and the
  one at ``max_num_seqs`` 64 (``point`` ``batch 64``), where measured. Where the leaderboard
  lists two runs of one batch size, the lower is kept. Diffusion models (no tokens) are left out.
- **AI Energy Score** (the leaderboard's per-task CSVs, ``model,total_gpu_energy,energy_score``
  and ``class`` for text generation): every row, ``total_gpu_energy`` being GPU kWh per 1,000
  queries at batch 1 (the leaderboard shows it times 1,000, in Wh), ``energy_score`` its stars;
  one H100, except text generation's class C ("multiple cloud GPUs": their count is not in the
  data, and ``gpus`` is left empty).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable
from pathlib import Path

COLUMNS = [
    "source", "date", "model", "hardware", "gpus", "batch", "point", "task",
    "j_per_output_token", "kwh_per_1000_queries",
]  # fmt: skip
ML_ENERGY = "ML.ENERGY v3.0"
AI_ENERGY_SCORE = "AI Energy Score"
AIES_TASKS = {
    "asr": "speech recognition",
    "image_captioning": "image captioning",
    "image_classification": "image classification",
    "image_generation": "image generation",
    "object_detection": "object detection",
    "question_answering": "extractive question answering",
    "sentence_similarity": "sentence similarity",
    "summarization": "summarization",
    "text_classification": "text classification",
    "text_generation": "text generation",
}

HEADER = """\
# Published energy of served models, for `aicarbon serve`'s comparison (indicative: a run on other
# hardware, batch or task compares only roughly). GPU energy only in both sources. Every row: its
# source and date, the hardware, the GPU count (empty: several, their count not published), the
# batch size, which point of the source's data it is, the task, and one figure with its unit:
#   j_per_output_token: GPU joules per output token at steady state (ML.ENERGY: Zeus, vLLM 0.11.1);
#   kwh_per_1000_queries: GPU kWh per 1,000 queries at batch 1 (AI Energy Score).
# Made by profiler/data/sources/serving_references.py from the sources' own data; do not edit.
# ML.ENERGY rows: The ML.ENERGY Leaderboard v3.0 (https://ml.energy/leaderboard, benchmark released
#   December 2025, data last updated {mle_date}), recomputed from the JSON its page reads
#   (https://github.com/ml-energy/leaderboard, public/data/models): for each model, task, GPU
#   model and count, "min" is the configuration of least J per output token (its batch size,
#   vLLM's max_num_seqs) and "batch 64" the one at max_num_seqs 64.
#   Commit {mle_commit}.
# AI Energy Score rows: Hugging Face's AI Energy Score leaderboard
#   (https://huggingface.co/spaces/AIEnergyScore/Leaderboard; NVIDIA H100, batch 1, 1,000 queries
#   per task), its per-task CSVs (total_gpu_energy; the stars, energy_score) as copied on
#   2025-07-03 into https://github.com/ebbalg/AI-climate-overview (data/AI-energy-leaderboard):
#   the leaderboard as it stood then. "point": the model's stars (5: least energy for its task
#   and class, 1: most). Commit {aies_commit}.
"""


def _figure(value: float) -> str:
    return f"{value:.4g}"


def ml_energy_rows(models: Iterable[dict], task_names: dict[str, str], date: str) -> list[dict[str, str]]:
    """The per-token rows of the leaderboard's model files (``models``: each file's JSON)."""
    rows: list[dict[str, str]] = []
    for model in sorted(models, key=lambda m: (m["model_id"].lower(), m["task"])):
        groups: dict[tuple[str, int], dict[int, float]] = {}
        for c in model["configurations"]:
            j = c.get("energy_per_token_joules")
            if j is None or not j > 0:
                continue
            batches = groups.setdefault((c["gpu_model"], int(c["num_gpus"])), {})
            batch = int(c["max_num_seqs"])
            batches[batch] = min(j, batches.get(batch, j))
        for (gpu, count), batches in sorted(groups.items()):
            best = min(batches, key=lambda b: (batches[b], b))
            points = [("min", best)] + ([("batch 64", 64)] if 64 in batches else [])
            for point, batch in points:
                rows.append({
                    "source": ML_ENERGY, "date": date, "model": model["model_id"],
                    "hardware": f"NVIDIA {gpu}", "gpus": str(count), "batch": str(batch),
                    "point": point, "task": task_names.get(model["task"], model["task"]),
                    "j_per_output_token": _figure(batches[batch]), "kwh_per_1000_queries": "",
                })  # fmt: skip
    return rows


def ai_energy_score_rows(tables: dict[str, str], date: str) -> list[dict[str, str]]:
    """Every row of the leaderboard's per-task CSVs (``tables``: file stem -> text)."""
    rows: list[dict[str, str]] = []
    for stem in sorted(tables):
        task = AIES_TASKS[stem]
        for r in csv.DictReader(io.StringIO(tables[stem])):
            kwh = float(r["total_gpu_energy"])
            if not kwh > 0:
                continue
            klass = r.get("class") or ""
            named = f"{task} (class {klass})" if klass else task
            rows.append({
                "source": AI_ENERGY_SCORE, "date": date, "model": r["model"].strip(),
                "hardware": "NVIDIA H100", "gpus": "" if klass == "C" else "1", "batch": "1",
                "point": f"{int(r['energy_score'])} stars", "task": named,
                "j_per_output_token": "", "kwh_per_1000_queries": _figure(kwh),
            })  # fmt: skip
    return rows


def render(rows: list[dict[str, str]], mle_date: str, mle_commit: str, aies_commit: str) -> str:
    out = io.StringIO()
    out.write(HEADER.format(mle_date=mle_date, mle_commit=mle_commit, aies_commit=aies_commit))
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ml-energy", type=Path, required=True, help="a checkout of ml-energy/leaderboard")
    parser.add_argument("--ml-energy-commit", required=True)
    parser.add_argument("--ai-energy-score", type=Path, required=True, help="the folder of its task CSVs")
    parser.add_argument("--ai-energy-score-commit", required=True)
    args = parser.parse_args(argv)
    data = args.ml_energy / "public" / "data"
    date = json.loads((data / "index.json").read_text(encoding="utf-8"))["last_updated"]
    tasks = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((data / "tasks").glob("*.json"))]
    names = {t["task"]: f"{t['task_display_name']}" for t in tasks}
    models = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((data / "models").glob("*.json"))]
    tables = {p.stem: p.read_text(encoding="utf-8") for p in sorted(args.ai_energy_score.glob("*.csv"))}
    rows = ml_energy_rows(models, names, date) + ai_energy_score_rows(tables, "2025")
    sys.stdout.write(render(rows, date, args.ml_energy_commit, args.ai_energy_score_commit))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
