"""The MILP optimum: hand-worked batches, and equal to exhaustive search of its model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from skyline.errors import ConfigError, PlanError
from skyline.sched import Observation, policies
from skyline.sched.features import CLIP, BatchCursor, feature_size
from skyline.sched.policies.optimum import MilpOptimum, batch_latency
from skyline.topology import Tier

TIERS = (Tier.DEVICE, Tier.EDGE, Tier.CLOUD)


def observation(rng: np.random.Generator | None = None, n: int = 3) -> Observation:
    """n tasks on n devices: local 0.25 s, a 1-lane edge 0.1 s, no cloud (unreachable)."""
    if rng is None:
        latency = np.tile([0.25, 0.1, 0.0], (n, 1))
        compute = latency.copy()
        reach = np.tile([True, True, False], (n, 1))
        devices = np.arange(n)
        energy = np.tile([1.0, 0.1, 0.1], (n, 1))
        deadline = np.full(n, np.inf)
        lanes = np.ones((n, 3), dtype=np.int64)
    else:
        compute = rng.uniform(0.01, 0.3, size=(n, 3))
        latency = compute + rng.uniform(0, 0.2, size=(n, 3))
        reach = rng.random((n, 3)) < 0.8
        reach[:, 0] = True
        devices = rng.integers(0, 2, size=n)  # tasks share devices' CPUs too
        energy = rng.uniform(0.05, 1.0, size=(n, 3))
        deadline = rng.uniform(0.2, 0.6, size=n)
        lanes = np.tile([1, 1, 2], (n, 1))
    return Observation(
        time_s=0.0,
        targets=("local", "edge", "cloud"),
        tiers=TIERS,
        device=devices,
        task_type=np.zeros(n, dtype=np.int64),
        deadline_s=deadline,
        edge=np.full(n, 1),
        reachable=reach,
        compute_s=compute,
        transfer_s=latency - compute,
        wait_s=np.zeros((n, 3)),
        energy_j=energy,
        accuracy=np.ones((n, 3)),
        lanes=lanes,
    )


def test_batch_beats_greedy_by_hand() -> None:
    obs = observation()
    greedy = policies.create("greedy-min-latency").place(obs)
    assert greedy.tolist() == [1, 1, 1]  # each alone is fastest on the edge
    assert batch_latency(obs, greedy) == pytest.approx([0.1, 0.2, 0.3])
    milp = MilpOptimum()
    best = milp.place(obs)
    # two on the edge (0.1, 0.2), one at home (0.25): 0.55 < 0.6 (which one stays is a tie)
    assert sorted(best.tolist()) == [0, 1, 1]
    assert milp.cost(obs, best) == pytest.approx(0.55)
    assert milp.cost(obs, greedy) == pytest.approx(0.6)


def test_energy_objective_keeps_deadlines() -> None:
    obs = observation()
    obs = Observation(**{**obs.__dict__, "deadline_s": np.array([0.15, 0.15, 0.15])})
    # the radio is cheapest (0.1 J a task), but all three on the edge overrun 0 + 0.05 + 0.15 s;
    # one at home (1 J, 0.25 s) overruns 0.1 + 0.05 s in all: 1e4 J/s x 0.05 s saved > 0.9 J
    milp = MilpOptimum(objective="energy")
    best = milp.place(obs)
    assert sorted(best.tolist()) == [0, 1, 1]
    assert milp.cost(obs, best) == pytest.approx(1.2 + 1e4 * 0.15)
    assert milp.cost(obs, np.array([1, 1, 1])) == pytest.approx(0.3 + 1e4 * 0.2)


@pytest.mark.parametrize("objective", ["latency", "energy"])
@pytest.mark.parametrize("seed", range(6))
def test_equals_exhaustive_search_of_the_model(objective: str, seed: int) -> None:
    obs = observation(np.random.default_rng(seed), n=5)
    milp = MilpOptimum(objective=objective)  # type: ignore[arg-type]
    options = [np.flatnonzero(row) for row in obs.reachable]
    brute = min(milp.cost(obs, np.array(p)) for p in itertools.product(*options))
    assert milp.cost(obs, milp.place(obs)) == pytest.approx(brute, abs=1e-6)


def test_limits() -> None:
    with pytest.raises(PlanError, match="at most 2 tasks, got 3"):
        MilpOptimum(max_tasks=2).place(observation())
    with pytest.raises(ConfigError, match="objective 'speed'"):
        MilpOptimum(objective="speed")  # type: ignore[arg-type]
    assert MilpOptimum().place(observation(n=0)).tolist() == []


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_one_task_is_the_cheapest_target(objective: str) -> None:
    milp = MilpOptimum(objective=objective)  # type: ignore[arg-type]
    for seed in range(20):
        obs = observation(np.random.default_rng(seed), n=1)
        costs = [milp.cost(obs, np.array([j])) for j in np.flatnonzero(obs.reachable[0])]
        assert milp.cost(obs, milp.place(obs)) == pytest.approx(min(costs))


@pytest.mark.parametrize("seed", range(5))
def test_cursor_latencies_are_the_milp_batch_model(seed: int) -> None:
    rng = np.random.default_rng(seed)
    obs = observation(rng, n=6)
    wanted = rng.integers(0, 3, size=obs.n)
    cursor = BatchCursor(obs)
    total = 0.0
    while not cursor.done:
        features = cursor.features()
        assert features.shape == (feature_size(3),) and features.dtype == np.float32
        assert features.min() >= 0.0 and features.max() <= CLIP
        total += cursor.place(int(wanted[cursor.i]))
    placed = cursor.targets  # unreachable wishes ran at home
    assert placed.tolist() == np.where(obs.reachable[np.arange(obs.n), wanted], wanted, 0).tolist()
    assert total == pytest.approx(MilpOptimum().cost(obs, placed))
