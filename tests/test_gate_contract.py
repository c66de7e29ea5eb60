"""The CI gate's contract against hostile or broken inputs: a failed benchmark decides nothing,
names from a pull request cannot talk to the CI runner, and large samples decide quickly.
Rendering and refusals run in process (the ``cli`` fixture); measuring runs in a subprocess."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import run_aicarbon
from gate_helpers import samples

CORPUS = Path(__file__).parent / "corpus" / "records"
BASE = [100.0, 101.0, 99.0, 100.5, 99.5]


def _record(tmp_path: Path, name: str, status: int, signal: int | None = None) -> Path:
    data = json.loads((CORPUS / "valid-plain.json").read_text())
    data["exit"] = {"status": status, "signal": signal, "received_signal": None}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _failed_samples(tmp_path: Path, name: str, status: int) -> Path:
    s = samples(BASE, name="infer")
    s.runs[2] = dataclasses.replace(s.runs[2], exit_status=status)
    path = tmp_path / name
    s.save(path)
    return path


def test_compare_refuses_run_records_of_failed_commands(tmp_path: Path, cli) -> None:  # noqa: ANN001
    ok = _record(tmp_path, "ok.json", 0)
    exited = _record(tmp_path, "exit7.json", 7)
    killed = _record(tmp_path, "killed.json", 137, 9)  # SIGKILL: 128 + 9, and the signal
    decided = cli("compare", str(ok), str(ok), cwd=tmp_path)
    assert decided.returncode == 0 and "| OK" in decided.stdout  # a run record is a one-run sample
    for base, new, why in (
        (exited, killed, "exit7.json (exit7): run 1 of 1 exited with status 7"),
        (ok, killed, "killed.json (killed): run 1 of 1 was killed by signal 9"),
        (ok, exited, "exited with status 7"),
    ):
        out = cli("compare", str(base), str(new), cwd=tmp_path)
        assert out.returncode == 2 and out.stdout == "", out
        assert out.stderr.count("\n") == 1 and why in out.stderr
        assert "a failed benchmark cannot be compared: nothing decided" in out.stderr
    never = cli("compare", "--fail-on", "never", str(ok), str(exited), cwd=tmp_path)
    assert never.returncode == 0 and "(exit 0: --fail-on never)" in never.stderr


def test_compare_refuses_samples_with_a_failed_run(tmp_path: Path, cli) -> None:  # noqa: ANN001
    base = tmp_path / "b.json"
    samples(BASE).save(base)
    bad = _failed_samples(tmp_path, "n.json", 3)
    out = cli("compare", str(base), str(bad), cwd=tmp_path)
    assert out.returncode == 2 and "n.json (infer): run 3 of 5 exited with status 3" in out.stderr
    stored = cli("baseline", "update", "--baseline", "bl.json", "--from", str(bad), cwd=tmp_path)
    assert stored.returncode == 2 and "not stored as a baseline" in stored.stderr
    assert not (tmp_path / "bl.json").exists()


def test_check_refuses_a_stored_session_with_a_failed_run(tmp_path: Path) -> None:
    from aicarbon.records.baseline import Baseline

    ok = run_aicarbon(
        "bench", "-n", "2", "--warmup", "0", "--name", "t", "-o", "s.json", "--", "true", cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    data = json.loads((tmp_path / "s.json").read_text())
    data["runs"][1]["exit_status"] = 139  # a segfault, stored by hand (or by an older tool)
    (tmp_path / "s.json").write_text(json.dumps(data))
    baseline = Baseline()
    from aicarbon.records.samples import Samples

    baseline.add(Samples.load(tmp_path / "s.json"))
    baseline.save(tmp_path / "bl.json")
    out = run_aicarbon(
        "check",
        "-n",
        "2",
        "--warmup",
        "0",
        "--name",
        "t",
        "--baseline",
        "bl.json",
        "--",
        "true",
        cwd=tmp_path,
    )
    assert out.returncode == 2, out.stderr
    assert "'t', stored session 1 of 1: run 2 of 2 was killed by signal 11" in out.stderr


def test_a_thousand_runs_per_arm_match_scipys_normal_approximation() -> None:
    """Beyond the exact range the test is scipy's asymptotic one (tie and continuity corrected)
    and the interval's end points are the exact order statistics of the pairwise differences."""
    import math
    import random

    from aicarbon.gate import stats
    from scipy.stats import mannwhitneyu

    rng = random.Random(15)
    a = [round(rng.gauss(100, 5), 1) for _ in range(1000)]  # rounded: many ties
    b = [round(rng.gauss(101, 5), 1) for _ in range(1000)]
    ours = stats.mann_whitney(a, b)
    assert not ours.exact
    for alternative, p in (("greater", ours.p_greater), ("less", ours.p_less)):
        theirs = mannwhitneyu(b, a, alternative=alternative, method="asymptotic", use_continuity=True)
        assert math.isclose(p, theirs.pvalue, rel_tol=1e-9, abs_tol=1e-300), (alternative, p, theirs)
    shift = stats.shift_interval(a, b)
    diffs = sorted(y - x for x in a for y in b)  # a million, listed once here to check
    k, _ = stats._normal_k(1000, 1000, 0.025)
    assert (shift.low, shift.high) == (diffs[k - 1], diffs[len(diffs) - k])
    assert shift.estimate == (diffs[len(diffs) // 2 - 1] + diffs[len(diffs) // 2]) / 2
    assert 0.949 < shift.confidence < 0.951


def test_selection_equals_sorting_on_small_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from aicarbon.gate import stats

    rng = random.Random(16)
    for _ in range(40):
        a = [math_log(rng.choice([0.5, 1.0, 2.0, rng.uniform(0.1, 10)])) for _ in range(rng.randint(1, 25))]
        b = [math_log(rng.uniform(0.1, 10)) for _ in range(rng.randint(1, 25))]
        listed = stats.shift_interval(a, b)
        monkeypatch.setattr(stats, "LISTED_DIFFERENCES", 0)
        selected = stats.shift_interval(a, b)
        monkeypatch.undo()
        assert listed == selected


def math_log(x: float) -> float:
    import math

    return math.log(x)


def test_compare_decides_on_large_samples_and_refuses_beyond_the_bound(tmp_path: Path, cli) -> None:  # noqa: ANN001
    import random

    rng = random.Random(17)
    base, new = tmp_path / "b.json", tmp_path / "n.json"
    samples([rng.gauss(100, 3) for _ in range(1000)]).save(base)
    samples([rng.gauss(130, 3) for _ in range(1000)]).save(new)
    out = cli("compare", str(base), str(new))
    assert out.returncode == 1 and "REGRESSION" in out.stdout and "1000/1000" in out.stdout
    big = tmp_path / "big.json"
    samples([100.0] * 10_001).save(big)
    refused = cli("compare", str(base), str(big))
    assert (
        refused.returncode == 2 and "holds 10001 runs; a samples file holds at most 10000" in refused.stderr
    )


HOSTILE_NAMES = [
    "::stop-commands::pause",
    "  ::error file=x.py,line=1::forged",
    "\u3000::notice::x",
    "a ##[error]b",
]
OUR_COMMANDS = ("::error title=energy ", "::warning title=energy ", "::notice title=energy ")


def _runner_safe(text: str) -> None:
    """No line a GitHub runner would obey, except aicarbon's own annotations."""
    for line in text.splitlines():
        assert "##[" not in line, line
        if line.lstrip().startswith("::"):
            assert line.startswith(OUR_COMMANDS) and line.count("::") == 2, line


def test_names_cannot_issue_workflow_commands_on_a_github_runner(tmp_path: Path, cli) -> None:  # noqa: ANN001
    files = []
    for i, name in enumerate(HOSTILE_NAMES):
        base, new = tmp_path / f"b{i}.json", tmp_path / f"n{i}.json"
        samples(BASE, name=name).save(base)
        samples([v * 1.3 for v in BASE], name=name).save(new)
        files += [str(base), str(new)]
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}
    for fmt in ("text", "json", "markdown"):
        out = cli("compare", "--format", fmt, *files, env=env)
        assert out.returncode == 1, out
        _runner_safe(out.stdout)
        _runner_safe(out.stderr)
        annotations = [line for line in out.stdout.splitlines() if line.startswith("::error ")]
        assert len(annotations) == 4  # aicarbon's own, still obeyed: none was stopped
        if fmt == "json":  # the same names to a JSON parser: only their bytes are escaped
            data = json.loads(out.stdout[out.stdout.index("{") : out.stdout.rindex("}") + 1])
            assert [c["name"] for c in data["comparisons"]] == HOSTILE_NAMES
    refused = cli("compare", files[0], str(_record(tmp_path, "r.json", 1)), env=env)
    assert refused.returncode == 2
    _runner_safe(refused.stderr)
    off = cli("compare", files[0], files[1])  # off a runner, "::" is shown as it is
    assert off.stdout.splitlines()[2].startswith(":\\x3a") is False and "::stop-commands::pause" in off.stdout


def test_bench_and_check_print_nothing_a_runner_obeys(tmp_path: Path) -> None:
    env = {"GITHUB_ACTIONS": "true"}
    name = "::stop-commands::x ##[error]y"
    bench = run_aicarbon(
        "bench",
        "-n",
        "2",
        "--warmup",
        "0",
        "--name",
        name,
        "-o",
        "s.json",
        "--",
        "true",
        cwd=tmp_path,
        env=env,
    )
    assert bench.returncode == 0, bench.stderr
    _runner_safe(bench.stdout)
    _runner_safe(bench.stderr)
    check = run_aicarbon(
        "check",
        "-n",
        "2",
        "--warmup",
        "0",
        "--name",
        name,
        "--baseline",
        "none.json",
        "--",
        "true",
        cwd=tmp_path,
        env=env,
    )
    assert check.returncode == 0, check.stderr  # no baseline: a warning
    _runner_safe(check.stdout)
    _runner_safe(check.stderr)
    assert json.loads((tmp_path / "s.json").read_text())["name"] == name  # the file keeps it exactly
