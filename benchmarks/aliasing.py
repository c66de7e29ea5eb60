"""Power read at jittered instants cannot alias: square waves from 1 to 20 Hz over 5 s.

    python benchmarks/aliasing.py [--seconds 5] [--realtime]

A GPU without an energy counter is measured by reading its power and integrating it. This
prints, for a 100/400 W square wave at each frequency from 1 to 20 Hz (every 0.5 Hz), the error
of aicarbon's PowerIntegrator (jittered readings, 8 ms mean period) over ``--seconds``, the
worst of 20 random phases, next to the error of readings every 0.1 s exactly (the aliasing
that was reported: 60% at 10 and 20 Hz). The simulation runs the real integrator on a virtual
clock; ``--realtime`` also runs the real NVML sensor, with a stand-in pynvml whose 39 GPUs
follow the same waves on the real clock, for ``--seconds`` of wall time, and prints the CPU
time the polling thread used. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aicarbon.sensors.power_poll import MEAN_PERIOD_S, PowerIntegrator

LOW_W, HIGH_W = 100.0, 400.0
FREQUENCIES = [1.0 + 0.5 * i for i in range(39)]


def wave_w(t: float, f: float, phase: float) -> float:
    return HIGH_W if (t * f + phase) % 1.0 < 0.5 else LOW_W


def exact_j(a: float, b: float, f: float, phase: float) -> float:
    """The square wave's integral over [a, b]."""

    def primitive(t: float) -> float:
        x = (t * f + phase) % 1.0
        return (x if x < 0.5 else 1.0 - x) / f

    mean, half = (HIGH_W + LOW_W) / 2, (HIGH_W - LOW_W) / 2
    return mean * (b - a) + half * (primitive(b) - primitive(a))


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def jittered_error(f: float, phase: float, seconds: float, seed: int) -> float:
    clock = VirtualClock()
    integrator = PowerIntegrator(
        {"gpu": lambda: wave_w(clock.now, f, phase)}, clock=clock, rng=random.Random(seed)
    )
    while clock.now + integrator.mean_period_s * 1.5 < seconds:
        clock.now += integrator.next_delay_s()
        integrator.poll()
    clock.now = seconds
    measured = integrator.totals_j()["gpu"]
    truth = exact_j(0.0, seconds, f, phase)
    return (measured - truth) / truth


def fixed_error(f: float, phase: float, seconds: float, period_s: float = 0.1) -> float:
    n = int(round(seconds / period_s))
    readings = [wave_w(k * period_s, f, phase) for k in range(n + 1)]
    measured = sum((a + b) / 2 * period_s for a, b in zip(readings, readings[1:], strict=False))
    truth = exact_j(0.0, n * period_s, f, phase)
    return (measured - truth) / truth


def simulate(seconds: float, phases: int) -> None:
    rng = random.Random(2026)
    print(f"{LOW_W:.0f}/{HIGH_W:.0f} W square waves, {seconds:g} s, worst of {phases} random phases:")
    print(f"  {'Hz':>5}  {'jittered, 8 ms mean':>20}  {'every 0.1 s exactly':>20}")
    worst = 0.0
    for f in FREQUENCIES:
        cases = [(rng.random(), rng.randrange(1 << 30)) for _ in range(phases)]
        jit = max(abs(jittered_error(f, ph, seconds, seed)) for ph, seed in cases)
        fixed = max(abs(fixed_error(f, ph, seconds)) for ph, _ in cases)
        worst = max(worst, jit)
        print(f"  {f:5.1f}  {100 * jit:19.2f}%  {100 * fixed:19.1f}%")
    print(f"  worst jittered error over 1-20 Hz: {100 * worst:.2f}% (target: within 3%)")


def realtime(seconds: float) -> None:
    """The real NvmlSensor and its polling thread, on the real clock."""
    from aicarbon.sensors.nvml import NvmlSensor

    rng = random.Random(7)
    phases = [rng.random() for _ in FREQUENCIES]
    nv = types.ModuleType("pynvml")

    class NVMLError(Exception):
        value = 3

    nv.NVMLError = NVMLError
    nv.NVML_ERROR_NOT_SUPPORTED = 3
    nv.nvmlInit = nv.nvmlShutdown = lambda: None
    nv.nvmlDeviceGetCount = lambda: len(FREQUENCIES)
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetName = lambda h: "square wave"
    nv.nvmlDeviceGetUUID = lambda h: f"GPU-{h:04d}"

    def no_counter(handle: int) -> int:
        raise NVMLError()

    nv.nvmlDeviceGetTotalEnergyConsumption = no_counter
    nv.nvmlDeviceGetPowerUsage = lambda h: int(wave_w(time.monotonic(), FREQUENCIES[h], phases[h]) * 1000)
    sensor = NvmlSensor(nv, environ={})
    assert sensor._power is not None
    first, t0 = sensor.read().energy_j, time.monotonic()
    cpu0 = time.process_time()  # the main thread sleeps: this is the polling thread's
    time.sleep(seconds)
    cpu1 = time.process_time()
    last, t1 = sensor.read().energy_j, time.monotonic()
    readings = sensor._power.readings
    sensor.close()
    print(f"\nreal time: the NVML sensor, 39 stand-in GPUs, {t1 - t0:.2f} s, {readings} readings of each:")
    print(
        f"  polling thread CPU: {cpu1 - cpu0:.3f} s = {100 * (cpu1 - cpu0) / seconds:.1f}% of a core for 39 GPUs"
    )
    worst = 0.0
    for i, f in enumerate(FREQUENCIES):
        measured = last[f"gpu:{i}"] - first[f"gpu:{i}"]
        truth = exact_j(t0, t1, f, phases[i])
        worst = max(worst, abs(measured - truth) / truth)
    print(f"  worst error over 1-20 Hz: {100 * worst:.2f}%  (mean period {1000 * MEAN_PERIOD_S:g} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--phases", type=int, default=20)
    parser.add_argument("--realtime", action="store_true")
    args = parser.parse_args()
    simulate(args.seconds, args.phases)
    if args.realtime:
        realtime(args.seconds)


if __name__ == "__main__":
    main()
