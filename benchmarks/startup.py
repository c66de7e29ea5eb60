"""What ``aicarbon run`` adds to a command's wall time, as a ratio to the interpreter's own start.

    python benchmarks/startup.py [--pairs 15] [--command "sleep 1"] [--aicarbon PATH] [--no-bytecode]

Three commands are timed in rotation (so slow drift hits all three alike), each ``--pairs``
times: the bare command, ``aicarbon run -q --no-save -- CMD`` and ``aicarbon run -- CMD``
(report and history save, to a throw-away history), plus ``python -c pass`` from the same
environment. The figure is the median of (aicarbon run's wall time - the bare command's, in the
same rotation), over the median of ``python -c pass``. Targets (issue 16): at most 3x for
``-q --no-save`` and 4x with the report and the history. Prints figures; asserts nothing.

Python's bytecode cache is on, as for an installed aicarbon (``PYTHONDONTWRITEBYTECODE`` is
removed from the measured processes' environment, and the first runs fill the cache);
``--no-bytecode`` keeps it off, which adds the compilation of every module to every start.
``--aicarbon PATH`` measures another installation's ``aicarbon`` executable (a checkout of an
earlier commit, for a before/after), with the ``python`` beside it as the floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--command", default="sleep 1", help="the measured command (default: sleep 1)")
    parser.add_argument("--aicarbon", default=str(Path(sys.executable).parent / "aicarbon"))
    parser.add_argument("--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE")
    args = parser.parse_args()
    command = args.command.split()
    aicarbon = [args.aicarbon]
    python = str(Path(args.aicarbon).parent / "python")
    home = tempfile.mkdtemp(prefix="aicarbon-startup-")
    env = {**os.environ, "AICARBON_HOME": home}
    if not args.no_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    floor, quiet, full = [], [], []
    for _ in range(2):  # warm the page cache, the bytecode cache and the history
        wall([*aicarbon, "run", "--", "true"], env)
        wall([*aicarbon, "--help"], env)
    for _ in range(args.pairs):
        floor.append(wall([python, "-c", "pass"], env))
        bare = wall(command, env)
        quiet.append(wall([*aicarbon, "run", "-q", "--no-save", "--", *command], env) - bare)
        bare = wall(command, env)
        full.append(wall([*aicarbon, "run", "--", *command], env) - bare)
    f = statistics.median(floor)
    print(f"{args.aicarbon}, command {args.command!r}, bytecode cache {'off' if args.no_bytecode else 'on'}")
    print(f"python -c pass (the floor):           {f * 1000:7.1f} ms  (median of {args.pairs})")
    for label, values, target in (
        ("aicarbon run -q --no-save adds", quiet, 3),
        ("aicarbon run (report, history) adds", full, 4),
    ):
        m = statistics.median(values)
        print(f"{label:<37} {m * 1000:7.1f} ms = {m / f:4.1f}x the floor (target {target}x)")


if __name__ == "__main__":
    main()
