"""The exit status is the command's own, whatever happens to aicarbon's own streams; the
report's header stays whole at 80 columns; start-up is interruptible without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AICARBON, hermetic_env, run_aicarbon, run_hermetic

ENV = hermetic_env()


def sh(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """aicarbon under a shell that arranges its streams (``"$@"`` is aicarbon's command line)."""
    return run_hermetic(["sh", "-c", script, "sh", *AICARBON, *args])


def test_stderr_closed_keeps_the_commands_status() -> None:
    out = sh('"$@" 2>&-; echo "status $?"', "run", "--", "sh", "-c", "exit 7")
    assert out.stdout == "status 7\n"


def test_quiet_with_stdout_closed_keeps_the_commands_status() -> None:
    out = sh('"$@" >&-; echo "status $?" >&2', "run", "-q", "--", "sh", "-c", "exit 7")
    assert out.stderr == "status 7\n"


def test_the_command_sees_its_closed_stderr_closed_not_redirected() -> None:
    """aicarbon holds fd 2 with a close-on-exec placeholder: the command finds it closed,
    exactly as without aicarbon (its write fails and it exits 9)."""
    probe = "echo x >&2 && exit 0 || exit 9"
    direct = subprocess.run(["sh", "-c", f"sh -c '{probe}' 2>&-"], check=False)
    out = sh('"$@" 2>&-; echo "status $?"', "run", "--", "sh", "-c", probe)
    assert direct.returncode == 9 and out.stdout == "status 9\n"


def test_files_aicarbon_opens_never_become_the_commands_stdin() -> None:
    """With stdin closed, the command must not inherit one of aicarbon's files as stdin."""
    out = sh('"$@" <&-', "run", "-q", "--", "sh", "-c", "cat >/dev/null 2>&1 && echo readable || echo closed")
    assert out.stdout == "closed\n"


def test_broken_pipe_on_the_report_keeps_the_commands_status(tmp_path: Path) -> None:
    """aicarbon run ... 2>&1 | head -1: the reader is gone before the report is written."""
    proc = subprocess.Popen(
        [
            *AICARBON,
            "run",
            "--json",
            str(tmp_path / "r.json"),
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(0.5); raise SystemExit(4)",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ENV,
        start_new_session=True,
    )
    assert proc.stderr is not None
    proc.stderr.close()  # the reader leaves at once
    assert proc.wait(timeout=120) == 4
    assert json.loads((tmp_path / "r.json").read_text())["exit"]["status"] == 4  # nothing lost


def test_record_to_a_broken_stdout_pipe_is_rescued(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            *AICARBON,
            "run",
            "-q",
            "--json",
            "/dev/stdout",
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(0.5)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**ENV, "TMPDIR": str(tmp_path)},
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "could not write /dev/stdout (Broken pipe, EPIPE); the run record was saved to" in stderr
    (rescued,) = tmp_path.glob("aicarbon-run-*.json")
    assert json.loads(rescued.read_text())["schema"] == "aicarbon.run/4"


def test_header_stays_whole_at_80_columns_with_a_long_command_and_narrow_columns(tmp_path: Path) -> None:
    """A signal-killed run's header with a 200-character command, COLUMNS=40 in the
    environment: the command is shortened, never the exit status."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    script = deep / "kill-myself.sh"
    script.write_text("#!/bin/sh\nkill -TERM $$\n")
    script.chmod(0o755)
    out = run_aicarbon("run", "--", str(script), "x" * 40, env={"COLUMNS": "40"})
    assert out.returncode == 143
    header = out.stderr.splitlines()[0]
    assert header.startswith("aicarbon  ") and header.endswith(" s")
    assert "  ·  exit 143 (killed by signal 15)  ·  " in header
    assert len(header) <= 80 and "…" in header
    assert all(len(line) <= 80 for line in out.stderr.splitlines())


INTERRUPT_AT = """
import signal, sys
# As launched from a terminal: a parent that ignores SIGINT (a background job of a
# non-interactive shell, 'nohup ... &') hands that on, and aicarbon rightly keeps it ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
from aicarbon.cli.entry import main  # what the console script imports before calling main()
delay_s = float(sys.argv[1])
sys.argv = ["aicarbon", "run", "-q", "--", "sleep", "1"]  # not Python: its own start-up would print
signal.signal(signal.SIGALRM, lambda *_: signal.raise_signal(signal.SIGINT))
signal.setitimer(signal.ITIMER_REAL, delay_s)
main()
"""


def test_interrupt_anywhere_in_start_up_never_prints_a_traceback() -> None:
    """A SIGINT raised at moments spread over aicarbon's first 200 ms (importing typer and
    rich, parsing, opening sensors, starting the command): before the command starts it ends
    aicarbon quietly with 130; after, it reaches the command, which dies of it (130 too)."""
    for i in range(16):
        out = run_hermetic([sys.executable, "-c", INTERRUPT_AT, str(0.001 + 0.0125 * i)])
        assert "Traceback" not in out.stderr and "KeyboardInterrupt" not in out.stderr, (i, out.stderr)
        assert out.returncode == 130, (i, out.returncode, out.stderr)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_json_to_a_closed_standard_stream_is_refused_before_the_run(stream: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    redirect = ">&-" if stream == "stdout" else '2>&-; echo "status $?"'
    out = sh(f'"$@" {redirect}', "run", "-q", "--json", f"/dev/{stream}", "--", "touch", str(marker))
    if stream == "stdout":
        assert (
            out.stderr
            == "aicarbon: --json: cannot write /dev/stdout: that stream was closed when aicarbon started\n"
        )
    else:
        assert out.stdout == "status 2\n"
    assert not marker.exists()
