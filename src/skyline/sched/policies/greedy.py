"""Cost-model policies: fastest target, lowest tier that meets the deadline, least energy."""

from __future__ import annotations

import numpy as np

from skyline.sched.observation import Observation
from skyline.sched.policies.base import Policy, argmin_reachable, register
from skyline.topology import Tier


@register
class GreedyMinLatency(Policy):
    name = "greedy-min-latency"
    description = "the target with the lowest predicted latency (queueing included)"

    def decide(self, obs: Observation) -> np.ndarray:
        return argmin_reachable(obs, obs.latency_s)


@register
class DeadlineAware(Policy):
    name = "deadline-aware"
    description = (
        "the lowest tier predicted to meet the deadline (fastest target on it), keeping "
        "shared servers for tasks that need them; the fastest target when none can"
    )

    def decide(self, obs: Observation) -> np.ndarray:
        latency = obs.latency_s
        feasible = obs.meets_deadline
        choice = argmin_reachable(obs, latency)
        undecided = np.ones(obs.n, dtype=bool)
        for tier in Tier:  # device, edge, cloud
            on_tier = np.zeros(len(obs.targets), dtype=bool)
            on_tier[obs.columns(tier)] = True
            candidates = feasible & on_tier
            pick = undecided & candidates.any(axis=1)
            best = np.argmin(np.where(candidates, latency, np.inf), axis=1)
            choice = np.where(pick, best, choice)
            undecided &= ~pick
        return choice


@register
class EnergyAware(Policy):
    name = "energy-aware"
    description = (
        "the least device energy among targets predicted to meet the deadline; "
        "the least energy overall when none can"
    )

    def decide(self, obs: Observation) -> np.ndarray:
        feasible = obs.meets_deadline
        within = np.argmin(np.where(feasible, obs.energy_j, np.inf), axis=1)
        return np.where(feasible.any(axis=1), within, argmin_reachable(obs, obs.energy_j))
