"""Learned policies: a stable-baselines3 PPO or DQN agent trained in `skyline/Offload-v0`.

`decide` walks the batch with the same `BatchCursor` the env uses (so the agent sees the
features it was trained on) and asks the agent for each task's target in turn; an unreachable
answer runs the task on its device, as in the env. The model is a saved agent (`.zip` from
`skyline.sched.train.train(..., path=...)`) or one in memory. Needs the `rl` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from skyline.errors import ConfigError, PlanError
from skyline.sched._rl import missing
from skyline.sched.features import BatchCursor, feature_size
from skyline.sched.observation import Observation
from skyline.sched.policies.base import Policy, register

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm


def load_agent(algorithm: str, model: str | Path | BaseAlgorithm | None) -> BaseAlgorithm:
    """A stable-baselines3 agent of class `algorithm` ('PPO', 'DQN'): `model` or loaded from it."""
    if model is None:
        raise ConfigError(
            f"policy {algorithm.lower()!r} needs a trained agent",
            fix=f"pass model='path/to/{algorithm.lower()}.zip' (see skyline.sched.train)",
        )
    try:
        import stable_baselines3
    except ImportError as exc:
        raise missing("stable-baselines3", f"policy {algorithm.lower()!r}") from exc
    cls = getattr(stable_baselines3, algorithm)
    if isinstance(model, cls):
        return model
    if not isinstance(model, str | Path):
        raise ConfigError(
            f"policy {algorithm.lower()!r} got a {type(model).__name__} as model",
            fix=f"pass the path of a saved {algorithm} agent, or the agent itself",
        )
    if not Path(model).is_file() and not Path(f"{model}.zip").is_file():
        raise ConfigError(
            f"no saved {algorithm} agent at {model}",
            fix="train one with skyline.sched.train.train(..., path=...)",
        )
    agent: BaseAlgorithm = cls.load(model, device="cpu")
    return agent


class _Learned(Policy):
    """A trained stable-baselines3 agent behind the Policy interface."""

    algorithm: ClassVar[str]
    trained = True

    def __init__(
        self,
        seed: int = 0,
        *,
        model: str | Path | BaseAlgorithm | None = None,
        deterministic: bool = True,
    ) -> None:
        self.agent = load_agent(self.algorithm, model)
        self.deterministic = deterministic
        super().__init__(seed)

    def decide(self, obs: Observation) -> np.ndarray:
        space = self.agent.observation_space
        if space.shape != (feature_size(len(obs.targets)),):
            raise PlanError(
                f"policy {self.name!r} was trained for observations of shape {space.shape}, "
                f"not {len(obs.targets)} targets",
                fix="train the agent on a scenario with the same edges and cloud",
            )
        cursor = BatchCursor(obs)
        while not cursor.done:
            action, _ = self.agent.predict(cursor.features(), deterministic=self.deterministic)
            cursor.place(int(action))
        return cursor.targets


@register
class PpoPolicy(_Learned):
    name = "ppo"
    description = "a PPO agent trained in skyline/Offload-v0 (model=path of the saved agent)"
    algorithm = "PPO"


@register
class DqnPolicy(_Learned):
    name = "dqn"
    description = "a DQN agent trained in skyline/Offload-v0 (model=path of the saved agent)"
    algorithm = "DQN"
