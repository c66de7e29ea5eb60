"""Power read at jittered instants cannot alias with a periodic load."""

from __future__ import annotations

import random

import pytest
from aicarbon.sensors.nvml import NvmlSensor
from aicarbon.sensors.power_poll import PowerIntegrator
from conftest import FakeClock, FakeGpu, make_fake_pynvml


def square_w(t: float, hz: float) -> float:
    return 400.0 if (t * hz) % 1.0 < 0.5 else 100.0


@pytest.mark.parametrize("hz", [1.0, 5.0, 10.0, 13.3, 20.0])
def test_square_waves_are_measured_within_3_percent_over_5_s(hz: float, clock: FakeClock) -> None:
    """10 and 20 Hz were measured 60% off with readings every 0.1 s exactly; the mean of a
    100/400 W square wave over whole periods is 250 W, 1250 J over 5 s."""
    clock.now = 0.0
    integrator = PowerIntegrator({"gpu": lambda: square_w(clock.now, hz)}, clock=clock, rng=random.Random(hz))
    while clock.now < 5.0 - 0.012:
        clock.advance(integrator.next_delay_s())
        integrator.poll()
    clock.now = 5.0
    assert integrator.totals_j()["gpu"] == pytest.approx(1250.0, rel=0.03)
    assert integrator.readings > 500


def test_waits_are_jittered_around_the_mean_period() -> None:
    integrator = PowerIntegrator({}, mean_period_s=0.008, rng=random.Random(1))
    delays = [integrator.next_delay_s() for _ in range(2000)]
    assert min(delays) >= 0.004 and max(delays) <= 0.012
    assert sum(delays) / len(delays) == pytest.approx(0.008, rel=0.03)
    assert len({round(d, 6) for d in delays}) > 1000  # not a fixed period


def test_a_power_only_gpu_polls_in_the_background_and_stops_with_the_sensor() -> None:
    gpu = FakeGpu(energy_mj=None, power_mw=200_000)
    sensor = NvmlSensor(make_fake_pynvml([gpu]), environ={})
    assert sensor._power is not None and sensor._power._thread is not None
    sensor.close()
    assert sensor._power._thread is None


def test_a_gpu_that_fails_while_polled_is_reported_once(clock: FakeClock) -> None:
    gpu = FakeGpu(energy_mj=None, power_mw=100_000)
    sensor = NvmlSensor(make_fake_pynvml([gpu]), environ={}, clock=clock, poll_in_background=False)
    clock.advance(1.0)
    assert sensor.read().energy_j["gpu:0"] == pytest.approx(100.0)
    gpu.fail_after_reads = gpu.reads  # lost from now on
    clock.advance(1.0)
    reading = sensor.read()
    assert [f.domain_id for f in reading.failures] == ["gpu:0"] and "GPU is lost" in reading.failures[
        0
    ].reason
    assert reading.energy_j["gpu:0"] == pytest.approx(100.0)
    assert sensor.read().failures == []
