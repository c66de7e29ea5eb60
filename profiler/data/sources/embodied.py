"""Recompute ``profiler/data/embodied.csv`` from its sources: Boavizta's own model (the
``boaviztapi`` package, run here in process) and Cloud Carbon Footprint's coefficients.

Not part of the installed package: run it when a source changes, and commit its output whole.

    python -m venv /tmp/boa && /tmp/boa/bin/pip install boaviztapi==2.5.0 pandas
    git clone https://github.com/cloud-carbon-footprint/ccf-coefficients ccf
    /tmp/boa/bin/python profiler/data/sources/embodied.py \\
        --ccf ccf --ccf-commit "$(git -C ccf rev-parse HEAD)" > profiler/data/embodied.csv

Rows (``kind,match,low_kg,high_kg,threads,source,detail``; ``detail``: the source's own names
of what the row covers: Boavizta's card, its archetypes, CCF's instance types):

- ``gpu``: Boavizta's bottom-up embodied GWP of each GPU card its data knows, under the names
  NVML (or amdsmi) gives them (``GPU_NAMES``: aicarbon's mapping, matched on the whole name).
- ``host``: a whole server, matched in the CPU's model (``threads``: the server's, so a VM's
  share is its vCPUs over them): Boavizta's archetypes that name their CPU and hold no GPU (the
  range across the archetypes of one CPU and, within each, Boavizta's own min-max), and Cloud
  Carbon Footprint's per-server coefficients for AWS (the platform's total embodied emissions,
  from ``output/coefficients-aws-embodied.csv``, across the instance types of one platform CPU
  that hold no GPU; one figure where CCF gives one). Eco-CI's GitHub runner host is kept as the
  issue quoted it (its repository was not read).
- ``server``: Boavizta's generic archetypes (no CPU named): never matched, listed by
  ``aicarbon devices`` for a machine without a figure, to choose ``--embodied-kg`` from.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
import sys
import warnings
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

# NVML's (or amdsmi's) name of a card -> Boavizta's name of it (boaviztapi's gpu_specs.csv).
GPU_NAMES = {
    "NVIDIA H100 80GB HBM3": "NVIDIA H100 SXM 80GB",
    "NVIDIA H100 PCIe": "NVIDIA H100 PCIe 80GB",
    "NVIDIA H100 NVL": "NVIDIA H100 NVL 94GB",
    "NVIDIA H200": "NVIDIA H200 SXM 141GB",
    "NVIDIA B200": "NVIDIA B200 180GB",
    "NVIDIA A100-SXM4-80GB": "NVIDIA A100 SXM4 80GB",
    "NVIDIA A100-SXM4-40GB": "NVIDIA A100 SXM4 40GB",
    "NVIDIA A100 80GB PCIe": "NVIDIA A100 PCIe 80GB",
    "NVIDIA A100-PCIE-40GB": "NVIDIA A100 PCIe 40GB",
    "NVIDIA L4": "NVIDIA L4",
    "NVIDIA L40S": "NVIDIA L40S 48GB",
    "NVIDIA A10": "NVIDIA A10",
    "Tesla T4": "NVIDIA T4",
    "Tesla V100-SXM2-16GB": "NVIDIA Tesla V100 SXM2 16GB",
    "Tesla V100-SXM2-32GB": "NVIDIA Tesla V100 SXM2 32GB",
    "Tesla V100-PCIE-16GB": "NVIDIA Tesla V100 PCIe 16GB",
    "Tesla V100-PCIE-32GB": "NVIDIA Tesla V100 PCIe 32GB",
    "Tesla V100S-PCIE-32GB": "NVIDIA Tesla V100S PCIe 32GB",
    "Tesla P100-PCIE-16GB": "NVIDIA P100",
    "Tesla P4": "NVIDIA Tesla P4",
    "Tesla M60": "NVIDIA Tesla M60",
    "NVIDIA GeForce GTX 1080 Ti": "NVIDIA GTX 1080 Ti",
    "NVIDIA RTX A4500": "NVIDIA RTX A4500",
    "NVIDIA TITAN RTX": "NVIDIA Titan RTX",
    "Quadro RTX 5000": "NVIDIA Quadro RTX 5000",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition": "NVIDIA RTX PRO 6000 Blackwell Server Edition 96GB",
    "AMD Instinct MI300X": "AMD Instinct MI300X 192GB",
}
ECO_CI = {
    "kind": "host", "match": "EPYC 7763", "low_kg": "1151.7", "high_kg": "1151.7", "threads": "128",
    "source": "Eco-CI", "detail": "Green Coding Solutions, GitHub-hosted runner host",
}  # fmt: skip
# Boavizta's GCP archetypes are left out: their RAM is units x capacity of the machine's total
# (n2d-highcpu: 192 DIMMs of 768 GB), which puts one server at 10^4 to 10^8 kgCO2e.
GCP_LEFT_OUT = "GCP"
_VENDOR = re.compile(r"^(Intel|AMD|Annapurna Labs)\s+")

HEADER = """\
# Embodied (manufacturing) emissions of hardware, kgCO2e per item, for aicarbon's embodied line:
# amortised by a run's duration over the hardware's lifespan (4 years by default) and by the
# share of it the run held. A range (low_kg, high_kg) where sources or configurations disagree.
# kind: gpu (per card, matched on the GPU's whole name as NVML gives it), host (a whole server,
# matched in the CPU's model; "threads": the server's, for a VM's share: vCPUs/threads), server
# (a generic server, never matched: listed by `aicarbon devices` to choose --embodied-kg from).
# detail: the source's own names of what a row covers (Boavizta's card or archetypes, CCF's
# instance types).
# Made by profiler/data/sources/embodied.py from its sources; do not edit. Sources:
# - Boavizta bottom-up, Boavizta archetypes: BoaviztAPI {boavizta} (https://github.com/Boavizta/
#   boaviztapi), its bottom-up model run on its own data: GPU cards (gpu_specs.csv; aicarbon maps
#   NVML's names to them), server archetypes (archetypes/server.csv: "embedded" GWP, its
#   min-max, end of life excluded; not its GCP ones, whose RAM is counted as hundreds of
#   terabytes);
# - Cloud Carbon Footprint: ccf-coefficients (https://github.com/cloud-carbon-footprint/
#   ccf-coefficients, output/coefficients-aws-embodied.csv, data/aws-instances.csv), the AWS
#   platforms' total embodied kgCO2e (1,000 kg base server plus memory, CPUs, storage), commit
#   {ccf_commit};
# - Eco-CI (Green Coding Solutions), GitHub-hosted runner host: an AMD EPYC 7763 server,
#   1,151.7 kgCO2e, of which a 4-vCPU runner holds 4/128 (as cited in aicarbon's issue 20).
# Machines not listed have no figure: the report says so (never a silent 0); give your own with
# --embodied-kg (the whole machine's kgCO2e) or AICARBON_EMBODIED_KG.
"""


def _kg(value: float) -> str:
    return f"{value:.4g}"


def cpu_match(name: str) -> str:
    """A CPU's name as matched in a host's CPU model: without its vendor (``Intel(R) Xeon(R)
    Platinum 8175M CPU @ 2.50GHz`` holds ``Xeon Platinum 8175M``)."""
    return _VENDOR.sub("", name.strip())


def host_rows(found: list[tuple[str, int, float, float, str]], source: str) -> list[dict[str, str]]:
    """One row per CPU and server size: the range over ``found`` (cpu, threads, low, high, id)."""
    groups: dict[tuple[str, int], list[tuple[float, float, str]]] = defaultdict(list)
    for cpu, threads, low, high, ident in found:
        groups[(cpu_match(cpu), threads)].append((low, high, ident))
    rows = []
    for (cpu, threads), items in sorted(groups.items()):
        ids = ", ".join(sorted({i for _, _, i in items}))
        rows.append({
            "kind": "host", "match": cpu, "low_kg": _kg(min(lo for lo, _, _ in items)),
            "high_kg": _kg(max(hi for _, hi, _ in items)), "threads": str(threads),
            "source": source, "detail": ids,
        })  # fmt: skip
    return rows


def ccf_aws(instances_csv: str, embodied_csv: str) -> list[tuple[str, int, float, float, str]]:
    """(platform CPU, platform vCPUs, total, total, instance type) for each AWS instance type
    whose platform holds no GPU."""
    platforms = {r["Instance type"]: r for r in csv.DictReader(io.StringIO(instances_csv))}
    found = []
    for r in csv.DictReader(io.StringIO(embodied_csv)):
        p = platforms.get(r["type"])
        if p is None or float(r["additional_gpus"]) > 0 or not p["Platform CPU Name"].strip():
            continue
        total = float(r["total"])
        found.append(
            (p["Platform CPU Name"], int(p["Platform Total Number of vCPU"]), total, total, r["type"])
        )
    return found


def boavizta_gpus() -> list[dict[str, str]]:
    from boaviztapi.dto.component.gpu import GPU
    from boaviztapi.routers.component_router import gpu_impact_bottom_up_from_configuration

    rows = []
    for nvml, name in GPU_NAMES.items():
        result = asyncio.run(
            gpu_impact_bottom_up_from_configuration(
                gpu=GPU(name=name), verbose=False, duration=None, archetype="DEFAULT", criteria=["gwp"]
            )
        )
        e = result["impacts"]["gwp"]["embedded"]
        rows.append({
            "kind": "gpu", "match": nvml, "low_kg": _kg(e["min"]), "high_kg": _kg(e["max"]), "threads": "",
            "source": "Boavizta bottom-up", "detail": name,
        })  # fmt: skip
    return rows


def boavizta_servers() -> tuple[list[tuple[str, int, float, float, str]], list[dict[str, str]]]:
    """The archetypes that name their CPU and hold no GPU (as ``host_rows`` takes them), and the
    generic ones (``server`` rows)."""
    import os

    from boaviztapi import data_dir
    from boaviztapi.data.archetype import get_device_archetype_lst, get_server_archetype
    from boaviztapi.routers.server_router import server_impact_from_model

    found: list[tuple[str, int, float, float, str]] = []
    generic: list[dict[str, str]] = []
    source = f"Boavizta archetypes, BoaviztAPI {version('boaviztapi')}"
    for ident in get_device_archetype_lst(os.path.join(data_dir, "archetypes/server.csv")):
        archetype: dict[str, Any] = get_server_archetype(ident)
        result = asyncio.run(
            server_impact_from_model(archetype=ident, verbose=True, duration=None, criteria=["gwp"])
        )
        e = result["impacts"]["gwp"]["embedded"]
        gpus = float(archetype.get("GPU", {}).get("units", {}).get("default", 0) or 0)
        cpu = archetype.get("CPU", {}).get("name", {}).get("default")
        if not cpu:
            if gpus == 0:
                generic.append({
                    "kind": "server", "match": ident, "low_kg": _kg(e["min"]), "high_kg": _kg(e["max"]),
                    "threads": "", "source": source, "detail": "",
                })  # fmt: skip
            continue
        if gpus > 0:
            continue  # the GPUs are counted per card
        if archetype.get("manufacturer", {}).get("default") == GCP_LEFT_OUT:
            continue  # see GCP_LEFT_OUT
        verbose = result["verbose"]["CPU-1"]
        if "threads" not in verbose:  # no share can be taken of it
            print(f"skipped {ident} ({cpu}): Boavizta gives no thread count", file=sys.stderr)
            continue
        threads = int(verbose["units"]["value"] * verbose["threads"]["value"])
        found.append((cpu, threads, float(e["min"]), float(e["max"]), ident))
    return found, generic


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ccf", type=Path, required=True, help="a checkout of ccf-coefficients")
    parser.add_argument("--ccf-commit", required=True)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # scipy's fit warnings from Boavizta's consumption profiles
    servers, generic = boavizta_servers()
    aws = ccf_aws(
        (args.ccf / "data" / "aws-instances.csv").read_text(encoding="utf-8"),
        (args.ccf / "output" / "coefficients-aws-embodied.csv").read_text(encoding="utf-8"),
    )
    rows = [
        *boavizta_gpus(),
        *host_rows(servers, f"Boavizta archetypes, BoaviztAPI {version('boaviztapi')}"),
        *host_rows(aws, "Cloud Carbon Footprint, AWS"),
        ECO_CI,
        *generic,
    ]
    out = io.StringIO()
    out.write(HEADER.format(boavizta=version("boaviztapi"), ccf_commit=args.ccf_commit))
    columns = ["kind", "match", "low_kg", "high_kg", "threads", "source", "detail"]
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    sys.stdout.write(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
