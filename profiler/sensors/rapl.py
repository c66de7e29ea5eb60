"""CPU package and DRAM energy from RAPL through the Linux powercap interface.

Layout read (``$AICARBON_SYSFS_ROOT/class/powercap``, default ``/sys/class/powercap``)::

    intel-rapl:0            name=package-0   (or package-0-die-0 on multi-die parts)
    intel-rapl:0:0          name=core        inside package-0: never added again
    intel-rapl:0:1          name=uncore      inside package-0: never added again
    intel-rapl:0:2          name=dram        NOT inside package energy: its own domain
    intel-rapl:1            name=package-1   (second socket) or psys (platform)
    intel-rapl-mmio:0       name=package-0   MMIO twin of intel-rapl:0 on some Intel laptops

AMD kernels (Zen, Linux 5.8+) use the same ``intel-rapl`` names: a ``package-N`` zone with a
``core`` subzone and no dram. ``psys`` (Intel client platforms) covers the whole SoC including
the packages, so it is reported but kept out of the machine total.

Each ``energy_uj`` is a counter in microjoules that wraps to 0 after ``max_energy_range_uj``;
a reading smaller than the previous one is a wrap and adds ``max - previous + current``.
Readings must come at least once per wrap period (minutes at full load), which any sampling
period of aicarbon satisfies.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .base import (
    Domain,
    DomainFailure,
    DomainKind,
    Method,
    Reading,
    SensorUnavailableError,
    Unavailable,
)

SYSFS_ROOT_ENV = "AICARBON_SYSFS_ROOT"
PERMISSION_FIX = (
    "make energy_uj readable by a 'powercap' group, not by everyone (docs/sensors.md, RAPL permissions)"
)

_TOP_ZONE = re.compile(r"^intel-rapl:(\d+)$")
_SUB_ZONE = re.compile(r"^intel-rapl:(\d+):(\d+)$")
_MMIO_ZONE = re.compile(r"^intel-rapl-mmio:(\d+)$")
# Subzones whose energy is already counted by their package.
_INSIDE_PACKAGE = {"core", "uncore"}


def powercap_root(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(SYSFS_ROOT_ENV, "/sys")) / "class" / "powercap"


@dataclass
class _Zone:
    domain: Domain
    energy_path: Path
    max_range_uj: int
    last_uj: int
    total_uj: int = 0
    failed: bool = False


def _read_text(path: Path) -> str:
    return path.read_text().strip()


def _zone_domain(kind: DomainKind, domain_id: str, label: str, path: Path, in_total: bool) -> Domain:
    return Domain(
        id=domain_id,
        kind=kind,
        method=Method.MEASURED,
        source=f"rapl {path}",
        label=label,
        in_total=in_total,
    )


class RaplSensor:
    """Cumulative joules for every RAPL package, its DRAM, and psys where present."""

    name = "rapl"

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else powercap_root()
        if not self.root.is_dir():
            raise SensorUnavailableError(
                Unavailable(
                    self.name,
                    f"no RAPL powercap interface at {self.root} (usual in VMs and containers)",
                )
            )
        self.skipped: list[str] = []  # zones seen but deliberately not counted, with why
        self._zones: list[_Zone] = []
        self._discover()

    # -- discovery ---------------------------------------------------------------------------

    def _candidate_zones(self) -> list[tuple[Path, str, str | None]]:
        """(zone dir, zone name, parent zone name or None) for the zones to count."""
        entries = sorted(p for p in self.root.iterdir() if p.name.startswith("intel-rapl"))
        tops = [p for p in entries if _TOP_ZONE.match(p.name)]
        if not tops:
            # Only the MMIO interface is present: use it as the package counter.
            tops = [p for p in entries if _MMIO_ZONE.match(p.name)]
        else:
            self.skipped += [
                f"{p.name}: MMIO twin of the MSR package counter" for p in entries if _MMIO_ZONE.match(p.name)
            ]
        chosen: list[tuple[Path, str, str | None]] = []
        for top in tops:
            name = _read_text(top / "name")
            chosen.append((top, name, None))
            # Subzones appear both nested in the zone directory and as class-level links.
            nested = sorted(p for p in top.iterdir() if _SUB_ZONE.match(p.name))
            for sub in nested:
                sub_name = _read_text(sub / "name")
                if sub_name in _INSIDE_PACKAGE:
                    self.skipped.append(f"{sub.name} ({sub_name}): already inside {name}")
                    continue
                chosen.append((sub, sub_name, name))
        return chosen

    def _discover(self) -> None:
        denied: list[Path] = []
        for zone_dir, zone_name, parent in self._candidate_zones():
            domain = self._domain_for(zone_dir, zone_name, parent)
            if domain is None:
                self.skipped.append(f"{zone_dir.name} ({zone_name}): unknown zone name")
                continue
            energy_path = zone_dir / "energy_uj"
            try:
                last = int(_read_text(energy_path))
                max_range = int(_read_text(zone_dir / "max_energy_range_uj"))
            except PermissionError:
                denied.append(energy_path)
                continue
            except (OSError, ValueError) as exc:
                self.skipped.append(f"{zone_dir.name} ({zone_name}): unreadable ({exc})")
                continue
            self._zones.append(_Zone(domain, energy_path, max_range, last))
        if denied and not self._zones:
            raise SensorUnavailableError(
                Unavailable(
                    self.name,
                    f"{denied[0]} is readable only by root (the 2020 PLATYPUS fix, CVE-2020-8694)",
                    PERMISSION_FIX,
                )
            )
        self.skipped += [f"{p}: permission denied" for p in denied]
        if not self._zones:
            raise SensorUnavailableError(Unavailable(self.name, f"no readable RAPL zone under {self.root}"))

    def _domain_for(self, zone_dir: Path, name: str, parent: str | None) -> Domain | None:
        if name.startswith("package"):
            label = "CPU " + name.replace("-", " ")
            return _zone_domain(DomainKind.CPU, f"cpu:{name}", label, zone_dir, True)
        if name == "dram":
            # dram:0 under package-0, dram:0-die-1 under package-0-die-1; a top-level dram
            # zone (some servers) is named after its own zone index.
            owner = parent.removeprefix("package-") if parent else zone_dir.name.split(":")[-1]
            label = f"DRAM ({parent})" if parent else "DRAM"
            return _zone_domain(DomainKind.DRAM, f"dram:{owner}", label, zone_dir, True)
        if name == "psys":
            return _zone_domain(
                DomainKind.PLATFORM,
                "platform:psys",
                "Platform (psys, overlaps CPU+DRAM)",
                zone_dir,
                False,
            )
        return None

    # -- reading -----------------------------------------------------------------------------

    @property
    def domains(self) -> list[Domain]:
        return [z.domain for z in self._zones]

    def read(self) -> Reading:
        failures: list[DomainFailure] = []
        energy: dict[str, float] = {}
        for zone in self._zones:
            if not zone.failed:
                try:
                    now = int(_read_text(zone.energy_path))
                except (OSError, ValueError) as exc:
                    zone.failed = True
                    failures.append(DomainFailure(zone.domain.id, f"read failed: {exc}"))
                else:
                    zone.total_uj += counter_delta(zone.last_uj, now, zone.max_range_uj)
                    zone.last_uj = now
            energy[zone.domain.id] = zone.total_uj / 1e6
        return Reading(energy, failures)

    def close(self) -> None:
        pass


def counter_delta(previous: int, current: int, max_range: int) -> int:
    """Increase of a counter that wraps to 0 after ``max_range``."""
    if current >= previous:
        return current - previous
    return max_range - previous + current
