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
            "session: * machine, * this process (*); 3 tests measured; top 3 by the process's energy:",
            "*test_suite.py::test_heavy",
            "per-test figures written to energy.json",
        ]
    )
    data = json.loads((pytester.path / "energy.json").read_text())
    assert data["schema"] == "aicarbon.pytest/1" and data["run"]["schema"] == "aicarbon.run/4"
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


MIXED = """
import time

import aicarbon
import pytest

def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

def test_pass():
    busy(0.05)

def test_fail():
    busy(0.05)
    assert False

@pytest.fixture
def broken():
    raise RuntimeError("set-up fails")

def test_error(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skip_mark():
    pass

def test_skip_inside():
    pytest.skip("decided in the test")

@pytest.mark.xfail
def test_xfail():
    assert False

def test_code_with_its_own_phases():
    with aicarbon.phase("load-model"):
        busy(0.02)

@pytest.mark.parametrize("x", ["\\x1b[2J", "::error::x"])
def test_param(x):
    pass
"""


def test_outcomes_and_the_code_under_tests_own_phases(pytester: pytest.Pytester) -> None:
    """Failing, erroring, skipped and xfailed tests are reported as such; a phase of the code
    under test is a phase of the run, never a test of its own; names are escaped."""
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--aicarbon", "--aicarbon-json", "energy.json"
    )
    result.assert_outcomes(passed=4, failed=1, errors=1, skipped=2, xfailed=1)
    data = json.loads((pytester.path / "energy.json").read_text())
    outcomes = {t["nodeid"].split("::", 1)[1]: t["outcome"] for t in data["tests"]}
    assert outcomes == {
        "test_pass": "passed",
        "test_fail": "failed",
        "test_skip_inside": "skipped",
        "test_xfail": "xfailed",
        "test_code_with_its_own_phases": "passed",
        "test_param[\\x1b[2J]": "passed",  # pytest escapes ids itself
        "test_param[::error::x]": "passed",
    }
    assert data["not_measured"] == {"error": 1, "skipped": 1}
    assert "load-model" in [p["name"] for p in data["run"]["work"]["phases"]]  # in the run, at depth 1
    text = result.stdout.str()
    assert "7 tests measured (1 error, 1 skipped before their call: nothing to measure)" in text
    assert "test_mixed.py::test_fail  [failed]" in text and "\x1b[2J" not in text
    assert "test_param[\\x1b[2J]" in text and "test_param[::error::x]" in text  # off a runner


@pytest.mark.parametrize(
    "flags, measured",
    [
        (["-k", "pass"], 1),
        (["-x"], 2),  # stops at the first failure
        (["-m", "xfail"], 1),
        (["--deselect", "test_mixed.py::test_pass", "-k", "pass"], 0),
        (["--collect-only"], 0),
    ],
)
def test_selection_flags_measure_what_ran(pytester: pytest.Pytester, flags: list[str], measured: int) -> None:
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--aicarbon-json", "e.json", *flags)
    assert result.ret in (0, 1, 5)  # the run's own status, whatever aicarbon measured
    data = json.loads((pytester.path / "e.json").read_text())
    assert len(data["tests"]) == measured
    assert f"{measured} test{'' if measured == 1 else 's'} measured" in result.stdout.str()


def test_an_unwritable_json_path_is_said_and_fails_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--aicarbon-json", "missing/dir/e.json")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["aicarbon could not write missing/dir/e.json: No such file or directory"])


def test_the_session_can_be_measured_by_codecarbon(pytester: pytest.Pytester) -> None:
    """--aicarbon-backend codecarbon: codecarbon's tracker measures the session (its domains in
    the session's record); the per-test figures are at its one-second resolution."""
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--aicarbon-json", "energy.json", "--aicarbon-backend", "codecarbon"
    )
    result.assert_outcomes(passed=3)
    data = json.loads((pytester.path / "energy.json").read_text())
    ids = [d["id"] for d in data["run"]["energy"]["domains"]]
    assert "cpu:codecarbon" in ids and all(i.endswith(":codecarbon") for i in ids)
    assert data["run"]["sampling"]["interval_s"] == 1.0
    refused = pytester.runpytest_subprocess("--aicarbon", "--aicarbon-backend", "codecarbn")
    assert refused.ret == 4 and "invalid choice: 'codecarbn'" in refused.stderr.str()
