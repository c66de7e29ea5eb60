"""The CI gate through the command line: exit statuses, outputs read back by the tools that
consume them (JUnit XML by junitparser, GitHub's files, the exports), refusals, and a few
real measured runs end to end."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import junitparser
import pytest
from conftest import call_aicarbon, run_aicarbon
from gate_helpers import FINGERPRINT, samples

BASE = [100.0, 101.0, 99.0, 100.5, 99.5]
WORSE = [130.0, 131.0, 129.0, 130.5, 129.5]
TINY = [sys.executable, "-c", "sum(i * i for i in range(200000))"]


def write(tmp_path: Path, filename: str, values: list[float], **kwargs: object) -> Path:
    path = tmp_path / filename
    samples(values, **kwargs).save(path)  # type: ignore[arg-type]
    return path


def test_compare_exit_statuses_and_the_table(tmp_path: Path) -> None:
    base, worse, same = (
        write(tmp_path, "b.json", BASE),
        write(tmp_path, "w.json", WORSE),
        write(tmp_path, "s.json", BASE),
    )
    regression = call_aicarbon("compare", str(base), str(worse), cwd=tmp_path)
    assert regression.returncode == 1, regression.stderr
    header, rule, row = regression.stdout.splitlines()[:3]
    assert header.split(" | ")[0].strip() == "name" and "ratio [95% CI]" in header
    assert row.endswith("REGRESSION") and "1.300 [" in row and "0.00397" in row
    ok = call_aicarbon("compare", str(base), str(same), cwd=tmp_path)
    assert ok.returncode == 0 and "| OK" in ok.stdout
    never = call_aicarbon("compare", "--fail-on", "never", str(base), str(worse), cwd=tmp_path)
    assert never.returncode == 0 and "REGRESSION" in never.stdout
    stricter = call_aicarbon("compare", "--threshold", "40%", str(base), str(worse), cwd=tmp_path)
    assert stricter.returncode == 0 and "WARN" in stricter.stdout  # +30% is under a 40% threshold


def test_compare_refusals_are_one_line_and_exit_2(tmp_path: Path) -> None:
    base = write(tmp_path, "b.json", BASE)
    other = write(
        tmp_path,
        "o.json",
        WORSE,
        fingerprint=dataclasses.replace(FINGERPRINT, sensors=["rapl"], method="measured"),
    )
    mismatch = call_aicarbon("compare", str(base), str(other), cwd=tmp_path)
    assert mismatch.returncode == 2 and mismatch.stderr.count("\n") == 1
    assert "not comparable: sensors differ: estimated by estimate vs measured by rapl" in mismatch.stderr
    allowed = call_aicarbon("compare", "--allow-env-mismatch", str(base), str(other), cwd=tmp_path)
    assert allowed.returncode == 1 and "warning: sensors differ" in allowed.stderr
    on_ramp = call_aicarbon("compare", "--fail-on", "never", str(base), str(other), cwd=tmp_path)
    assert on_ramp.returncode == 0 and "(exit 0: --fail-on never)" in on_ramp.stderr
    (tmp_path / "cut.json").write_text(base.read_text()[:300])
    for args in (
        ["cut.json", "b.json"],
        ["b.json"],
        ["b.json", "missing.json"],
        ["--threshold", "-5%", "b.json", "b.json"],
    ):
        out = call_aicarbon("compare", *args, cwd=tmp_path)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, args


def test_junit_xml_is_read_back_by_junitparser(tmp_path: Path) -> None:
    base, worse = write(tmp_path, "b.json", BASE), write(tmp_path, "w.json", WORSE, name="gen <b>&\x1b[31m")
    out = run_aicarbon(
        "compare", "--junit-xml", "j.xml", str(base), str(worse), str(base), str(base), cwd=tmp_path
    )
    assert out.returncode == 1
    xml = junitparser.JUnitXml.fromfile(str(tmp_path / "j.xml"))
    cases = [case for suite in xml for case in suite]
    assert [c.name for c in cases] == ["gen <b>&\\x1b[31m", "infer"]
    failed, passed = cases
    assert isinstance(failed.result[0], junitparser.Failure) and failed.result[0].type == "regression"
    assert passed.is_passed


def test_github_actions_summary_annotations_and_outputs(tmp_path: Path) -> None:
    base, worse = (
        write(tmp_path, "b.json", BASE),
        write(tmp_path, "w.json", WORSE, name="a|b <script>x</script>"),
    )
    summary, outputs = tmp_path / "summary.md", tmp_path / "out.txt"
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}
    out = call_aicarbon("compare", str(base), str(worse), cwd=tmp_path, env=env)
    assert out.returncode == 1
    (annotation,) = [line for line in out.stdout.splitlines() if line.startswith("::")]
    assert annotation.startswith("::error title=energy regression::a|b <script>x</script>: regression")
    text = summary.read_text()
    assert text.startswith("earlier step\n### ❌ aicarbon energy check: REGRESSION")
    assert "a\\|b &lt;script&gt;" in text and "<script>" not in text and "<details>" in text
    assert dict(line.split("=", 1) for line in outputs.read_text().splitlines()) == {
        "verdict": "regression",
        "ratio": "1.3000",
    }


def test_annotations_are_aggregated_beyond_ten(tmp_path: Path) -> None:
    pairs = []
    for i in range(12):
        pairs += [
            str(write(tmp_path, f"b{i}.json", BASE, name=f"bench{i}")),
            str(write(tmp_path, f"w{i}.json", WORSE, name=f"bench{i}")),
        ]
    out = call_aicarbon("compare", *pairs, cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    annotations = [line for line in out.stdout.splitlines() if line.startswith("::")]
    assert (
        len(annotations) == 10
        and "3 more benchmarks need attention: bench9, bench10, bench11" in annotations[-1]
    )


def test_exports_for_existing_dashboards(tmp_path: Path) -> None:
    base, worse = write(tmp_path, "b.json", BASE), write(tmp_path, "w.json", WORSE)
    out = run_aicarbon(
        "compare",
        "--export-bencher",
        "bmf.json",
        "--export-github-benchmark",
        "gab.json",
        "--format",
        "json",
        str(base),
        str(worse),
        cwd=tmp_path,
    )
    assert out.returncode == 1
    report = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(c))
    assert report["verdict"] == "regression" and report["comparisons"][0]["ratio"] == pytest.approx(1.3)
    bmf = json.loads((tmp_path / "bmf.json").read_text())
    assert bmf == {"infer": {"energy": {"value": 130.0, "lower_value": 129.0, "upper_value": 131.0}}}
    (entry,) = json.loads((tmp_path / "gab.json").read_text())
    assert entry["name"] == "infer" and entry["unit"] == "J" and entry["value"] == 130.0
    assert set(entry) == {"name", "unit", "value", "range", "extra"}


def test_markdown_format_puts_the_verdict_first(tmp_path: Path) -> None:
    base, worse = write(tmp_path, "b.json", BASE), write(tmp_path, "w.json", WORSE)
    out = call_aicarbon("compare", "--format", "markdown", str(base), str(worse), cwd=tmp_path)
    assert out.stdout.splitlines()[0] == "### ❌ aicarbon energy check: REGRESSION"


# -- measured end to end -------------------------------------------------------------------------


def test_bench_then_compare_then_baseline_and_check(tmp_path: Path) -> None:
    bench = run_aicarbon(
        "bench", "-n", "2", "--warmup", "0", "-o", "s.json", "--name", "tiny", "--", *TINY, cwd=tmp_path
    )
    assert bench.returncode == 0, bench.stderr
    assert "tiny: 2 runs after 0 warm-up, energy per run" in bench.stdout
    recorded = json.loads((tmp_path / "s.json").read_text())
    assert recorded["schema"] == "aicarbon.records.samples/1" and len(recorded["runs"]) == 2
    assert recorded["fingerprint"]["sensors"] and recorded["fingerprint"]["cpu_model"]
    run = recorded["runs"][0]
    assert {d["id"] for d in run["domains"]} >= {"cpu:estimated"} or run["method"] == "measured"
    assert run["exit_status"] == 0 and run["duration_s"] > 0 and run["start_utc"].endswith("Z")

    missing = run_aicarbon(
        "check",
        "--baseline",
        "base.json",
        "-n",
        "2",
        "--warmup",
        "0",
        "--name",
        "tiny",
        "--",
        *TINY,
        cwd=tmp_path,
    )
    assert missing.returncode == 0 and "warning: no baseline for 'tiny'" in missing.stderr
    assert "NO BASELINE" in missing.stdout

    update = run_aicarbon("baseline", "update", "--baseline", "base.json", "--from", "s.json", cwd=tmp_path)
    assert update.returncode == 0 and "baseline for 'tiny'" in update.stderr
    checked = run_aicarbon(
        "check",
        "--baseline",
        "base.json",
        "-n",
        "2",
        "--warmup",
        "0",
        "--name",
        "tiny",
        "--",
        *TINY,
        cwd=tmp_path,
    )
    assert checked.returncode in (0, 1), checked.stderr  # a verdict, whatever this machine's noise
    assert (
        "single baseline"
        in run_aicarbon(
            "check",
            "--baseline",
            "base.json",
            "-n",
            "2",
            "--warmup",
            "0",
            "--name",
            "tiny",
            "--format",
            "json",
            "--",
            *TINY,
            cwd=tmp_path,
        ).stdout
    )


def test_ab_interleaves_two_commands_and_a_failing_command_decides_nothing(tmp_path: Path) -> None:
    out = run_aicarbon(
        "ab",
        "--base",
        " ".join(TINY[:2]) + " '" + TINY[2] + "'",
        "--head",
        " ".join(TINY[:2]) + " '" + TINY[2] + "'",
        "-n",
        "2",
        "--warmup",
        "0",
        "--samples-dir",
        ".",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert out.returncode in (0, 1), out.stderr
    progress = [line for line in out.stderr.splitlines() if ": run " in line]
    assert [line.split(":")[1].strip() for line in progress][:4] == ["base", "head", "head", "base"]
    assert json.loads((tmp_path / "base.json").read_text())["name"] == "base"
    failing = run_aicarbon(
        "ab", "--base", "false", "--head", "true", "-n", "2", "--warmup", "0", cwd=tmp_path
    )
    assert (
        failing.returncode == 2
        and "base: the command exited with status 1; nothing to compare" in failing.stderr
    )


def test_check_reads_its_settings_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.aicarbon.check]\n"
        f"command = {json.dumps(TINY)}\n"
        'name = "from-pyproject"\nbaseline = "b.json"\nruns = 2\nwarmup = 0\nmax-energy = "1 mJ"\n'
    )
    out = run_aicarbon("check", cwd=tmp_path)
    assert out.returncode == 1 and "from-pyproject" in out.stdout and "OVER BUDGET" in out.stdout
    assert "over the budget 0.001 J" in out.stdout
    (tmp_path / "pyproject.toml").write_text("[tool.aicarbon.check]\nrunz = 3\n")
    bad = run_aicarbon("check", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown key 'runz'" in bad.stderr
