"""Train PPO or DQN agents in `skyline/Offload-v0` with stable-baselines3 (the `rl` extra).

`train("ppo", "small", steps=50_000, path="ppo.zip")` returns the trained agent as a `Policy`
(`policies.create("ppo", model="ppo.zip")` loads it again), ready for `simulate()` on either
engine. Defaults are small networks and a short discount (gamma 0.9): a placement mostly
affects the queueing of the next few tasks. `make_vec` is the vectorized env (SB3 `VecEnv`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyline.errors import ConfigError
from skyline.sched._rl import missing
from skyline.sched.policies.base import Policy, create

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

ALGORITHMS = {"ppo": "PPO", "dqn": "DQN"}
"""Policy name -> stable-baselines3 class."""

DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {
        "n_steps": 512,
        "batch_size": 128,
        "gamma": 0.9,
        "ent_coef": 0.01,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
    "dqn": {
        "learning_starts": 1000,
        "buffer_size": 50_000,
        "gamma": 0.9,
        "learning_rate": 5e-4,
        "exploration_fraction": 0.3,
        "exploration_final_eps": 0.02,
        "target_update_interval": 1000,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
}
"""Hyperparameters per algorithm; `train(**hyper)` overrides any of them."""


def make_vec(n_envs: int = 1, *, seed: int = 0, **env_kwargs: Any) -> VecEnv:
    """`n_envs` copies of `skyline/Offload-v0` (each seeded from `seed`) as an SB3 VecEnv."""
    try:
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError as exc:
        raise missing("stable-baselines3", "the vectorized offloading env") from exc
    from skyline.sched.env import ENV_ID

    # SB3 asks for render_mode="rgb_array" unless told otherwise; the env draws nothing
    kwargs = {"render_mode": None, **env_kwargs}
    return make_vec_env(ENV_ID, n_envs=n_envs, seed=seed, env_kwargs=kwargs)


def train(
    algorithm: str,
    scenario: Any = "small",
    *,
    steps: int,
    seed: int = 0,
    n_envs: int = 1,
    path: str | Path | None = None,
    env_kwargs: dict[str, Any] | None = None,
    **hyper: Any,
) -> Policy:
    """Train a PPO or DQN agent for `steps` placements; saved to `path` (.zip) when given.

    `scenario`: a Scenario, packaged name or TOML path; `env_kwargs` go to the env (engine,
    tick_s, miss_penalty_s). The result is the `ppo` / `dqn` policy holding the agent.
    """
    if algorithm not in ALGORITHMS or steps < 1:
        raise ConfigError(
            f"cannot train {algorithm!r} for {steps} steps",
            fix=f"use one of {', '.join(ALGORITHMS)} and steps >= 1",
        )
    try:
        import stable_baselines3
    except ImportError as exc:
        raise missing("stable-baselines3", f"training {algorithm!r}") from exc
    env = make_vec(n_envs, seed=seed, scenario=scenario, **(env_kwargs or {}))
    cls = getattr(stable_baselines3, ALGORITHMS[algorithm])
    agent = cls("MlpPolicy", env, seed=seed, device="cpu", **{**DEFAULTS[algorithm], **hyper})
    agent.learn(total_timesteps=steps)
    env.close()
    if path is not None:
        agent.save(path)
    return create(algorithm, model=agent)
