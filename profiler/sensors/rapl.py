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
    return Path(env.get(SYSFS_ROOT_ENV) or "/sys") / "class" / "powercap"  # empty means unset


@dataclass
class _Zone:
    domain: Domain
    energy_path: Path
    max_range_uj: int
    last_uj: int
    total_uj: int = 0
    failed: bool = False


class _ZoneProblem(Exception):
    """A zone that exists but cannot be used, with why."""


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("ascii").strip()


def _zone_name(zone_dir: Path) -> str:
    """A zone's ``name``; _ZoneProblem when it is missing, not text, or unreadable."""
    path = zone_dir / "name"
    try:
        return _read_text(path)
    except FileNotFoundError:
        raise _ZoneProblem(f"{zone_dir.name}: it has no name file") from None
    except IsADirectoryError:
        raise _ZoneProblem(f"{zone_dir.name}: its name is a directory, not a file") from None
    except UnicodeDecodeError:
        raise _ZoneProblem(f"{zone_dir.name}: its name file is not text") from None
    except OSError as exc:
        raise _ZoneProblem(f"{zone_dir.name}: its name cannot be read ({exc.strerror})") from None


def _zone_domain(kind: DomainKind, domain_id: str, label: str, path: Path, in_total: bool) -> Domain:
    return Domain(
        id=domain_id,
        kind=kind,
        method=Method.MEASURED,
        source=f"rapl {path}",
        label=label,
        in_total=in_total,
        max_power_w=MAX_POWER_W[kind],
    )


# What no single RAPL domain can draw, averaged over a sampling interval: about twice the
# largest server parts' limits (500 W packages; 24 DDR5 DIMMs stay under 400 W). A counter
# that claims more is faulty (see sampler: implausible readings).
MAX_POWER_W = {DomainKind.CPU: 1000.0, DomainKind.DRAM: 1000.0, DomainKind.PLATFORM: 2000.0}


class RaplSensor:
    """Cumulative joules for every RAPL package, its DRAM, and psys where present.

    A zone that exists but cannot be read (permissions, a missing or garbled file) is not
    silently dropped: it is listed in ``unavailable`` with its reason, and marked as missing
    from the machine total when it is (or may be) a package or DRAM zone.
    """

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
        self.skipped: list[str] = []  # zones deliberately not counted (inside another), with why
        self.unavailable: list[Unavailable] = []  # zones that exist but could not be read
        self._zones: list[_Zone] = []
        self._discover()

    # -- discovery ---------------------------------------------------------------------------

    def _entries(self, directory: Path, pattern: re.Pattern[str]) -> list[Path]:
        return sorted(p for p in directory.iterdir() if pattern.match(p.name))

    def _candidate_zones(self) -> list[tuple[Path, str, str | None]]:
        """(zone dir, zone name, parent zone name or None) for the zones to count."""
        try:
            tops = self._entries(self.root, _TOP_ZONE)
            mmio = self._entries(self.root, _MMIO_ZONE)
        except OSError as exc:
            raise SensorUnavailableError(
                Unavailable(self.name, f"cannot list {self.root} ({exc.strerror})")
            ) from None
        if not tops:
            tops = mmio  # only the MMIO interface is present: use it as the package counter
        else:
            self.skipped += [f"{p.name}: MMIO twin of the MSR package counter" for p in mmio]
        chosen: list[tuple[Path, str, str | None]] = []
        for top in tops:
            try:
                name = _zone_name(top)
            except _ZoneProblem as problem:
                self._unreadable(top.name, str(problem), counted=True)
                continue
            chosen.append((top, name, None))
            # Subzones appear both nested in the zone directory and as class-level links.
            try:
                nested = self._entries(top, _SUB_ZONE)
            except OSError as exc:
                self._unreadable(
                    top.name,
                    f"{top.name} ({name}): its subzones (DRAM) cannot be listed ({exc.strerror})",
                    True,
                )
                continue
            for sub in nested:
                try:
                    sub_name = _zone_name(sub)
                except _ZoneProblem as problem:
                    self._unreadable(sub.name, str(problem), counted=True)
                    continue
                if sub_name in _INSIDE_PACKAGE:
                    self.skipped.append(f"{sub.name} ({sub_name}): already inside {name}")
                    continue
                chosen.append((sub, sub_name, name))
        return chosen

    def _unreadable(self, zone: str, reason: str, counted: bool, fix: str | None = None) -> None:
        self.unavailable.append(Unavailable(f"{self.name} {zone}", reason, fix, uncounted=counted))

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
                self._unreadable(
                    zone_dir.name,
                    f"{domain.label}: {energy_path} is readable only by root (CVE-2020-8694)",
                    domain.in_total,
                    PERMISSION_FIX,
                )
                continue
            except (OSError, ValueError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a number"
                self._unreadable(
                    zone_dir.name, f"{domain.label}: unreadable counter ({why})", domain.in_total
                )
                continue
            self._zones.append(_Zone(domain, energy_path, max_range, last))
        if self._zones:
            return
        if denied and len(denied) == len(self.unavailable):
            raise SensorUnavailableError(
                Unavailable(
                    self.name,
                    f"{denied[0]} is readable only by root (the 2020 PLATYPUS fix, CVE-2020-8694)",
                    PERMISSION_FIX,
                )
            )
        reasons = "; ".join(u.reason for u in self.unavailable) or "no zone found"
        raise SensorUnavailableError(
            Unavailable(self.name, f"no readable RAPL zone under {self.root}: {reasons}")
        )

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
