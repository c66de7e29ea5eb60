"""``aicarbon serve`` against a stand-in server on 127.0.0.1 (tests/serving_stand_in.py): each
dialect's counters move with a simulated RAPL counter, 5 J per 100 output tokens, so the energy
per token of any window is exactly 0.05 J; label sets summed, a counter reset, a dying server,
endpoints that answer nothing usable, refused URLs, and attaching to a running server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aicarbon.records.run import Run
from aicarbon.report.terminal import plain_text
from aicarbon.serving.dialects import Counters, Dialect
from aicarbon.serving.window import Pair, window
from conftest import AICARBON, PowercapTree, bare_metal_proc, call_aicarbon, hermetic_env

STAND_IN = Path(__file__).resolve().parent / "serving_stand_in.py"
DATA = Path(__file__).resolve().parent / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Machine:
    """A bare-metal machine with one RAPL package, whose counter only the stand-in moves."""

    def __init__(self, root: Path) -> None:
        self.powercap = PowercapTree(root / "sys")
        self.powercap.zone("intel-rapl:0", "package-0", 1_000_000)
        self.counter = self.powercap.path("intel-rapl:0") / "energy_uj"
        self.env = {
            "AICARBON_SYSFS_ROOT": str(self.powercap.sysfs_root),
            "AICARBON_PROC_ROOT": str(bare_metal_proc(root / "proc")),
            "AICARBON_TRUST_VM_RAPL": "1",
            "AICARBON_HOME": str(root / "home"),
        }
        self.record = root / "r.json"

    def serve(self, dialect: str, *extra: str, stand_in: tuple[str, ...] = (), port: int | None = None,
              attach: bool = False) -> subprocess.CompletedProcess[str]:  # fmt: skip
        port = port or free_port()
        options = ["--sensors", "rapl", "--interval", "0.05", "--scrape-interval", "0.1", "--json",
                   str(self.record), "--metrics-url", f"http://127.0.0.1:{port}/metrics", *extra]  # fmt: skip
        server = [sys.executable, str(STAND_IN), str(port), dialect, str(self.counter), *stand_in]
        argv = [*AICARBON, "serve", *options] + ([] if attach else ["--", *server])
        return subprocess.run(argv, env=hermetic_env(self.env), capture_output=True, text=True, timeout=120)

    def serving(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.record.read_text())["serving"]


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


@pytest.mark.parametrize(
    ("dialect", "extra", "prompt", "requests"),
    [
        ("vllm", (), 0.125, 2.5),
        ("sglang", (), 0.125, None),
        ("llamacpp", (), 0.125, None),
        ("tgi", (), 0.125, 2.5),
        ("generic", ("--token-metric", "my_output_tokens"), None, None),
    ],
)
def test_each_dialect_gives_the_exact_energy_per_token(
    machine: Machine, dialect: str, extra: tuple[str, ...], prompt: float | None, requests: float | None
) -> None:
    out = machine.serve(dialect, "--duration", "0.5", *extra, stand_in=("--labels", "3"))
    assert out.returncode == 0, out.stderr  # the window's end stopped the server: not a failure
    s = machine.serving()
    assert s["dialect"] == dialect and s["segments"] == 1 and s["failed_scrapes"] == 0
    assert s["output_tokens"] > 0 and s["output_tokens"] % 100 == pytest.approx(0, abs=1e-6)
    assert s["j_per_output_token"] == pytest.approx(0.05, rel=1e-9)
    assert s["j_per_prompt_token"] == (pytest.approx(prompt, rel=1e-9) if prompt else None)
    assert s["j_per_request"] == (pytest.approx(requests, rel=1e-9) if requests else None)
    assert s["energy_j"] == pytest.approx(s["output_tokens"] * 0.05)
    assert s["gpu_energy_j"] is None and s["coarse"] == (dialect == "tgi")
    if dialect == "vllm":
        assert s["models"] == ["model-0", "model-1", "model-2"] and s["mean_running"] == 3
    assert "J per output token" in out.stderr.replace("\n", " ") or "per output token" in out.stderr


def test_a_counter_reset_opens_a_new_segment_and_nothing_goes_negative(machine: Machine) -> None:
    out = machine.serve("vllm", "--duration", "0.8", stand_in=("--reset-after", "3"))
    assert out.returncode == 0, out.stderr
    s = machine.serving()
    assert s["segments"] == 2 and s["output_tokens"] > 0
    assert s["j_per_output_token"] == pytest.approx(0.05, rel=1e-9)
    assert "reset 1 time(s)" in out.stderr


def test_a_server_that_dies_keeps_its_status_and_its_window(machine: Machine) -> None:
    out = machine.serve("vllm", stand_in=("--die-after", "6"))
    assert out.returncode == 3, out.stderr
    s = machine.serving()
    assert s["scrapes"] >= 2 and s["j_per_output_token"] == pytest.approx(0.05, rel=1e-9)
    assert json.loads(machine.record.read_text())["exit"]["status"] == 3


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("html", "sent an HTML page, not metrics"),
        ("huge", "sent more than 8 MB"),
        ("garbage", "not Prometheus metrics"),
        ("none", "never answered"),
    ],
)
def test_an_endpoint_without_usable_metrics_costs_one_line_not_the_run(
    machine: Machine, answer: str, said: str
) -> None:
    out = machine.serve("vllm", stand_in=("--answer", answer, "--die-after", "4"))
    assert out.returncode == (0 if answer == "none" else 3), out.stderr
    assert said in out.stderr and "Traceback" not in out.stderr
    data = json.loads(machine.record.read_text())
    assert data["serving"] is None and [d["id"] for d in data["energy"]["domains"]]  # still measured
    assert any(said in n for n in data["notes"])


def test_a_slow_endpoint_is_cut_at_the_timeout(machine: Machine) -> None:
    out = machine.serve("vllm", stand_in=("--answer", "slow", "--die-after", "2"))
    assert out.returncode == 3 and "did not answer" in out.stderr, out.stderr


def test_attaching_to_a_running_server(machine: Machine) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(STAND_IN), str(port), "vllm", str(machine.counter)], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == b"serving\n"
        out = machine.serve("vllm", "--attach", "--duration", "0.4", port=port, attach=True)
    finally:
        server.terminate()
        server.wait()
    assert out.returncode == 0, out.stderr
    data = json.loads(machine.record.read_text())
    assert data["command"][:3] == ["aicarbon", "serve", "--attach"]
    assert data["serving"]["j_per_output_token"] == pytest.approx(0.05, rel=1e-9)
    assert data["attribution"]["method"] == "attached to a running server: the whole machine"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--metrics-url", "file:///etc/passwd", "--", "true"], "must be an http:// or https:// URL"),
        (["--metrics-url", "ftp://x/metrics", "--", "true"], "must be an http:// or https:// URL"),
        (["--metrics-url", "http://u:p@127.0.0.1:1/m", "--", "true"], "must not hold a user or password"),
        (["--metrics-url", "http://127.0.0.1:x/m", "--", "true"], "port that is not a number"),
        (["--", "true"], "--metrics-url URL is needed"),
        (["--metrics-url", "http://127.0.0.1:1/m", "--attach"], "--attach needs --duration S"),
        (["--metrics-url", "http://127.0.0.1:1/m", "--attach", "--duration", "1", "--", "true"],
         "give no command"),
        (["--metrics-url", "http://127.0.0.1:1/m"], "no server command given"),
        (["--metrics-url", "http://127.0.0.1:1/m", "--duration", "-1", "--", "true"], "--duration must be"),
        (["--metrics-url", "http://127.0.0.1:1/m", "--token-metric", "a b", "--", "true"],
         "is not a Prometheus metric name"),
    ],
)  # fmt: skip
def test_bad_serve_command_lines_are_refused_in_one_line(args: list[str], said: str, tmp_path: Path) -> None:
    out = call_aicarbon("serve", *args, cwd=tmp_path)
    assert out.returncode == 2 and said in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr


def pair(t: float, joules: float, tokens: float, requests: float | None = None) -> Pair:
    return Pair(t, joules, None, Counters(tokens, None, requests, None), 0.001)


def test_the_window_sums_its_segments() -> None:
    dialect = Dialect("vllm", "o", None, "r", None)
    pairs = [
        pair(0, 0, 0, 0),
        pair(1, 10, 100, 1),
        pair(2, 20, 200, 2),
        pair(3, 30, 50, 0),
        pair(4, 40, 150, 1),
    ]
    record = window(pairs, dialect, "http://x", 0)
    assert record.segments == 2 and record.output_tokens == 300 and record.energy_j == 30
    assert record.requests == 3 and record.duration_s == 3 and record.j_per_output_token == 0.1
    one = window(pairs[:1], dialect, "http://x", 0)
    assert one.j_per_output_token is None and one.problem is not None and "one scrape" in one.problem


def test_a_hostile_url_or_model_name_never_reaches_the_terminal_raw() -> None:
    run = Run.load(DATA / "run-v3-generate-text.json")
    record = window(
        [pair(0, 0, 0), pair(1, 5, 100)], Dialect("vllm", "o", None, None, None), "http://x/\x1b[2J", 0
    )
    record.published = ["published: \x1b]0;pwned\x07"]
    run.serving = record
    text = plain_text(run)
    assert "\x1b" not in text and "\\x1b[2J" in text and "\\x1b]0;pwned" in text


def test_the_gpus_own_energy_per_token_beside_the_machines() -> None:
    dialect = Dialect("vllm", "o", None, None, None)
    pairs = [
        Pair(0, 0, 100.0, Counters(0, None, None, None), 0.0),
        Pair(2, 30, 120.0, Counters(400, None, None, None), 0.0),
    ]
    record = window(pairs, dialect, "http://x", 0)
    assert (
        record.gpu_energy_j == 20
        and record.gpu_j_per_output_token == 0.05
        and record.j_per_output_token == 0.075
    )
