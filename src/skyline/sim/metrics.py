"""Streamed metrics: memory bounded by devices and servers, never by the number of tasks.

Latency percentiles come from a log-spaced histogram (100 bins per decade from 1 µs: a value is
known within ±1.2 %); means, maxima, counts and deadline misses are exact. Per-task records go
to a JSONL file only when asked for.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from skyline.sim.world import World


class LatencyHistogram:
    """Counts of latencies (s) in log-spaced bins; mergeable, with quantiles and a CDF."""

    LOW_S = 1e-6
    PER_DECADE = 100
    DECADES = 11  # up to 1e5 s

    def __init__(self) -> None:
        # bin 0: below LOW_S (zero included); last bin: above the top
        self.counts = np.zeros(self.DECADES * self.PER_DECADE + 2, dtype=np.int64)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def add(self, latency_s: np.ndarray) -> None:
        with np.errstate(divide="ignore"):
            pos = np.log10(np.maximum(latency_s, 0.0) / self.LOW_S) * self.PER_DECADE
        index = np.clip(np.floor(pos), -1, len(self.counts) - 2).astype(np.int64) + 1
        self.counts += np.bincount(index, minlength=len(self.counts))

    def merge(self, other: LatencyHistogram) -> None:
        self.counts += other.counts

    def _center_s(self, index: np.ndarray) -> np.ndarray:
        """Geometric center of each bin (0 for the underflow bin)."""
        center = self.LOW_S * 10 ** ((index - 0.5) / self.PER_DECADE)
        return np.where(index == 0, 0.0, center)

    def quantile(self, q: float) -> float:
        """The q-quantile (nearest rank), s; nan when empty."""
        total = self.total
        if total == 0:
            return math.nan
        rank = max(1, math.ceil(q * total))
        index = int(np.searchsorted(np.cumsum(self.counts), rank))
        return float(self._center_s(np.array([index]))[0])

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """(latency s at each occupied bin's center, fraction of tasks at or below it)."""
        occupied = np.flatnonzero(self.counts)
        fraction = np.cumsum(self.counts)[occupied] / max(self.total, 1)
        return self._center_s(occupied), fraction


@dataclass
class Recorder:
    """Accumulates one replication's metrics as tasks finish (vectorized, bounded memory)."""

    world: World
    warmup_s: float
    replication: int = 0
    records: TextIO | None = None
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)

    def __post_init__(self) -> None:
        w = self.world
        self.tasks = 0
        self.latency_sum_s = 0.0
        self.latency_max_s = 0.0
        self.missed = 0
        self.accuracy_sum = 0.0
        self.bytes_up = 0.0
        self.per_target = np.zeros(len(w.targets), dtype=np.int64)
        self.radio_j = np.zeros(w.n_devices)

    def decided(self, device: np.ndarray, task_type: np.ndarray, target: np.ndarray) -> None:
        """Charge the device radio energy of the tasks just sent away (all of them, warm-up too)."""
        away = target != 0
        np.add.at(self.radio_j, device[away], self.world.radio_j(device[away], task_type[away]))

    def add(
        self,
        device: np.ndarray,
        task_type: np.ndarray,
        target: np.ndarray,
        arrival_s: np.ndarray,
        finish_s: np.ndarray,
    ) -> None:
        """Finished tasks; those that arrived during the warm-up are not measured."""
        keep = arrival_s >= self.warmup_s
        if not keep.all():
            device, task_type, target = device[keep], task_type[keep], target[keep]
            arrival_s, finish_s = arrival_s[keep], finish_s[keep]
        if len(device) == 0:
            return
        w = self.world
        latency = finish_s - arrival_s
        missed = latency > w.deadline_s[task_type]
        self.tasks += len(latency)
        self.latency_sum_s += float(latency.sum())
        self.latency_max_s = max(self.latency_max_s, float(latency.max()))
        self.missed += int(missed.sum())
        self.accuracy_sum += float(w.accuracy[task_type, target].sum())
        self.bytes_up += float(w.in_bytes[task_type][target != 0].sum())
        self.per_target += np.bincount(target, minlength=len(self.per_target))
        self.histogram.add(latency)
        if self.records is not None:
            for row in zip(
                device.tolist(),
                task_type.tolist(),
                target.tolist(),
                arrival_s.tolist(),
                latency.tolist(),
                missed.tolist(),
                strict=True,
            ):
                self._record(*row)

    def _record(
        self, device: int, task_type: int, target: int, arrival: float, latency: float, miss: bool
    ) -> None:
        w = self.world
        assert self.records is not None
        row = {
            "replication": self.replication,
            "device": w.device_names[device],
            "task": w.scenario.tasks[task_type].name,
            "target": w.targets[target],
            "arrival_s": arrival,
            "latency_ms": latency * 1e3,
            "missed": miss,
        }
        self.records.write(json.dumps(row) + "\n")

    def summary(self, busy_s: np.ndarray, horizon_s: float, events: int) -> dict[str, Any]:
        """Metrics of the run, units in the names.

        Utilization is offered load: service given to tasks that arrived in [0, duration) per
        core-second of the duration (above 1 = overloaded; draining time does not dilute it).
        Device energy is idle power over the whole horizon (until the last task finished),
        plus active power above idle while computing, plus radio energy per byte.
        """
        w = self.world
        n = max(self.tasks, 1)
        cpu = busy_s[w.CPU : w.CPU + w.n_devices]
        energy = w.idle_w * horizon_s + w.extra_w * cpu + self.radio_j
        cores = w.lanes * w.scenario.duration_s
        link = w.ACC_UP + int(np.argmax(busy_s[w.ACC_UP :]))
        return {
            "tasks": self.tasks,
            "mean_latency_ms": self.latency_sum_s / n * 1e3 if self.tasks else math.nan,
            "p50_latency_ms": self.histogram.quantile(0.50) * 1e3,
            "p95_latency_ms": self.histogram.quantile(0.95) * 1e3,
            "p99_latency_ms": self.histogram.quantile(0.99) * 1e3,
            "max_latency_ms": self.latency_max_s * 1e3,
            "deadline_miss_rate": self.missed / n,
            "mean_accuracy": self.accuracy_sum / n,
            "bytes_up": self.bytes_up,
            "device_energy_j_mean": float(energy.mean()),
            "device_energy_j_max": float(energy.max()),
            "device_utilization_mean": float(cpu.sum() / cores[: w.n_devices].sum()),
            "utilization": {
                name: float(busy_s[r] / cores[r]) for r, name in w.server_names.items()
            },
            "busiest_link": w.resource_name(link),
            "busiest_link_utilization": float(busy_s[link] / cores[link]),
            "placement": {
                name: int(count) / n for name, count in zip(w.targets, self.per_target.tolist())
            },
            "events": events,
            "horizon_s": horizon_s,
        }
