"""Task arrivals, generated window by window for all devices at once (numpy, bounded memory).

Both engines pull the same windows from the same seeded stream, so for one scenario, seed and
replication they see exactly the same tasks: same times, devices, types and work draws.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from skyline.sim.spec import Bursty, Poisson, Scenario, Trace


@dataclass(frozen=True)
class Arrivals:
    """Tasks arriving in one window, sorted by time."""

    time_s: np.ndarray
    device: np.ndarray
    task_type: np.ndarray
    work: np.ndarray
    """Compute multiplier: 1 for fixed service, an Exp(1) draw for exponential service."""

    def __len__(self) -> int:
        return len(self.time_s)

    def take(self, index: np.ndarray | slice) -> Arrivals:
        return Arrivals(
            self.time_s[index], self.device[index], self.task_type[index], self.work[index]
        )


class _Source(ABC):
    """Arrivals of one device group: (times, device index within the group)."""

    def __init__(self, count: int, rng: np.random.Generator) -> None:
        self.count = count
        self.rng = rng

    @abstractmethod
    def window(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Arrivals in [t0, t1), in any order."""


class _PoissonSource(_Source):
    def __init__(self, spec: Poisson, count: int, rng: np.random.Generator) -> None:
        super().__init__(count, rng)
        self.rate_hz = spec.rate_hz

    def window(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        n = self.rng.poisson(self.rate_hz * (t1 - t0), size=self.count)
        device = np.repeat(np.arange(self.count), n)
        return t0 + self.rng.random(len(device)) * (t1 - t0), device


class _BurstySource(_Source):
    """Each device switches on/off after exponential sojourns; starts in the stationary mix."""

    def __init__(self, spec: Bursty, count: int, rng: np.random.Generator) -> None:
        super().__init__(count, rng)
        self.spec = spec
        p_on = spec.mean_on_s / (spec.mean_on_s + spec.mean_off_s)
        self.on = rng.random(count) < p_on
        self.switch_s = rng.exponential(self._sojourn(self.on))

    def _sojourn(self, on: np.ndarray) -> np.ndarray:
        return np.where(on, self.spec.mean_on_s, self.spec.mean_off_s)

    def window(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        times, devices = [], []
        now = np.full(self.count, t0)
        todo = np.arange(self.count)
        while todo.size:
            end = np.minimum(self.switch_s[todo], t1)
            rate = np.where(self.on[todo], self.spec.on_rate_hz, self.spec.off_rate_hz)
            n = self.rng.poisson(rate * (end - now[todo]))
            dev = np.repeat(todo, n)
            start, length = np.repeat(now[todo], n), np.repeat(end - now[todo], n)
            times.append(start + self.rng.random(len(dev)) * length)
            devices.append(dev)
            now[todo] = end
            flip = todo[self.switch_s[todo] < t1]
            self.on[flip] = ~self.on[flip]
            self.switch_s[flip] += self.rng.exponential(self._sojourn(self.on[flip]))
            todo = flip
        return np.concatenate(times), np.concatenate(devices)


class _TraceSource(_Source):
    def __init__(self, spec: Trace, count: int, rng: np.random.Generator) -> None:
        super().__init__(count, rng)
        self.times = np.asarray(spec.times_s, dtype=float)
        given = spec.devices
        self.devices = (
            np.asarray(given, dtype=np.int64)
            if given is not None
            else rng.integers(0, count, size=len(self.times))
        )

    def window(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.searchsorted(self.times, [t0, t1], side="left")
        return self.times[lo:hi], self.devices[lo:hi]


def _source(spec: Poisson | Bursty | Trace, count: int, rng: np.random.Generator) -> _Source:
    if isinstance(spec, Poisson):
        return _PoissonSource(spec, count, rng)
    if isinstance(spec, Bursty):
        return _BurstySource(spec, count, rng)
    return _TraceSource(spec, count, rng)


class ArrivalStream:
    """All devices' arrivals in [0, duration_s), one window at a time, task types mixed in."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        self.rng = rng
        self.duration_s = scenario.duration_s
        self.sources: list[tuple[int, _Source]] = []
        first = 0
        for group in scenario.devices:
            spec = scenario.workload_of(group)
            self.sources.append((first, _source(spec, group.count, rng)))
            first += group.count
        weights = np.array([t.weight for t in scenario.tasks])
        self.type_p = weights / weights.sum()
        self.exp_service = np.array([t.service == "exp" for t in scenario.tasks])

    def window(self, t0: float, t1: float) -> Arrivals:
        t1 = min(t1, self.duration_s)
        parts = [src.window(t0, t1) for _, src in self.sources]
        time_s = np.concatenate([times for times, _ in parts])
        device = np.concatenate([first + dev for (first, _), (_, dev) in zip(self.sources, parts)])
        order = np.argsort(time_s, kind="stable")
        n = len(order)
        task_type = self.rng.choice(len(self.type_p), size=n, p=self.type_p)
        draws = self.rng.exponential(1.0, size=n)
        work = np.where(self.exp_service[task_type], draws, 1.0)
        return Arrivals(time_s[order], device[order].astype(np.int64), task_type, work)
