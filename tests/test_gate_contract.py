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
    from aicarbon.baseline import Baseline

    ok = run_aicarbon("bench", "-n", "2", "--warmup", "0", "--name", "t", "-o", "s.json", "--", "true", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    data = json.loads((tmp_path / "s.json").read_text())
    data["runs"][1]["exit_status"] = 139  # a segfault, stored by hand (or by an older tool)
    (tmp_path / "s.json").write_text(json.dumps(data))
    baseline = Baseline()
    from aicarbon.samples import Samples

    baseline.add(Samples.load(tmp_path / "s.json"))
    baseline.save(tmp_path / "bl.json")
    out = run_aicarbon("check", "-n", "2", "--warmup", "0", "--name", "t", "--baseline", "bl.json", "--", "true", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "'t', stored session 1 of 1: run 2 of 2 was killed by signal 11" in out.stderr
