"""Every benchmark metric on a case computed by hand, the direction registry, and leaderboards."""

import math

import pytest

from skyline.bench import metrics as m
from skyline.errors import ConfigError, UnknownNameError
from skyline.topology import PowerModel

LAT = [10.0, 20.0, 30.0, 40.0]


def test_latency_percentiles_interpolate_between_samples():
    # p50: rank 0.5 * 3 = 1.5 -> halfway 20..30; p95: rank 2.85 -> 30 + 0.85 * 10
    assert m.latency_p50_ms(LAT) == pytest.approx(25.0)
    assert m.latency_p95_ms(LAT) == pytest.approx(38.5)
    with pytest.raises(ConfigError, match="no values"):
        m.latency_p95_ms([])


def test_deadline_miss_rate_counts_strictly_late():
    assert m.deadline_miss_rate(LAT, 20.0) == pytest.approx(0.5)  # 30, 40 late; 20 on time
    assert m.deadline_miss_rate(LAT, 5.0) == 1.0


def test_throughput_and_bytes():
    assert m.throughput_rps(30, 1.5) == pytest.approx(20.0)
    with pytest.raises(ConfigError, match="duration"):
        m.throughput_rps(1, 0.0)
    assert m.bytes_up([1024, 1024, 512]) == 2560


def test_comm_time_sums_rounds_in_sequence():
    # three rounds transferring 0.5 s, 0.25 s and 1.25 s one after another
    assert m.comm_time_s([0.5, 0.25, 1.25]) == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="no values"):
        m.comm_time_s([])


def test_energy_from_power_model():
    power = PowerModel(idle_w=2.0, active_w=5.0, tx_j_per_bit=1e-6, rx_j_per_bit=5e-7)
    # 5 W * 2 s + 2 W * 3 s + 1000 B * 8 * 1e-6 + 2000 B * 8 * 5e-7 = 10 + 6 + 0.008 + 0.008
    got = m.energy_j(power, busy_s=2.0, idle_s=3.0, tx_bytes=1000, rx_bytes=2000)
    assert got == pytest.approx(16.016)


TRUE = [1, 1, 1, 0, 0, 0, 0, 1]
PRED = [1, 1, 0, 1, 0, 0, 0, 0]  # TP 2, FN 2, FP 1, TN 3


def test_classification_metrics():
    assert m.accuracy(TRUE, PRED) == pytest.approx(5 / 8)
    assert m.precision(TRUE, PRED) == pytest.approx(2 / 3)
    assert m.recall(TRUE, PRED) == pytest.approx(2 / 4)
    assert m.f1(TRUE, PRED) == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))  # 4/7


def test_classification_edge_cases():
    assert m.precision([1, 0], [0, 0]) == 0.0  # no alarm raised
    assert math.isnan(m.recall([0, 0], [1, 0]))  # nothing to find
    assert math.isnan(m.f1([0, 0], [0, 0]))
    with pytest.raises(ConfigError, match="equal"):
        m.accuracy([1, 0], [1])


def test_detection_delay_and_event_recall():
    events = [(100.0, 200.0), (500.0, 600.0), (900.0, 950.0)]
    alarms = [50.0, 130.0, 150.0, 560.0, 700.0]  # 50 before, 700 between: not counted
    # event 1: first alarm 130 -> 30 ms; event 2: 560 -> 60 ms; event 3: none
    assert m.detection_delay_ms(events, alarms) == pytest.approx(45.0)
    assert m.event_recall(events, alarms) == pytest.approx(2 / 3)
    assert math.isnan(m.detection_delay_ms(events, []))
    assert math.isnan(m.event_recall([], alarms))


def test_top1_accuracy_over_many_classes():
    # classes 0..3; right at positions 0, 2, 3 of 5
    assert m.top1_accuracy([0, 1, 2, 3, 3], [0, 2, 2, 3, 1]) == pytest.approx(3 / 5)
    with pytest.raises(ConfigError, match="equal"):
        m.top1_accuracy([1, 2], [1])


def test_exit_rate_counts_exits_before_the_final():
    # final exit is 2: exits 0 and 1 are early, so 3 of 5 samples left early
    assert m.exit_rate([0, 2, 1, 2, 0], 2) == pytest.approx(3 / 5)
    assert m.exit_rate([2, 2], 2) == 0.0
    with pytest.raises(ConfigError, match="no values"):
        m.exit_rate([], 2)


def test_registry_directions():
    lower = {"latency_p50_ms", "latency_p95_ms", "deadline_miss_rate", "bytes_up", "energy_j"}
    higher = {"accuracy", "precision", "recall", "f1", "throughput_rps", "event_recall"}
    higher |= {"top1_accuracy", "exit_rate"}
    assert all(m.METRICS.get(n).lower_is_better for n in lower)
    assert not any(m.METRICS.get(n).lower_is_better for n in higher)
    assert m.METRICS.get("latency_p95_ms").timing and not m.METRICS.get("f1").timing
    assert m.METRICS.get("energy_j").unit == "J" and m.METRICS.get("bytes_up").unit == "bytes"


def test_fl_metrics_registered_lower_is_better_and_not_timing():
    units = {
        "epsilon": "epsilon",
        "bytes_device_edge": "bytes",
        "bytes_edge_cloud": "bytes",
        "comm_time_s": "s",
    }
    for name, unit in units.items():
        spec = m.METRICS.get(name)
        assert spec.unit == unit and spec.lower_is_better and not spec.timing, name
    # a smaller epsilon is a stronger guarantee: it ranks first, a run without DP last
    scores = {"z1": {"epsilon": 20.5}, "z4": {"epsilon": 3.1}, "none": {}}
    assert [n for n, _ in m.leaderboard(scores, "epsilon")] == ["z4", "z1", "none"]


def test_metric_keys():
    assert m.metric_key("f1", "after-drift") == "f1@after-drift"
    assert m.metric_key("f1") == "f1"
    metric, phase = m.split_key("f1@after-drift")
    assert metric.name == "f1" and phase == "after-drift"
    with pytest.raises(UnknownNameError, match="latency_p50_ms"):  # fix lists the names
        m.split_key("latency_ms")


SCORES = {
    "b": {"latency_p95_ms": 30.0, "f1": 0.7},
    "a": {"latency_p95_ms": 12.0, "f1": 0.9},
    "c": {"latency_p95_ms": 12.0, "f1": math.nan},
    "d": {"f1": 0.8},
}


def test_leaderboard_lower_is_better_ascends_missing_last_ties_by_name():
    ranked = [name for name, _ in m.leaderboard(SCORES, "latency_p95_ms")]
    assert ranked == ["a", "c", "b", "d"]


def test_leaderboard_higher_is_better_descends_nan_last():
    assert [name for name, _ in m.leaderboard(SCORES, "f1")] == ["a", "d", "b", "c"]


def test_leaderboard_by_phase_key():
    scores = {"x": {"detection_delay_ms@late": 80.0}, "y": {"detection_delay_ms@late": 20.0}}
    assert [n for n, _ in m.leaderboard(scores, "detection_delay_ms@late")] == ["y", "x"]


def test_pareto_front_in_each_axis_direction():
    # x: bytes_up (lower better), y: f1 (higher better)
    points = {
        "edge": (0.0, 0.3),  # cheapest: on the front
        "retrain": (500.0, 0.9),  # best f1: on the front
        "cloud": (2000.0, 0.3),  # dominated by edge (same f1, more bytes) and by retrain
        "mid": (600.0, 0.5),  # dominated by retrain (fewer bytes, higher f1)
        "broken": (math.nan, 1.0),  # left out
    }
    assert m.pareto_front(points, "bytes_up", "f1") == ["edge", "retrain"]
    # both lower-is-better: (latency, bytes)
    both = {"a": (1.0, 5.0), "b": (2.0, 2.0), "c": (2.0, 3.0), "d": (1.0, 5.0)}
    assert m.pareto_front(both, "latency_p95_ms", "bytes_up") == ["a", "d", "b"]
