"""The engine facade: one settings object, records that import no engine, renderers that see
only records, a version-1 record still read, and the CLI calling the same prepare/finish as
aicarbon.track."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path
from typing import get_args, get_origin, get_type_hints

import pytest
from aicarbon import engine
from aicarbon.cli import run_command
from aicarbon.records.run import READABLE_SCHEMAS, SCHEMA, LabelsRecord, RecordError, Run
from aicarbon.settings import RunSettings, SettingsError
from conftest import run_aicarbon as aicarbon

PACKAGE = Path(engine.__file__).resolve().parent
V1_RECORD = Path(__file__).resolve().parent / "data" / "run-v1-generate-text.json"
V2_RECORD = Path(__file__).resolve().parent / "data" / "run-v2-generate-text.json"


def imported_modules(path: Path) -> set[str]:
    """The package-relative modules a file imports (``records``, ``report.escape``...)."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE).parent.parts
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = list(package[: len(package) - (node.level - 1)])
            found.add(".".join([*base, *(node.module or "").split(".")]).strip("."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aicarbon"):
            found.add(node.module.removeprefix("aicarbon").strip("."))  # type: ignore[union-attr]
    return found


@pytest.mark.parametrize("module", sorted((PACKAGE / "records").glob("*.py")), ids=lambda p: p.name)
def test_records_import_nothing_from_the_engine(module: Path) -> None:
    allowed = {"limits", "errors"} | {f"records.{p.stem}" for p in (PACKAGE / "records").glob("*.py")}
    assert imported_modules(module) <= allowed, module.name
    assert imported_modules(PACKAGE / "limits.py") == set()


@pytest.mark.parametrize("renderer", sorted((PACKAGE / "report").glob("*.py")), ids=lambda p: p.name)
def test_renderers_see_only_records(renderer: Path) -> None:
    allowed = {f"records.{p.stem}" for p in (PACKAGE / "records").glob("*.py")}
    allowed |= {f"report.{p.stem}" for p in (PACKAGE / "report").glob("*.py")}
    assert imported_modules(renderer) <= allowed, renderer.name


def test_the_run_command_calls_only_the_facade() -> None:
    tree = ast.parse(Path(run_command.__file__).read_text())
    run = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_run")
    used = {
        n.module
        for n in ast.walk(run)
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("aicarbon")
    }
    used |= {f"aicarbon.{a.name}" for n in ast.walk(run) if isinstance(n, ast.ImportFrom) for a in n.names}
    engine_modules = {
        "aicarbon.measurement.command",
        "aicarbon.impact.plan",
        "aicarbon.sensors",
        "aicarbon.measurement.sampler",
    }
    assert "aicarbon.engine" in used and not used & engine_modules


# -- the one settings object -------------------------------------------------------------------


def test_settings_are_frozen_typed_and_checked_when_built() -> None:
    settings = RunSettings(interval_s=0.5, sensors=frozenset({"estimate"}), tags=("a", "b"))
    with pytest.raises(AttributeError, match="frozen"):
        settings.interval_s = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        RunSettings(contry="FRA")  # type: ignore[call-arg]
    assert settings.describe()["sensors"] == ["estimate"] and settings.describe()["tags"] == ["a", "b"]
    assert settings.impact_flags() == {
        "country": None,
        "region": None,
        "carbon-intensity": None,
        "pue": None,
        "wue": None,
        "water-intensity": None,
        "embodied-kg": None,
        "lifespan": None,
    }


@pytest.mark.parametrize(
    ("kwargs", "keyword_says", "flag_says"),
    [
        ({"interval_s": 0.0}, "interval_s must be a number from 0.01 to 60", "--interval must be"),
        ({"units": float("nan")}, "units must be a positive number", "--units must be"),
        ({"carbon_intensity": -1.0}, "carbon_intensity must not be negative", "--carbon-intensity must"),
        ({"pue": "1.2"}, "pue must be a number; got '1.2'", "--pue must be a number"),
        ({"sensors": frozenset({"rapl", "gpu"})}, "unknown sensor gpu in sensors", "in --sensors"),
        ({"tags": ("ok", " ")}, "tags: at most 32 tags, none of them empty", "--tag:"),
        ({"note": "x" * 1001}, "note must be text of at most 1000 characters", "--note must be"),
    ],
)
def test_a_bad_setting_names_the_flag_or_the_keyword_the_user_wrote(
    kwargs: dict[str, object], keyword_says: str, flag_says: str
) -> None:
    with pytest.raises(SettingsError, match=keyword_says.replace("(", r"\(")):
        RunSettings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(SettingsError) as caught:
        RunSettings(**kwargs, spelling="flag")  # type: ignore[arg-type]
    assert flag_says in str(caught.value), str(caught.value)


def test_prepare_resolves_the_environment_and_finish_labels_and_grades(tmp_path: Path) -> None:
    settings = RunSettings(task="text-generation", name="gen", tags=("nightly",), note="n")
    prepared = engine.prepare(settings, environ={"AICARBON_COUNTRY": "FRA"}, cwd=tmp_path)
    assert prepared.plan.grid.origin == "AICARBON_COUNTRY"
    record = Run.load(V1_RECORD)
    record.impact = record.comparison = None
    engine.finish(record, prepared)
    assert (record.labels.name, record.labels.tags, record.labels.note) == ("gen", ["nightly"], "n")
    assert record.impact is not None and record.impact.grid.g_per_kwh < 100  # France
    assert record.comparison is not None and record.comparison.units == 20000.0  # counted units
    assert record.comparison.task is not None and record.comparison.task.key == "text-generation"


def test_a_failure_while_grading_is_a_note_and_the_measurement_is_kept(tmp_path: Path) -> None:
    prepared = engine.prepare(RunSettings(), environ={}, cwd=tmp_path)
    record = Run.load(V1_RECORD)
    energy = record.machine_energy_j
    from aicarbon.impact.plan import ImpactPlan

    broken = prepared._replace(plan=ImpactPlan({}))  # settings that cannot be applied
    engine.finish(record, broken)
    assert record.machine_energy_j == energy and record.work.phases
    assert any(n.startswith("emissions not computed (KeyError(") for n in record.notes), record.notes


# -- the record's versions ------------------------------------------------------------------------


def test_a_version_1_record_is_read_with_its_phases_and_written_as_version_4() -> None:
    raw = json.loads(V1_RECORD.read_text())
    assert raw["schema"] == "aicarbon.run/1" and "phases" in raw and "work" not in raw
    record = Run.load(V1_RECORD)
    assert [p.name for p in record.work.phases] == ["load-corpus", "train", "generate"]
    assert record.work.units_counted == 20000.0 and record.labels.name is None and record.labels.tags == []
    again = json.loads(record.to_json())
    assert again["schema"] == SCHEMA == READABLE_SCHEMAS[-1] == "aicarbon.run/4"
    assert again["work"]["units_counted"] == 20000.0 and "phases" not in again
    assert Run.from_dict(again).to_dict() == again


def test_a_version_2_record_written_back_as_version_4_keeps_every_field() -> None:
    """Written by aicarbon before failed phases were marked (tests/data): read, and written back
    as version 4 with exactly its own figures, plus the two fields version 3 added and those of
    version 4 (a plain run: no job, no nodes; no unit name; no conversion to study inferences)."""
    raw = json.loads(V2_RECORD.read_text())
    assert raw["schema"] == "aicarbon.run/2"
    again = json.loads(Run.load(V2_RECORD).to_json())
    assert again["schema"] == "aicarbon.run/4"
    assert [p.pop("failed") for p in again["work"]["phases"]] == [None, None, None]
    assert again["sampling"].pop("extrapolated_start_s") == 0.0
    assert (again.pop("job"), again.pop("nodes"), again.pop("serving")) == (None, [], None)
    assert again["host"].pop("cpus_allowed") == 0  # version 4: not read then
    assert again["work"].pop("unit_name") is None
    if again["impact"] is not None:
        assert again["impact"].pop("embodied") is None  # version 4: not computed then
    comparison = again["comparison"]
    assert (comparison.pop("kwh_per_1000_inferences"), comparison.pop("task_declined")) == (None, None)
    if comparison["task"] is not None:
        assert (comparison["task"].pop("inferences"), comparison["task"].pop("inference_is")) == (None, "")
    again["schema"] = raw["schema"]
    assert again == raw


def test_version_2_requires_its_labels_and_work_sections() -> None:
    data = Run.load(V1_RECORD).to_dict()
    for section in ("labels", "work"):
        broken = {k: v for k, v in data.items() if k != section}
        with pytest.raises(RecordError, match=f"{section}: missing"):
            Run.from_dict(broken)
    data["labels"]["tags"] = "not-a-list"
    with pytest.raises(RecordError, match="labels.tags"):
        Run.from_dict(data)


def test_a_version_1_record_renders_through_the_cli() -> None:
    out = aicarbon("report", str(V1_RECORD))
    assert out.returncode == 0, out.stderr
    assert "Phases" in out.stderr and "generate:" in out.stderr and "grade A" in out.stderr


def test_tags_and_note_from_the_command_line_reach_the_record(tmp_path: Path) -> None:
    out = aicarbon(
        "run", "-q", "--tag", "nightly", "--tag", "a100", "--note", "x<script>", "--json", "r.json",
        "--", "true", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["labels"] == {"name": None, "tags": ["nightly", "a100"], "note": "x<script>"}


RECORDS = sorted(
    p
    for p in [
        *(V1_RECORD.parent.glob("*.json")),
        *(V1_RECORD.parent.parent / "corpus" / "records").glob("*.json"),
    ]
    if not p.name.startswith("bad-")
)


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_every_record_is_read_and_written_back_byte_for_byte(path: Path) -> None:
    """A record of this schema comes back as it was, byte for byte; an older one is written as
    this schema once, and from then on comes back unchanged."""
    written = Run.load(path).to_json()
    assert Run.from_dict(json.loads(written)).to_json() == written
    if json.loads(path.read_text())["schema"] == SCHEMA:
        assert written == path.read_text()


# The figures written beside the fields, recomputed when read (Run's properties).
DERIVED = {
    "": {"schema"},
    "energy": {"machine_j", "attributed_j", "method", "partial", "average_power_w"},
    "attribution": {"cpu_share"},
}


def _mirrors(cls: type, data: object, where: str) -> None:
    """Every dataclass in ``cls`` has the JSON object's keys, in its order, but the derived."""
    assert dataclasses.is_dataclass(cls) and isinstance(data, dict), where
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    assert [k for k in data if k not in DERIVED.get(where, set())] == names, where
    for name in names:
        tp = hints[name]
        args = [a for a in get_args(tp) if a is not type(None)]
        if get_origin(tp) is list and dataclasses.is_dataclass(args[0]):
            for i, item in enumerate(data[name]):
                _mirrors(args[0], item, f"{where}.{name}[{i}]".lstrip("."))
        elif dataclasses.is_dataclass(tp) or (args and dataclasses.is_dataclass(args[0])):
            if data[name] is not None:
                _mirrors(tp if dataclasses.is_dataclass(tp) else args[0], data[name], name)


def test_the_run_dataclass_mirrors_its_json_part_for_part() -> None:
    """Run's fields are the record's keys, nested as they are, in their order: a field added to
    one and not the other, or moved, fails here (the derived figures excepted)."""
    data = json.loads((V1_RECORD.parent / "run-v4-job.json").read_text())
    assert data["work"]["phases"] and data["impact"] and data["comparison"]  # every part present
    assert data["job"] and data["nodes"]
    _mirrors(Run, data, "")
    run = Run.from_dict(data)
    assert (run.exit.status, run.sampling.interval_s, run.work.phases[0].name) == (
        data["exit"]["status"],
        data["sampling"]["interval_s"],
        data["work"]["phases"][0]["name"],
    )
    assert run.attribution.cpu_share == data["attribution"]["cpu_share"]
    assert run.machine_energy_j == data["energy"]["machine_j"]


def test_a_served_models_record_mirrors_its_json_too() -> None:
    """The serving part (aicarbon serve), from a record the serve command wrote."""
    data = json.loads((V1_RECORD.parent / "run-v4-serve.json").read_text())
    assert data["serving"] and data["serving"]["j_per_output_token"] == 0.05 and data["comparison"]["task"]
    _mirrors(Run, data, "")
    assert Run.from_dict(data).serving == Run.from_dict(json.loads(Run.from_dict(data).to_json())).serving


def test_a_version_1_record_is_read_as_version_3_without_changing_what_was_read() -> None:
    data = json.loads(V1_RECORD.read_text())
    before = json.dumps(data)
    run = Run.from_dict(data)
    assert json.dumps(data) == before  # the caller's object is not rearranged
    assert run.work.units_counted == data["units_counted"] and len(run.work.phases) == len(data["phases"])
    assert run.labels == LabelsRecord()
