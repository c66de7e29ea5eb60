"""The contract on the history and the report reader, tried as a hostile user would: numbers
beyond SQLite's and Python's ranges, ids in other scripts, read-only media, records beyond
what aicarbon writes. Refusals run in process (the ``cli`` fixture); what is process-level
(mounts, a run's rescue) in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from aicarbon.history.store import History
from aicarbon.records.codec import RecordError
from aicarbon.records.run import LabelsRecord, PhaseRecord, Run, WorkRecord
from conftest import AICARBON, hermetic_env, run_aicarbon

V1_RECORD = Path(__file__).resolve().parent / "data" / "run-v1-generate-text.json"


def a_run(**changes: object) -> Run:
    return replace(Run.load(V1_RECORD), **changes)  # type: ignore[arg-type]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A history of two runs."""
    with History.open({"AICARBON_HOME": str(tmp_path / "home")}) as history:
        history.save(a_run())
        history.save(a_run(labels=LabelsRecord(tags=["second"])))
    return tmp_path / "home"


@pytest.mark.parametrize(
    "args, says",
    [
        (["show", str(2**63)], f"no run {2**63} in the history"),
        (["show", "9" * 5000], "no run 99999999999999999999… in the history"),
        (["report", str(2**64), "-f", "json"], f"no run {2**64}"),
        (["diff", "1", str(2**63 + 5)], "no run"),
        (["show", "\u0661"], "no such file"),  # Arabic-Indic one: not run 1
        (["show", "\uff11"], "no such file"),  # fullwidth one
        (["history", "--since", "1000000000d"], "'1000000000d' is too far back"),
        (["history", "--since", "9" * 40 + "d"], "is too far back"),
        (["history", "--since", "\u0661d"], "is not a date"),
    ],
)
def test_out_of_range_refusals_are_one_line(home: Path, cli, args: list[str], says: str) -> None:  # noqa: ANN001
    out = cli(*args, env={"AICARBON_HOME": str(home)})
    assert out.returncode == 2 and out.stdout == "", out
    assert out.stderr.count("\n") == 1 and says in out.stderr, out.stderr


def test_limits_beyond_sqlites_integers_mean_everything(home: Path, cli) -> None:  # noqa: ANN001
    env = {"AICARBON_HOME": str(home)}
    listed = cli("history", "-n", str(2**70), "--json", env=env)
    assert listed.returncode == 0 and [r["id"] for r in json.loads(listed.stdout)] == [2, 1]
    pruned = cli("history", "--prune", "--keep", str(2**80), env=env)
    assert pruned.returncode == 0 and "pruned 0 run(s)" in pruned.stderr and "2 left" in pruned.stderr
    huge = {**env, "AICARBON_HISTORY_MAX_RUNS": "9" * 30}
    with History.open(huge) as history:
        assert history.save(a_run()) == 3 and history.count() == 3  # keeps every run
    bad = cli("history", env={**env, "AICARBON_HISTORY_MAX_RUNS": "9" * 5000})
    assert bad.returncode == 2 and "must be a whole number of runs" in bad.stderr
    assert bad.stderr.count("\n") == 1 and len(bad.stderr) < 300


def test_a_read_only_history_is_listed_and_shown(home: Path, tmp_path: Path) -> None:
    """On a real read-only bind mount (in a private mount namespace, so nothing is left
    mounted): the WAL database's -shm cannot be made there."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("no unshare or mount here")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    mounted = tmp_path / "ro"
    mounted.mkdir()
    aicarbon = " ".join(AICARBON)
    script = (
        f"mount --bind {home} {mounted} && mount -o remount,bind,ro {mounted} && "
        f"touch {mounted}/probe 2>/dev/null && echo WRITABLE; "
        f"{aicarbon} history; echo status=$?; {aicarbon} show 2; echo status=$?; "
        f"{aicarbon} run -q -- sh -c 'exit 4'; echo status=$?"
    )
    out = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=hermetic_env({"AICARBON_HOME": str(mounted)}),
    )
    if "mount:" in out.stderr and "status=" not in out.stdout:
        pytest.skip(f"cannot bind-mount here: {out.stderr.strip()}")
    assert "WRITABLE" not in out.stdout
    assert "status=0\n" in out.stdout and "[second]" in out.stdout, out.stdout + out.stderr
    assert "unable to open database file" not in out.stderr
    assert out.stdout.count("status=0") == 2 and "status=4" in out.stdout  # the command's own status
    (refused,) = [line for line in out.stderr.splitlines() if "not saved in the history" in line]
    assert "the run record was saved to" in refused  # -q without --json: the record is not lost
    assert "Traceback" not in out.stderr


def test_a_quiet_run_whose_history_fails_keeps_its_record(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    rescue = tmp_path / "tmp"
    rescue.mkdir()
    env = {"AICARBON_HOME": str(tmp_path / "a-file" / "below"), "TMPDIR": str(rescue)}
    out = run_aicarbon("run", "-q", "--", "sh", "-c", "exit 3", cwd=tmp_path, env=env)
    assert out.returncode == 3 and out.stderr.count("\n") == 1, out.stderr
    (saved,) = rescue.iterdir()
    assert f"the run record was saved to {saved} instead" in out.stderr
    assert Run.load(saved).exit.status == 3


def _record_with(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "r.json"
    path.write_text(a_run(**changes).to_json())
    return path


def test_the_reader_refuses_what_no_writer_produces(tmp_path: Path, cli) -> None:  # noqa: ANN001
    phase = PhaseRecord("p", 0, 0.0, 0.1, 1.0, 1.0)
    cases = [
        (WorkRecord(phases=[phase] * 10_001), "work.phases: 10001 entries; aicarbon writes at most 10000"),
        (
            WorkRecord(phases=[replace(phase, depth=1_000_000)]),
            "work.phases[0].depth: 1000000 is not from 0 to 999",
        ),
        (WorkRecord(1e16), "work.units_counted: 1e+16 is not from 0 to 1e+15"),
        (WorkRecord(1e300), "work.units_counted: 1e+300 is not a finite number of a physical size"),
        (WorkRecord(phases=[replace(phase, units=1e16)]), "work.phases[0].units: more than 1e+15"),
    ]
    for work, says in cases:
        path = _record_with(tmp_path, work=work)
        with pytest.raises(RecordError, match=r".*") as caught:
            Run.load(path)
        assert says in str(caught.value)
        out = cli("report", str(path), "-f", "html")
        assert out.returncode == 2 and out.stdout == "" and says in out.stderr
    at_the_bounds = _record_with(
        tmp_path, work=WorkRecord(1e15, [replace(phase, depth=999, units=1e15)] * 10_000)
    )
    assert len(Run.load(at_the_bounds).work.phases) == 10_000  # what a writer can produce is read


def test_the_history_keeps_every_bound_the_writer_keeps(tmp_path: Path) -> None:
    """A tracker fed past every bound writes a record that aicarbon reads back."""
    import aicarbon

    with aicarbon.track(name="bounds", sensors=["estimate"]) as t:
        t.add_units(1e15)
        with pytest.raises(ValueError, match="past 1e\\+15 units"):
            t.add_units(1)
        opened = [t.phase(f"p{i}") for i in range(1001)]
        for phase in opened:
            phase.__enter__()
        for phase in reversed(opened):
            phase.__exit__(None, None, None)
    record = t.record
    assert record is not None and record.work.units_counted == 1e15
    assert len(record.work.phases) == 1000 and max(p.depth for p in record.work.phases) == 999
    assert any("1 phases were not opened: 1000 were open already" in n for n in record.notes)
    t.save(tmp_path / "r.json")
    assert Run.load(tmp_path / "r.json").work.units_counted == 1e15


def test_check_refuses_a_utf16_pyproject_as_run_does(tmp_path: Path, cli) -> None:  # noqa: ANN001
    (tmp_path / "pyproject.toml").write_text(
        '[tool.aicarbon.check]\nname = "x"\ncommand = ["true"]\n', encoding="utf-16"
    )
    for args in (["check", "--baseline", "b.json"], ["compare", "a.json", "b.json"]):
        out = cli(*args, cwd=tmp_path)
        assert (
            out.returncode == 2
            and "pyproject.toml is not UTF-8 text, as TOML must be (it is UTF-16)" in out.stderr
        )
    run = run_aicarbon("run", "-q", "--no-save", "--", "true", cwd=tmp_path)
    assert run.returncode == 2 and "(it is UTF-16)" in run.stderr
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-16")
    ignored = run_aicarbon("run", "-q", "--no-save", "--", sys.executable, "-c", "pass", cwd=tmp_path)
    assert ignored.returncode == 0, ignored.stderr  # another tool's file, not aicarbon's business


@pytest.mark.parametrize("flag", ["--threshold", "--warn-threshold", "--fail-on", "--max-energy"])
def test_an_empty_gate_setting_is_refused_not_defaulted(tmp_path: Path, cli, flag: str) -> None:  # noqa: ANN001
    out = cli("compare", flag, "", "a.json", "b.json", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "got ''" in out.stderr, out.stderr
