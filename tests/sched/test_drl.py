"""DRL policies: a few training steps prove the plumbing (train, save, load, both engines)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from test_policies import make_obs

from skyline.errors import ConfigError, PlanError
from skyline.sched import policies
from skyline.sched.train import train
from skyline.sim import load_scenario, simulate

torch.set_num_threads(1)


@pytest.mark.parametrize(
    ("algorithm", "hyper"),
    [("ppo", {"n_steps": 32, "batch_size": 32}), ("dqn", {"learning_starts": 16})],
)
def test_trained_policy_runs_in_both_engines(
    algorithm: str, hyper: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / f"{algorithm}.zip"
    trained = train(algorithm, "small", steps=64, path=path, **hyper)
    assert trained.name == algorithm and path.is_file()
    loaded = policies.create(algorithm, model=path)
    short = load_scenario("small").model_copy(update={"duration_s": 20.0})
    for engine in ("exact", "fast"):
        result = simulate(short, loaded, engine, replications=1)
        assert result.policy == algorithm and result["tasks"] > 0
    # the trained object in memory and the one loaded from disk decide alike
    assert simulate(short, trained, "fast", replications=1).runs == result.runs


def test_registry_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"ppo", "dqn"} <= set(policies.POLICIES.names())
    assert not {"ppo", "dqn"} & set(policies.names())  # `all` runs what needs no model
    with pytest.raises(ConfigError, match="needs a trained agent"):
        policies.create("ppo")
    with pytest.raises(ConfigError, match="no saved DQN agent"):
        policies.create("dqn", model=tmp_path / "missing.zip")
    with pytest.raises(ConfigError, match="cannot train"):
        train("a2c", steps=10)
    ppo = train("ppo", "small", steps=16, n_steps=16, batch_size=16)
    with pytest.raises(PlanError, match="trained for observations of shape"):
        ppo.place(make_obs())  # four targets; the agent knows three
    with pytest.raises(ConfigError, match="got a DQN"):
        policies.create("ppo", model=train("dqn", "small", steps=8, learning_starts=4).agent)
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(ConfigError, match=r"skyline\[rl\]"):
        policies.create("ppo", model=tmp_path / "any.zip")
