"""Baselines that send every task to one tier: all-local, all-edge, all-cloud."""

from __future__ import annotations

import numpy as np

from skyline.sched.observation import LOCAL, Observation
from skyline.sched.policies.base import Policy, fallback_local, register
from skyline.topology import Tier


@register
class AllLocal(Policy):
    name = "all-local"
    description = "every task on its own device (no network)"
    uses_state = False

    def decide(self, obs: Observation) -> np.ndarray:
        return np.full(obs.n, LOCAL, dtype=np.int64)


@register
class AllEdge(Policy):
    name = "all-edge"
    description = "every task to the edge its device is attached to; local when out of coverage"
    uses_state = False

    def decide(self, obs: Observation) -> np.ndarray:
        return fallback_local(obs, obs.edge)


@register
class AllCloud(Policy):
    name = "all-cloud"
    description = "every task to the cloud; local when the cloud cannot be reached"
    uses_state = False

    def decide(self, obs: Observation) -> np.ndarray:
        cloud = obs.columns(Tier.CLOUD)
        wanted = np.full(obs.n, cloud[0] if cloud.size else -1, dtype=np.int64)
        return fallback_local(obs, wanted)
