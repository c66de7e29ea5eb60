"""Repeated measured runs: one benchmark (``bench``) or two interleaved arms (``ab``).

Each run is a fresh process of the command under the measuring core (``measure_command``).
Warm-up runs are measured but discarded. In an A/B comparison the arms alternate in ABBA blocks
(or a seeded random order): all of A then all of B would turn slow drift (a runner warming
up, a neighbour starting) into a difference between the arms.

Quality warnings, never silent edits: a spread above 10%, runs shorter than about a second
(the counters' resolution and the sampler's period weigh more), a first run much slower than
the rest (a cold cache the warm-up did not absorb), and outliers by median/MAD, which are
flagged, not dropped.
"""

from __future__ import annotations

import random
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import AicarbonError
from ..measurement.command import MeasureOptions, measure_command
from ..measurement.process_tree import open_tree
from ..records.check import GateComparison
from ..records.run import Run
from ..records.samples import Samples, from_runs
from .decide import GateSettings, compare_all, worth_more_runs
from .stats import median_abs_deviation

SPREAD_WARNING = 0.10
SHORT_RUN_S = 1.0
SLOW_FIRST = 1.5  # the first measured run this many times the median of the others
OUTLIER_MADS = 3.5  # robust z-score (MAD scaled to a normal sd) that flags an outlier


class BenchError(AicarbonError):
    """The benchmarked command failed: nothing can be decided (exit 2)."""


@dataclass(frozen=True)
class Arm:
    name: str
    argv: list[str]
    cwd: Path | None = None


@dataclass(frozen=True)
class BenchOptions:
    runs: int = 5
    warmup: int = 1
    units: float | None = None
    unit_name: str = "units"
    interval_s: float = 0.1
    sensors: frozenset[str] | None = None
    backend: str = "native"  # settings.BACKENDS: who measures each run


Progress = Callable[[str], None]
Measure = Callable[["Arm", "BenchOptions"], Run]


def measure_once(arm: Arm, options: BenchOptions) -> Run:
    """One measured run of an arm; ``BenchError`` when the command does not exit 0."""
    measure = MeasureOptions(
        interval_s=options.interval_s,
        sensors=options.sensors,
        backend=options.backend,
        tree=open_tree(),
        cwd=str(arm.cwd) if arm.cwd is not None else None,
    )
    run, exit_ = measure_command(arm.argv, measure)
    if exit_.status != 0:
        raise BenchError(f"{arm.name}: the command exited with status {exit_.status}; nothing to compare")
    return run


def bench(
    arm: Arm, options: BenchOptions, progress: Progress = lambda _: None, measure: Measure = measure_once
) -> Samples:
    for i in range(options.warmup):
        progress(f"{arm.name}: warm-up {i + 1}/{options.warmup}")
        measure(arm, options)
    runs = []
    for i in range(options.runs):
        progress(f"{arm.name}: run {i + 1}/{options.runs}")
        runs.append(measure(arm, options))
    return _samples(arm, runs, options)


def interleaving(runs: int, order: str = "abba", seed: int | None = None) -> list[str]:
    """The order of ``runs`` runs per arm: ABBA blocks (AB BA AB ...) or a seeded shuffle of
    each AB pair (random, but never long stretches of one arm)."""
    if order == "abba":
        return [arm for i in range(runs) for arm in (("a", "b") if i % 2 == 0 else ("b", "a"))]
    rng = random.Random(seed)
    return [arm for _ in range(runs) for arm in rng.sample(("a", "b"), 2)]


def ab(
    base: Arm,
    head: Arm,
    options: BenchOptions,
    order: str = "abba",
    seed: int | None = None,
    progress: Progress = lambda _: None,
    measure: Measure = measure_once,
    done: tuple[list[Run], list[Run]] | None = None,
) -> tuple[list[Run], list[Run]]:
    """Both arms' runs, interleaved, in one session; ``done`` continues an earlier session
    (the warm-up is then not repeated)."""
    runs_a, runs_b = (list(done[0]), list(done[1])) if done else ([], [])
    if done is None:
        for i in range(options.warmup):
            progress(f"warm-up {i + 1}/{options.warmup}")
            measure(base, options)
            measure(head, options)
    plan = interleaving(options.runs, order, seed)
    for i, which in enumerate(plan, start=1):
        arm = base if which == "a" else head
        progress(f"{arm.name}: run {i}/{len(plan)}")
        (runs_a if which == "a" else runs_b).append(measure(arm, options))
    return runs_a, runs_b


@dataclass
class Decided:
    base: Samples
    head: Samples
    comparison: GateComparison
    extended: bool


def ab_decide(
    base: Arm,
    head: Arm,
    options: BenchOptions,
    settings: GateSettings,
    order: str = "abba",
    seed: int | None = None,
    progress: Progress = lambda _: None,
    measure: Measure = measure_once,
) -> Decided:
    """``ab``, then the decision; an undecided first answer (``gate.worth_more_runs``) gets as
    many runs again per arm, once, interleaved as before."""
    runs_a, runs_b = ab(base, head, options, order, seed, progress, measure)
    a, b = _samples(base, runs_a, options), _samples(head, runs_b, options)
    (comparison,) = compare_all([(a, b)], settings)
    if not worth_more_runs(comparison, settings):
        return Decided(a, b, comparison, False)
    progress(f"undecided after {options.runs} runs per arm: {options.runs} more each, once")
    more_seed = None if seed is None else seed + 1
    runs_a, runs_b = ab(base, head, options, order, more_seed, progress, measure, done=(runs_a, runs_b))
    a, b = _samples(base, runs_a, options), _samples(head, runs_b, options)
    (comparison,) = compare_all([(a, b)], settings)
    return Decided(a, b, comparison, True)


def _samples(arm: Arm, runs: list[Run], options: BenchOptions) -> Samples:
    commit = git_commit(arm.cwd)
    samples = from_runs(arm.name, runs, options.units, options.unit_name, options.warmup, commit)
    return replace(samples, notes=quality_warnings(samples))


def quality_warnings(samples: Samples) -> list[str]:
    values = samples.metric()
    warnings: list[str] = []
    median = statistics.median(values)
    if median > 0 and len(values) > 1:
        spread = (max(values) - min(values)) / median
        if spread > SPREAD_WARNING:
            warnings.append(
                f"{samples.name}: runs spread {spread:.0%} around the median (over "
                f"{SPREAD_WARNING:.0%}): more runs, or a quieter runner, make the verdict firmer"
            )
    short = [r for r in samples.runs if r.duration_s < SHORT_RUN_S]
    if short:
        warnings.append(
            f"{samples.name}: {len(short)} run(s) shorter than {SHORT_RUN_S:g} s: the counters' "
            "resolution and the sampling period weigh more; benchmark more work per run"
        )
    if len(values) >= 3:
        rest = statistics.median(values[1:])
        if rest > 0 and values[0] > SLOW_FIRST * rest:
            warnings.append(
                f"{samples.name}: the first run used {values[0] / rest:.1f}x the others' median: "
                "a cold start the warm-up did not absorb (raise --warmup)"
            )
    mad = median_abs_deviation(values)
    if mad > 0:
        outliers = [i + 1 for i, v in enumerate(values) if abs(v - median) / (1.4826 * mad) > OUTLIER_MADS]
        if outliers:
            warnings.append(
                f"{samples.name}: run(s) {', '.join(map(str, outliers))} are outliers by median/MAD "
                "(kept: the test is rank-based, so one outlier moves it little)"
            )
    return warnings


def git_commit(cwd: Path | None = None) -> str | None:
    """The checked-out commit, when the directory is in a git repository and git is there."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, as the user runs it
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) in (40, 64) else None
