"""Prometheus and OpenMetrics: ``run --prometheus-textfile`` and ``watch --serve``, read back by
``prometheus_client``'s text parser and its strict OpenMetrics parser."""

from __future__ import annotations

import dataclasses
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aicarbon.machine.metrics_server import MachineMetrics, ServeError, parse_address, serve
from aicarbon.records.run import Run
from aicarbon.report.metrics import TextfileError, check_textfile, openmetrics, run_families, write_textfile
from conftest import AICARBON, hermetic_env, run_aicarbon
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

RECORD = Path(__file__).resolve().parent / "data" / "run-v3-generate-text.json"
SAMPLE = re.compile(r"^(\w+)(\{.*\})? (\S+)$")


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and labels, as prometheus_client's text parser reads it."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse_text(exposition)
        for s in family.samples
    }


def counters_end_in_total(exposition: str) -> None:
    """The text parser renames a counter without _total silently: check the lines themselves."""
    types = dict(re.findall(r"^# TYPE (\w+) (\w+)$", exposition, re.M))
    for line in exposition.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            name = match.group(1)
            kind = types.get(name) or types.get(name.removesuffix("_total"))
            assert kind is not None, line
            assert (kind == "counter") == name.endswith("_total"), line


def test_the_textfile_adds_each_run_to_its_counters(tmp_path: Path) -> None:
    run = Run.load(RECORD)
    path = tmp_path / "aicarbon.prom"
    write_textfile(path, run)
    write_textfile(path, run)
    exposition = path.read_text()
    counters_end_in_total(exposition)
    assert " # " not in exposition and not re.search(r"\} \S+ \d+$", exposition, re.M)  # no timestamps
    got = samples(exposition)
    host = run.host.hostname
    cpu = next(d for d in run.counted if d.kind == "cpu")
    labels = tuple(sorted({"host": host, "domain": cpu.id, "kind": "cpu", "method": cpu.method}.items()))
    assert got[("aicarbon_energy_joules_total", labels)] == pytest.approx(2 * cpu.energy_j)
    assert got[("aicarbon_runs_total", (("host", host),))] == 2.0
    assert run.impact is not None
    assert got[("aicarbon_emissions_grams_total", (("host", host),))] == pytest.approx(
        2 * run.impact.emissions_g
    )
    assert got[("aicarbon_last_run_energy_joules", (("host", host),))] == pytest.approx(run.machine_energy_j)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aicarbon.prom",
        "aicarbon.prom.lock",
    ]  # no temp left


def test_hostile_label_values_are_escaped_and_openmetrics_is_strict(tmp_path: Path) -> None:
    run = Run.load(RECORD)
    odd = 'node"1\\\nx\udcff'
    run = dataclasses.replace(run, host=dataclasses.replace(run.host, hostname=odd))
    families = run_families(run)
    strict = list(parse_openmetrics(openmetrics(families)))  # raises on anything not strict
    energy = next(f for f in strict if f.name == "aicarbon_energy_joules")
    assert energy.type == "counter" and energy.unit == "joules"
    assert {s.labels["host"] for s in energy.samples} == {'node"1\\\nx\\udcff'}  # the surrogate: visible
    path = tmp_path / "m.prom"
    write_textfile(path, run)
    assert {s.labels["host"] for f in parse_text(path.read_text()) for s in f.samples} == {
        'node"1\\\nx\\udcff'
    }


@pytest.mark.parametrize(
    "name, says",
    [
        ("metrics.txt", "does not end in .prom"),
        ("missing/m.prom", "does not exist"),
        ("dir.prom", "not a regular file"),
    ],
)
def test_a_textfile_that_cannot_be_is_refused(tmp_path: Path, name: str, says: str) -> None:
    (tmp_path / "dir.prom").mkdir()
    with pytest.raises(TextfileError, match=says):
        check_textfile(tmp_path / name)


def test_run_refuses_a_textfile_directory_that_does_not_exist_before_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    out = run_aicarbon(
        "run", "--prometheus-textfile", str(tmp_path / "nope" / "a.prom"), "--", "touch", str(marker)
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "does not exist" in out.stderr
    assert not marker.exists()


def test_run_writes_the_textfile_and_keeps_the_commands_status(tmp_path: Path) -> None:
    path = tmp_path / "aicarbon.prom"
    out = run_aicarbon(
        "run", "-q", "--no-save", "--prometheus-textfile", str(path), "--", "sh", "-c", "exit 3"
    )
    assert out.returncode == 3, out.stderr
    got = samples(path.read_text())
    assert [v for (name, _), v in got.items() if name == "aicarbon_last_run_exit_status"] == [3.0]


def test_the_server_listens_on_loopback_unless_told_and_says_why_it_cannot() -> None:
    assert parse_address("9464", False) == ("127.0.0.1", 9464)
    assert parse_address("[::1]:9464", False) == ("::1", 9464)
    with pytest.raises(ServeError, match="not a loopback address.*--allow-remote"):
        parse_address("0.0.0.0:9464", False)
    assert parse_address("0.0.0.0:9464", True) == ("0.0.0.0", 9464)
    with pytest.raises(ServeError, match="must be PORT or HOST:PORT"):
        parse_address("127.0.0.1:99999", False)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(ServeError, match=f"port {taken.getsockname()[1]} on 127.0.0.1 is in use"):
            serve(MachineMetrics("h"), "127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


def scrape(port: int, accept: str | None = None) -> tuple[str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def energy_of(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {k: v for k, v in samples(exposition).items() if k[0] == "aicarbon_energy_joules_total"}


def test_watch_serves_counters_that_grow_in_both_formats() -> None:
    proc = subprocess.Popen(
        [*AICARBON, "watch", "--serve", "127.0.0.1:0", "--interval", "0.1", "--count", "1000"],
        stderr=subprocess.PIPE,
        text=True,
        env=hermetic_env(None),
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line).group(1))  # type: ignore[union-attr]
        # Polled, not timed: on a busy machine the watch's refreshes come late, never not at all.
        deadline = time.monotonic() + 60
        kind, first = scrape(port)
        while not energy_of(first) and time.monotonic() < deadline:
            time.sleep(0.05)
            kind, first = scrape(port)
        assert kind == "text/plain; version=0.0.4; charset=utf-8"
        counters_end_in_total(first)
        before = energy_of(first)
        second = first
        while sum(energy_of(second).values()) <= sum(before.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
            second = scrape(port)[1]
        after = energy_of(second)
        assert before and set(after) == set(before)
        assert sum(after.values()) > sum(before.values())  # a counter that grows
        kind, om = scrape(port, "application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
        assert kind == "application/openmetrics-text; version=1.0.0; charset=utf-8"
        families = {f.name: f for f in parse_openmetrics(om)}
        assert families["aicarbon_energy_joules"].type == "counter"
        assert (
            families["aicarbon_power_watts"].type == "gauge"
            and families["aicarbon_power_watts"].unit == "watts"
        )
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert missing.value.code == 404
    finally:
        proc.kill()
        proc.wait()


def test_a_textfile_that_cannot_be_written_after_the_run_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aicarbon.cli.run_command import _write_metrics

    path = tmp_path / "gone" / "a.prom"  # its directory removed while the command ran
    _write_metrics(Run.load(RECORD), path)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"aicarbon: --prometheus-textfile: could not write {path} (")
    assert err.rstrip().endswith("; the run is kept")
