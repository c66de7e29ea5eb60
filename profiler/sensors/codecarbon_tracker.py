"""codecarbon's offline tracker as one more energy source (``--backend codecarbon`` or ``both``).

codecarbon's own code measures (its hardware detection, RAPL or CPU-load model, NVML, RAM
model, and its once-a-second power monitor); aicarbon's sampler sets the schedule: each read
asks the tracker to measure now (its ``_measure_power_and_energy``), at most once per
``period_s`` (``min_period_s``, at least a second as codecarbon's monitor), and its periodic
scheduler is set beyond any run, so that two threads never measure at once and each reading
is codecarbon's energy up to that instant. The session's accounting, phases, timeline and
record are then the same as for aicarbon's own sensors. ``settle()`` stops the tracker (its
final measurement) after the sampler's loop and before its last sample.

What it reads: the tracker's totals per kind (CPU, GPU, RAM). They are private attributes
(``_total_cpu_energy`` ...): codecarbon's public result, ``EmissionsData``, exists only once it
has stopped; the per-GPU figures are private too, so codecarbon's GPU energy is one domain for
all GPUs. Each domain says codecarbon's method: its CPU mode (``intel_rapl``: measured;
``cpu_load`` or a TDP ``constant``: estimated), NVML for GPUs (measured), its RAM model
(estimated).

Nothing leaves the machine: the tracker is codecarbon's *offline* one (no location lookup, no
cloud metadata), and every output is turned off by explicit arguments, which win over
``.codecarbon.config`` and ``CODECARBON_*`` variables: no CSV, API, HTTP endpoint, logger,
Prometheus, Logfire or BoAmps output, no Electricity Maps token. Its PUE is 1 (aicarbon applies
the PUE in its impact) and its country only feeds codecarbon's own emissions, which aicarbon
does not use. codecarbon's hardware settings from its config files (``force_cpu_power``,
``gpu_ids``...) still apply: they change what it measures, and the domain's source says so.

codecarbon's log never reaches the terminal: its warnings (an unknown CPU, no RAPL, a fallback
to its CPU-load model) become the run's "unavailable" lines, under ``codecarbon``.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from .base import Domain, DomainKind, Method, Reading, SensorUnavailableError, Unavailable

TESTED = ((3, 3, 2), (3, 4, 0))  # codecarbon versions read and tested: from, up to (excluded)
MIN_PERIOD_S = 1.0  # codecarbon's own monitoring runs every second: a shorter period adds nothing
_NEVER_S = 1e6  # codecarbon's periodic measurement: never within a run (aicarbon's reads measure)
_KWH_J = 3.6e6
_KINDS = (
    ("cpu", DomainKind.CPU, "_total_cpu_energy", "CPU (codecarbon)"),
    ("gpu", DomainKind.GPU, "_total_gpu_energy", "GPU (codecarbon)"),
    ("dram", DomainKind.DRAM, "_total_ram_energy", "RAM (codecarbon)"),
)


# What codecarbon says because of how aicarbon made its tracker: not news to the user.
_OURS = ("Multiple instances of codecarbon are allowed",)


class _Collect(logging.Handler):
    """codecarbon's warnings (at most 20, each one line): the run's "unavailable" lines."""

    def __init__(self, warnings: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.warnings = warnings

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = " ".join(record.getMessage().split())[:300]
        except Exception:  # noqa: BLE001 - a log record that cannot be formatted
            message = "(a warning that could not be formatted)"
        if len(self.warnings) < 20 and not message.startswith(_OURS):
            self.warnings.append(message)


class CodecarbonSensor:
    """Cumulative joules from codecarbon's offline tracker, per kind."""

    name = "codecarbon"

    def __init__(
        self,
        interval_s: float,
        *,
        in_total: bool = True,
        module: ModuleType | None = None,
    ) -> None:
        self.events: list[str] = []  # the run's notes
        self.warnings: list[str] = []  # codecarbon's own: the run's "unavailable" lines
        self.period_s = max(interval_s, MIN_PERIOD_S)
        self.min_period_s = self.period_s  # the sampler reads it no more often (and at the end)
        codecarbon = module if module is not None else _import()
        self.version = str(getattr(codecarbon, "__version__", "unknown"))
        _check_version(self.version)
        self._logger = logging.getLogger("codecarbon")
        self._saved = (list(self._logger.handlers), self._logger.propagate, self._logger.level)
        self._logger.handlers = [_Collect(self.warnings)]
        self._logger.propagate = False
        self._stopped = False
        try:
            self._tracker = codecarbon.OfflineEmissionsTracker(
                country_iso_code="USA",  # codecarbon's own emissions: not used by aicarbon
                measure_power_secs=_NEVER_S,
                output_methods=[],
                emissions_endpoint=None,
                electricitymaps_api_token=None,
                tracking_mode="machine",
                log_level="warning",
                allow_multiple_runs=True,
                pue=1.0,
                project_name="aicarbon",
            )
            self._logger.handlers = [_Collect(self.warnings)]  # codecarbon set its own again
            self._logger.propagate = False
            self._tracker.start()
        except Exception as exc:  # noqa: BLE001 - whatever codecarbon raises, the command runs
            self._restore()
            raise SensorUnavailableError(
                Unavailable("codecarbon", f"codecarbon {self.version} failed to start: {_one_line(exc)}")
            ) from None
        kinds = [
            k for k in _KINDS if k[1] is not DomainKind.GPU or self._hardware(DomainKind.GPU) is not None
        ]
        self._kinds = kinds
        self._domains = []
        for key, kind, _, label in kinds:
            method, source = self._method(kind), self._source(kind)
            model = None if method is Method.MEASURED else source
            self._domains.append(
                Domain(f"{key}:codecarbon", kind, method, source, label, in_total=in_total, model=model)
            )

    @property
    def domains(self) -> list[Domain]:
        return list(self._domains)

    def read(self) -> Reading:
        if not self._stopped:
            self._tracker._measure_power_and_energy()  # codecarbon's measurement, now
        energy = {}
        for (_, _, attribute, _), domain in zip(self._kinds, self._domains, strict=True):
            total = getattr(self._tracker, attribute, None)
            kwh = getattr(total, "kWh", None)
            if not isinstance(kwh, (int, float)):
                raise RuntimeError(f"codecarbon {self.version} has no {attribute}: not a tested version")
            energy[domain.id] = float(kwh) * _KWH_J
        return Reading(energy)

    def settle(self) -> None:
        """Stop the tracker: its final measurement, before the session's last sample."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._tracker.stop()
        except Exception as exc:  # noqa: BLE001 - the figures so far stand; the run goes on
            self.events.append(f"codecarbon: stopping failed ({_one_line(exc)}); its last figures are kept")

    def close(self) -> None:
        try:
            self.settle()
        finally:
            self._restore()

    def _restore(self) -> None:
        handlers, propagate, level = self._saved
        self._logger.handlers = handlers
        self._logger.propagate = propagate
        self._logger.setLevel(level)

    def _hardware(self, kind: DomainKind) -> Any:
        names = {DomainKind.CPU: "CPU", DomainKind.GPU: "GPU", DomainKind.DRAM: "RAM"}
        for part in getattr(self._tracker, "_hardware", []):
            if type(part).__name__ == names[kind]:
                return part
        return None

    def _method(self, kind: DomainKind) -> Method:
        if kind is DomainKind.GPU:
            return Method.MEASURED  # NVML's energy counter
        if kind is DomainKind.CPU:
            part = self._hardware(kind)
            if getattr(part, "_mode", "") in ("intel_rapl", "windows_emi", "intel_power_gadget"):
                return Method.MEASURED
        return Method.ESTIMATED

    def _source(self, kind: DomainKind) -> str:
        part = self._hardware(kind)
        how = {DomainKind.GPU: "NVML", DomainKind.DRAM: "its RAM model"}.get(kind, "")
        if kind is DomainKind.CPU:
            how = f"CPU mode {getattr(part, '_mode', 'unknown')}"
        return f"codecarbon {self.version} offline tracker, {how}, every {self.period_s:g} s"


def _import() -> ModuleType:
    try:
        import codecarbon
    except Exception as exc:  # noqa: BLE001 - missing, or broken by its own dependencies
        raise SensorUnavailableError(
            Unavailable(
                "codecarbon",
                f"codecarbon cannot be imported ({_one_line(exc)})",
                "pip install 'codecarbon>=3.3.2,<3.4'",
            )
        ) from None
    return codecarbon


def _check_version(version: str) -> None:
    try:
        parts = tuple(int(p) for p in version.split(".")[:3])
    except ValueError:
        parts = ()
    low, high = TESTED
    if not (len(parts) == 3 and low <= parts < high):
        raise SensorUnavailableError(
            Unavailable(
                "codecarbon",
                f"codecarbon {version} is not a version aicarbon reads (3.3.2 up to 3.4)",
                "pip install 'codecarbon>=3.3.2,<3.4'",
            )
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
