"""``aicarbon run`` with Python targets: a script, ``-m module``, ``module:function``; their
exit statuses, and one clear line before anything is measured when the target is missing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aicarbon.measurement.entrypoints import EntrypointError, defines, resolve
from conftest import run_aicarbon


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "infer.py").write_text("import sys\nprint('args', sys.argv[1:])\nsys.exit(3)\n")
    package = tmp_path / "pkg"
    package.mkdir()
    # Counts its imports: aicarbon's check must not import the package; only the child does.
    (package / "__init__.py").write_text(
        "with open('imports.log', 'a') as log:\n    log.write('imported\\n')\n"
    )
    (package / "jobs.py").write_text(
        "import sys\n"
        "def main():\n    print('main ran', sys.argv)\n    return 4\n"
        "def boom():\n    raise ValueError('boom')\n"
        "if True:\n    later = main\n"
    )
    return tmp_path


def test_a_script_that_is_not_executable_runs_with_aicarbons_python(project: Path) -> None:
    assert not os.access(project / "infer.py", os.X_OK)
    out = run_aicarbon("run", "--json", "r.json", "infer.py", "a", "--flag", cwd=project)
    assert out.returncode == 3 and "args ['a', '--flag']" in out.stdout
    assert json.loads((project / "r.json").read_text())["command"][1:] == ["infer.py", "a", "--flag"]


def test_a_function_target_is_called_like_a_console_script(project: Path) -> None:
    out = run_aicarbon("run", "-q", "pkg.jobs:main", "x", cwd=project)
    assert out.returncode == 4 and "main ran ['pkg.jobs:main', 'x']" in out.stdout
    assert (project / "imports.log").read_text() == "imported\n"  # once: by the child alone
    assert (project / "imports.log").read_text() == "imported\n"  # once: by the child alone
    assert run_aicarbon("run", "-q", "pkg.jobs:later", cwd=project).returncode == 4  # bound in an if block


def test_an_uncaught_exception_is_status_1_with_pythons_traceback(project: Path) -> None:
    out = run_aicarbon("run", "pkg.jobs:boom", cwd=project)
    assert out.returncode == 1
    assert "Traceback (most recent call last):" in out.stderr and "ValueError: boom" in out.stderr
    assert "exit 1" in out.stderr  # measured and reported as any failing command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py"], "missing.py: no such Python script"),
        (["pkg.jobs:nope"], "pkg.jobs:nope: module pkg.jobs defines no nope"),
        (["pkg.nothere:main"], "no module named pkg.nothere"),
        (["-m", "pkg.nothere"], "no module named pkg.nothere"),
        (["-m", "nosuchpackage.sub"], "no module named nosuchpackage (looking for nosuchpackage.sub)"),
        (["-m", "json.decoder.x"], "no module named json.decoder.x (json.decoder is not a package)"),
    ],
)
def test_missing_targets_are_one_line_and_status_2_before_measuring(
    project: Path, args: list[str], message: str
) -> None:
    out = run_aicarbon("run", "--json", "r.json", *args, cwd=project)
    assert out.returncode == 2 and out.stderr == f"aicarbon: {message}\n"
    assert not (project / "r.json").exists()  # nothing was measured


def test_modules_still_run_as_python_m(project: Path) -> None:
    out = run_aicarbon("run", "-q", "-m", "json.tool", "--help", cwd=project)
    assert out.returncode == 0 and "usage" in out.stdout


def test_programs_and_things_that_only_look_like_targets_are_left_alone(tmp_path: Path) -> None:
    assert resolve(["python3", "-c", "pass"], cwd=tmp_path) == ["python3", "-c", "pass"]
    assert resolve(["localhost:8000"], cwd=tmp_path) == ["localhost:8000"]  # not a module:function
    with pytest.raises(EntrypointError):
        resolve(["-m"], module="not a module", cwd=tmp_path)


def test_dynamic_modules_are_left_to_python(tmp_path: Path) -> None:
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def __getattr__(name):\n    return print\n")
    starred = tmp_path / "starred.py"
    starred.write_text("from os.path import *\n")
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert defines(lazy, "anything") and defines(starred, "join") and defines(broken, "x")
    plain = tmp_path / "plain.py"
    plain.write_text(
        "import os.path as p\nfrom x import y as z\nclass C: pass\nA: int = 1\n"
        "try:\n    B = 1\nexcept ImportError:\n    D = 2\n"
    )
    assert [defines(plain, n) for n in ("p", "z", "C", "A", "B", "D", "os", "y")] == [True] * 6 + [
        False,
        False,
    ]
