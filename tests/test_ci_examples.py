"""The CI examples are checked by the tools that consume them: GitHub's and GitLab's workflow
schemas (check-jsonschema's vendored copies, offline), aicarbon's own config reader, and
aicarbon's command line for every flag they use."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from aicarbon.gate.settings import project_check
from conftest import run_aicarbon

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "ci"


@pytest.mark.parametrize(
    ("filename", "schema"),
    [
        ("github-energy-check.yml", "vendor.github-workflows"),
        ("github-action.yml", "vendor.github-workflows"),
        ("gitlab-ci.yml", "vendor.gitlab-ci"),
    ],
)
def test_workflow_examples_validate_against_the_vendors_schemas(filename: str, schema: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(EXAMPLES / filename)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "validation done" in out.stdout


def test_the_pyproject_example_is_a_valid_check_section() -> None:
    check = project_check(EXAMPLES)
    assert check.get("command") == ["python", "examples/classify_digits.py"]
    assert check.get("threshold") == "10%" and check.get("runs") == 5


def aicarbon_lines(text: str) -> list[list[str]]:
    """Each aicarbon invocation in a workflow, folded (>-) lines joined."""
    joined = re.sub(r"\n\s+(?=--|-- |[a-z])", " ", text)
    return [
        line.split()
        for line in re.findall(r"aicarbon (?:ab|compare|check|bench|baseline update)[^\n]*", joined)
    ]


@pytest.mark.parametrize("filename", ["github-energy-check.yml", "gitlab-ci.yml"])
def test_every_flag_the_examples_use_exists(filename: str) -> None:
    invocations = aicarbon_lines((EXAMPLES / filename).read_text())
    assert invocations, "no aicarbon command found"
    for words in invocations:
        subcommand = words[1]
        usage = run_aicarbon(subcommand, "--help").stdout
        flags = [w for w in words[2:] if w.startswith("--") and w != "--"]
        flags = flags[: flags.index("--") if "--" in flags else None]
        for flag in flags:
            assert flag in usage, f"{filename}: aicarbon {subcommand} has no {flag}"


def test_the_action_example_gives_only_inputs_the_action_has() -> None:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    action_inputs = set(yaml.load((EXAMPLES.parent.parent / "action.yml").read_text())["inputs"])
    workflow = yaml.load((EXAMPLES / "github-action.yml").read_text())
    steps = [
        s
        for s in workflow["jobs"]["energy"]["steps"]
        if str(s.get("uses", "")).startswith("aicarbon/aicarbon@")
    ]
    assert len(steps) == 1 and set(steps[0]["with"]) <= action_inputs, set(steps[0]["with"]) - action_inputs
