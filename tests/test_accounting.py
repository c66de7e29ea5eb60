from __future__ import annotations

import pytest
from aicarbon.accounting import Accumulator, Snapshot
from aicarbon.attribution import cpu_share
from aicarbon.sensors.base import Domain, DomainKind, Method
from aicarbon.timeline import Timeline

CPU = Domain("cpu:package-0", DomainKind.CPU, Method.MEASURED, "rapl", "CPU")
GPU = Domain("gpu:0", DomainKind.GPU, Method.MEASURED, "nvml", "GPU 0")
PSYS = Domain("platform:psys", DomainKind.PLATFORM, Method.MEASURED, "rapl", "psys", in_total=False)


def test_cpu_share_rules() -> None:
    assert cpu_share(0.5, 2.0) == 0.25
    assert cpu_share(3.0, 2.0) == 1.0  # tick rounding: never above 1
    assert cpu_share(0.0, 0.0) == 0.0  # idle interval: nothing attributed
    assert cpu_share(0.01, 0.0) == 1.0


def test_interval_by_interval_attribution_for_cpu_and_gpu() -> None:
    acc = Accumulator([CPU, GPU, PSYS], Timeline(1.0, 8), interval_s=1.0)
    acc.add(
        Snapshot(0.0, {"cpu:package-0": 0, "gpu:0": 0, "platform:psys": 0}, tree_cpu_s=0, machine_busy_s=0)
    )
    # interval 1: tree uses 1 of 4 busy CPU-s; GPU not used by the tree
    acc.add(
        Snapshot(
            1.0, {"cpu:package-0": 40, "gpu:0": 100, "platform:psys": 60}, tree_cpu_s=1, machine_busy_s=4
        )
    )
    # interval 2: tree uses all busy CPU time and holds a context on the GPU
    acc.add(
        Snapshot(
            2.0,
            {"cpu:package-0": 60, "gpu:0": 400, "platform:psys": 90},
            tree_cpu_s=3,
            machine_busy_s=6,
            gpus_in_use=frozenset({"gpu:0"}),
        )
    )
    assert acc.totals["cpu:package-0"].energy_j == 60
    assert acc.totals["cpu:package-0"].attributed_j == pytest.approx(40 * 0.25 + 20 * 1.0)
    assert acc.totals["gpu:0"].attributed_j == pytest.approx(300)
    # A share computed over the whole run would give 60 x 3/6 = 30 J, not 30 J by chance:
    assert acc.tree_cpu_s == 3 and acc.machine_busy_s == 6
    # psys is accounted but not part of the power total: peak = (40+100)/1 vs (20+300)/1
    assert acc.peak_power_w == pytest.approx(320)


def test_counter_going_backwards_never_gives_negative_energy() -> None:
    acc = Accumulator([CPU], Timeline(1.0, 8), interval_s=1.0)
    acc.add(Snapshot(0.0, {"cpu:package-0": 10}))
    acc.add(Snapshot(1.0, {"cpu:package-0": 5}))
    assert acc.totals["cpu:package-0"].energy_j == 0


def test_short_final_interval_counts_for_energy_but_not_for_peak() -> None:
    acc = Accumulator([CPU], Timeline(0.1, 8), interval_s=0.1)
    acc.add(Snapshot(0.0, {"cpu:package-0": 0}))
    acc.add(Snapshot(0.1, {"cpu:package-0": 1.0}))  # 10 W
    acc.add(Snapshot(0.101, {"cpu:package-0": 1.1}))  # 100 W over 1 ms: noise
    assert acc.totals["cpu:package-0"].energy_j == pytest.approx(1.1)
    assert acc.peak_power_w == pytest.approx(10)


def test_timeline_stays_bounded_over_24_hours_at_10_hz_and_keeps_every_joule() -> None:
    """Fast-forward: 864,000 intervals of 0.1 s, as a day at the default rate."""
    timeline = Timeline(0.1, max_points=256)
    energy = {"cpu:package-0": 5.0}  # 50 W
    for i in range(864_000):
        timeline.add(i * 0.1, 0.1, energy, 50.0 + (i % 10))
    buckets = timeline.buckets
    assert len(buckets) <= 256
    assert sum(b.energy_j["cpu:package-0"] for b in buckets) == pytest.approx(864_000 * 5.0)
    assert sum(b.duration_s for b in buckets) == pytest.approx(86_400.0)
    assert max(b.peak_power_w for b in buckets) == 59.0
    assert buckets[0].power_w() == pytest.approx(50.0)


def test_timeline_rejects_odd_sizes() -> None:
    with pytest.raises(ValueError):
        Timeline(0.1, max_points=7)
