"""The runner end to end, through the real command line in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import AICARBON, bare_metal_proc, call_aicarbon
from conftest import run_aicarbon as aicarbon


@pytest.mark.parametrize("code", [0, 1, 7])
def test_exit_status_is_the_childs(code: int, tmp_path: Path) -> None:
    out = aicarbon(
        "run", "--json", str(tmp_path / "r.json"), "--", sys.executable, "-c", f"raise SystemExit({code})"
    )
    assert out.returncode == code
    assert json.loads((tmp_path / "r.json").read_text())["exit"]["status"] == code


def test_command_not_found_is_127_with_one_line() -> None:
    out = aicarbon("run", "--", "aicarbon-no-such-command-xyz")
    assert out.returncode == 127
    assert out.stderr.strip() == "aicarbon: aicarbon-no-such-command-xyz: command not found"


def test_not_executable_is_126(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    out = aicarbon("run", "--", str(script))
    assert out.returncode == 126
    assert "permission denied" in out.stderr and "Traceback" not in out.stderr


def test_stdout_is_inherited_and_the_report_goes_to_stderr() -> None:
    out = aicarbon("run", "--", sys.executable, "-c", "print('payload')")
    assert out.stdout == "payload\n"
    assert "Total" in out.stderr and "Your command" in out.stderr


def test_child_options_pass_through_without_double_dash() -> None:
    out = aicarbon("run", "-q", sys.executable, "-c", "import sys; print(sys.argv[1:])", "--json", "x")
    assert out.returncode == 0
    assert out.stdout.strip() == "['--json', 'x']"


def test_module_mode_runs_like_python_dash_m() -> None:
    out = aicarbon("run", "-q", "-m", "json.tool", "--sort-keys", input='{"b": 1, "a": 2}')
    assert out.returncode == 0
    assert json.loads(out.stdout) == {"a": 2, "b": 1}
    assert out.stdout.index('"a"') < out.stdout.index('"b"')


SIGNAL_CHILD = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    ready, seen, handle = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == "handle"
    if handle:
        def on_term(signum, frame):
            seen.write_text(str(signum))
            sys.exit(5)
        signal.signal(signal.SIGTERM, on_term)
    ready.write_text("ready")
    while True:
        time.sleep(0.05)
    """
)


def run_and_signal(tmp_path: Path, signum: int, mode: str) -> tuple[subprocess.Popen[str], str, Path]:
    ready, seen, record = tmp_path / "ready", tmp_path / "seen", tmp_path / "run.json"
    proc = subprocess.Popen(
        [
            *AICARBON,
            "run",
            "--json",
            str(record),
            "--",
            sys.executable,
            "-c",
            SIGNAL_CHILD,
            str(ready),
            str(seen),
            mode,
        ],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():  # waiting for the child to start, not measuring time
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    return proc, stderr, record


def test_sigterm_handled_by_child_gives_childs_status_and_the_run_is_saved(tmp_path: Path) -> None:
    proc, stderr, record = run_and_signal(tmp_path, signal.SIGTERM, "handle")
    assert (tmp_path / "seen").read_text() == str(int(signal.SIGTERM))
    assert proc.returncode == 5
    data = json.loads(record.read_text())
    assert data["exit"] == {"status": 5, "signal": None, "received_signal": int(signal.SIGTERM)}
    assert "Total" in stderr


def test_sigterm_kills_unhandling_child_143(tmp_path: Path) -> None:
    proc, stderr, record = run_and_signal(tmp_path, signal.SIGTERM, "default")
    assert proc.returncode == 143
    assert json.loads(record.read_text())["exit"]["signal"] == int(signal.SIGTERM)
    assert "killed by signal 15" in stderr


def test_sigint_outside_a_terminal_is_forwarded_130(tmp_path: Path) -> None:
    proc, stderr, record = run_and_signal(tmp_path, signal.SIGINT, "default")
    assert proc.returncode == 130
    data = json.loads(record.read_text())
    assert data["exit"]["received_signal"] == int(signal.SIGINT)
    assert data["sampling"]["samples"] >= 2 and "Total" in stderr


TREE_CHILD = textwrap.dedent(
    """
    import os, pathlib, subprocess, sys, time
    done = pathlib.Path(sys.argv[1])
    burn = "import time\\nwhile time.process_time() < 0.4: pass"
    # 1. a child that starts and exits during the run, reaped by its parent
    subprocess.run([sys.executable, "-c", burn], check=True)
    # 2. a grandchild orphaned at once: its parent exits before it starts burning
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            start = time.process_time()
            while time.process_time() - start < 0.4:
                pass
            done.write_text("done")
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
    while not done.exists():
        time.sleep(0.01)
    time.sleep(0.3)  # let the orphan exit and be reaped before we do
    """
)


def test_children_and_orphaned_grandchildren_count_for_attribution(tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    out = aicarbon(
        "run", "-q", "--json", str(record), "--", sys.executable, "-c", TREE_CHILD, str(tmp_path / "done")
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(record.read_text())
    # 0.4 s burnt by the child + 0.4 s by the orphan, plus interpreter start-ups
    assert data["attribution"]["tree_cpu_s"] >= 0.75
    assert data["energy"]["attributed_j"] > 0


def test_codecarbon_is_not_imported_for_a_plain_run() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aicarbon", "run", "-q", "--", "true"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0
    assert "aicarbon.measurement.command" in out.stderr  # importtime did list our modules
    assert "codecarbon" not in out.stderr


def test_bad_options_fail_before_the_command_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cmd = ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    out = aicarbon("run", "--sensors", "rapl,bogus", *cmd)
    assert out.returncode == 2 and "unknown sensor bogus" in out.stderr
    out = aicarbon("run", "--json", str(tmp_path / "missing" / "r.json"), *cmd)
    assert out.returncode == 2 and "does not exist" in out.stderr
    assert not marker.exists()
    out = aicarbon("run")
    assert out.returncode == 2 and "no command given" in out.stderr


def test_saved_record_re_renders_identically(tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    first = aicarbon("run", "--json", str(record), "--", sys.executable, "-c", "pass")
    again = call_aicarbon("report", str(record))
    assert again.returncode == 0
    report, saved = first.stderr.rsplit("aicarbon: saved as run ", 1)  # the history's line, last
    assert again.stderr == report and saved.count("\n") == 1


def test_report_on_a_file_that_is_not_a_record_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    out = call_aicarbon("report", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"aicarbon: {bad} is not an aicarbon run record (no 'schema': 'aicarbon.run/N' field)"
    )
    assert (
        call_aicarbon("report", str(tmp_path / "none.json")).stderr.strip()
        == f"aicarbon: no such file: {tmp_path / 'none.json'}"
    )


def test_sysfs_root_variable_reaches_the_rapl_sensor(tmp_path: Path) -> None:
    zone = tmp_path / "class" / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("1000\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    record = tmp_path / "run.json"
    env = {
        "AICARBON_SYSFS_ROOT": str(tmp_path),
        "AICARBON_PROC_ROOT": str(bare_metal_proc(tmp_path / "proc")),
    }
    out = aicarbon("run", "-q", "--sensors", "rapl,estimate", "--json", str(record), "--", "true", env=env)
    assert out.returncode == 0, out.stderr
    domains = {d["id"]: d for d in json.loads(record.read_text())["energy"]["domains"]}
    assert domains["cpu:package-0"]["method"] == "measured"
    assert "cpu:estimated" not in domains  # RAPL covers the CPU
    assert domains["dram:estimated"]["method"] == "estimated"  # no dram zone: RAM estimated


@pytest.mark.parametrize(
    "args",
    [
        ["--jsn", "x.json", "true"],
        ["--jsn", "x.json", "--", "true"],  # a -- later on does not make --jsn the command
        ["-q", "--jsn", "--", "true"],
    ],
)
def test_unknown_option_before_the_command_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    out = aicarbon("run", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "aicarbon: no such option: --jsn (possible options: --json); a command that starts with '-' "
        "goes after -- (see 'aicarbon run --help')"
    ]


def test_a_command_that_starts_with_a_dash_runs_after_double_dash(tmp_path: Path) -> None:
    out = aicarbon("run", "-q", "--", "-no-such-command", cwd=tmp_path)
    assert out.returncode == 127
    assert out.stderr == "aicarbon: -no-such-command: command not found\n"


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "json.tool", "--sort-keys"],
        ["-qm", "json.tool", "--sort-keys"],
        ["--module=json.tool", "--sort-keys"],
        ["--module", "json.tool", "--sort-keys"],
    ],
)
def test_module_arguments_that_look_like_options_go_to_the_module(args: list[str]) -> None:
    out = aicarbon("run", "-q", *args, input='{"b": 1, "a": 2}')
    assert out.returncode == 0, out.stderr
    assert out.stdout.index('"a"') < out.stdout.index('"b"')


def test_no_arguments_shows_the_help_and_nothing_else() -> None:
    out = aicarbon()
    assert "Usage: aicarbon [OPTIONS] COMMAND [ARGS]..." in out.stdout + out.stderr
    assert "aicarbon: " not in out.stderr  # no empty error line after the help


def test_usage_errors_are_one_line_not_a_box() -> None:
    out = aicarbon("run", "--interval", "abc", "--", "true")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "aicarbon: invalid value for '--interval': 'abc' is not a valid float. (see 'aicarbon run --help')"
    ]
    out = aicarbon("bogus")
    assert (out.returncode, out.stderr) == (2, "aicarbon: no such command 'bogus'. (see 'aicarbon --help')\n")


def test_record_is_rescued_when_its_directory_vanishes_during_the_run(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    remove = f"import shutil; shutil.rmtree({str(out_dir)!r})"
    out = aicarbon("run", "--json", str(out_dir / "run.json"), "--", sys.executable, "-c", remove)
    assert out.returncode == 0  # the command's status, not a reporting failure
    line = next(line for line in out.stderr.splitlines() if "the run record was saved to" in line)
    rescued = Path(line.split("saved to ", 1)[1].split(" instead")[0])
    try:
        data = json.loads(rescued.read_text())
        assert data["schema"] == "aicarbon.run/4" and data["exit"]["status"] == 0
        assert "Total" in out.stderr  # and the report was still printed
    finally:
        rescued.unlink()
