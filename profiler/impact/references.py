"""Reference AI tasks ("Power Hungry Processing") and how a run compares with them.

Grades, A (most efficient) to G: within one task, the study's models are modelled as a
log-normal distribution fitted to the task's published mean and standard deviation (method of
moments: sigma² = ln(1 + (sd/mean)²), mu = ln(mean) - sigma²/2). A run's position is
z = (ln(kWh per 1,000) - mu) / sigma, and the letter is its band of width one log-standard-
deviation centred on the median model: D for |z| < 0.5, C and E one band further, down to A
(z < -2.5) and G (z >= 2.5). Lower edges belong to the higher band.

Why not the AI Energy Score's stars: they split the range between the least and most efficient
model of a task into five equal-width bands, which needs every model's figure; the study
publishes only each task's mean and spread. The share of the study's models that used less
energy, Phi(z), is given beside the letter.

Every comparison uses the run's machine energy: the study's figures are whole-node figures
(GPU + CPU + RAM of an 8-GPU A100 server, idle GPUs included), never GPU-only.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from ..datafiles import read_csv
from ..errors import AicarbonError
from ..records.run import ComparisonRecord, Equivalent, ScalePoint, TaskComparison

STUDY = "Luccioni, Jernite & Strubell, 'Power Hungry Processing', FAccT 2024 (Table 2)"
BOUNDARY = (
    "whole-node figures: 8x NVIDIA A100-SXM4-80GB on AWS, GPU + CPU + RAM with 7 idle GPUs, "
    "CodeCarbon; compared with this run's machine energy"
)
GRADE_EDGES = (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5)
GRADES = "ABCDEFG"


class ReferenceError(AicarbonError, ValueError):
    """An unknown task key, with the valid ones."""


@dataclass(frozen=True)
class ReferenceTask:
    key: str
    task: str
    mean_kwh_per_1000: float
    std_kwh_per_1000: float
    median_kwh_per_1000: float | None
    unit_kind: str = "inference"  # what one inference is: unit_kinds (output-token, image, ...)
    units_per_inference: float = 1.0

    def lognormal(self) -> tuple[float, float]:
        sigma2 = math.log(1.0 + (self.std_kwh_per_1000 / self.mean_kwh_per_1000) ** 2)
        return math.log(self.mean_kwh_per_1000) - sigma2 / 2.0, math.sqrt(sigma2)


def tasks() -> list[ReferenceTask]:
    return [
        ReferenceTask(
            r["key"],
            r["task"],
            float(r["mean_kwh_per_1000"]),
            float(r["std_kwh_per_1000"]),
            float(r["median_kwh_per_1000"]) if r["median_kwh_per_1000"] else None,
            r["unit_kind"],
            float(r["units_per_inference"]),
        )
        for r in read_csv("reference_tasks.csv")
    ]


def task(key: str) -> ReferenceTask:
    for t in tasks():
        if t.key == key:
            return t
    raise ReferenceError(f"unknown task {key!r}; valid tasks: {', '.join(t.key for t in tasks())}")


def grade(kwh_per_1000: float, reference: ReferenceTask) -> tuple[str, float, float]:
    """(letter, z, share of the study's models, as modelled, that used less energy)."""
    mu, sigma = reference.lognormal()
    z = (math.log(kwh_per_1000) - mu) / sigma
    share_below = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    return grade_for_z(z), z, share_below


def grade_for_z(z: float) -> str:
    """A for z < -2.5 ... D for -0.5 <= z < 0.5 ... G for z >= 2.5."""
    return GRADES[bisect.bisect_right(GRADE_EDGES, z)]


def _equivalence_rows() -> dict[str, dict[str, str]]:
    return {r["key"]: r for r in read_csv("equivalences.csv")}


def equivalents(energy_j: float, emissions_g: float) -> list[Equivalent]:
    rows = _equivalence_rows()
    kwh, wh = energy_j / 3.6e6, energy_j / 3600.0

    def row(key: str) -> tuple[float, str]:
        return float(rows[key]["value"]), f"{rows[key]['source']}, {rows[key]['year']}"

    phone, phone_src = row("smartphone_charge")
    petrol, petrol_src = row("petrol_co2")
    search, search_src = row("web_search")
    chat_low, chat_low_src = row("chatbot_query_low")
    chat_high, chat_high_src = row("chatbot_query_high")
    by_key = {t.key: t for t in tasks()}
    image, text = by_key["image-generation"], by_key["text-generation"]
    return [
        Equivalent("smartphone_charges", "smartphone charges", kwh / phone, None, phone_src),
        Equivalent(
            "petrol_ml", "mL of petrol burned (same CO2)", emissions_g / petrol * 1000.0, None, petrol_src
        ),
        Equivalent("web_searches", "web searches", wh / search, None, search_src),
        Equivalent(
            "chatbot_queries",
            "chatbot queries",
            wh / chat_high,
            wh / chat_low,
            f"{chat_high_src} (2.9 Wh) to {chat_low_src} (0.3 Wh)",
        ),
        Equivalent(
            "image_generations",
            "image generations",
            kwh / (image.mean_kwh_per_1000 / 1000),
            None,
            f"{STUDY}, mean of {image.task}",
        ),
        Equivalent(
            "text_generations",
            "text generations",
            kwh / (text.mean_kwh_per_1000 / 1000),
            None,
            f"{STUDY}, mean of {text.task}",
        ),
    ]


def compare(
    energy_j: float,
    emissions_g: float,
    units: float | None = None,
    unit_name: str = "inferences",
    task_key: str | None = None,
) -> ComparisonRecord:
    """The run against the study: per unit, per study inference where its units are inferences
    or convert to the task's (``unit_kinds``), and graded only then."""
    from .unit_kinds import INFERENCE, inferences, kind_of

    record = ComparisonRecord(
        STUDY, BOUNDARY, energy_j, units, unit_name, equivalents=equivalents(energy_j, emissions_g)
    )
    if units is None:
        return record
    per_unit_j = energy_j / units
    record.energy_per_unit_j, record.kwh_per_1000 = per_unit_j, per_unit_j * 1000.0 / 3.6e6
    count: float | None = units if kind_of(unit_name) == INFERENCE else None
    ref, how = (task(task_key), "") if task_key is not None else (None, "")
    if ref is not None:
        count, how = inferences(units, unit_name, ref.unit_kind, ref.units_per_inference)
        if count is None:
            record.task_declined = f"not graded against {ref.task}: {how}"
    points = [ScalePoint(t.task, t.mean_kwh_per_1000) for t in tasks()]
    if count is not None and count > 0:
        per_1000_kwh = energy_j / count * 1000.0 / 3.6e6
        record.kwh_per_1000_inferences = per_1000_kwh
        points.append(ScalePoint("this run, per inference", per_1000_kwh, True))
    record.scale = sorted(points, key=lambda p: p.kwh_per_1000)
    if ref is not None and count is not None and record.kwh_per_1000_inferences:
        per_1000_kwh = record.kwh_per_1000_inferences
        letter, z, below = grade(per_1000_kwh, ref)
        record.task = TaskComparison(
            ref.key,
            ref.task,
            ref.mean_kwh_per_1000,
            ref.std_kwh_per_1000,
            per_1000_kwh / ref.mean_kwh_per_1000,
            z,
            below,
            letter,
            inferences=count,
            inference_is=how,
        )
    return record
