"""Estimated CPU and RAM energy where no hardware counter exists (VMs, CI runners).

CPU: per logical CPU (vCPU), ``power = min_w + (max_w - min_w) × utilisation`` with Cloud Carbon
Footprint's SPECpower-derived coefficients for the CPU's micro-architecture
(``data/ccf_cpu_coefficients.csv``). The micro-architecture comes from the model name
(``data/cpu_architectures.csv``); a generic name (``AMD EPYC``, ``Intel(R) Xeon(R) CPU @
2.20GHz``) from CPUID family and model (``data/cpu_ids.csv``); an Arm host, which prints no
model name, from its core part number (``data/arm_cores.csv``: Graviton's Neoverse cores). An
unknown CPU gets the median of all rows, as CCF itself does for unknown micro-architectures.
Integrated exactly over each interval from machine CPU time::

    energy_j = interval_s × n_cpu × min_w + busy_cpu_s × (max_w - min_w)

The uncertainty band evaluates the same utilisation with the lowest- and highest-power rows of
the table: the spread between the models, not a statistical interval.

RAM: CCF's 0.392 W/GB (``data/ram_model.csv``) on the memory in use *beyond* what the CPU row's
SPECpower servers had per vCPU (``gb_per_vcpu``), since those whole-server watts include their
memory; the band goes from 0 (all of it inside the CPU row) to the coefficient on all installed
memory (none of it inside).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..datafiles import read_csv
from .base import Domain, DomainKind, Method, Reading, median
from .cpu_info import CpuInfo
from .cpu_load import CpuTimes, machine_cpu_times, memory_in_use_bytes

GB = 1e9


@dataclass(frozen=True)
class CpuCoefficients:
    architecture: str
    min_w: float  # per vCPU, idle
    max_w: float  # per vCPU, 100% busy
    match: str  # "exact", "nearest" (newer part, closest older row) or "median" (unknown CPU)
    gb_per_vcpu: float = 0.0  # memory the row's servers had per vCPU, inside its watts
    identified_by: str = "model name"  # or "CPUID family/model", "Arm core part", "nothing"

    def energy_j(self, interval_s: float, n_cpu: int, busy_cpu_s: float) -> float:
        busy = min(max(busy_cpu_s, 0.0), n_cpu * interval_s)
        return interval_s * n_cpu * self.min_w + busy * (self.max_w - self.min_w)


def coefficient_table() -> list[CpuCoefficients]:
    return [
        CpuCoefficients(
            r["architecture"], float(r["min_w"]), float(r["max_w"]), "exact", float(r["gb_per_vcpu"])
        )
        for r in read_csv("ccf_cpu_coefficients.csv")
    ]


def cpu_coefficients(cpu: CpuInfo | str) -> CpuCoefficients:
    """The coefficients for a CPU (or a model name alone); the table's median for an unknown CPU."""
    if isinstance(cpu, str):
        cpu = CpuInfo(model_name=cpu)
    table = {row.architecture: row for row in coefficient_table()}
    found = _architecture(cpu)
    if found is not None:
        architecture, match, how = found
        row = table[architecture]
        return CpuCoefficients(row.architecture, row.min_w, row.max_w, match, row.gb_per_vcpu, how)
    rows = list(table.values())
    return CpuCoefficients(
        "unknown (median of all CCF rows)",
        median([r.min_w for r in rows]),
        median([r.max_w for r in rows]),
        "median",
        median([r.gb_per_vcpu for r in rows]),
        "nothing",
    )


def _architecture(cpu: CpuInfo) -> tuple[str, str, str] | None:
    """(CCF row, match, what identified it) for a CPU, or None."""
    for rule in read_csv("cpu_architectures.csv"):
        if cpu.model_name and re.search(rule["pattern"], cpu.model_name):
            return rule["architecture"], rule["match"], "model name"
    if cpu.family is not None and cpu.model is not None:
        stepping = cpu.stepping or 0
        for rule in read_csv("cpu_ids.csv"):
            if (
                rule["vendor"] == cpu.vendor
                and int(rule["family"]) == cpu.family
                and int(rule["model"]) == cpu.model
                and int(rule["stepping_min"]) <= stepping <= int(rule["stepping_max"])
            ):
                return rule["architecture"], rule["match"], "CPUID family/model"
    if cpu.part is not None:
        for rule in read_csv("arm_cores.csv"):
            if int(rule["implementer"], 16) == cpu.implementer and int(rule["part"], 16) == cpu.part:
                return rule["architecture"], rule["match"], f"Arm core part ({rule['core']})"
    return None


def ram_w_per_gb() -> float:
    rows = {r["name"]: float(r["w_per_gb"]) for r in read_csv("ram_model.csv")}
    return rows["central"]


def _band_rows() -> tuple[CpuCoefficients, CpuCoefficients]:
    rows = coefficient_table()
    return min(rows, key=lambda r: r.min_w + r.max_w), max(rows, key=lambda r: r.min_w + r.max_w)


class EstimateSensor:
    """Cumulative estimated joules for the CPU (``cpu:estimated``) and RAM (``dram:estimated``)."""

    name = "estimate"
    CPU_ID = "cpu:estimated"
    RAM_ID = "dram:estimated"

    def __init__(
        self,
        cpu: CpuInfo | str,
        n_cpu: int,
        *,
        include_cpu: bool = True,
        include_ram: bool = True,
        cpu_times: Callable[[], CpuTimes] = machine_cpu_times,
        memory: Callable[[], tuple[int, int]] = memory_in_use_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(cpu, str):
            cpu = CpuInfo(model_name=cpu)
        self.coefficients = cpu_coefficients(cpu)
        self.w_per_gb = ram_w_per_gb()
        self.included_gb = n_cpu * self.coefficients.gb_per_vcpu  # inside the CPU row's watts
        self._low, self._high = _band_rows()
        self._n_cpu = n_cpu
        self._cpu_times = cpu_times
        self._memory = memory
        self._clock = clock
        self._domains: list[Domain] = []
        c = self.coefficients
        if include_cpu:
            how = {"exact": "", "nearest": ", nearest row", "median": ""}[c.match]
            if c.identified_by not in ("model name", "nothing"):
                how += f", identified by {c.identified_by}"
            model = (
                f"{n_cpu} vCPU x ({c.min_w:.2f} + ({c.max_w:.2f} - {c.min_w:.2f}) x utilisation) W; "
                f"CCF coefficients, {c.architecture}{how}"
            )
            self._domains.append(
                Domain(
                    self.CPU_ID,
                    DomainKind.CPU,
                    Method.ESTIMATED,
                    f"utilisation model ({cpu.describe()})",
                    "CPU",
                    model=model,
                )
            )
        if include_ram:
            model = (
                f"{self.w_per_gb:.3f} W/GB x memory in use beyond the {self.included_gb:.1f} GB the CPU "
                "row's servers include (CCF memory coefficient and rule)"
            )
            self._domains.append(
                Domain(
                    self.RAM_ID,
                    DomainKind.DRAM,
                    Method.ESTIMATED,
                    "memory model (psutil)",
                    "RAM",
                    model=model,
                )
            )
        self._energy = {d.id: 0.0 for d in self._domains}
        self._bounds = {d.id: (0.0, 0.0) for d in self._domains}
        self._last_t = clock()
        self._last_cpu = cpu_times()

    @property
    def domains(self) -> list[Domain]:
        return list(self._domains)

    def read(self) -> Reading:
        now = self._clock()
        interval_s = max(now - self._last_t, 0.0)
        self._last_t = now
        if self.CPU_ID in self._energy:
            cpu = self._cpu_times()
            busy_s = cpu.busy_s - self._last_cpu.busy_s
            self._last_cpu = cpu
            self._add(
                self.CPU_ID,
                self.coefficients.energy_j(interval_s, self._n_cpu, busy_s),
                self._low.energy_j(interval_s, self._n_cpu, busy_s),
                self._high.energy_j(interval_s, self._n_cpu, busy_s),
            )
        if self.RAM_ID in self._energy:
            in_use, total = self._memory()
            beyond_gb = max(in_use / GB - self.included_gb, 0.0)
            central = interval_s * self.w_per_gb * beyond_gb
            self._add(self.RAM_ID, central, 0.0, interval_s * self.w_per_gb * total / GB)
        return Reading(dict(self._energy), [], dict(self._bounds))

    def _add(self, domain_id: str, energy_j: float, low_j: float, high_j: float) -> None:
        self._energy[domain_id] += energy_j
        low, high = self._bounds[domain_id]
        self._bounds[domain_id] = (low + min(low_j, energy_j), high + max(high_j, energy_j))

    def close(self) -> None:
        pass
