"""Drift at the edge: notice that the inputs no longer look like the training data, and keep
the samples the model is least sure of, so the cloud can fine-tune on them.

`DriftMonitor` watches a sliding window of two things the edge has for free on every request:
the model's top-1 probability (a drop means the model is lost) and a small summary of the
input (a shift means the world changed, even where the model stays confidently wrong). Each
window statistic is compared with a threshold calibrated on clean held-out samples so that a
clean stream of a given length raises a false alarm with a chosen probability: "how often does
it cry wolf" is a parameter, not a guess. `HardExamples` keeps the least confident samples
in bounded memory.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from skyline.errors import ConfigError
from skyline.exits.runtime import top_probability

T = TypeVar("T")
STATISTICS = ("confidence", "input")


def confidences(logits: torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T).max() per row, with the same function the runtime's exit rule uses."""
    rows = logits.detach().reshape(-1, logits.shape[-1]).tolist()
    return np.array([top_probability(row, temperature) for row in rows])


def image_features(images: torch.Tensor, side: int = 7) -> np.ndarray:
    """Per image (N x C x H x W): its mean over a `side` x `side` grid of patches, then its pixel
    std. The grid sees where the mass is (rotation, crops, brightness), the std sees noise and
    contrast; 50 numbers for a 28x28 image keep the window statistics cheap and stable."""
    if images.ndim != 4:
        raise ConfigError(
            f"image_features takes N x C x H x W images, got shape {list(images.shape)}",
            fix="add the batch (and channel) dimension",
        )
    x = images.detach().float()
    grid = F.adaptive_avg_pool2d(x, side).flatten(1)
    spread = x.flatten(1).std(dim=1, keepdim=True)
    return torch.cat([grid, spread], dim=1).numpy().astype(np.float64)


@dataclass(frozen=True)
class DriftAlarm:
    """The monitor fired after `index` observed samples: `statistic` reached `value`, above its
    calibrated `threshold`."""

    index: int
    statistic: str
    value: float
    threshold: float


class DriftMonitor:
    """Sliding-window drift detector calibrated on clean data.

    `features` (N x d, e.g. `image_features`) and `confidences` (N) describe clean held-out
    samples, not the training set (the model is over-confident there). Every `stride` samples
    once `window` are in, two statistics of the last `window` are checked:

    - confidence: how far the mean top-1 probability fell, in standard errors of a clean
      window's mean (one-sided: rising confidence is no alarm);
    - input: `window` x the mean over features of the squared standardized shift of the
      window's feature means from the clean ones (about 1 on clean i.i.d. windows).

    Thresholds are calibrated by simulation: `bootstrap` clean streams of `horizon` samples
    drawn from the clean ones go through the same checks, and each threshold is the
    (1 - `false_alarm` / 2) quantile of its statistic's largest value over a stream. So a
    clean stream of `horizon` samples raises any alarm with probability about `false_alarm`
    (Bonferroni over the two statistics; longer streams more often). That assumes the clean
    stream is exchangeable: one whose samples come in runs (all shoes, then all shirts)
    needs a larger window. The first alarm is latched in `alarm` until `reset()`."""

    def __init__(
        self,
        features: ArrayLike,
        confidences: ArrayLike,
        *,
        window: int = 200,
        stride: int = 10,
        false_alarm: float = 0.01,
        horizon: int = 10_000,
        bootstrap: int | None = None,
        seed: int = 0,
    ) -> None:
        f = np.asarray(features, dtype=np.float64)
        c = np.asarray(confidences, dtype=np.float64)
        if f.ndim != 2 or c.shape != (len(f),):
            raise ConfigError(
                f"features of shape {list(f.shape)} and confidences of shape {list(c.shape)}",
                fix="pass N x d features and N confidences of the same clean samples",
            )
        if not 2 <= window <= min(len(f), horizon) or stride < 1:
            raise ConfigError(
                f"window={window}, stride={stride}, horizon={horizon} with {len(f)} clean samples",
                fix=f"pass 2 <= window <= min({len(f)}, horizon) and stride >= 1",
            )
        if not 0 < false_alarm < 1:
            raise ConfigError(f"false_alarm={false_alarm}", fix="pass a probability in (0, 1)")
        self.window, self.stride, self.false_alarm = window, stride, false_alarm
        self._mean = f.mean(axis=0)
        self._scale = np.maximum(f.std(axis=0), 1e-6 * (np.abs(self._mean) + 1.0))
        self._c_mean = float(c.mean())
        self._c_se = max(float(c.std()), 1e-9) / math.sqrt(window)
        streams = bootstrap or math.ceil(20 / false_alarm)  # ~10 streams beyond the quantile
        checks = np.arange(window, horizon + 1, stride)  # samples observed at each check
        chunk = max(1, 2**21 // (horizon * f.shape[1]))  # streams at a time: bounded memory
        rng = np.random.default_rng(seed)
        values: dict[str, list[np.ndarray]] = {name: [] for name in STATISTICS}
        for start in range(0, streams, chunk):
            idx = rng.integers(0, len(f), size=(min(chunk, streams - start), horizon))
            sums = [np.cumsum(v[idx], axis=1) for v in (f, c)]
            sums = [np.concatenate([np.zeros_like(s[:, :1]), s], axis=1) for s in sums]
            means = [(s[:, checks] - s[:, checks - window]) / window for s in sums]
            stats = self._statistics(means[0], means[1])
            for name in STATISTICS:
                values[name].append(stats[name].max(axis=1))
        self.thresholds = {
            name: float(np.quantile(np.concatenate(v), 1 - false_alarm / 2))
            for name, v in values.items()
        }
        self.reset()

    def _statistics(
        self, feature_means: np.ndarray, confidence_means: np.ndarray
    ) -> dict[str, np.ndarray]:
        shift = (feature_means - self._mean) / self._scale
        return {
            "confidence": (self._c_mean - confidence_means) / self._c_se,
            "input": self.window * np.mean(shift**2, axis=-1),
        }

    def reset(self) -> None:
        """Forget the window and any alarm (e.g. after the model was adapted)."""
        self.alarm: DriftAlarm | None = None
        self.observed = 0
        self.last: dict[str, float] = {}
        self._recent: deque[tuple[np.ndarray, float]] = deque()
        self._sum = np.zeros_like(self._mean)
        self._c_sum = 0.0

    def observe(self, features: ArrayLike, confidence: float) -> DriftAlarm | None:
        """Add one sample; returns the alarm when this sample makes the monitor fire."""
        f = np.asarray(features, dtype=np.float64)
        if f.shape != self._mean.shape:
            raise ConfigError(
                f"a sample with {f.size} features; the monitor was calibrated on {self._mean.size}",
                fix="compute features the way the clean reference's were",
            )
        self._recent.append((f, confidence))
        self._sum += f
        self._c_sum += confidence
        if len(self._recent) > self.window:
            old, old_c = self._recent.popleft()
            self._sum -= old
            self._c_sum -= old_c
        self.observed += 1
        if len(self._recent) < self.window or (self.observed - self.window) % self.stride:
            return None
        stats = self._statistics(self._sum / self.window, np.array(self._c_sum / self.window))
        self.last = {name: float(v) for name, v in stats.items()}
        if self.alarm is not None:
            return None
        for name in STATISTICS:
            if self.last[name] > self.thresholds[name]:
                self.alarm = DriftAlarm(self.observed, name, self.last[name], self.thresholds[name])
                return self.alarm
        return None


class HardExamples(Generic[T]):
    """The `capacity` least confident samples offered so far, in O(capacity) memory: the edge's
    upload budget goes to what the model gets wrong most, not to what it already knows."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ConfigError(f"capacity={capacity}", fix="keep at least one sample")
        self.capacity = capacity
        self.offered = 0
        self._heap: list[tuple[float, int, T]] = []  # (-confidence, order, item): max at root
        self._order = itertools.count()

    def offer(self, item: T, confidence: float) -> None:
        self.offered += 1
        entry = (-confidence, next(self._order), item)
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, entry)
        elif entry[0] > self._heap[0][0]:  # less confident than the most confident kept
            heapq.heapreplace(self._heap, entry)

    def items(self) -> Sequence[T]:
        """The kept samples, least confident first."""
        return [item for _, _, item in sorted(self._heap, key=lambda e: (-e[0], e[1]))]

    def __len__(self) -> int:
        return len(self._heap)
