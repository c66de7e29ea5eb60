"""A whole measurement in-process with a stand-in NVML, the record's JSON round trip, and
the rendered report."""

from __future__ import annotations

import io
import json
import sys

import psutil
import pytest
from aicarbon.measurement.command import MeasureOptions, measure_command
from aicarbon.records.run import SCHEMA, RecordError, Run
from aicarbon.report.terminal import make_console, render
from conftest import FakeGpu, make_fake_pynvml


def descendants() -> list[int]:
    return [p.pid for p in psutil.Process().children(recursive=True)]


@pytest.fixture(scope="module")
def gpu_run() -> Run:
    """gpu:0 is used by the command (its PID holds a context), gpu:1 is lost mid-run."""
    used = FakeGpu(name="NVIDIA H100", uuid="GPU-used", step_mj=5_000, pids=descendants)
    lost = FakeGpu(name="NVIDIA H100", uuid="GPU-lost", step_mj=5_000, fail_after_reads=7)
    options = MeasureOptions(
        interval_s=0.05,
        sensors=frozenset({"nvml", "estimate"}),
        environ={},
        nvml_module=make_fake_pynvml([used, lost]),
        own_process=False,
    )
    run, exit_ = measure_command([sys.executable, "-c", "import time; time.sleep(1.4)"], options)
    assert exit_.status == 0
    return run


def test_gpu_used_by_the_tree_is_attributed_and_the_lost_one_reported(gpu_run: Run) -> None:
    gpus = {d.id: d for d in gpu_run.energy.domains if d.kind == "gpu"}
    used, lost = gpus["gpu:0"], gpus["gpu:1"]
    assert used.energy_j > 0 and used.failed is None
    # The command alone on the GPU for its whole run is charged all of it: the GPU is checked
    # right after the command starts, and the interval before (no context anywhere yet) goes
    # to the only user the GPU had. (Checked once a second, it was charged about 70%.)
    assert used.attributed_j >= 0.97 * used.energy_j
    assert lost.failed is not None and "GPU is lost" in lost.failed
    # Reads: 1 when the sensor starts, 2-4 time the call, 5 is the sampler's baseline, 6 and 7
    # add 5 J each, 8 fails.
    assert lost.energy_j == pytest.approx(2 * 5.0)
    assert lost.attributed_j == 0
    assert gpu_run.host.gpus == ["NVIDIA H100 (GPU-used)", "NVIDIA H100 (GPU-lost)"]


def test_record_round_trips_through_json(gpu_run: Run, tmp_path) -> None:
    path = tmp_path / "run.json"
    gpu_run.save(path)
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA
    assert set(data) >= {
        "command",
        "start_utc",
        "end_utc",
        "duration_s",
        "exit",
        "host",
        "sampling",
        "energy",
        "attribution",
        "unavailable",
        "timeline",
        "tool",
    }
    assert data["start_utc"].endswith("Z") and "T" in data["start_utc"]
    assert Run.load(path) == gpu_run
    assert Run.from_dict(gpu_run.to_dict()).to_dict() == data


def test_timeline_energy_agrees_with_domain_totals(gpu_run: Run) -> None:
    tl = gpu_run.timeline
    for i, domain_id in enumerate(tl.domains):
        timeline_j = sum(row[i] * d for row, d in zip(tl.power_w, tl.duration_s, strict=True))
        total = next(d.energy_j for d in gpu_run.energy.domains if d.id == domain_id)
        assert timeline_j == pytest.approx(total, rel=0.01, abs=1e-3)


def test_other_schema_versions_are_refused_in_one_sentence(gpu_run: Run) -> None:
    data = gpu_run.to_dict()
    data["schema"] = "aicarbon.run/99"
    with pytest.raises(RecordError, match="not supported"):
        Run.from_dict(data)
    del data["energy"]
    data["schema"] = SCHEMA
    with pytest.raises(RecordError, match="not a valid run record: energy: missing"):
        Run.from_dict(data)


def test_plain_report_has_the_key_lines_and_no_escape_codes(gpu_run: Run) -> None:
    buffer = io.StringIO()
    render(gpu_run, make_console(buffer, force_plain=True))
    text = buffer.getvalue()
    assert "\x1b[" not in text
    assert all(len(line) <= 80 for line in text.splitlines()), text
    for needle in [
        "GPU 0 NVIDIA H100",
        "measured (NVML)",
        "CPU",
        "estimated",
        "Total",
        "Power",
        "Your command:",
        "~ CPU is estimated, not measured: range",
        "GPU 1 NVIDIA H100 stopped answering after",
    ]:
        assert needle in text, needle
    assert "rapl" not in text  # deselected sensors are not reported as unavailable
