"""Measure one command: sensors, sampler, runner and process tree, into a ``Run`` record."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import ModuleType

from . import __version__
from .accounting import Accumulator
from .process_tree import ProcessTree
from .run import DomainRecord, HostRecord, Run, TimelineRecord, UnavailableRecord
from .runner import ChildExit, SignalForwarder, become_subreaper, spawn, wait
from .sampler import Sampler
from .sensors import OpenSensors, open_sensors
from .sensors.cpu_load import CpuTimes, Throttled, logical_cpus, machine_cpu_times
from .sensors.host import cpu_model, host_info
from .timeline import Timeline

DEFAULT_INTERVAL_S = 0.1
TIMELINE_POINTS = 256


@dataclass(frozen=True)
class MeasureOptions:
    interval_s: float = DEFAULT_INTERVAL_S
    sensors: frozenset[str] | None = None  # None: every sensor that works here
    environ: Mapping[str, str] | None = None
    nvml_module: ModuleType | None = None  # a stand-in pynvml, for tests
    adopt_orphans: bool = True  # become a child subreaper (the CLI does; a library may not)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def measure_command(argv: Sequence[str], options: MeasureOptions = MeasureOptions()) -> tuple[Run, ChildExit]:
    """Run ``argv`` to completion while measuring; raises ``CommandError`` if it cannot start."""
    # One /proc/stat read per sample, shared by the estimate and attribution.
    cpu_times = Throttled(machine_cpu_times, options.interval_s / 4)
    opened = open_sensors(
        options.sensors,
        environ=options.environ,
        cpu_model=cpu_model(),
        n_cpu=logical_cpus(),
        nvml_module=options.nvml_module,
        cpu_times=cpu_times,
    )
    try:
        return _measure(argv, options, opened, cpu_times)
    finally:
        opened.close()


def _measure(
    argv: Sequence[str], options: MeasureOptions, opened: OpenSensors, cpu_times: Callable[[], CpuTimes]
) -> tuple[Run, ChildExit]:
    if options.adopt_orphans:
        become_subreaper()
    tree = ProcessTree()
    accumulator = Accumulator(
        opened.domains, Timeline(options.interval_s, TIMELINE_POINTS), options.interval_s
    )
    nvml = opened.nvml
    sampler = Sampler(
        opened.sensors,
        accumulator,
        options.interval_s,
        tree_cpu_s=tree.cpu_seconds,
        machine_busy_s=lambda: cpu_times().busy_s,
        tree_pids=lambda: tree.pids,
        gpu_pids=getattr(nvml, "compute_pids", None),
    )
    forwarder = SignalForwarder()
    with forwarder.installed():
        start_utc = utc_now()
        sampler.start()
        try:
            child = spawn(argv)
        except BaseException:
            sampler.stop()
            raise
        tree.set_main_pid(child.pid)
        forwarder.attach(child)
        try:
            exit_ = wait(child, forwarder)
        finally:
            sampler.stop()
        end_utc = utc_now()
    run = build_run(
        list(argv),
        start_utc,
        end_utc,
        exit_,
        accumulator,
        sampler,
        opened,
        host_info(opened.gpu_names),
        options.interval_s,
    )
    return run, exit_


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
) -> Run:
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
            )
        )
    ids = [d.id for d in domains]
    buckets = acc.timeline.buckets
    timeline = TimelineRecord(
        bucket_s=acc.timeline.bucket_s,
        domains=ids,
        t_s=[round(b.start_s, 3) for b in buckets],
        duration_s=[round(b.duration_s, 3) for b in buckets],
        power_w=[
            [_sig(b.energy_j.get(i, 0.0) / b.duration_s) if b.duration_s > 0 else 0.0 for i in ids]
            for b in buckets
        ],
        peak_power_w=[_sig(b.peak_power_w) for b in buckets],
    )
    return Run(
        command=command,
        start_utc=start_utc,
        end_utc=end_utc,
        duration_s=acc.duration_s,
        exit_status=exit_.status,
        exit_signal=exit_.signal,
        received_signal=exit_.received_signal,
        host=host,
        interval_s=interval_s,
        samples=acc.samples,
        domains=domains,
        unavailable=[UnavailableRecord(u.sensor, u.reason, u.fix) for u in opened.unavailable],
        tree_cpu_s=acc.tree_cpu_s,
        machine_busy_cpu_s=acc.machine_busy_s,
        peak_power_w=acc.peak_power_w,
        timeline=timeline,
        shared_gpus=sorted(sampler.shared_gpus),
        notes=list(opened.notes),
        tool_version=__version__,
        sampler_cpu_s=sampler.cpu_s,
    )


def _sig(value: float, digits: int = 4) -> float:
    """Round to ``digits`` significant digits: keeps the JSON timeline compact."""
    return float(f"{value:.{digits}g}")


__all__ = ["DEFAULT_INTERVAL_S", "MeasureOptions", "build_run", "measure_command"]
