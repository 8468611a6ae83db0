"""The Gymnasium env skyline/Offload-v0: checked, seeded, rewarded by hand, and the simulator."""

from __future__ import annotations

import gc
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from sim_docs import doc

from skyline.errors import ConfigError
from skyline.sched.env import ENV_ID, OffloadEnv
from skyline.sched.features import feature_size
from skyline.sim import parse_scenario, simulate


def test_passes_gymnasium_env_checker() -> None:
    check_env(OffloadEnv("small"), skip_render_check=True)
    check_env(gym.make(ENV_ID, scenario="small", engine="fast").unwrapped, skip_render_check=True)


def rollout(env: gym.Env, seed: int, steps: int = 50) -> tuple[np.ndarray, list[float]]:
    obs, _ = env.reset(seed=seed)
    seen, rewards = [obs], []
    for k in range(steps):
        obs, reward, *_ = env.step(k % 3)
        seen.append(obs)
        rewards.append(reward)
    return np.array(seen), rewards


def test_seeds_make_episodes_reproducible() -> None:
    a, b = OffloadEnv("small"), OffloadEnv("small")
    obs_a, rew_a = rollout(a, seed=3)
    obs_b, rew_b = rollout(b, seed=3)
    assert np.array_equal(obs_a, obs_b) and rew_a == rew_b
    assert rollout(b, seed=4)[1] != rew_a
    assert np.array_equal(rollout(a, seed=3)[0], obs_a)  # a reset mid-episode starts afresh


def test_rewards_by_hand_and_the_episode_is_the_simulator() -> None:
    """One task (sim_docs.BASE): device 300 ms, edge 131 ms, cloud 152 ms; deadline 150 ms."""
    sc = parse_scenario(doc())
    env = OffloadEnv(sc, miss_penalty_s=0.5)
    rewards = {}
    for action in range(3):
        env.reset(seed=0)
        *_, rewards[action], done, _, info = env.step(action)
        assert done and info["summary"]["tasks"] == 1
    assert rewards[0] == pytest.approx(-(0.300 + 0.5))
    assert rewards[1] == pytest.approx(-0.131)
    assert rewards[2] == pytest.approx(-(0.152 + 0.5))
    # a whole packaged episode run by always choosing the device == simulate('all-local')
    env = OffloadEnv("small")
    env.reset(options={"replication": 0})
    done = False
    while not done:
        *_, done, _, info = env.step(0)
    expected = simulate("small", "all-local", replications=1).runs[0]
    assert info["summary"]["mean_latency_ms"] == pytest.approx(expected["mean_latency_ms"])
    assert info["summary"]["tasks"] == expected["tasks"]
    env.close()
    with pytest.raises(ConfigError, match="call reset"):
        env.step(0)


def test_an_abandoned_episode_ends_its_thread() -> None:
    env = OffloadEnv("small")
    env.reset(seed=0)
    thread = env._thread
    assert thread is not None and thread.is_alive()
    del env
    gc.collect()
    thread.join(timeout=2.0)
    assert not thread.is_alive()


def test_vectorized_forms() -> None:
    from skyline.sched.train import make_vec

    envs = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="sync", scenario="small")
    obs, _ = envs.reset(seed=1)
    assert obs.shape == (2, feature_size(3))
    _, reward, *_ = envs.step(np.array([0, 1]))
    assert reward.shape == (2,)
    envs.close()
    vec = make_vec(2, seed=1, scenario="small", engine="fast")
    assert vec.reset().shape == (2, feature_size(3))
    vec.step(np.array([1, 2]))
    vec.close()


def test_bad_arguments_and_missing_gymnasium(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        OffloadEnv("small", miss_penalty_s=-1.0)
    with pytest.raises(ConfigError, match=r"tick_s 0\.0 out of range"):
        OffloadEnv("small", engine="fast", tick_s=0.0)
    with pytest.raises(ConfigError, match="draws nothing"):
        OffloadEnv("small", render_mode="human")
    with pytest.raises(ConfigError, match="no task to place"):
        OffloadEnv(parse_scenario(doc(workload={"kind": "trace", "times_s": []}))).reset()
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    monkeypatch.delitem(sys.modules, "skyline.sched.env")
    with pytest.raises(ConfigError, match=r"skyline\[rl\]"):
        import skyline.sched.env  # noqa: F401
