"""``aicarbon watch``: the power arithmetic on simulated sensors, the processes drawing the most,
plain lines when not on a terminal, and the live screen in a real terminal (tmux)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aicarbon.machine.watch import PowerWatch
from aicarbon.measurement.process_tree import CpuUsers
from aicarbon.report.watch_view import live_view, plain_line
from conftest import (
    AICARBON,
    FakeGpu,
    PowercapTree,
    bare_metal_proc,
    hermetic_env,
    make_fake_pynvml,
    run_aicarbon,
)
from rich.console import Console


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_each_frame_is_the_energy_since_the_last_over_the_time_elapsed(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "sys")
    tree.zone("intel-rapl:0", "package-0", 0)
    proc = bare_metal_proc(tmp_path / "proc")
    gpus = [FakeGpu(uuid="GPU-a", step_mj=0.0, pids=lambda: [os.getpid()])]
    env = {"AICARBON_SYSFS_ROOT": str(tree.sysfs_root), "AICARBON_PROC_ROOT": str(proc)}
    clock = Clock()
    with PowerWatch(0.5, environ=env, nvml_module=make_fake_pynvml(gpus), clock=clock) as watch:
        for step, (package_j, gpu_j) in enumerate([(30.0, 100.0), (10.0, 400.0)], start=1):
            tree.set_energy("intel-rapl:0", int(sum([30.0, 10.0][:step]) * 1e6))
            gpus[0].energy_mj = 1_000_000.0 + sum([100.0, 400.0][:step]) * 1000
            clock.t += 2.0
            frame = watch.frame()
            power = {d.id: d.power_w for d in frame.domains}
            assert power["cpu:package-0"] == pytest.approx(package_j / 2.0)
            assert power["gpu:0"] == pytest.approx(gpu_j / 2.0)
        assert frame.total_w == pytest.approx(5.0 + 200.0)
        assert [d.history_w for d in frame.domains if d.id == "gpu:0"] == [[50.0, 200.0]]
        (users,) = frame.gpu_users
        assert users.processes == [(os.getpid(), Path(f"/proc/{os.getpid()}/comm").read_text().strip())]
    line = plain_line(frame)
    assert "total ~205 W" in line  # "~": the RAM in it is estimated
    assert "CPU package 0 5.00 W" in line and f"[{os.getpid()}]" in line
    screen = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    screen.print(live_view(frame, 0.5))
    text = screen.export_text()
    assert "Total" in text and "205 W" in text and "q or Ctrl-C to quit" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for width in (10, 40):  # a narrow terminal: one figure a line, none cut to an ellipsis
        narrow = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        narrow.print(live_view(frame, 0.5, width=width))
        text = narrow.export_text()
        assert max(len(line) for line in text.splitlines()) <= width
        assert "…" not in text and "~205 W" in text and "5.00 W" in text and "200 W" in text


BUSY = "import time\nt = time.time()\nwhile time.time() - t < 3: pass\n"


def cpu_seconds_of(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    fields = raw[raw.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.machine_load  # reads the real machine's load: other processes may draw more
def test_a_process_drawing_cpu_is_listed_with_its_share_in_order() -> None:
    users = CpuUsers()
    users.sample()
    child = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        deadline = time.monotonic() + 60  # on a busy machine its first ticks may come late
        while cpu_seconds_of(child.pid) < 0.05 and time.monotonic() < deadline:
            time.sleep(0.05)
        low = cpu_seconds_of(child.pid)
        top = users.sample()
        high = cpu_seconds_of(child.pid)
    finally:
        child.kill()
        child.wait()
    # Listed (not necessarily first: another process on the machine may be busier), with the
    # CPU seconds it had used when sampled (read from its own stat just before and after),
    # and the list in decreasing order.
    mine = [entry for entry in top if entry[0] == child.pid]
    assert mine and low <= mine[0][2] <= high and low >= 0.05, (low, high, top[:5])
    assert all(a[2] >= b[2] for a, b in zip(top, top[1:], strict=False))


def test_not_on_a_terminal_it_prints_one_plain_line_per_interval(tmp_path: Path) -> None:
    (tmp_path / "sys").mkdir()
    out = run_aicarbon(
        "watch", "--interval", "0.1", "--count", "3", env={"AICARBON_SYSFS_ROOT": str(tmp_path / "sys")}
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  total ~[0-9.]+ m?W  CPU ~", line), line
    assert "\x1b" not in out.stdout  # no screen control codes in a pipe


def test_a_reader_that_leaves_stops_it(tmp_path: Path) -> None:
    out = subprocess.run(
        ["sh", "-c", f"{' '.join(AICARBON)} watch --interval 0.1 | head -1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=hermetic_env(),
        check=False,
    )
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "says"), [(["--interval", "0"], "--interval must be"), (["--count", "0"], "--count")]
)
def test_bad_options_are_one_line(args: list[str], says: str) -> None:
    out = run_aicarbon("watch", *args)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and says in out.stderr


# -- in a real terminal ------------------------------------------------------------------------

TMUX = shutil.which("tmux")


def _until(predicate: object, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.parametrize("quit_key", ["q", "C-c"])
def test_the_live_screen_in_tmux_quits_cleanly(tmp_path: Path, quit_key: str) -> None:
    session = f"aicarbon-watch-{os.getpid()}-{quit_key}"
    status = tmp_path / "status"
    env = hermetic_env()
    command = (
        f"{' '.join(AICARBON)} watch --interval 0.2; echo EXIT=$? > {status}; "
        f"stty -a | grep -o -- '-\\?icanon' >> {status}; sleep 30"
    )
    socket = ["-L", session]
    subprocess.run(
        ["tmux", *socket, "new-session", "-d", "-s", session, "-x", "80", "-y", "30", command],
        check=True,
        env={**env, "TERM": "xterm-256color"},
        cwd=tmp_path,
    )
    try:

        def pane() -> str:
            return subprocess.run(
                ["tmux", *socket, "capture-pane", "-p", "-t", session],
                capture_output=True,
                text=True,
                check=True,
            ).stdout

        assert _until(lambda: "Total" in pane() and "Drawing the most CPU" in pane()), pane()
        screen = pane()
        assert "q or Ctrl-C to quit" in screen and "estimated" in screen
        assert max(len(line) for line in screen.splitlines()) <= 80
        subprocess.run(["tmux", *socket, "send-keys", "-t", session, quit_key], check=True)
        assert _until(lambda: status.exists() and "icanon" in status.read_text()), pane()
        lines = status.read_text().split()
        assert lines[0] == "EXIT=0" and lines[1] == "icanon", lines  # the terminal is restored
        assert "Traceback" not in pane()
    finally:
        subprocess.run(["tmux", *socket, "kill-server"], check=False, capture_output=True)
