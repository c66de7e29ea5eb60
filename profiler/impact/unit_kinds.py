"""What a run's units are, and how many of a reference task's inferences they make.

A unit's name says its kind: ``inferences``, ``requests``, ``queries`` or ``prompts`` are
inferences (one answer to one input); ``tokens`` or ``output tokens`` are output tokens;
``images`` are images; anything else is the user's own kind. A reference task says what one of
its inferences is (``reference_tasks.csv``: a text-generation inference made 10 output tokens).
Units are graded only like with like: inferences as inferences, a task's own unit converted
through its definition, anything else not at all (and the record says why).
"""

from __future__ import annotations

INFERENCE, OUTPUT_TOKEN, IMAGE, CUSTOM = "inference", "output-token", "image", "custom"
_NAMES = {
    INFERENCE: ("inference", "inferences", "request", "requests", "query", "queries", "prompt", "prompts",
                "answer", "answers", "response", "responses"),
    OUTPUT_TOKEN: ("token", "tokens", "output token", "output tokens", "output-token", "output-tokens",
                   "generated token", "generated tokens", "new token", "new tokens"),
    IMAGE: ("image", "images", "picture", "pictures"),
}  # fmt: skip
_PLURAL = {INFERENCE: "inferences", OUTPUT_TOKEN: "output tokens", IMAGE: "images"}


def kind_of(unit_name: str) -> str:
    """The kind of a unit, from its name (case and surrounding blanks ignored)."""
    name = " ".join(unit_name.lower().replace("_", " ").split())
    return next((kind for kind, names in _NAMES.items() if name in names), CUSTOM)


def describe(kind: str, count: float) -> str:
    """``10 output tokens``, ``1 image``."""
    plural = _PLURAL.get(kind, "units")
    return f"{count:g} {plural[:-1] if count == 1 else plural}"


def inferences(
    units: float, unit_name: str, task_kind: str, per_inference: float
) -> tuple[float | None, str]:
    """How many of the task's inferences ``units`` make, and how (a phrase for the report); None
    and the reason (one sentence) when they are not comparable."""
    kind = kind_of(unit_name)
    if kind == task_kind:
        if per_inference == 1:
            return units, ""
        return units / per_inference, f"one inference = {describe(kind, per_inference)}"
    if kind == INFERENCE:
        return units, ""
    what = f"'{unit_name}'" if kind == CUSTOM else _PLURAL[kind]
    per = "" if task_kind == INFERENCE else f" of {describe(task_kind, per_inference)}"
    return None, f"the run counted {what}, and the study's figure is per inference{per}"
