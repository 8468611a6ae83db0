"""Policies on hand-built observations: each answer below is worked out from the numbers."""

from __future__ import annotations

import numpy as np
import pytest

from skyline.errors import PlanError, RegistryError, UnknownNameError
from skyline.sched import LOCAL, Observation, Policy, policies
from skyline.topology import Tier

INF = np.inf
# targets: local, e1, e2, cloud
# task 0: attached to e1, everything reachable
# task 1: out of coverage, only local and the cloud (direct link)
# task 2: attached to e2; e1 unreachable (no backhaul)
REACH = np.array([[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 1, 1]], dtype=bool)


def make_obs(**over: np.ndarray) -> Observation:
    fields: dict[str, np.ndarray] = {
        "compute_s": np.array([[0.40, 0.05, 0.05, 0.02]] * 3),
        "transfer_s": np.array([[0.0, 0.03, 0.06, 0.10]] * 3),
        "wait_s": np.array([[0.0, 0.30, 0.0, 0.0], [0.0, 0.0, 0.0, 0.05], [0.0, 0.0, 0.20, 0.0]]),
        "energy_j": np.array([[1.0, 0.2, 0.2, 0.3]] * 3),
        "accuracy": np.array([[0.7, 0.8, 0.8, 0.9]] * 3),
        "deadline_s": np.array([0.2, 0.1, 0.5]),
        "reachable": REACH,
    }
    fields.update(over)
    return Observation(
        time_s=0.0,
        targets=("local", "e1", "e2", "cloud"),
        tiers=(Tier.DEVICE, Tier.EDGE, Tier.EDGE, Tier.CLOUD),
        device=np.array([0, 1, 2]),
        task_type=np.zeros(3, dtype=np.int64),
        edge=np.array([1, -1, 2]),
        lanes=np.ones((3, 4), dtype=np.int64),
        **fields,
    )


def decide(name: str, obs: Observation | None = None, **kwargs: int) -> list[int]:
    return policies.create(name, **kwargs).place(obs or make_obs()).tolist()


def test_latency_is_sum_and_inf_when_unreachable() -> None:
    lat = make_obs().latency_s
    assert lat[0].tolist() == pytest.approx([0.40, 0.38, 0.11, 0.12])
    assert lat[1, 1] == INF and lat[2, 1] == INF
    assert make_obs().meets_deadline[0].tolist() == [False, False, True, True]


def test_fixed_tiers_fall_back_to_local() -> None:
    assert decide("all-local") == [0, 0, 0]
    assert decide("all-edge") == [1, 0, 2]  # task 1 has no edge
    assert decide("all-cloud") == [3, 3, 3]
    no_cloud = make_obs(reachable=REACH & np.array([1, 1, 1, 0], dtype=bool))
    assert decide("all-cloud", no_cloud) == [0, 0, 0]


def test_greedy_min_latency() -> None:
    # task 0: 0.40, 0.38, 0.11, 0.12 -> e2; task 1: 0.40 vs 0.17 cloud;
    # task 2: 0.40, -, 0.31, 0.12 -> cloud
    assert decide("greedy-min-latency") == [2, 3, 3]


def test_deadline_aware_takes_lowest_feasible_tier() -> None:
    # task 0 (0.2 s): local 0.40 misses; edges: e2 0.11 meets -> e2
    # task 1 (0.1 s): nothing meets (cloud 0.17) -> fastest: cloud
    # task 2 (0.5 s): local 0.40 meets -> local
    assert decide("deadline-aware") == [2, 3, 0]


def test_energy_aware() -> None:
    # task 0: feasible e2 (0.2 J), cloud (0.3 J) -> e2; task 1: none feasible -> least energy
    # among reachable local 1.0 / cloud 0.3 -> cloud; task 2: feasible local, e2, cloud -> e2
    assert decide("energy-aware") == [2, 3, 2]


def test_least_loaded_ignores_local() -> None:
    # task 0 waits: e1 0.30, e2 0, cloud 0 -> tie, lower column e2; task 1: cloud;
    # task 2: e2 0.2, cloud 0 -> cloud
    assert decide("least-loaded") == [2, 3, 3]
    only_local = make_obs(reachable=np.array([[1, 0, 0, 0]] * 3, dtype=bool))
    assert decide("least-loaded", only_local) == [0, 0, 0]


def test_round_robin_cycles_over_reachable_servers() -> None:
    policy = policies.create("round-robin")
    obs = make_obs()
    # counter 0,1,2: task 0 picks 1st of (e1,e2,cloud)=e1; task 1 2nd of (cloud) -> cloud;
    # task 2: 3rd (index 2 % 2 = 0) of (e2, cloud) -> e2
    assert policy.place(obs).tolist() == [1, 3, 2]
    # counter 3,4,5: task 0 -> 3 % 3 = 0 -> e1; task 1 -> cloud; task 2 -> 5 % 2 = 1 -> cloud
    assert policy.place(obs).tolist() == [1, 3, 3]
    policy.reset(0)
    assert policy.place(obs).tolist() == [1, 3, 2]


def test_random_is_seeded_uniform_and_reachable() -> None:
    n = 30_000
    obs = Observation(
        time_s=0.0,
        targets=("local", "e1", "cloud"),
        tiers=(Tier.DEVICE, Tier.EDGE, Tier.CLOUD),
        device=np.arange(n),
        task_type=np.zeros(n, dtype=np.int64),
        deadline_s=np.full(n, INF),
        edge=np.full(n, 1),
        reachable=np.tile(np.array([True, False, True]), (n, 1)),
        **{k: np.zeros((n, 3)) for k in ("compute_s", "transfer_s", "wait_s", "energy_j")},
        accuracy=np.ones((n, 3)),
        lanes=np.ones((n, 3), dtype=np.int64),
    )
    a = policies.create("random", seed=3).place(obs)
    assert a.tolist() == policies.create("random", seed=3).place(obs).tolist()
    counts = np.bincount(a, minlength=3)
    assert counts[1] == 0
    assert abs(counts[0] / n - 0.5) < 0.015


def test_place_rejects_bad_answers() -> None:
    class Sloppy(Policy):
        name = "sloppy"
        answer: object = None

        def decide(self, obs: Observation) -> np.ndarray:
            return np.asarray(self.answer)

    sloppy = Sloppy()
    sloppy.answer = [1, 1, 1]  # e1 is unreachable for tasks 1 and 2
    with pytest.raises(PlanError, match=r"sent task 1 \(device 1\) to 'e1'.*2 such tasks"):
        sloppy.place(make_obs())
    sloppy.answer = [0, 0]
    with pytest.raises(PlanError, match="shape"):
        sloppy.place(make_obs())
    sloppy.answer = [0.0, 0.0, 0.0]
    with pytest.raises(PlanError, match="integer"):
        sloppy.place(make_obs())
    sloppy.answer = [0, 9, 0]
    with pytest.raises(PlanError, match="to 9"):
        sloppy.place(make_obs())


def test_registry_contract() -> None:
    assert set(policies.names()) >= {
        "all-local",
        "all-edge",
        "all-cloud",
        "random",
        "round-robin",
        "least-loaded",
        "greedy-min-latency",
        "deadline-aware",
        "energy-aware",
    }
    with pytest.raises(UnknownNameError, match=r"unknown policy 'fastest'.*greedy-min-latency"):
        policies.create("fastest")
    assert isinstance(policies.create("skyline.sched.policies.fixed:AllLocal"), Policy)

    class NoName(Policy):
        def decide(self, obs: Observation) -> np.ndarray:
            return np.zeros(obs.n, dtype=np.int64)

    with pytest.raises(RegistryError, match="no `name`"):
        policies.register(NoName)
    with pytest.raises(RegistryError, match="not a Policy subclass"):
        policies.check_policy(int)
    with pytest.raises(RegistryError, match="already registered"):
        policies.POLICIES.register("random", NoName)


def test_stateless_policies_ignore_queues() -> None:
    """Policies that promise uses_state=False answer the same whatever the waits are."""
    calm, busy = make_obs(), make_obs(wait_s=np.full((3, 4), 5.0))
    for name in policies.names():
        if policies.POLICIES.get(name).uses_state:
            continue
        assert decide(name, calm) == decide(name, busy), name
    assert LOCAL == 0
