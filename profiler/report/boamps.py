"""A run as a BoAmps report: Boavizta's open format for the energy of AI tasks
(https://github.com/Boavizta/BoAmps, ``model/*_schema.json``, format 1.1.0).

Every object the schemas require is written, from what the record knows and nothing else:

- ``measures[0]``: who measured and its version (aicarbon; codecarbon under its backend or for
  an imported row), the machine's energy in kWh (``powerConsumption``:
  the schema's name for it; the PUE is not applied: it is the data centre's, not the task's),
  the duration, the start (UTC, ``YYYY-MM-DD HH:MM:SS``), how CPU and GPU were tracked (each
  domain's method and source), and the average CPU utilisation of the machine.
- ``task``: with ``--task``, the reference task's name as ``taskFamily``, stage ``inference``
  (the reference figures are inference), the unit count as ``nbRequest`` and as the input
  dataset's ``dataQuantity``; without it, stage and family ``unknown``. The algorithm is not
  known to aicarbon: one empty algorithm object (the schema asks for at least one and
  requires none of its fields). ``taskDescription``: the run's name and command line.
- ``infrastructure``: the CPU (its model, ``nbComponent`` = logical CPUs), each GPU model with
  its count, the RAM in GB; each component's ``share`` of the physical machine where the run
  held part of it (a VM's vCPUs over its host's threads, a cpuset: the embodied line's share;
  the measured GPUs 1), BoAmps' way to let a reader amortise the hardware's manufacture (the
  format has no field for embodied emissions themselves); ``infraType`` ``onPremise`` on bare
  metal, ``other`` in a VM (a VM
  may be a public or a private cloud: aicarbon does not look it up). A job's record counts its
  nodes as rank 0's node times the node count (the record keeps only rank 0's machine facts).
- ``environment`` (only when the grid names a country): its country, region and intensity.
- ``quality``: ``high`` when every counted domain was measured (RAPL, NVML: within 10%),
  ``low`` when all were estimated (a utilisation model: the schema's widest band, 50%), and
  ``medium`` when mixed.

Strings stay strings (JSON escapes them); every number is finite (the record's are).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from typing import Any

from ..records.run import Run

FORMAT_VERSION = "1.1.0"
FORMAT_URI = "https://github.com/Boavizta/BoAmps/tree/main/model"
_KWH_J = 3.6e6
_GB = 1 << 30
_CODECARBON_VERSION = re.compile(r"codecarbon (\d+\.\d+\.\d+)")
_DATA_TYPES = (("image", "image"), ("text", "text"), ("speech", "audio"), ("audio", "audio"))


def report(run: Run) -> dict[str, Any]:
    """The BoAmps report of ``run``, as a JSON object."""
    out: dict[str, Any] = {
        "header": {
            "formatVersion": FORMAT_VERSION,
            "formatVersionSpecificationUri": FORMAT_URI,
            "reportId": str(uuid.uuid4()),
            "reportDatetime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "reportStatus": "draft",
        },
        "task": _task(run),
        "measures": [_measure(run)],
        "system": {"os": run.host.os or "unknown"},
        "infrastructure": _infrastructure(run),
    }
    environment = _environment(run)
    if environment is not None:
        out["environment"] = environment
    quality = {"measured": "high", "estimated": "low", "mixed": "medium"}.get(run.method)
    if quality is not None:
        out["quality"] = quality
    return out


def render(run: Run) -> str:
    return json.dumps(report(run), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _task(run: Run) -> dict[str, Any]:
    comparison = run.comparison
    graded = comparison.task if comparison is not None else None
    units = comparison.units if comparison is not None else None
    dataset: dict[str, Any] = {"dataUsage": "input", "dataType": _data_type(graded.key if graded else "")}
    if units is not None:
        dataset["dataQuantity"] = units
    task: dict[str, Any] = {
        "taskStage": "inference" if graded is not None else "unknown",
        "taskFamily": graded.task if graded is not None else "unknown",
        "algorithms": [{}],  # not known to aicarbon; the schema requires one, and none of its fields
        "dataset": [dataset],
    }
    if graded is not None and units is not None:
        task["nbRequest"] = units
    described = " · ".join(t for t in (run.labels.name or "", run.command_line) if t)
    if described:
        task["taskDescription"] = described
    return task


def _measure(run: Run) -> dict[str, Any]:
    method, version = _tool(run)
    measure: dict[str, Any] = {
        "measurementMethod": method,
        "version": version,
        "powerConsumption": run.machine_energy_j / _KWH_J,
        "measurementDuration": run.duration_s,
        "measurementDateTime": run.start_utc[:19].replace("T", " "),
    }
    for kind, key in (("cpu", "cpuTrackingMode"), ("gpu", "gpuTrackingMode")):
        modes = sorted({_mode(d.method, d.source) for d in run.counted if d.kind == kind})
        if modes:
            measure[key] = ", ".join(modes)
    utilisation = run.cpu_utilisation
    if utilisation:  # not known, or no busy time seen: left out
        measure["averageUtilizationCpu"] = utilisation
    return measure


def _tool(run: Run) -> tuple[str, str]:
    """Who measured, and its version: aicarbon, or codecarbon (its backend, or an imported row)."""
    if run.tool.name != "aicarbon":
        return run.tool.name, run.tool.version
    if run.counted and all(d.by_codecarbon for d in run.counted):
        found = _CODECARBON_VERSION.search(run.counted[0].source)
        return "codecarbon", found.group(1) if found else ""
    return "aicarbon", run.tool.version


def _mode(method: str, source: str) -> str:
    """How one domain was tracked: ``rapl``, ``nvml``, or the estimate's model."""
    lowered = source.lower()
    for name in ("rapl", "nvml", "amd-smi", "rocm", "hwmon"):
        if name in lowered:
            return name
    return f"{method} ({source})" if source else method


def _infrastructure(run: Run) -> dict[str, Any]:
    host = run.host
    nodes = max(len(run.nodes), 1)  # a job's nodes: taken to be alike, as a partition's are
    components: list[dict[str, Any]] = [
        {
            "componentName": host.cpu_model or "unknown",
            "componentType": "cpu",
            "nbComponent": max(host.logical_cpus, 1) * nodes,
        }
    ]
    for name, count in sorted(Counter(host.gpus).items()):
        components.append({"componentName": name, "componentType": "gpu", "nbComponent": count * nodes})
    components.append({"componentType": "ram", "nbComponent": nodes, "memorySize": host.ram_bytes / _GB})
    share = _share(run)
    if share is not None:
        for c in components:
            c["share"] = 1.0 if c["componentType"] == "gpu" else share
    return {"infraType": "other" if host.virtualised else "onPremise", "components": components}


def _share(run: Run) -> float | None:
    """The share of the physical machine the run held (BoAmps' ``share``, from which a reader
    such as Boavizta amortises the hardware's manufacture): the embodied line's host share (a
    VM's vCPUs over its host's threads; the cpuset's CPUs over the machine's), else the cpuset's;
    None where nothing narrows the machine (BoAmps reads that as 1). Its GPUs, measured, are held
    whole."""
    e = run.impact.embodied if run.impact is not None else None
    for part in e.parts if e is not None else []:
        if not part.part.startswith("GPU "):
            return min(max(part.share, 0.0), 1.0)
    host = run.host
    if 0 < host.cpus_allowed < host.logical_cpus:
        return host.cpus_allowed / host.logical_cpus
    return None


def _environment(run: Run) -> dict[str, Any] | None:
    impact = run.impact
    if impact is None or impact.grid.is_world_default:
        return None
    # The country's name, as codecarbon's BoAmps writes it; a label naming none, whole.
    country, _, location = impact.grid.place()
    country = country or impact.grid.label
    environment: dict[str, Any] = {"country": country, "powerSourceCarbonIntensity": impact.grid.g_per_kwh}
    if location:
        environment["location"] = location
    return environment


def _data_type(task_key: str) -> str:
    for word, data_type in _DATA_TYPES:
        if word in task_key:
            return data_type
    return "other"
