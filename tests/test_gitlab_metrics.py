"""``--gitlab-metrics``: the metrics.txt GitLab reads in a merge request. Read back the way
GitLab reads it (each line ``NAME VALUE``, comments skipped) and by prometheus_client's strict
OpenMetrics parser; hostile benchmark names cannot break either."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import call_aicarbon, run_aicarbon
from gate_helpers import samples
from prometheus_client.openmetrics.parser import text_string_to_metric_families

BASE = [100.0, 101.0, 99.0, 100.5, 99.5]
WORSE = [130.0, 131.0, 129.0, 130.5, 129.5]


def gitlab_reads(text: str) -> dict[str, str]:
    """GitLab's generic metrics parser: one ``name value`` per line, comments skipped."""
    found = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.split(" ")  # exactly two fields, or GitLab misreads the line
        found[name] = value
    return found


def openmetrics(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels["benchmark"]): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_compare_writes_the_medians_the_ratio_and_the_verdict(tmp_path: Path) -> None:
    base, worse = tmp_path / "b.json", tmp_path / "w.json"
    samples(BASE, name="infer").save(base)
    samples(WORSE, name="infer").save(worse)
    out = call_aicarbon("compare", str(base), str(worse), "--gitlab-metrics", str(tmp_path / "metrics.txt"))
    assert out.returncode == 1, out.stderr
    text = (tmp_path / "metrics.txt").read_text()
    assert gitlab_reads(text) == {
        'aicarbon_energy_joules{benchmark="infer"}': "130.0",
        'aicarbon_base_energy_joules{benchmark="infer"}': "100.0",
        'aicarbon_energy_ratio{benchmark="infer"}': repr(130.0 / 100.0),
        'aicarbon_energy_regression{benchmark="infer"}': "1.0",
    }
    assert openmetrics(text)[("aicarbon_energy_regression", "infer")] == 1.0
    assert text.endswith("# EOF\n")


def test_a_hostile_benchmark_name_stays_one_field(tmp_path: Path) -> None:
    name = 'my model "fast"\tv2\\x\n::error::'
    base, new = tmp_path / "b.json", tmp_path / "n.json"
    samples(BASE, name=name).save(base)
    samples(BASE, name=name).save(new)
    out = call_aicarbon("compare", str(base), str(new), "--gitlab-metrics", str(tmp_path / "m.txt"))
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "m.txt").read_text()
    assert len(gitlab_reads(text)) == 4
    assert ("aicarbon_energy_joules", 'my_model_"fast"_v2\\x_::error::') in openmetrics(text)


def test_bench_writes_its_median(tmp_path: Path) -> None:
    out = run_aicarbon(
        "bench", "-n", "2", "--warmup", "0", "--name", "tiny", "--gitlab-metrics", str(tmp_path / "m.txt"),
        "--", sys.executable, "-c", "pass",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    read = gitlab_reads((tmp_path / "m.txt").read_text())
    assert read['aicarbon_runs{benchmark="tiny"}'] == "2.0"
    assert float(read['aicarbon_energy_joules{benchmark="tiny"}']) >= 0
