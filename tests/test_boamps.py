"""``aicarbon report --format boamps``, validated by Boavizta's own BoAmps schemas
(tests/data/boamps, copied unchanged) with the ``jsonschema`` package, nothing fetched."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from aicarbon.records.run import Run
from aicarbon.report.boamps import report
from conftest import call_aicarbon

DATA = Path(__file__).resolve().parent / "data"
SCHEMAS = DATA / "boamps"
RECORDS = sorted(
    p
    for p in [*DATA.glob("run-v*.json"), *(DATA.parent / "corpus" / "records").glob("*.json")]
    if not p.name.startswith("bad-")
)


@pytest.fixture(scope="module")
def validator():  # noqa: ANN201 - jsonschema's validator type
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*_schema.json")}
    registry = Registry().with_resources(
        (schema["id"], Resource.from_contents(schema, default_specification=DRAFT4))
        for schema in schemas.values()
    )
    main = schemas["report_schema.json"]
    Draft4Validator.check_schema(main)
    return Draft4Validator(main, registry=registry)


def errors(validator, document: object) -> list[str]:  # noqa: ANN001
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_schemas_refuse_what_they_require(validator) -> None:  # noqa: ANN001
    """The validator is wired to the referenced schemas: a missing required field of the
    report, of a measure and of a dataset is caught."""
    good = report(Run.load(RECORDS[0]))
    assert errors(validator, good) == []
    for path in (("task",), ("measures", 0, "powerConsumption"), ("task", "dataset", 0, "dataType")):
        broken = json.loads(json.dumps(good))
        node = broken
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        assert errors(validator, broken), path


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_every_record_exports_a_valid_report(validator, path: Path) -> None:  # noqa: ANN001
    run = Run.load(path)
    text = call_aicarbon("report", str(path), "-f", "boamps").stdout
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written"))
    assert errors(validator, document) == []
    (measure,) = document["measures"]
    assert measure["powerConsumption"] == pytest.approx(run.machine_energy_j / 3.6e6)
    assert measure["measurementMethod"] == run.tool.name and measure["measurementDuration"] == run.duration_s
    assert document.get("quality") == {"measured": "high", "estimated": "low", "mixed": "medium"}.get(
        run.method
    )
    if run.command_line:
        assert run.command_line in document["task"]["taskDescription"]  # text stays text


def test_a_graded_run_says_its_task_and_units(validator) -> None:  # noqa: ANN001
    run = Run.load(DATA / "run-v3-generate-text.json")
    assert run.comparison is not None and run.comparison.task is not None
    document = report(run)
    assert errors(validator, document) == []
    task = document["task"]
    assert (task["taskStage"], task["taskFamily"]) == ("inference", run.comparison.task.task)
    assert task["nbRequest"] == run.comparison.units == task["dataset"][0]["dataQuantity"]
    ungraded = report(dataclasses.replace(run, comparison=None))
    assert (ungraded["task"]["taskStage"], ungraded["task"]["taskFamily"]) == ("unknown", "unknown")
    assert "nbRequest" not in ungraded["task"] and errors(validator, ungraded) == []


def test_a_measured_gpu_run_names_its_tracking_and_its_gpus(validator) -> None:  # noqa: ANN001
    run = Run.load(DATA / "run-v3-generate-text.json")
    domains = [
        dataclasses.replace(
            run.energy.domains[0], id="cpu:package-0", method="measured", source="RAPL package-0"
        ),
        dataclasses.replace(
            run.energy.domains[0], id="gpu:0", kind="gpu", method="measured", source="NVML energy counter"
        ),
    ]
    host = dataclasses.replace(run.host, gpus=["NVIDIA H100 80GB HBM3"] * 2, virtualised=False)
    measured = dataclasses.replace(
        run,
        energy=dataclasses.replace(run.energy, domains=domains),
        host=host,
        timeline=dataclasses.replace(run.timeline, domains=[]),
    )
    document = report(measured)
    assert errors(validator, document) == []
    measure = document["measures"][0]
    assert (measure["cpuTrackingMode"], measure["gpuTrackingMode"], document["quality"]) == (
        "rapl",
        "nvml",
        "high",
    )
    gpus = [c for c in document["infrastructure"]["components"] if c["componentType"] == "gpu"]
    assert gpus == [{"componentName": "NVIDIA H100 80GB HBM3", "componentType": "gpu", "nbComponent": 2}]
    assert document["infrastructure"]["infraType"] == "onPremise"


def who(run: Run) -> tuple[str, str]:
    measure = report(run)["measures"][0]
    return measure["measurementMethod"], measure["version"]


def test_who_measured_is_named(validator) -> None:  # noqa: ANN001
    """aicarbon's runs, runs measured by codecarbon under aicarbon, and imported codecarbon rows."""
    run = Run.load(DATA / "run-v3-generate-text.json")
    assert who(run) == ("aicarbon", run.tool.version)
    source = "codecarbon 3.3.2 offline tracker"
    domains = [
        dataclasses.replace(d, id=d.id.split(":")[0] + ":codecarbon", source=source)
        for d in run.energy.domains
    ]
    energy = dataclasses.replace(run.energy, domains=domains)
    by_codecarbon = dataclasses.replace(
        run, energy=energy, timeline=dataclasses.replace(run.timeline, domains=[])
    )
    assert who(by_codecarbon) == ("codecarbon", "3.3.2")
    assert errors(validator, report(by_codecarbon)) == []
    imported = dataclasses.replace(
        run, tool=dataclasses.replace(run.tool, name="codecarbon", version="2.8.4")
    )
    assert who(imported) == ("codecarbon", "2.8.4")


def test_a_jobs_report_counts_every_node(validator) -> None:  # noqa: ANN001
    run = Run.load(DATA / "run-v4-job.json")
    document = json.loads(call_aicarbon("report", str(DATA / "run-v4-job.json"), "-f", "boamps").stdout)
    assert errors(validator, document) == []
    (cpu,) = [c for c in document["infrastructure"]["components"] if c["componentType"] == "cpu"]
    assert cpu["nbComponent"] == run.host.logical_cpus * 2  # two nodes
    (measure,) = document["measures"]
    assert measure["powerConsumption"] == pytest.approx(sum(n.machine_energy_j for n in run.nodes) / 3.6e6)


def test_the_share_of_the_machine_the_run_held_goes_to_each_component(validator) -> None:  # noqa: ANN001
    """BoAmps has no embodied field: the share (a runner's 4 of its host's 128 threads, a cpuset)
    is how its readers amortise the hardware. GPUs measured are held whole; no share without a
    narrowing (BoAmps reads a missing share as 1)."""
    from aicarbon.impact.embodied import embodied

    base = Run.load(DATA / "run-v3-generate-text.json")
    host = dataclasses.replace(base.host, cpu_model="AMD EPYC 7763 64-Core Processor", logical_cpus=4,
                               gpus=["NVIDIA H100 80GB HBM3"])  # fmt: skip
    run = dataclasses.replace(base, host=host)
    assert run.impact is not None
    run.impact.embodied = embodied(run, None, 4.0)
    out = report(run)
    validator.validate(out)
    shares = {c["componentType"]: c["share"] for c in out["infrastructure"]["components"]}
    assert shares == {"cpu": pytest.approx(4 / 128), "gpu": 1.0, "ram": pytest.approx(4 / 128)}
    bound = dataclasses.replace(base, host=dataclasses.replace(base.host, logical_cpus=8, cpus_allowed=2))
    assert bound.impact is not None
    bound.impact.embodied = None
    assert {c.get("share") for c in report(bound)["infrastructure"]["components"]} == {0.25}
    whole = dataclasses.replace(base, host=dataclasses.replace(base.host, cpus_allowed=0))
    assert all("share" not in c for c in report(whole)["infrastructure"]["components"])
