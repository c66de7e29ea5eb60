"""The README's layout table is the tree: every module it lists exists, every module is listed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def listed() -> dict[str, set[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([\w/]+)/` \| (.+?) \| .+ \|$", line)
        if match:
            table[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return table


def test_the_layout_table_lists_every_module_and_only_those() -> None:
    table = listed()
    on_disk = {
        str(folder.relative_to(ROOT)): {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
        for folder in [ROOT / "cli", ROOT / "profiler", *sorted((ROOT / "profiler").iterdir())]
        if folder.is_dir() and any(folder.glob("*.py"))
    }
    assert table == on_disk


def test_every_package_of_the_tree_is_installed() -> None:
    """pyproject.toml lists the packages a wheel installs: a folder of profiler/ left out of it
    works in an editable checkout and is missing from every real install."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {"aicarbon"} | {
        "aicarbon." + p.parent.relative_to(ROOT / "profiler").as_posix().replace("/", ".")
        for p in (ROOT / "profiler").rglob("__init__.py")
        if p.parent != ROOT / "profiler"
    }
    assert folders | {"aicarbon.cli"} == listed
