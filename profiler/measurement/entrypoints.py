"""What ``aicarbon run TARGET ARGS`` runs, when TARGET is Python rather than a program.

* ``infer.py ARGS``: an existing ``.py`` file runs with aicarbon's interpreter, as
  ``python infer.py ARGS`` (executable or not: a script without a ``#!`` line or the x bit is
  the common case);
* ``-m package.module ARGS``: as ``python -m package.module ARGS``;
* ``package.module:function``: imports the module and calls the function with no arguments,
  as a console-script entry point does (``sys.exit(function())``: None is 0, an int is the
  status).

All run in a child process, under the same exit-status rules as any command (an uncaught
exception: status 1, with the traceback as Python prints it). A script, module or function
that does not exist is one line and status 2 *before* anything is measured. Modules are
looked up without being imported (no package's ``__init__`` runs in aicarbon's process), on
the search path the child will have: its working directory first, then this interpreter's
``sys.path``; a function is looked for in the module's source, statically. A name that only
exists at run time (made by ``__getattr__`` or a star import) is left to the child to find.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AicarbonError

if TYPE_CHECKING:  # imported where used: a plain program (most runs) needs neither
    import ast
    from importlib.machinery import ModuleSpec

_FUNCTION_TARGET = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")

# The child's bootstrap for module:function: what a console-script wrapper does.
CALL_FUNCTION = (
    "import importlib, sys\n"
    "module, name = sys.argv[1], sys.argv[2]\n"
    "sys.argv = [module + ':' + name, *sys.argv[3:]]\n"
    "sys.path.insert(0, '')\n"
    "sys.exit(getattr(importlib.import_module(module), name)())\n"
)


class EntrypointError(AicarbonError):
    """A Python target that does not exist: one sentence, exit status 2."""


def resolve(args: Sequence[str], module: str | None = None, cwd: Path | None = None) -> list[str]:
    """The argv to run for ``aicarbon run [-m MODULE] ARGS``; ``EntrypointError`` when the
    Python target is missing."""
    where = cwd or Path.cwd()
    if module is not None:
        find_module(module, where)
        return [sys.executable, "-m", module, *args]
    if not args:
        return []
    first, rest = args[0], list(args[1:])

    if first.endswith(".py"):
        if (where / first).is_file():
            return [sys.executable, first, *rest]
        if os.sep in first or _which(first) is None:
            raise EntrypointError(f"{first}: no such Python script")
        return list(args)  # a program named *.py on PATH
    target = _FUNCTION_TARGET.match(first)
    if target and not (where / first).exists() and _which(first) is None:
        module_name, function = target.groups()
        origin = find_module(module_name, where)
        if origin is not None and not defines(origin, function):
            raise EntrypointError(f"{first}: module {module_name} defines no {function}")
        return [sys.executable, "-c", CALL_FUNCTION, module_name, function, *rest]
    return list(args)


def _which(program: str) -> str | None:
    from shutil import which  # here: a plain program (most runs) needs no PATH search

    return which(program)


def find_module(name: str, cwd: Path) -> Path | None:
    """Where module ``name`` is (its source file; None for a namespace package or a module
    without source), looked up without importing anything; ``EntrypointError`` if nowhere."""
    if not _MODULE_NAME.match(name):
        raise EntrypointError(f"{name}: not a Python module name")
    if name in sys.builtin_module_names:
        return None
    from importlib.machinery import PathFinder

    search: list[str] | None = [str(cwd), *[p for p in sys.path if p]]
    spec: ModuleSpec | None = None
    parts = name.split(".")
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), search)
        if spec is None:
            missing = ".".join(parts[: i + 1])
            raise EntrypointError(
                f"no module named {missing}" + (f" (looking for {name})" if missing != name else "")
            )
        search = list(spec.submodule_search_locations or []) or None
        if search is None and i < len(parts) - 1:
            raise EntrypointError(f"no module named {name} ({'.'.join(parts[: i + 1])} is not a package)")
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def defines(source_file: Path, name: str) -> bool:
    """Whether a module's source binds ``name`` at module level (def, class, assignment,
    import; inside ``if``/``try``/``with``/``for`` blocks too), or might at run time (a module
    ``__getattr__``, a star import, source that cannot be read or parsed)."""
    try:
        import ast

        tree = ast.parse(source_file.read_bytes(), str(source_file))
    except (OSError, SyntaxError, ValueError):
        return True  # let Python say what is wrong, as it would
    return any(bound == name or bound in ("__getattr__", "*") for bound in _module_level_names(tree.body))


def _module_level_names(body: list[ast.stmt]) -> list[str]:
    import ast

    names: list[str] = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [alias.asname or alias.name.split(".")[0] for alias in node.names]
        else:  # blocks whose statements still run at module level
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list):
                    names += _module_level_names([n for n in inner if isinstance(n, ast.stmt)])
                    names += [
                        n
                        for h in inner
                        if isinstance(h, ast.ExceptHandler)
                        for n in _module_level_names(h.body)
                    ]
    return names
