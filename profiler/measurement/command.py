"""Measure one command: sensors, sampler, runner and process tree, into a ``Run`` record."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import ModuleType

from .. import __version__
from ..limits import MAX_UNITS
from ..records.run import DomainRecord, HostRecord, Run, TimelineRecord, UnavailableRecord
from ..sensors import OpenSensors, open_sensors
from ..sensors.cpu_info import CpuInfo, read_cpu_info
from ..sensors.cpu_load import CpuTimes, ProcStat, Throttled, logical_cpus
from ..sensors.host import host_info
from ..sensors.nvidia_driver import proc_root
from ..settings import DEFAULT_INTERVAL_S, INTERVAL_RANGE_S
from .accounting import Accumulator
from .channel import ChannelReader, NoChannel, open_channel
from .child_process import ChildExit, SignalForwarder, become_subreaper, spawn, wait
from .gpu_owner import GpuOwners, decide
from .phases import MAX_OPEN, MAX_RECORDS, PhaseBook, sample_mark
from .process_tree import ProcessTree, TreeAccounting, in_this_namespace, nvidia_minors_open, open_tree
from .sampler import Sampler
from .timeline import Timeline

TIMELINE_POINTS = 256


@dataclass(frozen=True)
class MeasureOptions:
    interval_s: float = DEFAULT_INTERVAL_S
    sensors: frozenset[str] | None = None  # None: every sensor that works here
    environ: Mapping[str, str] | None = None
    nvml_module: ModuleType | None = None  # a stand-in pynvml, for tests
    # The process is aicarbon's own (the CLI): it may become a child subreaper and reap every
    # orphan, and move itself into a cgroup for an instant to start the command there. A
    # library caller's process is left as it was: the tree is then followed through /proc.
    own_process: bool = True
    # The tree's accounting, opened by the caller as early as it can (open_tree): entering a
    # new cgroup waits some 20 ms on the kernel, which then overlaps the caller's own start-up.
    # measure_command closes it. None: opened here.
    tree: TreeAccounting | None = None
    cwd: str | None = None  # the command's working directory (None: aicarbon's)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def measure_command(argv: Sequence[str], options: MeasureOptions = MeasureOptions()) -> tuple[Run, ChildExit]:
    """Run ``argv`` to completion while measuring; raises ``CommandError`` if it cannot start."""
    # The tree's cgroup first (if the caller has not opened it): entering a new cgroup waits
    # some 20 ms on the kernel, which then overlaps opening the sensors.
    if options.own_process:
        become_subreaper()
    if options.tree is not None:
        tree = options.tree
    elif options.own_process:
        tree = open_tree(options.environ)
    else:
        tree = ProcessTree(reason="not aicarbon's own process")
    # One /proc/stat read per sample, shared by the estimate and attribution.
    proc_stat = ProcStat()
    cpu_times = Throttled(proc_stat, options.interval_s / 4)
    cpu = read_cpu_info(proc_root(options.environ) / "cpuinfo")
    try:
        opened = open_sensors(
            options.sensors,
            environ=options.environ,
            cpu=cpu,
            n_cpu=logical_cpus(),
            nvml_module=options.nvml_module,
            cpu_times=cpu_times,
        )
        try:
            return _measure(argv, options, opened, cpu_times, tree, cpu)
        finally:
            opened.close()
    finally:
        proc_stat.close()
        tree.close()


def _measure(
    argv: Sequence[str],
    options: MeasureOptions,
    opened: OpenSensors,
    cpu_times: Callable[[], CpuTimes],
    tree: TreeAccounting,
    cpu: CpuInfo,
) -> tuple[Run, ChildExit]:
    accumulator = Accumulator(
        opened.domains, Timeline(options.interval_s, TIMELINE_POINTS), options.interval_s
    )
    sampler = Sampler(
        opened.sensors,
        accumulator,
        options.interval_s,
        tree_cpu_s=tree.cpu_seconds,
        machine_busy_s=lambda: cpu_times().busy_s,
        gpu_owners=gpu_owner_check(opened, lambda: tree.pids),
    )
    book = PhaseBook(sample_mark(sampler, accumulator), lambda: sampler.start_t)
    channel = open_channel(book)
    forwarder = SignalForwarder()
    with forwarder.installed():
        start_utc = utc_now()
        sampler.start()
        channel.start()
        try:
            child = tree.spawn(lambda: spawn(argv, options.cwd, channel.child_env))
        except BaseException:
            channel.finish(0.0)
            sampler.stop()
            raise
        tree.set_main_pid(child.pid)
        sampler.check_gpus_soon()
        forwarder.attach(child)
        try:
            exit_ = wait(child, forwarder, reap_orphans=options.own_process)
        finally:
            channel.finish()
            sampler.stop()
        end_utc = utc_now()
    left_running = tree.running_descendants()
    accumulator.finish()
    run = build_run(
        list(argv),
        start_utc,
        end_utc,
        exit_,
        accumulator,
        sampler,
        opened,
        host_info(cpu, opened.gpu_names, opened.gpu_driver),
        options.interval_s,
    )
    run.tree_method = tree.method
    run.descendants_left_running = left_running
    run.phases = list(book.records)
    if isinstance(channel, NoChannel):
        run.notes.append(channel.why)
    else:
        run.notes += channel_notes(channel)
    run.units_counted = book.counted
    run.notes += book_notes(book)
    return run, exit_


def channel_notes(channel: ChannelReader) -> list[str]:
    notes = []
    if channel.ignored:
        notes.append(
            f"{channel.ignored} lines the command wrote to aicarbon's channel were ignored (too long, "
            "not an event, or out of bounds)"
        )
    if channel.failure:
        notes.append(f"the channel stopped taking events after an aicarbon bug ({channel.failure})")
    return notes


def book_notes(book: PhaseBook) -> list[str]:
    notes = []
    if book.dropped:
        notes.append(f"{book.dropped} phases beyond the first {MAX_RECORDS} were not kept")
    if book.refused:
        notes.append(
            f"{book.refused} phases were not opened: {MAX_OPEN} were open already, or the same id was"
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
        unavailable=[UnavailableRecord(u.sensor, u.reason, u.fix, u.uncounted) for u in opened.unavailable],
        tree_cpu_s=acc.tree_cpu_s,
        machine_busy_cpu_s=acc.machine_busy_s,
        peak_power_w=acc.peak_power_w,
        timeline=timeline,
        shared_gpus=sorted(sampler.shared_gpus),
        notes=list(opened.notes) + [e for s in opened.sensors for e in getattr(s, "events", [])],
        tool_version=__version__,
        sampler_cpu_s=sampler.cpu_s,
        nvml_call_s=getattr(opened.nvml, "call_latency_s", None),
        nvml_read_period_s=getattr(opened.nvml, "min_period_s", None),
    )


def _sig(value: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits: keeps the JSON timeline compact."""
    return float(f"{value:.{digits}g}")


__all__ = ["DEFAULT_INTERVAL_S", "INTERVAL_RANGE_S", "MeasureOptions", "build_run", "measure_command"]
