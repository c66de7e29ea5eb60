"""Regenerate the hostile-input corpus from the two valid records beside it (and the job
record in tests/data).

    python tests/corpus/make_corpus.py

records/ok-*    valid records with hostile content: ``aicarbon report`` must exit 0 and print
                no control character
records/bad-*   files that are not valid run records: exit 2, one line, no traceback
config/ok-*     pyproject.toml or user config files that must not stop a run (exit 0)
config/bad-*    config files that are the user's mistake: exit 2, one line

The files are committed; this script only documents how they were made.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RECORDS, CONFIG = HERE / "records", HERE / "config"

# Escape sequences a shared record could carry: clear screen, cursor up + erase line (forging
# report lines), window title, OSC 52 clipboard write, C1 CSI, bidi override, bell, NUL, a
# carriage return, a newline, and a byte that was not UTF-8 (a lone surrogate in JSON).
PAYLOAD = (
    "x\x1b[2J\x1b[1A\x1b[2K\x1b]0;pwned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07\x9b31m"
    "\u202egnp.exe\u202c\r\nFAKE LINE\x00\x7f\udcff"
)


def strings_replaced(node: Any) -> Any:
    if isinstance(node, str):
        return PAYLOAD + node
    if isinstance(node, list):
        return [strings_replaced(v) for v in node]
    if isinstance(node, dict):
        return {k: (v if k in ("schema", "key") else strings_replaced(v)) for k, v in node.items()}
    return node


def mutated(base: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    change(data)
    return data


def write_json(name: str, data: object, **kwargs: Any) -> None:
    kwargs.setdefault("indent", 1)
    (RECORDS / name).write_text(json.dumps(data, **kwargs) + "\n", encoding="utf-8")


def set_path(data: dict[str, Any], dotted: str, value: object) -> None:
    keys = dotted.split(".")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def records() -> None:
    plain = json.loads((RECORDS / "valid-plain.json").read_text())
    full = json.loads((RECORDS / "valid-units-task.json").read_text())
    write_json("ok-escapes-in-every-string.json", strings_replaced(full))
    write_json("ok-escapes-plain-record.json", strings_replaced(plain))
    write_json(
        "ok-long-command.json", mutated(plain, lambda d: d.update(command=["python"] + ["x" * 5000] * 20))
    )
    write_json(
        "ok-huge-figures.json",
        mutated(
            full,
            lambda d: (
                d["energy"]["domains"][0].update(energy_j=1e17, attributed_j=1e17),
                d["impact"].update(emissions_g=9e17, attributed_emissions_g=9e17),
                d.update(duration_s=1e9),
            ),
        ),
    )
    faulty = mutated(
        plain,
        lambda d: (
            d["energy"]["domains"][0].update(
                failed="GPU is lost",
                failed_at_s=0.2,
                implausible_readings=40,
                implausible=[{"at_s": 0.1, "duration_s": 0.3, "reported_j": 1e14, "counted_j": 0.6}],
                owner_unknown_s=2.5,
                owner_note="in use, owner unknown (PID namespace): \x1b]0;pwned\x07 --pid=host",
            ),
            d["unavailable"].append(
                {
                    "sensor": "rapl intel-rapl:1",
                    "reason": "package-1: permission denied",
                    "fix": None,
                    "uncounted": True,
                }
            ),
            d["attribution"].update(descendants_left_running=3, method="cgroup v2 cpu.stat"),
        ),
    )
    write_json("ok-faults-partial-and-leftovers.json", faulty)
    write_json(
        "ok-record-of-0.1.0-without-new-fields.json", mutated(plain, lambda d: d["attribution"].pop("method"))
    )
    write_json(
        "ok-no-domains.json",
        mutated(
            plain,
            lambda d: (
                d["energy"].update(domains=[]),
                d["timeline"].update(domains=[], power_w=[[] for _ in d["timeline"]["power_w"]]),
            ),
        ),
    )

    bad: dict[str, Callable[[dict[str, Any]], object]] = {
        "command-is-a-string": lambda d: d.update(command="rm -rf /"),
        "exit-status-is-text": lambda d: set_path(d, "exit.status", "0"),
        "exit-status-300": lambda d: set_path(d, "exit.status", 300),
        "exit-signal-99": lambda d: set_path(d, "exit.signal", 99),
        "duration-is-bool": lambda d: d.update(duration_s=True),
        "duration-negative": lambda d: d.update(duration_s=-1.0),
        "domains-is-an-object": lambda d: set_path(d, "energy.domains", {"id": "cpu"}),
        "domain-energy-is-text": lambda d: set_path(d, "energy.domains.0.energy_j", "12 J"),
        "domain-energy-negative": lambda d: set_path(d, "energy.domains.0.energy_j", -5.0),
        "domain-missing-id": lambda d: d["energy"]["domains"][0].pop("id"),
        "duplicate-domain-ids": lambda d: d["energy"]["domains"].append(d["energy"]["domains"][0]),
        "host-missing": lambda d: d.pop("host"),
        "host-is-a-list": lambda d: d.update(host=[1, 2]),
        "timeline-row-too-short": lambda d: d["timeline"]["power_w"][0].pop(),
        "timeline-lengths-differ": lambda d: d["timeline"]["t_s"].append(99.0),
        "timeline-rows-not-lists": lambda d: set_path(d, "timeline.power_w", [1.0, 2.0]),
        "timeline-unknown-domain": lambda d: d["timeline"]["domains"].__setitem__(0, "gpu:9"),
        "timeline-bucket-zero": lambda d: set_path(d, "timeline.bucket_s", 0),
        "timeline-negative-power": lambda d: d["timeline"]["power_w"][0].__setitem__(0, -3.0),
        "huge-integer": lambda d: set_path(d, "sampling.samples", 10**30),
        "number-too-large": lambda d: set_path(d, "energy.peak_power_w", 1e300),
        "notes-not-strings": lambda d: d.update(notes=[1, None]),
        "owner-unknown-negative": lambda d: set_path(d, "energy.domains.0.owner_unknown_s", -1.0),
        "nvml-call-is-text": lambda d: set_path(d, "sampling.nvml_call_s", "fast"),
        "unavailable-missing-reason": lambda d: d.update(unavailable=[{"sensor": "rapl"}]),
        "schema-other-version": lambda d: d.update(schema="aicarbon.run/99"),
        "schema-not-text": lambda d: d.update(schema=5),
        "schema-missing": lambda d: d.pop("schema"),
    }
    for name, change in bad.items():
        write_json(f"bad-{name}.json", mutated(plain, change))
    full_bad: dict[str, Callable[[dict[str, Any]], object]] = {
        "units-without-per-unit": lambda d: d["comparison"].update(energy_per_unit_j=None),
        "task-ratio-zero": lambda d: d["comparison"]["task"].update(ratio_to_mean=0.0),
        "impact-grid-missing": lambda d: d["impact"].pop("grid"),
        "impact-is-a-number": lambda d: d.update(impact=3),
    }
    for name, change in full_bad.items():
        write_json(f"bad-{name}.json", mutated(full, change))
    no_units = mutated(plain, lambda d: None)
    write_json(
        "bad-equivalents-missing.json",
        mutated(
            no_units,
            lambda d: d.update(
                comparison={
                    "study": "s",
                    "boundary": "b",
                    "energy_j": 1.0,
                    "units": None,
                    "unit_name": "inferences",
                    "energy_per_unit_j": None,
                    "kwh_per_1000": None,
                    "task": None,
                    "scale": [],
                    "equivalents": [],
                }
            ),
        ),
    )
    (RECORDS / "bad-nan-duration.json").write_text(
        json.dumps(plain, indent=1).replace(f'"duration_s": {plain["duration_s"]}', '"duration_s": NaN', 1)
    )
    (RECORDS / "bad-infinity-by-overflow.json").write_text(
        json.dumps(plain, indent=1).replace(f'"duration_s": {plain["duration_s"]}', '"duration_s": 1e999', 1)
    )
    (RECORDS / "bad-not-json.json").write_text("this is not JSON\n")
    (RECORDS / "bad-empty.json").write_bytes(b"")
    (RECORDS / "bad-binary.bin").write_bytes(bytes(range(256)) * 4)
    (RECORDS / "bad-utf16.json").write_bytes(json.dumps(plain).encode("utf-16"))
    (RECORDS / "bad-deep-nesting.json").write_text("[" * 20_000 + "]" * 20_000)
    (RECORDS / "bad-deep-nesting-in-field.json").write_text(
        json.dumps(plain).replace('"notes": []', '"notes": ' + "[" * 20_000 + "]" * 20_000, 1)
    )
    (RECORDS / "bad-top-level-array.json").write_text("[1, 2, 3]\n")
    (RECORDS / "bad-top-level-null.json").write_text("null\n")
    (RECORDS / "bad-truncated.json").write_text(json.dumps(plain, indent=1)[:2000])
    (RECORDS / "bad-huge-int-digits.json").write_text(
        json.dumps(plain).replace('"samples": ', '"samples": ' + "9" * 5000 + ', "x": ', 1)
    )
    job_records()


def job_records() -> None:
    """A job's record (schema 4: job, nodes): hostile host names, and nodes that contradict it."""
    job = json.loads((HERE.parent / "data" / "run-v4-job.json").read_text())
    hostile = strings_replaced(job)
    # Laid out as aicarbon writes it: a record of the current schema must come back byte for byte.
    write_json("ok-job-escapes-in-every-string.json", hostile, indent=2)
    bad: dict[str, Callable[[dict[str, Any]], object]] = {
        "job-rank-on-two-nodes": lambda d: d["nodes"][1].update(ranks=[1, 2]),
        "job-rank-beyond-world": lambda d: d["nodes"][0].update(ranks=[0, 9]),
        "job-exit-statuses-short": lambda d: d["nodes"][0].update(exit_statuses=[0]),
        "job-exit-status-300": lambda d: d["nodes"][0].update(exit_statuses=[0, 300]),
        "job-node-energy-negative": lambda d: d["nodes"][0]["energy"]["domains"][0].update(energy_j=-1.0),
        "job-world-size-zero": lambda d: d["job"].update(world_size=0),
        "nodes-without-job": lambda d: d.update(job=None),
        "job-nodes-is-an-object": lambda d: d.update(nodes={}),
    }
    for name, change in bad.items():
        write_json(f"bad-{name}.json", mutated(job, change))


CONFIGS: dict[str, bytes] = {
    # pyproject.toml files: a project's, often not aicarbon's business
    "ok-pyproject-broken-unrelated.toml": b'[project\nname = "x"\n',
    "ok-pyproject-non-utf8-unrelated.toml": b'[project]\nname = "\xff\xfe"\n',
    "ok-pyproject-binary.toml": bytes(range(256)),
    "ok-pyproject-tool-is-a-string.toml": b'tool = "x"\n',
    "ok-pyproject-mentions-aicarbon-as-a-dependency.toml": b'[project]\ndependencies = ["aicarbon"\n',
    "ok-pyproject-valid.toml": b'[project]\nname = "x"\n[tool.aicarbon]\npue = 1.2\ncountry = "FRA"\n',
    "ok-pyproject-deeply-nested-unrelated.toml": b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "bad-pyproject-broken-ours.toml": b"[tool.aicarbon\npue = 1.2\n",
    "bad-pyproject-non-utf8-ours.toml": b'[tool.aicarbon]\ncountry = "\xff"\n',
    "bad-pyproject-tool-aicarbon-is-a-number.toml": b"[tool]\naicarbon = 5\n",
    "bad-pyproject-dotted-aicarbon-is-text.toml": b'tool.aicarbon = "x"\n',
    "bad-pyproject-pue-nan.toml": b"[tool.aicarbon]\npue = nan\n",
    "bad-pyproject-pue-inf.toml": b"[tool.aicarbon]\npue = inf\n",
    "bad-pyproject-pue-huge.toml": b"[tool.aicarbon]\npue = 1e308\n",
    "bad-pyproject-intensity-negative.toml": b"[tool.aicarbon]\ncarbon-intensity = -1\n",
    "bad-pyproject-country-is-a-number.toml": b"[tool.aicarbon]\ncountry = 5\n",
    "bad-pyproject-unknown-key.toml": b"[tool.aicarbon]\npeu = 1.2\n",
    "bad-pyproject-pue-is-a-table.toml": b"[tool.aicarbon.pue]\nvalue = 1\n",
    # user config files ($AICARBON_CONFIG): aicarbon's own, so every problem is reported
    "ok-user-valid.toml": b'pue = 1.1\nwater_intensity = 2.0\ncountry = "SWE"\n',
    "ok-user-empty.toml": b"",
    "bad-user-broken.toml": b"pue = \n",
    "bad-user-non-utf8.toml": b'country = "\xff"\n',
    "bad-user-binary.toml": bytes(range(256)),
    "bad-user-wue-nan.toml": b"wue = nan\n",
    "bad-user-water-intensity-inf.toml": b'water-intensity = "inf"\n',
    "bad-user-deeply-nested.toml": b"pue = " + b"[" * 5000 + b"]" * 5000 + b"\n",
}


def configs() -> None:
    for name, content in CONFIGS.items():
        (CONFIG / name).write_bytes(content)


if __name__ == "__main__":
    RECORDS.mkdir(exist_ok=True)
    CONFIG.mkdir(exist_ok=True)
    records()
    configs()
