"""CPU package and DRAM energy from RAPL through the Linux powercap interface.

Layout read (``$AICARBON_SYSFS_ROOT/class/powercap``, default ``/sys/class/powercap``)::

    intel-rapl:0            name=package-0   (or package-0-die-0 on multi-die parts)
    intel-rapl:0:0          name=core        inside package-0: never added again
    intel-rapl:0:1          name=uncore      inside package-0: never added again
    intel-rapl:0:2          name=dram        NOT inside package energy: its own domain
    intel-rapl:1            name=package-1   (second socket) or psys (platform)
    intel-rapl:2            name=psys-1      psys of the second socket
    intel-rapl-mmio:0       name=package-0   MMIO twin of intel-rapl:0 on some Intel laptops
    intel-rapl-tpmi:0       name=package-0   the TPMI driver's zones (Granite Rapids and later)

One family of zones is counted: ``intel-rapl`` (MSR) where present, else ``intel-rapl-tpmi``,
else ``intel-rapl-mmio``; the others are twins of the same counters.

AMD kernels (Zen, Linux 5.8+) use the same ``intel-rapl`` names: a ``package-N`` zone with a
``core`` subzone and no dram. On Zen1/2 Threadripper and EPYC the kernel shows
``package-N-die-M`` zones that all read the one package counter (codecarbon reported 137 W for
a 68 W package), and Linux 6.10 briefly showed one zone per CCD on Zen4/5: on AMD one zone per
physical package is counted. On any vendor, a zone whose counter reads the same as another's
(same value, read back to back, while it moves) is a mirror and is not counted again.
``psys`` (Intel client platforms) covers the whole SoC including the packages, so it is
reported but kept out of the machine total.

Each ``energy_uj`` is a counter in microjoules that wraps to 0 after ``max_energy_range_uj``;
a reading smaller than the previous one is a wrap and adds ``max - previous + current``, if
that is physically possible: the implied power must stay under the zone's ceiling
(``constraint_0_max_power_uw`` with margin, else a generous per-domain bound). A VM that leaks
the host's counters (Xen: ``energy_uj`` alternates between unrelated values as the vCPU moves,
scaphandre#134) breaks that at its first decrease, and the zone is marked faulty ("counter not
monotonic") instead of counting a megawatt. Readings must come at least once per wrap period
(minutes at full load), which any sampling period of aicarbon satisfies.

A container runtime masks the powercap tree (Docker, Kubernetes and podman hide
``/sys/devices/virtual/powercap``): the links in ``/sys/class/powercap`` then dangle, and the
sensor says so, with the fix.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .base import Domain, DomainFailure, DomainKind, Method, Reading, SensorUnavailableError, Unavailable

SYSFS_ROOT_ENV = "AICARBON_SYSFS_ROOT"
PERMISSION_FIX = (
    "make energy_uj readable by a 'powercap' group, not by everyone (docs/sensors.md, RAPL permissions)"
)

# Zone families, by preference: the MSR interface, the TPMI driver's, the MMIO twin.
FAMILIES = ("intel-rapl", "intel-rapl-tpmi", "intel-rapl-mmio")
MASKED_FIX = (
    "the container runtime hides /sys/devices/virtual/powercap: run the container with "
    "--security-opt systempaths=unconfined (Docker), --security-opt "
    "unmask=/sys/devices/virtual/powercap (podman), or privileged (Kubernetes)"
)
WRAP_SLACK_S = 0.25  # counters update in steps of about 1 ms; the clock may lag a read
CONSTRAINT_MARGIN = 3.0  # a package may exceed its long-term limit in bursts (PL2)
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
    last_t: float = 0.0
    total_uj: int = 0
    failed: bool = False


def _family_pattern(family: str, sub: bool) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(family)}:(\d+)" + (r":(\d+)$" if sub else "$"))


_DIE = re.compile(r"^package-(\d+)-die-(\d+)$")


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


def _zone_domain(
    kind: DomainKind, domain_id: str, label: str, path: Path, in_total: bool, ceiling_w: float | None
) -> Domain:
    return Domain(
        id=domain_id,
        kind=kind,
        method=Method.MEASURED,
        source=f"rapl {path}",
        label=label,
        in_total=in_total,
        max_power_w=min(ceiling_w, MAX_POWER_W[kind]) if ceiling_w else MAX_POWER_W[kind],
    )


def _ceiling_w(zone_dir: Path) -> float | None:
    """``CONSTRAINT_MARGIN`` times the zone's ``constraint_0_max_power_uw``, where it has one."""
    try:
        max_uw = int(_read_text(zone_dir / "constraint_0_max_power_uw"))
    except (OSError, ValueError):
        return None
    return CONSTRAINT_MARGIN * max_uw / 1e6 if max_uw > 0 else None


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

    def __init__(
        self,
        root: Path | None = None,
        *,
        amd: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root if root is not None else powercap_root()
        self._amd = amd
        self._clock = clock
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
            families = {f: self._entries(self.root, _family_pattern(f, False)) for f in FAMILIES}
        except OSError as exc:
            raise SensorUnavailableError(
                Unavailable(self.name, f"cannot list {self.root} ({exc.strerror})")
            ) from None
        chosen_family = next((f for f in FAMILIES if families[f]), FAMILIES[0])
        tops = families[chosen_family]
        for family, zones in families.items():
            if family != chosen_family:
                self.skipped += [f"{p.name}: twin of the {chosen_family} counters" for p in zones]
        self._check_masked(tops)
        sub_pattern = _family_pattern(chosen_family, True)
        chosen: list[tuple[Path, str, str | None]] = []
        for top in tops:
            try:
                name = _zone_name(top)
            except _ZoneProblem as problem:
                self._unreadable(top.name, str(problem), counted=True)
                continue
            die = _DIE.match(name)
            if self._amd and die and die.group(2) != "0":
                self.skipped.append(
                    f"{top.name} ({name}): on AMD every die zone reads its package's one counter"
                )
                continue
            chosen.append((top, name, None))
            # Subzones appear both nested in the zone directory and as class-level links.
            try:
                nested = self._entries(top, sub_pattern)
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

    def _check_masked(self, tops: list[Path]) -> None:
        """Links into a hidden /sys/devices/virtual/powercap: a container's masked tree."""
        dangling = [p for p in tops if p.is_symlink() and not p.exists()]
        if tops and len(dangling) == len(tops):
            target = os.readlink(dangling[0])
            raise SensorUnavailableError(
                Unavailable(
                    self.name,
                    f"the powercap tree is masked: {dangling[0]} points to {target}, which does not "
                    "exist here (a container)",
                    MASKED_FIX,
                )
            )

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
            zone = _Zone(domain, energy_path, max_range, last, self._clock())
            twin = self._mirrored(zone)
            if twin is not None:
                self.skipped.append(
                    f"{zone_dir.name} ({zone_name}): reads the same counter as {twin.domain.label}"
                )
                continue
            self._zones.append(zone)
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

    def _mirrored(self, zone: _Zone) -> _Zone | None:
        """A counted zone of the same kind whose counter this one mirrors: equal non-zero
        values read back to back (A, this, A again, with A unchanged between)."""
        for other in self._zones:
            if other.domain.kind is not zone.domain.kind or other.max_range_uj != zone.max_range_uj:
                continue
            for _ in range(5):  # the counters move about every millisecond: retry a torn read
                try:
                    before = int(_read_text(other.energy_path))
                    mine = int(_read_text(zone.energy_path))
                    after = int(_read_text(other.energy_path))
                except (OSError, ValueError):
                    break
                if before == after:
                    if mine == before and mine != 0:
                        return other
                    break
        return None

    def _domain_for(self, zone_dir: Path, name: str, parent: str | None) -> Domain | None:
        cap = _ceiling_w(zone_dir)
        if name.startswith("package"):
            label = "CPU " + name.replace("-", " ")
            return _zone_domain(DomainKind.CPU, f"cpu:{name}", label, zone_dir, True, cap)
        if name == "dram":
            # dram:0 under package-0, dram:0-die-1 under package-0-die-1; a top-level dram
            # zone (some servers) is named after its own zone index.
            owner = parent.removeprefix("package-") if parent else zone_dir.name.split(":")[-1]
            label = f"DRAM ({parent})" if parent else "DRAM"
            return _zone_domain(DomainKind.DRAM, f"dram:{owner}", label, zone_dir, True, cap)
        if name == "psys" or re.fullmatch(r"psys-\d+", name):
            return _zone_domain(
                DomainKind.PLATFORM,
                f"platform:{name}",
                f"Platform ({name}, overlaps CPU+DRAM)",
                zone_dir,
                False,
                cap,
            )
        return None

    # -- reading -----------------------------------------------------------------------------

    @property
    def domains(self) -> list[Domain]:
        return [z.domain for z in self._zones]

    def read(self) -> Reading:
        failures: list[DomainFailure] = []
        energy: dict[str, float] = {}
        now_t = self._clock()
        for zone in self._zones:
            if not zone.failed:
                try:
                    now = int(_read_text(zone.energy_path))
                except (OSError, ValueError) as exc:
                    zone.failed = True
                    failures.append(DomainFailure(zone.domain.id, f"read failed: {exc}"))
                else:
                    problem = self._impossible_wrap(zone, now, now_t)
                    if problem:
                        zone.failed = True
                        failures.append(DomainFailure(zone.domain.id, problem))
                    else:
                        zone.total_uj += counter_delta(zone.last_uj, now, zone.max_range_uj)
                        zone.last_uj, zone.last_t = now, now_t
            energy[zone.domain.id] = zone.total_uj / 1e6
        return Reading(energy, failures)

    def _impossible_wrap(self, zone: _Zone, now_uj: int, now_t: float) -> str | None:
        """Why a decrease cannot be a wrap (it would imply more power than the zone can
        draw), or None."""
        if now_uj >= zone.last_uj:
            return None
        implied_j = counter_delta(zone.last_uj, now_uj, zone.max_range_uj) / 1e6
        cap = zone.domain.max_power_w or MAX_POWER_W[zone.domain.kind]
        elapsed = max(now_t - zone.last_t, 0.0)
        if implied_j <= cap * (elapsed + WRAP_SLACK_S):
            return None
        return (
            f"counter not monotonic: it went from {zone.last_uj} to {now_uj} µJ, which as a wrap "
            f"would mean {implied_j / max(elapsed, 1e-3):.3g} W; a virtual machine that leaks the "
            "host's RAPL (scaphandre#134)?"
        )

    def close(self) -> None:
        pass


def counter_delta(previous: int, current: int, max_range: int) -> int:
    """Increase of a counter that wraps to 0 after ``max_range``."""
    if current >= previous:
        return current - previous
    return max_range - previous + current
