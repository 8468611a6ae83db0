"""The `Policy` plug-in interface and its registry.

A policy maps a batch of tasks to targets (`decide`); `place` is the one template method that
engines call: it checks the answer, so a faulty plug-in fails with a message that names it,
instead of silently running a task somewhere it cannot go. The same interface fits learned
policies: a DRL agent's `decide` turns the Observation into features and returns its actions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from skyline._registry import PluginRegistry
from skyline.errors import PlanError
from skyline.sched.observation import LOCAL, Observation


class Policy(ABC):
    """Decides where each task of a batch runs. Subclasses implement `decide` only.

    `uses_state = False` promises that `decide` reads no queueing state (`wait_s`, `latency_s`),
    so an engine may decide a whole window of arrivals at once with identical results.
    `trained = True` marks a policy that needs a trained model to be created; `names()` (what
    `skyline simulate -p all` runs) leaves it out.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    uses_state: ClassVar[bool] = True
    trained: ClassVar[bool] = False

    def __init__(self, seed: int = 0) -> None:
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Forget history and re-seed; engines call it at the start of every replication."""
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def decide(self, obs: Observation) -> np.ndarray:
        """One target column per task (ints in [0, T)), each reachable."""

    def place(self, obs: Observation) -> np.ndarray:
        """`decide`, checked: an int64 array of n reachable targets."""
        choice = np.asarray(self.decide(obs))
        if choice.shape != (obs.n,) or not np.issubdtype(choice.dtype, np.integer):
            raise PlanError(
                f"policy {self.name!r} returned {choice.dtype} of shape {choice.shape} for "
                f"{obs.n} tasks",
                fix="return one integer target column per task",
            )
        choice = choice.astype(np.int64, copy=False)
        bad = np.flatnonzero((choice < 0) | (choice >= len(obs.targets)))
        if bad.size == 0:
            bad = np.flatnonzero(~obs.reachable[np.arange(obs.n), choice])
        if bad.size:
            i = int(bad[0])
            target = int(choice[i])
            shown = obs.targets[target] if 0 <= target < len(obs.targets) else target
            raise PlanError(
                f"policy {self.name!r} sent task {i} (device {int(obs.device[i])}) to "
                f"{shown!r}, which it cannot reach ({bad.size} such tasks)",
                fix="choose among columns where obs.reachable is True (LOCAL always is)",
            )
        return choice


def fallback_local(obs: Observation, wanted: np.ndarray) -> np.ndarray:
    """`wanted` where reachable, else the device itself: what fixed-tier baselines do."""
    ok = obs.reachable[np.arange(obs.n), np.clip(wanted, 0, len(obs.targets) - 1)]
    return np.where((wanted >= 0) & ok, wanted, LOCAL)


def argmin_reachable(obs: Observation, cost: np.ndarray) -> np.ndarray:
    """Per task, the reachable target of lowest cost; ties go to the lower column."""
    return np.asarray(np.argmin(np.where(obs.reachable, cost, np.inf), axis=1), dtype=np.int64)


POLICIES: PluginRegistry[Policy] = PluginRegistry("policy", Policy, "skyline.sched.Policy")
register = POLICIES.add
check_policy = POLICIES.check
create = POLICIES.create


def names() -> list[str]:
    """Policies that run with default arguments (`POLICIES.names()` adds the trained ones)."""
    return [name for name in POLICIES.names() if not POLICIES.get(name).trained]
