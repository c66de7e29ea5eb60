"""Regenerate run-v4-serve.json: ``aicarbon serve`` of the stand-in vLLM server
(tests/serving_stand_in.py) on a simulated bare-metal machine, graded against text generation.

    python tests/data/make_serve_record.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nflags\t\t: rapl\n\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as root_text:
        root = Path(root_text)
        zone = root / "sys" / "class" / "powercap" / "intel-rapl:0"
        zone.mkdir(parents=True)
        (zone.parent / "intel-rapl").mkdir()
        (zone.parent / "intel-rapl" / "enabled").write_text("1\n")
        for name, text in (
            ("name", "package-0"),
            ("energy_uj", "1000000"),
            ("max_energy_range_uj", "262143328850"),
        ):
            (zone / name).write_text(text + "\n")
        (root / "proc").mkdir()
        (root / "proc" / "cpuinfo").write_text(CPUINFO)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "AICARBON_SYSFS_ROOT": str(root / "sys"), "AICARBON_TRUST_VM_RAPL": "1",
               "AICARBON_PROC_ROOT": str(root / "proc"), "AICARBON_HOME": str(root / "home")}  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "aicarbon", "serve", "-q", "--sensors", "rapl", "--country", "FRA",
             "--task", "text-generation", "--scrape-interval", "0.1", "--duration", "0.5",
             "--metrics-url", f"http://127.0.0.1:{port}/metrics", "--json", str(HERE / "run-v4-serve.json"),
             "--", sys.executable, str(HERE.parent / "serving_stand_in.py"), str(port), "vllm",
             str(zone / "energy_uj"), "--labels", "2"],
            env=env, check=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
