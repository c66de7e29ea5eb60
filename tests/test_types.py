"""The package type-checks (mypy, configured in pyproject.toml) as it is installed: ``aicarbon``
is ``profiler/`` and ``aicarbon.cli`` is ``cli/``, so the check runs over a tree of links in
that layout, where every ``from aicarbon...`` import resolves to the code it names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_type_error(tmp_path: Path) -> None:
    package = tmp_path / "src" / "aicarbon"
    package.mkdir(parents=True)
    for entry in (ROOT / "profiler").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "cli").symlink_to(ROOT / "cli")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "-p",
            "aicarbon",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(tmp_path / "src")},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success: no issues found" in out.stdout


def test_the_package_ships_its_type_information() -> None:
    assert (ROOT / "profiler" / "py.typed").is_file()
    assert "py.typed" in (ROOT / "pyproject.toml").read_text()
