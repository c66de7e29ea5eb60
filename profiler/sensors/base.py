"""The one interface every energy source implements: cumulative joules per domain.

A *sensor* answers a single question: how many joules has each of my domains used since I
started? Hardware counters (RAPL ``energy_uj``, NVML total energy) already are such counters;
a source that only knows power integrates it itself and exposes the same counter. Energy over
any interval is then the difference of two readings, whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


class Method(str, Enum):
    """How a figure is known."""

    MEASURED = "measured"  # a hardware energy or power counter
    ESTIMATED = "estimated"  # a model fed by utilisation


class DomainKind(str, Enum):
    CPU = "cpu"
    DRAM = "dram"  # memory, measured (RAPL dram) or estimated (RAM model)
    GPU = "gpu"
    PLATFORM = "platform"  # RAPL psys: the whole SoC platform, overlaps cpu and dram


@dataclass(frozen=True)
class Domain:
    """One thing whose energy a sensor counts, e.g. ``cpu:package-0`` or ``gpu:1``."""

    id: str
    kind: DomainKind
    method: Method
    source: str  # where the figure comes from, e.g. "rapl /sys/class/powercap/intel-rapl:0"
    label: str  # what a person reads in the report, e.g. "CPU package 0"
    # False for a domain that overlaps others (psys covers the package and DRAM): it is
    # reported, but never added to the machine total.
    in_total: bool = True
    # The model behind an estimate (None for a measured domain). Its uncertainty band comes
    # with each reading, in ``Reading.bounds_j``.
    model: str | None = None
    # What the domain cannot physically exceed, averaged over a sampling interval: a reading
    # implying more is a sensor fault (None: no bound, e.g. an estimate).
    max_power_w: float | None = None
    # Kinds of energy this domain's counter already includes (a GH200 module's counter covers
    # its Grace CPU and memory): they are not estimated on top of it.
    covers: frozenset[DomainKind] = frozenset()


@dataclass(frozen=True)
class Unavailable:
    """A sensor (or one device of it) that could not be used, with why and how to fix it."""

    sensor: str
    reason: str
    fix: str | None = None
    # True when the device exists and uses energy that is then missing from the machine total
    # (a RAPL package that cannot be read, a GPU that cannot be opened): the total is partial.
    uncounted: bool = False


@dataclass
class DomainFailure:
    """A domain that stopped answering during the run: its energy stops at ``at_s``."""

    domain_id: str
    reason: str
    at_s: float | None = None


class SensorUnavailableError(Exception):
    """Raised by a sensor's constructor when it cannot measure on this machine."""

    def __init__(self, unavailable: Unavailable) -> None:
        super().__init__(unavailable.reason)
        self.unavailable = unavailable


@dataclass
class Reading:
    """Cumulative joules per domain since the sensor started, plus domains that just failed."""

    energy_j: dict[str, float]
    failures: list[DomainFailure] = field(default_factory=list)
    # Cumulative (low, high) joules for estimated domains: the model's uncertainty band.
    bounds_j: dict[str, tuple[float, float]] = field(default_factory=dict)


class Sensor(Protocol):
    """What the sampler needs from a source of energy readings."""

    name: str

    @property
    def domains(self) -> list[Domain]: ...

    def read(self) -> Reading:
        """Cumulative joules per domain since construction. Never raises for one bad domain:
        the domain is reported once in ``failures`` and keeps its last value afterwards."""
        ...

    def close(self) -> None: ...


def median(values: list[float]) -> float:
    """statistics.median, without its import: sensors open on the way to a run's command,
    where every imported module counts."""
    ordered = sorted(values)
    return (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2
