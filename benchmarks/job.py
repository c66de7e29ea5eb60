"""What ``aicarbon run`` adds to a parallel job's wall time, under a real launcher.

    python benchmarks/job.py [--ranks 2] [--rounds 7] [--command "sleep 1"] [--launcher mpirun]

Times, in rotation, ``LAUNCHER -np N CMD`` and ``LAUNCHER -np N aicarbon run -q --no-save --
CMD`` (the job's ranks meeting in a throw-away job directory: one node reading the sensors,
the others handing over, rank 0 merging), and prints the median added wall time and the median
of each, with the job record's node and rank counts as a check. ``--launcher srun`` needs a
running Slurm cluster (SLURM_CONF). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--command", default="sleep 1")
    parser.add_argument("--launcher", choices=("mpirun", "srun"), default="mpirun")
    args = parser.parse_args()
    aicarbon = str(Path(sys.executable).with_name("aicarbon"))
    launch = ["mpirun", "--oversubscribe", "-np", str(args.ranks)] if args.launcher == "mpirun" else [
        "srun", "-n", str(args.ranks)]  # fmt: skip
    command = shlex.split(args.command)
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "AICARBON_HOME": home, "OMPI_ALLOW_RUN_AS_ROOT": "1",
               "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}  # fmt: skip
        bare, wrapped = [], []
        record = Path(home) / "job.json"
        for _ in range(args.rounds):
            bare.append(wall([*launch, *command], env, home))
            wrapped.append(
                wall(
                    [*launch, aicarbon, "run", "-q", "--no-save", "--json", str(record), "--", *command],
                    env,
                    home,
                )
            )
        data = json.loads(record.read_text())
    added = statistics.median(w - b for w, b in zip(wrapped, bare, strict=True))
    print(f"{args.launcher} -np {args.ranks} {args.command!r}, {args.rounds} rounds")
    print(f"bare job:                  {statistics.median(bare) * 1000:8.1f} ms (median)")
    print(f"under aicarbon run:        {statistics.median(wrapped) * 1000:8.1f} ms (median)")
    print(f"added by aicarbon:         {added * 1000:8.1f} ms (median of the differences)")
    ranks = sum(len(n["ranks"]) for n in data["nodes"])
    print(f"job record: {len(data['nodes'])} node(s), {ranks} of {data['job']['world_size']} ranks, "
          f"{data['energy']['machine_j']:.2f} J")  # fmt: skip


if __name__ == "__main__":
    main()
