from __future__ import annotations

import pytest
from aicarbon.measurement.accounting import Accumulator, Snapshot
from aicarbon.measurement.attribution import cpu_share
from aicarbon.measurement.timeline import Timeline
from aicarbon.sensors.base import Domain, DomainKind, Method

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
    # not 100 W; and never below the run's average power (1.1 J in 0.101 s)
    assert acc.peak_power_w == pytest.approx(1.1 / 0.101)


def test_a_run_shorter_than_one_interval_has_a_peak_not_zero() -> None:
    acc = Accumulator([CPU], Timeline(0.1, 8), interval_s=0.1)
    acc.add(Snapshot(0.0, {"cpu:package-0": 0}))
    acc.add(Snapshot(0.02, {"cpu:package-0": 0.5}))  # 25 W over 20 ms, the whole run
    assert acc.peak_power_w == pytest.approx(25)


def test_late_tree_cpu_time_is_carried_not_clamped_away() -> None:
    """The tree's 2 CPU-s of the first interval reach aicarbon only in the second (a parent
    reaped its children): per-interval clamping would charge 50% of the energy, not 100%."""
    acc = Accumulator([CPU], Timeline(1.0, 8), interval_s=1.0)
    acc.add(Snapshot(0.0, {"cpu:package-0": 0}, tree_cpu_s=0, machine_busy_s=0))
    acc.add(Snapshot(1.0, {"cpu:package-0": 30}, tree_cpu_s=0, machine_busy_s=2))
    acc.add(Snapshot(2.0, {"cpu:package-0": 60}, tree_cpu_s=4, machine_busy_s=4))
    acc.finish()
    assert acc.totals["cpu:package-0"].attributed_j == pytest.approx(60)


def test_carried_time_fills_spare_busy_time_and_the_rest_is_charged_at_the_end() -> None:
    acc = Accumulator([CPU], Timeline(1.0, 8), interval_s=1.0)
    acc.add(Snapshot(0.0, {"cpu:package-0": 0}, tree_cpu_s=0, machine_busy_s=0))
    # 3 tree CPU-s arrive in an interval with only 1 busy CPU-s: 2 are carried
    acc.add(Snapshot(1.0, {"cpu:package-0": 10}, tree_cpu_s=3, machine_busy_s=1))
    # the next interval: 4 busy CPU-s, 1 of them the tree's own: 1 + 2 carried = 3 of 4
    acc.add(Snapshot(2.0, {"cpu:package-0": 40}, tree_cpu_s=4, machine_busy_s=5))
    assert acc.totals["cpu:package-0"].attributed_j == pytest.approx(10 + 30 * 3 / 4)
    acc.finish()  # nothing left to carry: no change
    assert acc.totals["cpu:package-0"].attributed_j == pytest.approx(10 + 30 * 3 / 4)
    # tree time arrives after the busy time it was spent in: charged at the run's rate, capped
    acc = Accumulator([CPU], Timeline(1.0, 8), interval_s=1.0)
    acc.add(Snapshot(0.0, {"cpu:package-0": 0}, tree_cpu_s=0, machine_busy_s=0))
    acc.add(Snapshot(1.0, {"cpu:package-0": 20}, tree_cpu_s=0.5, machine_busy_s=2))
    acc.add(Snapshot(2.0, {"cpu:package-0": 40}, tree_cpu_s=2.5, machine_busy_s=2))  # +2 s, 0 busy
    assert acc.totals["cpu:package-0"].attributed_j == pytest.approx(20 * 0.25)
    acc.finish()
    # 2 carried CPU-s at 40 J per 2 busy CPU-s would add 40 J: capped at the domain's 40 J
    assert acc.totals["cpu:package-0"].attributed_j == pytest.approx(40)


def test_gpu_energy_nobody_owns_goes_to_its_users_by_time() -> None:
    gpu1 = Domain("gpu:1", DomainKind.GPU, Method.MEASURED, "nvml", "GPU 1")
    gpu2 = Domain("gpu:2", DomainKind.GPU, Method.MEASURED, "nvml", "GPU 2")
    acc = Accumulator([GPU, gpu1, gpu2], Timeline(1.0, 8), interval_s=1.0)
    e = {"gpu:0": 0, "gpu:1": 0, "gpu:2": 0}
    acc.add(Snapshot(0.0, dict(e)))
    # 1 s with no context anywhere (the command is starting CUDA): 50 J on each GPU
    acc.add(Snapshot(1.0, {k: 50 for k in e}))
    # 2 s: the tree alone on gpu:0; gpu:1 the tree for 1 s and another process for 1 s
    acc.add(Snapshot(2.0, {k: 150 for k in e}, gpus_in_use=frozenset({"gpu:0", "gpu:1"})))
    acc.add(
        Snapshot(
            3.0,
            {k: 250 for k in e},
            gpus_in_use=frozenset({"gpu:0"}),
            gpus_used_by_others=frozenset({"gpu:1"}),
        )
    )
    acc.add(
        Snapshot(
            4.0,
            {k: 350 for k in e},
            gpus_in_use=frozenset({"gpu:0"}),
            gpus_used_by_others=frozenset({"gpu:1"}),
        )
    )
    acc.finish()
    assert acc.totals["gpu:0"].attributed_j == pytest.approx(350)  # alone: all of it
    # gpu:1: 2 s in the tree's use (the transition interval counts for the tree), 1 s others'
    assert acc.totals["gpu:1"].attributed_j == pytest.approx(200 + 50 * 2 / 3)
    assert acc.totals["gpu:2"].attributed_j == 0  # never touched by the tree


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


def test_a_fast_start_extrapolates_the_gap_and_attributes_it_with_its_own_cpu_share() -> None:
    """The command started at t=10 (Start), the sensors' first reading came at 10.05: the run
    lasts from 10, the gap's energy is the first interval's power times 0.05 s, attributed with
    the gap's exact CPU share (the tree's 0.01 s of the machine's 0.02 busy seconds), and kept
    in the timeline like the rest."""
    from aicarbon.measurement.start import Start

    acc = Accumulator(
        [CPU, GPU], Timeline(0.1, 256), 0.1, Start(10.0, "2026-12-07T10:00:00.000Z", 100.0, 0.0)
    )
    acc.add(Snapshot(10.05, {"cpu:package-0": 1000.0, "gpu:0": 50.0}, tree_cpu_s=0.01, machine_busy_s=100.02))
    acc.add(
        Snapshot(
            10.15,
            {"cpu:package-0": 1002.0, "gpu:0": 60.0},
            tree_cpu_s=0.06,
            machine_busy_s=100.12,
            gpus_in_use=frozenset({"gpu:0"}),
        )
    )
    acc.finish()
    assert acc.duration_s == pytest.approx(0.15) and acc.extrapolated_s == pytest.approx(0.05)
    cpu, gpu = acc.totals["cpu:package-0"], acc.totals["gpu:0"]
    # 20 W over the first interval: 1 J more for the gap; the tree had half the gap's busy time.
    assert cpu.energy_j == pytest.approx(2.0 + 1.0)
    assert cpu.attributed_j == pytest.approx(2.0 * 0.5 + 1.0 * 0.5)
    # 100 W on the GPU, in use by the tree in the first interval: so in the gap too.
    assert gpu.energy_j == pytest.approx(10.0 + 5.0) and gpu.attributed_j == pytest.approx(15.0)
    assert acc.tree_cpu_s == pytest.approx(0.06) and acc.machine_busy_s == pytest.approx(0.12)
    (bucket,) = acc.timeline.buckets
    assert bucket.start_s == 0.0 and bucket.duration_s == pytest.approx(0.15)
    assert bucket.energy_j["cpu:package-0"] == pytest.approx(3.0)
