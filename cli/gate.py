"""The CI gate's commands: ``bench``, ``compare``, ``ab``, ``check`` and ``baseline update``.

Parse, call the engine (bench, gate, baseline), render (report.gate_report, report.ci_outputs).
Results go to stdout; progress and problems to stderr. Exit statuses: 0 ok, improved, warn,
inconclusive or no baseline; 1 a regression or a blown budget; 2 nothing could be decided
(bad input, environments that cannot be compared, the benchmarked command failed).
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from aicarbon.cli.common import command, fail
from aicarbon.cli.deliver import rescue
from aicarbon.cli.streams import say
from aicarbon.errors import AicarbonError
from aicarbon.gate.settings import GATE, KEEP_RANGE, gate_help

if TYPE_CHECKING:
    from aicarbon.gate.bench import Arm, BenchOptions
    from aicarbon.gate.decide import GateSettings
    from aicarbon.gate.settings import ProjectCheck
    from aicarbon.records.check import GateComparison
    from aicarbon.records.samples import Samples

T = TypeVar("T")

baseline_app = typer.Typer(help="Write or update a stored baseline.", no_args_is_help=True)

# -- options shared by the comparing commands ----------------------------------------------------

Threshold = Annotated[str | None, typer.Option("--threshold", help=gate_help("threshold"))]
WarnThreshold = Annotated[str | None, typer.Option("--warn-threshold", help=gate_help("warn_threshold"))]
Alpha = Annotated[float | None, typer.Option("--alpha", help=gate_help("alpha"))]
FailOn = Annotated[
    str | None,
    typer.Option("--fail-on", help=gate_help("fail_on")),
]
MaxEnergy = Annotated[str | None, typer.Option("--max-energy", help=gate_help("max_energy"))]
MaxEnergyPerUnit = Annotated[
    str | None, typer.Option("--max-energy-per-unit", help=gate_help("max_energy_per_unit"))
]
AllowMismatch = Annotated[
    bool,
    typer.Option("--allow-env-mismatch", help="Compare samples measured with other sensors or hardware."),
]
Format = Annotated[str, typer.Option("--format", help="text (default), json or markdown.")]
JunitXml = Annotated[Path | None, typer.Option("--junit-xml", help="Also write JUnit XML here.")]
GitlabMetrics = Annotated[
    Path | None,
    typer.Option("--gitlab-metrics", help="Also write a GitLab Metrics Report (metrics.txt) here."),
]
ExportBencher = Annotated[
    Path | None, typer.Option("--export-bencher", help="Also write Bencher Metric Format JSON here.")
]
MarkdownFile = Annotated[
    Path | None, typer.Option("--markdown", help="Also write the Markdown summary here (for a PR comment).")
]
ExportGithub = Annotated[
    Path | None,
    typer.Option("--export-github-benchmark", help="Also write github-action-benchmark JSON here."),
]
Runs = Annotated[int | None, typer.Option("-n", "--runs", help=gate_help("runs"))]
Warmup = Annotated[int | None, typer.Option("--warmup", help=gate_help("warmup"))]
Units = Annotated[float | None, typer.Option("--units", help=gate_help("units"))]
UnitName = Annotated[str | None, typer.Option("--unit-name", help=gate_help("unit_name"))]
Name = Annotated[str | None, typer.Option("--name", help=gate_help("name"))]
Backend = Annotated[str | None, typer.Option("--backend", help=gate_help("backend"))]
Command = Annotated[list[str] | None, typer.Argument(help="The command to benchmark (after --).")]


@dataclass(frozen=True)
class Outputs:
    fmt: str = "text"
    junit: Path | None = None
    bencher: Path | None = None
    github_benchmark: Path | None = None
    markdown: Path | None = None
    gitlab: Path | None = None


def _settings(
    project: ProjectCheck,
    threshold: str | None,
    warn_threshold: str | None,
    alpha: float | None,
    fail_on: str | None,
    max_energy: str | None,
    max_energy_per_unit: str | None,
    allow_mismatch: bool,
) -> GateSettings:
    from aicarbon.gate.decide import GateSettings
    from aicarbon.gate.settings import FAIL_ON, parse_energy, parse_fraction
    from aicarbon.settings import SettingsError, check_number

    try:
        # "is None", never "or": an empty --threshold '' is a mistake to report, not the default.
        chosen_fail_on = _given(project.get("fail-on", fail_on), GATE["fail_on"].default)
        if chosen_fail_on not in FAIL_ON:
            raise SettingsError(f"--fail-on must be one of {', '.join(FAIL_ON)}; got {chosen_fail_on!r}")
        t = parse_fraction(
            _given(project.get("threshold", threshold), GATE["threshold"].default), "--threshold"
        )
        w = parse_fraction(
            _given(project.get("warn-threshold", warn_threshold), GATE["warn_threshold"].default),
            "--warn-threshold",
        )
        a = project.get("alpha", alpha)
        a = (
            check_number("--alpha", float(a), GATE["alpha"].low, GATE["alpha"].high)
            if a is not None
            else GATE["alpha"].default
        )
        budget = project.get("max-energy", max_energy)
        per_unit = project.get("max-energy-per-unit", max_energy_per_unit)
        return GateSettings(
            threshold=t,
            warn_threshold=min(w, t),
            alpha=a,
            fail_on=chosen_fail_on,
            max_energy_j=parse_energy(budget, "--max-energy") if budget is not None else None,
            max_energy_per_unit_j=parse_energy(per_unit, "--max-energy-per-unit")
            if per_unit is not None
            else None,
            allow_env_mismatch=allow_mismatch,
        )
    except (SettingsError, ValueError) as exc:
        raise fail(str(exc)) from None


def _given(value: T | None, default: T) -> T:
    return default if value is None else value


def _project(cwd: Path | None = None) -> ProjectCheck:
    from aicarbon.gate.settings import project_check

    return project_check(cwd)  # a SettingsError is caught, once, by run_cli


def _bench_options(
    project: ProjectCheck,
    runs: int | None,
    warmup: int | None,
    units: float | None,
    unit_name: str | None,
    backend: str | None = None,
) -> BenchOptions:
    from aicarbon.gate.bench import BenchOptions
    from aicarbon.gate.settings import RUNS_RANGE, WARMUP_RANGE
    from aicarbon.limits import MAX_UNITS
    from aicarbon.settings import BACKENDS

    n = _given(project.get("runs", runs), GATE["runs"].default)
    k = _given(project.get("warmup", warmup), GATE["warmup"].default)
    if not RUNS_RANGE[0] <= n <= RUNS_RANGE[1]:
        raise fail(f"--runs must be from {RUNS_RANGE[0]} to {RUNS_RANGE[1]}; got {n}")
    if not WARMUP_RANGE[0] <= k <= WARMUP_RANGE[1]:
        raise fail(f"--warmup must be from {WARMUP_RANGE[0]} to {WARMUP_RANGE[1]}; got {k}")
    u = project.get("units", units)
    if u is not None and not (isinstance(u, (int, float)) and 0 < float(u) <= MAX_UNITS):
        raise fail(f"--units must be a positive number of units, at most {MAX_UNITS:g}; got {u}")
    who = project.get("backend", backend) or GATE["backend"].default
    if who not in BACKENDS:
        raise fail(f"--backend must be one of {', '.join(BACKENDS)}; got {who!r}")
    return BenchOptions(
        runs=n,
        warmup=k,
        units=float(u) if u is not None else None,
        unit_name=project.get("unit-name", unit_name) or GATE["unit_name"].default,
        backend=who,
    )


def _outputs(
    fmt: str,
    junit: Path | None,
    bencher: Path | None,
    github: Path | None,
    markdown: Path | None = None,
    gitlab: Path | None = None,
) -> Outputs:
    from aicarbon.records.output_file import check_writable

    if fmt not in ("text", "json", "markdown"):
        raise fail(f"--format must be text, json or markdown; got {fmt!r}")
    for flag, path in (
        ("--junit-xml", junit),
        ("--export-bencher", bencher),
        ("--export-github-benchmark", github),
        ("--gitlab-metrics", gitlab),
    ):
        if path is not None:
            check_writable(path, what=flag)
    return Outputs(fmt, junit, bencher, github, markdown, gitlab)


def _progress(message: str) -> None:
    say(message)


def _emit(comparisons: list[GateComparison], settings: GateSettings, outputs: Outputs) -> int:
    """Render, write the side files, report to GitHub; the exit status. A side file that
    cannot be written is said, and changes no verdict."""
    from aicarbon.gate.decide import exit_status
    from aicarbon.records.output_file import write_text
    from aicarbon.report import ci_outputs, gate_report, gitlab_metrics

    text = {
        "text": gate_report.table,
        "json": gate_report.to_json,
        "markdown": gate_report.markdown,
    }[outputs.fmt](comparisons)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:
        pass
    files = [
        (outputs.junit, gate_report.junit_xml),
        (outputs.bencher, ci_outputs.bencher_json),
        (outputs.github_benchmark, ci_outputs.github_benchmark_json),
        (outputs.markdown, gate_report.markdown),
        (outputs.gitlab, gitlab_metrics.metrics_txt),
    ]
    for path, render in files:
        if path is not None:
            try:
                write_text(path, render(comparisons))
            except OSError as exc:
                say(f"could not write {path} ({exc.strerror or exc})")
    for problem in ci_outputs.write_github(comparisons, os.environ, lambda line: print(line, flush=True)):
        say(problem)
    return exit_status(comparisons, settings)


def _undecided(message: str, settings: GateSettings) -> typer.Exit:
    """Nothing could be decided: exit 2, or 0 with --fail-on never (the report-only on-ramp)."""
    if settings.fail_on == "never":
        say(message + " (exit 0: --fail-on never)")
        return typer.Exit(0)
    return fail(message)


def _command(project: ProjectCheck, command: list[str] | None, what: str) -> list[str]:
    argv = list(command or []) or list(project.get("command") or [])
    if not argv:
        raise fail(f"no command given; usage: aicarbon {what} [OPTIONS] -- COMMAND [ARGS]...")
    return argv


def _default_name(argv: list[str]) -> str:
    """The command, shortened: ``python work.py 0.5`` for ``/usr/bin/python work.py 0.5``."""
    text = shlex.join([Path(argv[0]).name, *argv[1:]])
    return text if len(text) <= 60 else text[:59] + "…"


def _load(path: Path) -> Samples:
    from aicarbon.records.samples import Samples

    return Samples.load(path)


def _run_bench(arm: Arm, options: BenchOptions, settings: GateSettings | None = None) -> Samples:
    from aicarbon.gate.bench import BenchError, bench
    from aicarbon.measurement.child_process import CommandError

    try:
        return bench(arm, options, _progress)
    except BenchError as exc:
        if settings is not None:
            raise _undecided(str(exc), settings) from None
        raise fail(str(exc)) from None
    except CommandError as exc:
        raise fail(str(exc), 2) from None


# -- bench ---------------------------------------------------------------------------------------


@command(context_settings={"allow_interspersed_args": False})
def bench(
    command: Command = None,
    runs: Runs = None,
    warmup: Warmup = None,
    units: Units = None,
    unit_name: UnitName = None,
    backend: Backend = None,
    name: Name = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the samples (JSON) here.")
    ] = None,
    fmt: Format = "text",
    gitlab_metrics: GitlabMetrics = None,
) -> None:
    """Run a command N times (after warm-up runs) and keep each run's energy: the samples."""
    from aicarbon.gate.bench import Arm
    from aicarbon.records.output_file import check_writable
    from aicarbon.report import bench_report

    project = _project()
    argv = _command(project, command, "bench")
    options = _bench_options(project, runs, warmup, units, unit_name, backend)
    if fmt not in ("text", "json"):
        raise fail(f"--format must be text or json; got {fmt!r}")
    if output is not None:
        check_writable(output, what="--output")
    if gitlab_metrics is not None:
        check_writable(gitlab_metrics, what="--gitlab-metrics")
    samples = _run_bench(Arm(name or project.get("name") or _default_name(argv), argv), options)
    text = samples.to_json() if fmt == "json" else bench_report.text(samples)
    sys.stdout.write(text)
    if gitlab_metrics is not None:
        _write_gitlab_samples(gitlab_metrics, samples)
    if output is not None:
        try:
            samples.save(output)
        except OSError as exc:
            rescue(
                samples.to_json(),
                "samples",
                f"could not write {output} ({exc.strerror or exc})",
                fmt == "json",
            )
            raise typer.Exit(2) from None


def _write_gitlab_samples(path: Path, samples: Samples) -> None:
    """bench's metrics.txt; a file that cannot be written is said, and loses no sample."""
    from aicarbon.records.output_file import write_text
    from aicarbon.report.gitlab_metrics import samples_metrics_txt

    try:
        write_text(path, samples_metrics_txt(samples))
    except OSError as exc:
        say(f"could not write {path} ({exc.strerror or exc})")


# -- compare ---------------------------------------------------------------------------------------


@command()
def compare(
    files: Annotated[
        list[Path],
        typer.Argument(help="BASE NEW, or several pairs BASE NEW BASE NEW ... (samples or run records)."),
    ],
    threshold: Threshold = None,
    warn_threshold: WarnThreshold = None,
    alpha: Alpha = None,
    fail_on: FailOn = None,
    max_energy: MaxEnergy = None,
    max_energy_per_unit: MaxEnergyPerUnit = None,
    allow_env_mismatch: AllowMismatch = False,
    fmt: Format = "text",
    junit_xml: JunitXml = None,
    gitlab_metrics: GitlabMetrics = None,
    export_bencher: ExportBencher = None,
    export_github_benchmark: ExportGithub = None,
    markdown: MarkdownFile = None,
) -> None:
    """Compare saved samples: is NEW a regression against BASE? Exit 1 if so."""
    from aicarbon.gate.decide import (
        FailedBenchmark,
        NotComparable,
        check_comparable,
        compare_all,
        require_successful,
    )

    if len(files) % 2:
        raise fail("compare takes pairs of files: BASE NEW [BASE NEW ...]")
    project = _project()
    settings = _settings(
        project,
        threshold,
        warn_threshold,
        alpha,
        fail_on,
        max_energy,
        max_energy_per_unit,
        allow_env_mismatch,
    )
    outputs = _outputs(fmt, junit_xml, export_bencher, export_github_benchmark, markdown, gitlab_metrics)
    pairs = [(_load(files[i]), _load(files[i + 1])) for i in range(0, len(files), 2)]
    try:
        for i, samples in enumerate(s for pair in pairs for s in pair):
            require_successful(samples, f"{files[i]} ({samples.name})")
        for base, new in pairs:
            for reason in check_comparable(base, new, settings):
                say(f"warning: {reason} (compared anyway: --allow-env-mismatch)")
        comparisons = compare_all(pairs, settings)
    except (NotComparable, FailedBenchmark) as exc:
        raise _undecided(str(exc), settings) from None
    raise typer.Exit(_emit(comparisons, settings, outputs))


# -- ab ----------------------------------------------------------------------------------------------


@command(context_settings={"allow_interspersed_args": False})
def ab(
    command: Command = None,
    base: Annotated[
        str | None, typer.Option("--base", help="The base command, quoted: 'python old.py'.")
    ] = None,
    head: Annotated[str | None, typer.Option("--head", help="The new command, quoted.")] = None,
    base_dir: Annotated[
        Path | None, typer.Option("--base-dir", help="Run COMMAND here for the base arm.")
    ] = None,
    head_dir: Annotated[
        Path | None, typer.Option("--head-dir", help="Run COMMAND here for the new arm.")
    ] = None,
    order: Annotated[str, typer.Option("--order", help="abba (default) or random.")] = "abba",
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of --order random.")] = None,
    samples_dir: Annotated[
        Path | None,
        typer.Option("--samples-dir", help="Save both arms' samples here (base.json, head.json)."),
    ] = None,
    runs: Runs = None,
    warmup: Warmup = None,
    units: Units = None,
    unit_name: UnitName = None,
    backend: Backend = None,
    name: Name = None,
    threshold: Threshold = None,
    warn_threshold: WarnThreshold = None,
    alpha: Alpha = None,
    fail_on: FailOn = None,
    max_energy: MaxEnergy = None,
    max_energy_per_unit: MaxEnergyPerUnit = None,
    fmt: Format = "text",
    junit_xml: JunitXml = None,
    gitlab_metrics: GitlabMetrics = None,
    export_bencher: ExportBencher = None,
    export_github_benchmark: ExportGithub = None,
    markdown: MarkdownFile = None,
) -> None:
    """Measure a base and a new command interleaved in one session; exit 1 on a regression.

    The default CI recipe: same runner, same session, no stored baseline."""
    from aicarbon.gate.bench import Arm, BenchError, ab_decide
    from aicarbon.measurement.child_process import CommandError

    project = _project()
    settings = _settings(
        project, threshold, warn_threshold, alpha, fail_on, max_energy, max_energy_per_unit, False
    )
    options = _bench_options(project, runs, warmup, units, unit_name, backend)
    outputs = _outputs(fmt, junit_xml, export_bencher, export_github_benchmark, markdown, gitlab_metrics)
    if order not in ("abba", "random"):
        raise fail(f"--order must be abba or random; got {order!r}")
    label = name or project.get("name")
    if base is not None or head is not None:
        if base is None or head is None or command:
            raise fail(
                "give both --base and --head (quoted commands), or --base-dir and --head-dir with -- COMMAND"
            )
        try:
            base_argv, head_argv = shlex.split(base), shlex.split(head)
        except ValueError as exc:
            raise fail(f"--base/--head: {exc}") from None
        if not base_argv or not head_argv:
            raise fail("--base and --head must not be empty")
        arms = (Arm("base", base_argv), Arm("head", head_argv))
    elif base_dir is not None and head_dir is not None:
        argv = _command(project, command, "ab --base-dir DIR --head-dir DIR")
        for flag, directory in (("--base-dir", base_dir), ("--head-dir", head_dir)):
            if not directory.is_dir():
                raise fail(f"{flag}: {directory} is not a directory")
        arms = (Arm("base", argv, base_dir.resolve()), Arm("head", argv, head_dir.resolve()))
    else:
        raise fail("give --base and --head, or --base-dir and --head-dir with -- COMMAND")
    if samples_dir is not None and not samples_dir.is_dir():
        raise fail(f"--samples-dir: {samples_dir} is not a directory")
    try:
        decided = ab_decide(arms[0], arms[1], options, settings, order, seed, _progress)
    except BenchError as exc:
        raise _undecided(str(exc), settings) from None
    except CommandError as exc:
        raise fail(str(exc), 2) from None
    a, b, comparisons = decided.base, decided.head, [decided.comparison]
    for samples in (a, b):
        if label:
            samples.name = f"{label} ({samples.name})"
        for note in samples.notes:
            say(f"note: {note}")
    comparisons[0].name = label or " vs ".join(
        _default_name(x.argv) if x.cwd is None else f"{x.cwd.name}/" for x in arms
    )
    if samples_dir is not None:
        for samples, filename in ((a, "base.json"), (b, "head.json")):
            try:
                samples.save(samples_dir / filename)
            except OSError as exc:
                why = f"could not write {samples_dir / filename} ({exc.strerror or exc})"
                rescue(samples.to_json(), "samples", why, False)
    raise typer.Exit(_emit(comparisons, settings, outputs))


# -- check and baseline --------------------------------------------------------------------------


def _baseline_path(project: ProjectCheck, baseline: Path | None) -> Path:
    chosen = baseline or project.get("baseline")
    if chosen is None:
        raise fail('no baseline given: --baseline PATH, or baseline = "..." in [tool.aicarbon.check]')
    return Path(chosen)


@command(context_settings={"allow_interspersed_args": False})
def check(
    command: Command = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="The stored baseline (JSON).")] = None,
    runs: Runs = None,
    warmup: Warmup = None,
    units: Units = None,
    unit_name: UnitName = None,
    backend: Backend = None,
    name: Name = None,
    threshold: Threshold = None,
    warn_threshold: WarnThreshold = None,
    alpha: Alpha = None,
    fail_on: FailOn = None,
    max_energy: MaxEnergy = None,
    max_energy_per_unit: MaxEnergyPerUnit = None,
    allow_env_mismatch: AllowMismatch = False,
    fmt: Format = "text",
    junit_xml: JunitXml = None,
    gitlab_metrics: GitlabMetrics = None,
    export_bencher: ExportBencher = None,
    export_github_benchmark: ExportGithub = None,
    markdown: MarkdownFile = None,
) -> None:
    """Benchmark a command against a stored baseline; exit 1 on a regression.

    A missing baseline is a warning, exit 0."""
    from aicarbon.gate.bench import Arm
    from aicarbon.gate.decide import (
        FailedBenchmark,
        NotComparable,
        budget_only,
        check_comparable,
        compare_history,
        require_successful,
    )
    from aicarbon.records.baseline import Baseline
    from aicarbon.records.check import Verdict

    project = _project()
    settings = _settings(
        project,
        threshold,
        warn_threshold,
        alpha,
        fail_on,
        max_energy,
        max_energy_per_unit,
        allow_env_mismatch,
    )
    argv = _command(project, command, "check")
    options = _bench_options(project, runs, warmup, units, unit_name, backend)
    outputs = _outputs(fmt, junit_xml, export_bencher, export_github_benchmark, markdown, gitlab_metrics)
    path = _baseline_path(project, baseline)
    stored = Baseline.load(path)
    new = _run_bench(Arm(name or project.get("name") or _default_name(argv), argv), options, settings)
    for note in new.notes:
        say(f"note: {note}")
    sessions = stored.sessions_for(new) if stored else []
    if not sessions and stored and stored.entries_named(new.name):
        others = stored.entries_named(new.name)
        reasons = (
            others[-1].sessions[-1].fingerprint.mismatches(new.fingerprint) if others[-1].sessions else []
        )
        message = f"not comparable with the baseline in {path}: " + (
            "; ".join(reasons) or "another environment"
        )
        if not settings.allow_env_mismatch:
            raise _undecided(message + " (--allow-env-mismatch compares anyway)", settings)
        say(f"warning: {message} (compared anyway: --allow-env-mismatch)")
        sessions = others[-1].sessions
    if not sessions:
        say(
            f"warning: no baseline for {new.name!r} in this environment in {path}: nothing to compare "
            "(exit 0); write one with 'aicarbon baseline update'"
        )
        raise typer.Exit(_emit([budget_only(new, settings, Verdict.NO_BASELINE)], settings, outputs))
    try:
        for j, session in enumerate(sessions, start=1):
            require_successful(session, f"{path}: {new.name!r}, stored session {j} of {len(sessions)}")
        check_comparable(sessions[-1], new, settings)
        comparison = compare_history(sessions, new, settings)
    except (NotComparable, FailedBenchmark) as exc:
        raise _undecided(str(exc), settings) from None
    raise typer.Exit(_emit([comparison], settings, outputs))


@baseline_app.command("update", context_settings={"allow_interspersed_args": False})
def baseline_update(
    command: Command = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="The baseline file to write.")] = None,
    from_samples: Annotated[
        Path | None, typer.Option("--from", help="Store these samples instead of measuring.")
    ] = None,
    keep: Annotated[int | None, typer.Option("--keep", help=gate_help("keep"))] = None,
    runs: Runs = None,
    warmup: Warmup = None,
    units: Units = None,
    unit_name: UnitName = None,
    backend: Backend = None,
    name: Name = None,
) -> None:
    """Measure a command (or take saved samples) and store it as the baseline."""
    from aicarbon.gate.bench import Arm
    from aicarbon.records.baseline import Baseline
    from aicarbon.records.output_file import check_writable

    project = _project()
    path = _baseline_path(project, baseline)
    k = _given(project.get("keep", keep), GATE["keep"].default)
    if not KEEP_RANGE[0] <= k <= KEEP_RANGE[1]:
        raise fail(f"--keep must be from {KEEP_RANGE[0]} to {KEEP_RANGE[1]}; got {k}")
    try:
        check_writable(path)
        stored = Baseline.load(path) or Baseline()
    except AicarbonError as exc:
        raise fail(f"--baseline: {exc}") from None
    if from_samples is not None:
        from aicarbon.gate.decide import FailedBenchmark, require_successful

        samples = _load(from_samples)
        try:
            require_successful(samples, f"{from_samples} ({samples.name})")
        except FailedBenchmark as exc:
            raise fail(f"{exc}; not stored as a baseline") from None
    else:
        argv = _command(project, command, "baseline update")
        options = _bench_options(project, runs, warmup, units, unit_name, backend)
        samples = _run_bench(Arm(name or project.get("name") or _default_name(argv), argv), options)
    stored.add(samples, keep=k)
    try:
        stored.save(path)
    except OSError as exc:
        raise fail(f"could not write {path} ({exc.strerror or exc})") from None
    say(
        f"baseline for {samples.name!r} ({samples.fingerprint.key()}) written to {path}: "
        f"median {samples.median():.6g} J ({samples.metric_name}), {len(samples.runs)} runs"
    )
