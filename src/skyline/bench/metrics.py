"""Benchmark metrics with the unit in every name, a registry of their direction, and leaderboards.

Each function takes plain numbers so a test can check it on a hand-computed case; the registry
(`METRICS`) says for each name its unit, whether lower is better, and whether the value comes
from wall-clock timing (so reruns from one seed may differ only in those).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skyline._registry import Registry
from skyline.errors import ConfigError
from skyline.topology import PowerModel

Labels = Sequence[int] | np.ndarray  # binary, 1 = positive (an anomaly)


@dataclass(frozen=True)
class Metric:
    """What a metric name means: its unit, which way is better, and if it is derived from timing."""

    name: str
    unit: str
    lower_is_better: bool
    timing: bool
    description: str


METRICS: Registry[Metric] = Registry("metric")


def _metric(name: str, unit: str, *, lower: bool, timing: bool, description: str) -> None:
    METRICS.register(name, Metric(name, unit, lower, timing, description))


_metric("latency_p50_ms", "ms", lower=True, timing=True, description="median latency")
_metric("latency_p95_ms", "ms", lower=True, timing=True, description="95th-percentile latency")
_metric(
    "deadline_miss_rate", "fraction", lower=True, timing=True, description="share over deadline"
)
_metric("throughput_rps", "1/s", lower=False, timing=True, description="completed per second")
_metric("bytes_up", "bytes", lower=True, timing=False, description="bytes sent toward the cloud")
_metric("bytes_down", "bytes", lower=True, timing=False, description="bytes sent from the cloud")
_metric("energy_j", "J", lower=True, timing=True, description="energy from a power model")
_metric("accuracy", "fraction", lower=False, timing=False, description="share correct")
_metric("precision", "fraction", lower=False, timing=False, description="TP / (TP + FP)")
_metric("recall", "fraction", lower=False, timing=False, description="TP / (TP + FN)")
_metric("f1", "fraction", lower=False, timing=False, description="harmonic mean of P and R")
_metric(
    "detection_delay_ms",
    "ms",
    lower=True,
    timing=False,
    description="mean time from an event's onset to its first alarm (detected events)",
)
_metric(
    "event_recall", "fraction", lower=False, timing=False, description="share of events alarmed"
)
_metric("retrain_time_s", "s", lower=True, timing=True, description="wall time of retraining")
_metric("model_swaps", "count", lower=True, timing=False, description="models shipped (bytes_down)")
_metric(
    "top1_accuracy",
    "fraction",
    lower=False,
    timing=False,
    description="share of samples whose predicted class is the label (any number of classes)",
)
_metric(
    "exit_rate",
    "fraction",
    lower=False,
    timing=False,
    description="share of samples answered at an early exit (less compute)",
)

_metric(
    "epsilon",
    "epsilon",
    lower=True,
    timing=False,
    description="(epsilon, delta)-DP privacy-loss bound from an accountant, at the stated delta",
)
_metric(
    "bytes_device_edge",
    "bytes",
    lower=True,
    timing=False,
    description="bytes over device-edge links, both directions",
)
_metric(
    "bytes_edge_cloud",
    "bytes",
    lower=True,
    timing=False,
    description="bytes over edge-cloud links, both directions",
)
_metric(
    "comm_time_s",
    "s",
    lower=True,
    timing=False,
    description="transfer time predicted from link specs, summed over rounds",
)


def _values(values: Iterable[float], what: str) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        raise ConfigError(f"{what} of no values", fix="pass at least one value")
    return arr


def latency_p50_ms(latencies_ms: Iterable[float]) -> float:
    """Median latency (linear interpolation between samples, as numpy)."""
    return float(np.percentile(_values(latencies_ms, "latency_p50_ms"), 50))


def latency_p95_ms(latencies_ms: Iterable[float]) -> float:
    """95th-percentile latency (linear interpolation between samples, as numpy)."""
    return float(np.percentile(_values(latencies_ms, "latency_p95_ms"), 95))


def deadline_miss_rate(latencies_ms: Iterable[float], deadline_ms: float) -> float:
    """Share of requests that finished strictly after their deadline."""
    return float(np.mean(_values(latencies_ms, "deadline_miss_rate") > deadline_ms))


def throughput_rps(completed: int, duration_s: float) -> float:
    """Completed requests per second of wall time."""
    if duration_s <= 0:
        raise ConfigError(f"throughput over {duration_s} s", fix="pass a duration > 0")
    return completed / duration_s


def bytes_up(message_bytes: Iterable[float]) -> int:
    """Total bytes of the messages sent up (edge to cloud)."""
    return int(sum(message_bytes))


def comm_time_s(round_s: Iterable[float]) -> float:
    """Communication time of a run whose rounds transfer one after another: the sum of each
    round's (predicted) transfer time."""
    return float(np.sum(_values(round_s, "comm_time_s")))


def energy_j(
    power: PowerModel, *, busy_s: float, idle_s: float, tx_bytes: float = 0, rx_bytes: float = 0
) -> float:
    """Energy by a node's power model: active and idle power over time, radio energy per bit."""
    return (
        power.active_w * busy_s
        + power.idle_w * idle_s
        + 8 * (power.tx_j_per_bit * tx_bytes + power.rx_j_per_bit * rx_bytes)
    )


def top1_accuracy(labels: Labels, predicted: Labels) -> float:
    """Share of samples whose predicted class equals the label, for any number of classes."""
    y, p = np.asarray(labels), np.asarray(predicted)
    if y.shape != p.shape or y.size == 0:
        raise ConfigError(
            f"{y.size} labels vs {p.size} predictions", fix="pass equal, non-empty sequences"
        )
    return float(np.mean(y == p))


def exit_rate(exits: Iterable[float], final_exit: int) -> float:
    """Share of samples that left at an exit numbered below `final_exit` (exits count from 0)."""
    return float(np.mean(_values(exits, "exit_rate") < final_exit))


def _confusion(y_true: Labels, y_pred: Labels) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) for binary labels, 1 = positive (an anomaly)."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if t.shape != p.shape or t.size == 0:
        raise ConfigError(
            f"{t.size} labels vs {p.size} predictions", fix="pass equal, non-empty sequences"
        )
    return int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p)), int(np.sum(~t & ~p))


def accuracy(y_true: Labels, y_pred: Labels) -> float:
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    return (tp + tn) / (tp + fp + fn + tn)


def precision(y_true: Labels, y_pred: Labels) -> float:
    """TP / (TP + FP); 0 when nothing was predicted positive (no correct alarm was raised)."""
    tp, fp, _, _ = _confusion(y_true, y_pred)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y_true: Labels, y_pred: Labels) -> float:
    """TP / (TP + FN); NaN when there is no positive to find."""
    tp, _, fn, _ = _confusion(y_true, y_pred)
    return tp / (tp + fn) if tp + fn else math.nan


def f1(y_true: Labels, y_pred: Labels) -> float:
    """2TP / (2TP + FP + FN); NaN when there is neither a positive nor an alarm."""
    tp, fp, fn, _ = _confusion(y_true, y_pred)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan


def _detections(
    events_ms: Sequence[tuple[float, float]], alarms_ms: Iterable[float]
) -> list[float | None]:
    """Per event (onset, end): delay from onset to the first alarm in [onset, end], or None."""
    alarms = np.sort(np.asarray(list(alarms_ms), dtype=float))
    out: list[float | None] = []
    for onset, end in events_ms:
        i = int(np.searchsorted(alarms, onset))
        out.append(float(alarms[i] - onset) if i < alarms.size and alarms[i] <= end else None)
    return out


def detection_delay_ms(
    events_ms: Sequence[tuple[float, float]], alarms_ms: Iterable[float]
) -> float:
    """Mean delay from each event's onset to its first alarm inside the event, over detected
    events (NaN if none was detected; `event_recall` says how many were)."""
    found = [d for d in _detections(events_ms, alarms_ms) if d is not None]
    return float(np.mean(found)) if found else math.nan


def event_recall(events_ms: Sequence[tuple[float, float]], alarms_ms: Iterable[float]) -> float:
    """Share of events with at least one alarm inside them (NaN without events)."""
    found = _detections(events_ms, alarms_ms)
    return sum(d is not None for d in found) / len(found) if found else math.nan


def metric_key(metric: str, phase: str | None = None) -> str:
    """Column name of a metric, optionally restricted to a phase: `f1@after-retrain`."""
    return f"{metric}@{phase}" if phase else metric


def split_key(key: str) -> tuple[Metric, str | None]:
    """(registered metric, phase or None) of a column name; unknown metrics are refused."""
    name, _, phase = key.partition("@")
    return METRICS.get(name), phase or None


def leaderboard(
    scores: Mapping[str, Mapping[str, float]], key: str
) -> list[tuple[str, Mapping[str, float]]]:
    """Entries (name -> {column: value}) best first by column `key`, in its metric's direction;
    entries without a finite value for `key` come last, ties keep name order."""
    metric, _ = split_key(key)
    sign = 1.0 if metric.lower_is_better else -1.0

    def order(item: tuple[str, Mapping[str, Any]]) -> tuple[bool, float, str]:
        value = item[1].get(key, math.nan)
        finite = isinstance(value, int | float) and math.isfinite(value)
        return (not finite, sign * value if finite else 0.0, item[0])

    return sorted(scores.items(), key=order)


def pareto_front(points: Mapping[str, tuple[float, float]], x_key: str, y_key: str) -> list[str]:
    """Names whose (x, y) no other point dominates (as good on both axes, better on one), each
    axis in its metric's direction; points with a non-finite coordinate are left out. Sorted by
    x, best first."""
    signs = [1.0 if split_key(k)[0].lower_is_better else -1.0 for k in (x_key, y_key)]
    costs = {
        name: (signs[0] * x, signs[1] * y)
        for name, (x, y) in points.items()
        if math.isfinite(x) and math.isfinite(y)
    }

    def dominated(c: tuple[float, float]) -> bool:
        return any(o[0] <= c[0] and o[1] <= c[1] and o != c for o in costs.values())

    return sorted((n for n, c in costs.items() if not dominated(c)), key=lambda n: costs[n])
