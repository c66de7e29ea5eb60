"""``pytest --aicarbon`` on a tiny suite, through pytester in a fresh pytest process (the plugin
comes from the installed ``pytest11`` entry point, as a user's would)."""

from __future__ import annotations

import json

import pytest

SUITE = """
import time

def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

def test_heavy():
    busy(0.3)

def test_light():
    busy(0.02)

def test_sleepy():
    time.sleep(0.1)
"""


def test_each_test_is_measured_and_the_top_consumers_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--aicarbon", "--aicarbon-json", "energy.json"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*aicarbon: energy per test*",
            "session: * machine, * this process (*); 3 tests; top 3 by the process's energy:",
            "*test_suite.py::test_heavy",
            "per-test figures written to energy.json",
        ]
    )
    data = json.loads((pytester.path / "energy.json").read_text())
    assert data["schema"] == "aicarbon.pytest/1" and data["run"]["schema"] == "aicarbon.run/2"
    tests = {t["nodeid"].split("::")[1]: t for t in data["tests"]}
    assert set(tests) == {"test_heavy", "test_light", "test_sleepy"}
    assert tests["test_heavy"]["attributed_j"] > 3 * tests["test_light"]["attributed_j"]
    # busy() spins on the process's CPU time, which the sampling thread also advances: about 0.3 s
    assert tests["test_heavy"]["duration_s"] >= 0.25


def test_the_plugin_is_inert_without_the_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    output = result.stdout.str()
    assert "plugins: aicarbon" in output  # installed and loaded...
    assert "energy per test" not in output and "aicarbon:" not in output  # ... and inert
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    assert "--aicarbon" in help_text and "--aicarbon-json=PATH" in help_text
