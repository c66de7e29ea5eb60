"""One measurement, whoever asks for it: the ``Session`` under every caller.

``aicarbon run`` (a command's process tree), ``aicarbon.track`` and through it the pytest plugin
and the notebook magic (the calling process), and ``bench``/``ab``/``check`` (one session per
benchmarked run) all measure through a session: it opens the sensors, runs the sampler, keeps
the accounting and the phases, and builds the run record. What differs between callers is only
whose work is attributed, an ``Attribution``:

* a process tree (``process_tree.TreeAccounting``: a cgroup, or a /proc walk), for a command;
* ``ThisProcess``: the calling process's own CPU time and GPU contexts, for in-process code.

The lifecycle is ``Session(...)`` (sensors opened, nothing sampled yet), ``start()`` (the first
sample: energy counts from here), phases and units through ``book`` while it runs, and
``stop(command, exit)`` (the last sample, the record). ``close()`` releases what ``stop`` did not
get to (an error before it). A new backend (another tracker's readings) or a new window (a
served model's steady state) is one more piece beside the session, fed by the same sampler and
accounting, not another pipeline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from ..limits import MAX_UNITS
from ..sensors.cpu_info import read_cpu_info
from ..sensors.cpu_load import OnePerSample, ProcStat, logical_cpus
from ..sensors.nvidia_driver import proc_root
from ..sensors.opening import OpenSensors, open_sensors
from ..settings import DEFAULT_INTERVAL_S
from .accounting import Accumulator
from .child_process import ChildExit
from .gpu_owner import GpuOwners, decide
from .phases import MAX_OPEN, MAX_RECORDS, PhaseBook, sample_mark
from .process_tree import in_this_namespace, nvidia_minors_open
from .sampler import Sampler
from .start import Start, utc_now
from .timeline import Timeline

if TYPE_CHECKING:  # the records are built after the run: their import can overlap it
    from ..records.run import HostRecord, Run

TIMELINE_POINTS = 256
SUCCESS = ChildExit(0, 0, None, None)  # what in-process code "exits" with


class Attribution(Protocol):
    """Whose work a session attributes: cumulative CPU seconds and the PIDs that own GPUs."""

    @property
    def method(self) -> str: ...  # how it is followed: "cgroup", "proc walk", ...

    def cpu_seconds(self, fresh: bool = False) -> float: ...

    @property
    def pids(self) -> set[int]: ...


class ThisProcess:
    """The calling process itself: its CPU time (every thread, the sampler's included) since
    the session started, and its own GPU contexts. Its children are not charged: a notebook
    kernel's other children are none of the measured code's doing."""

    method = "process CPU time (in-process)"

    def __init__(self) -> None:
        self._start_cpu_s = time.process_time()

    def cpu_seconds(self, fresh: bool = False) -> float:
        return time.process_time() - self._start_cpu_s

    @property
    def pids(self) -> set[int]:
        return {os.getpid()}


@dataclass(frozen=True)
class SessionOptions:
    interval_s: float = DEFAULT_INTERVAL_S
    sensors: frozenset[str] | None = None  # None: every sensor that works here
    environ: Mapping[str, str] | None = None
    nvml_module: ModuleType | None = None  # a stand-in pynvml, for tests
    backend: str = "native"  # settings.BACKENDS: aicarbon's sensors, codecarbon's tracker, or both
    codecarbon_module: ModuleType | None = None  # a stand-in codecarbon, for tests


class Session:
    """Sensors, sampler, accounting, phases and the record of one measurement."""

    def __init__(
        self,
        options: SessionOptions,
        attribution: Attribution,
        *,
        before_mark: Callable[[], None] | None = None,
        started: Start | None = None,
        book: PhaseBook | None = None,
    ) -> None:
        """``started``: the command was started before this session opened its sensors (see
        ``start.Start``); ``book``: the phases' book, when the caller made it earlier."""
        self.options = options
        # codecarbon measures at most once a second: a shorter period would only repeat its
        # figures (and make a zero-then-double power of every second). Both: the native period.
        self.interval_s = options.interval_s
        if options.backend == "codecarbon":
            from ..sensors.codecarbon_tracker import MIN_PERIOD_S

            self.interval_s = max(options.interval_s, MIN_PERIOD_S)
        interval_s = self.interval_s
        self.attribution = attribution
        self.started = started
        self._proc_stat = ProcStat()
        self._cpu = read_cpu_info(proc_root(options.environ) / "cpuinfo")
        cpu_times = OnePerSample(self._proc_stat)
        try:
            self.opened: OpenSensors = open_sensors(
                options.sensors,
                environ=options.environ,
                cpu=self._cpu,
                n_cpu=logical_cpus(),
                nvml_module=options.nvml_module,
                cpu_times=cpu_times,
                backend=options.backend,
                interval_s=interval_s,
                codecarbon_module=options.codecarbon_module,
            )
        except BaseException:
            self._proc_stat.close()
            raise
        self.accumulator = Accumulator(
            self.opened.domains, Timeline(interval_s, TIMELINE_POINTS), interval_s, started
        )
        self.sampler = Sampler(
            self.opened.sensors,
            self.accumulator,
            interval_s,
            tree_cpu_s=attribution.cpu_seconds,
            machine_busy_s=cpu_times.busy_s,
            gpu_owners=gpu_owner_check(self.opened, lambda: attribution.pids),
        )
        mark = sample_mark(self.sampler, self.accumulator)
        if before_mark is not None:
            plain, hook = mark, before_mark

            def mark() -> tuple[float, tuple[float, float]]:
                hook()
                return plain()

        origin = (lambda: started.t_s) if started is not None else (lambda: self.sampler.start_t)
        if book is None:
            book = PhaseBook(mark, origin)
        else:
            book.bind(mark, origin)
        self.book = book
        self.start_utc = ""
        self._closed = False

    def start(self) -> None:
        """The first sample: energy counts from now (from ``started``, when given)."""
        self.start_utc = self.started.utc if self.started is not None else utc_now()
        self.sampler.start()

    def stop(self, command: list[str], exit_: ChildExit = SUCCESS) -> Run:
        """The last sample, and the run record (phases still open end here, marked)."""
        from ..sensors.host import host_info

        try:
            self.book.end_all()
            self.sampler.halt()
            self.opened.settle()  # codecarbon's tracker stops: its final figures, for the last sample
            self.sampler.stop()
            end_utc = utc_now()
            self.accumulator.finish()
            opened = self.opened
            run = build_run(
                command,
                self.start_utc,
                end_utc,
                exit_,
                self.accumulator,
                self.sampler,
                opened,
                host_info(self._cpu, opened.gpu_names, opened.gpu_driver),
                self.interval_s,
                self.attribution.method,
                self.book,
            )
            run.notes += book_notes(self.book)
            return run
        finally:
            self.close()

    def close(self) -> None:
        """Release the sensors (idempotent); the sampler is stopped if it still runs."""
        if self._closed:
            return
        self._closed = True
        try:
            self.sampler.halt()
        finally:
            self.opened.close()
            self._proc_stat.close()


def book_notes(book: PhaseBook) -> list[str]:
    notes = []
    if book.dropped:
        notes.append(f"{book.dropped} phases beyond the first {MAX_RECORDS} were not kept")
    if book.refused:
        notes.append(
            f"{book.refused} phases were not opened: {MAX_OPEN} were open already, or the same id was"
        )
    if book.other_unit_names:
        others = ", ".join(sorted(book.other_unit_names))
        notes.append(
            f"units were counted under other names too ({others}); they are all counted as {book.unit_name}"
        )
    if book.units_refused:
        notes.append(
            f"{book.units_refused} unit counts were refused: the run's total would pass {MAX_UNITS:.0e}"
        )
    return notes


def gpu_owner_check(opened: OpenSensors, pids: Callable[[], set[int]]) -> Callable[[], GpuOwners] | None:
    """The sampler's GPU check: NVML's process lists against the measured processes ``pids``
    (the command's tree, or the tracking process itself), by device file in a container."""
    nvml = opened.nvml
    if nvml is None:
        return None
    minors = nvml.minors

    def owners() -> GpuOwners:
        processes = nvml.processes()
        measured = pids()
        return decide(
            processes.pids,
            processes.failed,
            measured,
            minors,
            in_this_namespace,
            lambda: nvidia_minors_open(measured),
        )

    return owners


def build_run(
    command: list[str],
    start_utc: str,
    end_utc: str,
    exit_: ChildExit,
    acc: Accumulator,
    sampler: Sampler,
    opened: OpenSensors,
    host: HostRecord,
    interval_s: float,
    method: str,
    book: PhaseBook,
) -> Run:
    from .. import __version__
    from ..records.run import (
        AttributionRecord,
        DomainRecord,
        EnergyRecord,
        ExitRecord,
        LabelsRecord,
        Run,
        SamplingRecord,
        TimelineRecord,
        ToolRecord,
        UnavailableRecord,
        WorkRecord,
    )

    failures = {f.domain_id: f for f in sampler.failures}
    domains: list[DomainRecord] = []
    for domain in opened.domains:
        totals = acc.totals[domain.id]
        bounds = acc.bounds_j(domain.id)
        failure = failures.get(domain.id)
        domains.append(
            DomainRecord(
                id=domain.id,
                kind=domain.kind.value,
                label=domain.label,
                method=domain.method.value,
                source=domain.source,
                in_total=domain.in_total,
                energy_j=totals.energy_j,
                attributed_j=totals.attributed_j,
                model=domain.model,
                low_j=bounds[0] if bounds else None,
                high_j=bounds[1] if bounds else None,
                failed=failure.reason if failure else None,
                failed_at_s=failure.at_s if failure else None,
                implausible_readings=sampler.implausible_count.get(domain.id, 0),
                implausible=list(sampler.implausible.get(domain.id, [])),
                owner_unknown_s=acc.gpu_owner_unknown_s(domain.id),
                owner_note=sampler.gpu_owner_notes.get(domain.id),
            )
        )
    ids = [d.id for d in domains]
    buckets = acc.timeline.buckets
    timeline = TimelineRecord(
        bucket_s=acc.timeline.bucket_s,
        domains=ids,
        # Microseconds and six significant digits: power x duration sums back to each domain's
        # energy (a 1 ms final bucket rounded to 0.001 s or 0 would not).
        t_s=[round(b.start_s, 6) for b in buckets],
        duration_s=[round(b.duration_s, 6) for b in buckets],
        power_w=[
            [_sig(b.energy_j.get(i, 0.0) / b.duration_s) if b.duration_s > 0 else 0.0 for i in ids]
            for b in buckets
        ],
        peak_power_w=[_sig(b.peak_power_w) for b in buckets],
    )
    return Run(
        tool=ToolRecord(version=__version__),
        command=command,
        start_utc=start_utc,
        end_utc=end_utc,
        duration_s=acc.duration_s,
        exit=ExitRecord(exit_.status, exit_.signal, exit_.received_signal),
        host=host,
        sampling=SamplingRecord(
            interval_s=interval_s,
            samples=acc.samples,
            sampler_cpu_s=sampler.cpu_s,
            nvml_call_s=getattr(opened.nvml, "call_latency_s", None),
            nvml_read_period_s=getattr(opened.nvml, "min_period_s", None),
            extrapolated_start_s=round(acc.extrapolated_s, 6),
        ),
        energy=EnergyRecord(acc.peak_power_w, domains),
        attribution=AttributionRecord(
            tree_cpu_s=acc.tree_cpu_s,
            machine_busy_cpu_s=acc.machine_busy_s,
            gpus_shared_with_other_processes=sorted(sampler.shared_gpus),
            method=method,
        ),
        unavailable=[UnavailableRecord(u.sensor, u.reason, u.fix, u.uncounted) for u in opened.unavailable]
        + [UnavailableRecord(s.name, w) for s in opened.sensors for w in getattr(s, "warnings", [])],
        notes=list(opened.notes) + [e for s in opened.sensors for e in getattr(s, "events", [])],
        labels=LabelsRecord(),
        work=WorkRecord(book.counted, list(book.records), book.unit_name),
        timeline=timeline,
    )


def _sig(value: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits: keeps the JSON timeline compact."""
    return float(f"{value:.{digits}g}")
