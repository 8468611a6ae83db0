"""Load spreading without cost models: random, round-robin, least-loaded."""

from __future__ import annotations

import numpy as np

from skyline.sched.observation import LOCAL, Observation
from skyline.sched.policies.base import Policy, register


def kth_true(mask: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row, the column of the k-th (0-based) True entry; k must be below the row's count."""
    return np.asarray(np.argmax(np.cumsum(mask, axis=1) > k[:, None], axis=1), dtype=np.int64)


def remote(obs: Observation) -> np.ndarray:
    """(n, T) reachable targets other than the device itself."""
    mask = obs.reachable.copy()
    mask[:, LOCAL] = False
    return mask


@register
class RandomPolicy(Policy):
    name = "random"
    description = "uniformly among the reachable targets, the device included"
    uses_state = False

    def decide(self, obs: Observation) -> np.ndarray:
        count = obs.reachable.sum(axis=1)
        k = np.floor(self.rng.random(obs.n) * count).astype(np.int64)
        return kth_true(obs.reachable, k)


@register
class RoundRobin(Policy):
    name = "round-robin"
    description = "cycles through the reachable servers in task order; local when none"
    uses_state = False

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self._next = 0

    def decide(self, obs: Observation) -> np.ndarray:
        mask = remote(obs)
        count = mask.sum(axis=1)
        k = (self._next + np.arange(obs.n)) % np.maximum(count, 1)
        self._next += obs.n
        return np.where(count > 0, kth_true(mask, k), LOCAL)


@register
class LeastLoaded(Policy):
    name = "least-loaded"
    description = "the reachable server with the least queueing now; local when none"

    def decide(self, obs: Observation) -> np.ndarray:
        mask = remote(obs)
        wait = np.where(mask, obs.wait_s, np.inf)
        choice = np.asarray(np.argmin(wait, axis=1), dtype=np.int64)
        return np.where(mask.any(axis=1), choice, LOCAL)
