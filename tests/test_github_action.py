"""The GitHub Action (action.yml): valid against GitHub's schema for actions, its inputs turned
into one gate command line without a shell, and its composite steps run here as a runner runs
them (inputs through the environment, ``GITHUB_*`` files, ``$GITHUB_ACTION_PATH``), hostile
inputs included; the step fails exactly when the gate does."""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from aicarbon.cli.github_action import ActionInputError, command_line

ROOT = Path(__file__).resolve().parent.parent


def test_action_yml_is_valid_for_github() -> None:
    schema = ["--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")]
    out = subprocess.run([sys.executable, "-m", "check_jsonschema", *schema], capture_output=True, text=True)
    assert out.returncode == 0 and "validation done" in out.stdout, out.stdout + out.stderr


def inputs(**given: str) -> dict[str, str]:
    return {"AICARBON_ACTION_" + k.upper(): v for k, v in given.items()}


def test_inputs_become_one_gate_command_line() -> None:
    assert command_line(inputs(baseline="b.json", command="python infer.py --n 3", runs="5")) == [
        "check", "--baseline", "b.json", "--runs", "5", "--", "python", "infer.py", "--n", "3"]  # fmt: skip
    assert command_line(inputs(base_dir="../base", command="python x.py", threshold="5%")) == [
        "ab", "--base-dir", "../base", "--head-dir", ".", "--threshold", "5%", "--", "python", "x.py",
    ]  # fmt: skip
    assert command_line(inputs(base="python a.py", head="python b.py")) == [
        "ab", "--base", "python a.py", "--head", "python b.py"]  # fmt: skip


def test_hostile_inputs_stay_words() -> None:
    argv = command_line(
        inputs(baseline="b.json", command="echo $(touch pwned); rm -rf / `id`\nx", name="a\nb")
    )
    assert argv[-7:] == ["echo", "$(touch", "pwned);", "rm", "-rf", "/", "`id`"] or "pwned);" in argv
    assert ["--name", "a\nb"] == argv[argv.index("--name") : argv.index("--name") + 2]


@pytest.mark.parametrize(
    "given",
    [{}, {"baseline": "b", "base_dir": "x", "command": "c"}, {"base": "a"},
     {"base": "a", "head": "b", "command": "c"}, {"baseline": "b"}, {"command": "'unclosed"}],
)  # fmt: skip
def test_inputs_that_name_no_gate_are_refused(given: dict[str, str]) -> None:
    with pytest.raises(ActionInputError):
        command_line(inputs(**given))


def _steps() -> list[dict]:  # type: ignore[type-arg]
    from ruamel.yaml import YAML

    return list(YAML(typ="safe").load((ROOT / "action.yml").read_text())["runs"]["steps"])


def run_action(tmp_path: Path, given: dict[str, str]) -> tuple[int, str, Path, Path]:
    """Run the composite's steps as a runner would; the last step's status and stderr, and the
    GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files."""
    action = tmp_path / "action"
    shutil.copytree(
        ROOT, action, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build")
    )
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    # aicarbon's dependencies, already installed here, seen by the action's own venv (offline)
    venv = runner_temp / "aicarbon-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = next((runner_temp / "aicarbon-venv" / "lib").glob("python*/site-packages"))
    (purelib / "deps.pth").write_text(site.getsitepackages()[0] + "\n")
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.touch()
    summary.touch()
    defaults = {name: spec.get("default", "") for name, spec in _yaml_inputs().items()}
    values = {**defaults, **given}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AICARBON_", "GITHUB_"))}
    env.update(
        GITHUB_ACTIONS="true", GITHUB_ACTION_PATH=str(action), RUNNER_TEMP=str(runner_temp),
        GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary), AICARBON_HOME=str(tmp_path / "home"),
        PIP_NO_DEPS="1",  # the dependencies are those installed here; setuptools comes as for any build
    )  # fmt: skip
    status, stderr = 0, ""
    for step in _steps():
        step_env = dict(env)
        for key, expression in step.get("env", {}).items():
            name = re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", expression)
            assert name is not None, expression  # inputs reach steps only through the environment
            step_env[key] = values[name.group(1)]
        assert "${{" not in step["run"]  # never interpolated into a script
        done = subprocess.run(["bash", "-e", "-c", step["run"]], env=step_env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        status, stderr = done.returncode, done.stderr
        if status != 0:
            break
    return status, stderr, output, summary


def _yaml_inputs() -> dict[str, dict[str, str]]:
    from ruamel.yaml import YAML

    return dict(YAML(typ="safe").load((ROOT / "action.yml").read_text())["inputs"])


TINY = "python -c pass"
BUSY = "python -c 'sum(range(3 * 10 ** 7))'"


def test_the_action_runs_the_gate_and_writes_the_runners_files(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    status, stderr, output, summary = run_action(
        tmp_path,
        {"command": TINY + " $(touch pwned)", "base-dir": "base", "runs": "3", "warmup": "0",
         "fail-on": "never", "name": "tiny `id` $(touch pwned)", "python": sys.executable},
    )  # fmt: skip
    assert status == 0, stderr
    assert re.search(r"^verdict=", output.read_text(), re.M) and "tiny" in summary.read_text()
    assert not list(tmp_path.rglob("pwned"))  # no input ever reached a shell


def test_the_step_fails_exactly_when_the_gate_does(tmp_path: Path) -> None:
    given = {"base": TINY, "head": BUSY, "runs": "3", "warmup": "0", "fail-on": "inconclusive",
             "python": sys.executable}  # fmt: skip
    status, stderr, output, _ = run_action(tmp_path, given)
    direct = subprocess.run(
        [sys.executable, "-m", "aicarbon", "ab", "--base", TINY, "--head", BUSY, "--runs", "3",
         "--warmup", "0", "--fail-on", "inconclusive"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert status == direct.returncode == 1, stderr
    assert re.search(r"^verdict=(regression|inconclusive)$", output.read_text(), re.M)
    refused, said, _, _ = run_action(
        tmp_path / "again" if (tmp_path / "again").mkdir() is None else tmp_path, {}
    )
    assert refused == 2 and "give baseline, or base-dir" in said
