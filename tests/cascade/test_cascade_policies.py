"""Hard-example policies, their registry, sweeps on hand-computed cascades, and thresholds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from skyline import cascade
from skyline.cascade import (
    HardExamplePolicy,
    check_policy,
    gap_recovered,
    sweep,
    threshold_for_accuracy,
    threshold_for_share,
)
from skyline.errors import ConfigError, RegistryError, UnknownNameError

P = np.array([[0.9, 0.05, 0.05], [0.5, 0.4, 0.1], [0.4, 0.3, 0.3]])


def test_registry_holds_the_six_policies() -> None:
    assert cascade.names() == ["entropy", "learned", "margin", "max-prob", "oracle", "random"]
    assert isinstance(cascade.create("skyline.cascade.policies:Margin"), cascade.policies.Margin)
    with pytest.raises(UnknownNameError, match="use one of: entropy"):
        cascade.create("confidence")


def test_confidence_policies_hand_computed() -> None:
    assert cascade.create("max-prob").score(P) == pytest.approx([0.1, 0.5, 0.6])
    assert cascade.create("margin").score(P) == pytest.approx([0.15, 0.9, 0.9])
    h = [-sum(p * math.log(p) for p in row) for row in P]
    assert cascade.create("entropy").score(P) == pytest.approx(h)


def test_random_is_seeded() -> None:
    a = cascade.create("random", seed=1).score(P)
    assert np.array_equal(a, cascade.create("random", seed=1).score(P))
    assert not np.array_equal(a, cascade.create("random", seed=2).score(P))


class Constant(HardExamplePolicy):
    name = "constant"

    def hardness(self, edge_probs: np.ndarray, truth: Any) -> np.ndarray:
        return np.zeros(3)  # wrong length on purpose for 1 sample


def test_plugin_checks() -> None:
    with pytest.raises(RegistryError, match="not a HardExamplePolicy"):
        check_policy(int)
    with pytest.raises(RegistryError, match="does not implement hardness"):
        check_policy(HardExamplePolicy)
    with pytest.raises(RegistryError, match="already registered"):
        cascade.register(type("Other", (cascade.policies.MaxProb,), {}))
    with pytest.raises(RegistryError, match=r"\(3,\) scores for 1 samples"):
        Constant().score(P[:1])


@pytest.mark.parametrize(
    ("probs", "says"),
    [([0.5, 0.5], "shape"), ([[0.5, 0.6]], "not probability"), ([[1.2, -0.2]], "not probability")],
)
def test_probabilities_are_validated(probs: Any, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        cascade.create("entropy").score(probs)


# Hand-computed cascade: labels 0 1 0 1. Edge right on s0, s2; cloud right on s0, s1.
EDGE = [[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.55, 0.45]]
CLOUD = [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]]
LABELS = [0, 1, 0, 1]
FRACTIONS = [0.0, 0.25, 0.5, 0.75, 1.0]


def test_sweep_hand_computed() -> None:
    # max-prob sends s3 (no change), s1 (gain), s2 (loss), s0 (no change) in that order.
    curve = sweep("max-prob", EDGE, CLOUD, LABELS, FRACTIONS)
    assert curve == [(0.0, 0.5), (0.25, 0.5), (0.5, 0.75), (0.75, 0.5), (1.0, 0.5)]
    # The oracle sends the gain first and the loss last.
    oracle = sweep("oracle", EDGE, CLOUD, LABELS, FRACTIONS)
    assert [acc for _, acc in oracle] == [0.5, 0.75, 0.75, 0.75, 0.5]


def test_oracle_needs_truth_and_other_policies_never_see_it() -> None:
    with pytest.raises(ConfigError, match="needs cloud_probs and labels"):
        cascade.create("oracle").score(EDGE)

    seen: list[Any] = []

    class Spy(HardExamplePolicy):
        name = "spy"

        def hardness(self, edge_probs: np.ndarray, truth: Any) -> np.ndarray:
            seen.append(truth)
            return edge_probs[:, 0]

    sweep(Spy(), EDGE, CLOUD, LABELS, [0.5])
    assert seen == [None]


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge right with probability = its confidence, except always wrong when it predicts
    class 0; the cloud is right 95 % of the time, independently."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    edge = rng.dirichlet(np.ones(4) * 0.5, n)
    predicted = edge.argmax(1)
    right = (rng.random(n) < edge.max(1)) & (predicted != 0)
    # Relabel so that the arg-max is the label exactly when the edge is right.
    labels = np.where(right, predicted, (predicted + 1 + rng.integers(0, 3, n)) % 4)
    cloud = np.eye(4)[np.where(rng.random(n) < 0.95, labels, (labels + 1) % 4)] * 0.7 + 0.075
    return edge, cloud, labels


def test_oracle_bounds_every_policy_and_random_recovers_its_share() -> None:
    edge, cloud, labels = _synthetic(4000, seed=0)
    held_edge, _, held_labels = _synthetic(4000, seed=1)
    fractions = np.linspace(0, 1, 21).tolist()
    oracle = [acc for _, acc in sweep("oracle", edge, cloud, labels, fractions)]
    for name in cascade.names():
        policy = cascade.create(name).fit(held_edge, held_labels)
        curve = sweep(policy, edge, cloud, labels, fractions)
        assert all(acc <= bound + 1e-12 for (_, acc), bound in zip(curve, oracle)), name
    edge_acc, cloud_acc = oracle[0], oracle[-1]
    (_, random_acc) = sweep("random", edge, cloud, labels, [0.3])[0]
    assert gap_recovered(random_acc, edge_acc, cloud_acc) == pytest.approx(0.3, abs=0.06)


def test_learned_finds_what_confidence_misses() -> None:
    held_edge, _, held_labels = _synthetic(4000, seed=1)
    edge, cloud, labels = _synthetic(4000, seed=2)
    learned = cascade.create("learned").fit(held_edge, held_labels)
    at_30 = {
        name: sweep(policy, edge, cloud, labels, [0.3])[0][1]
        for name, policy in (("learned", learned), ("max-prob", cascade.create("max-prob")))
    }
    assert at_30["learned"] > at_30["max-prob"] + 0.02, at_30


def test_learned_must_be_fitted_first() -> None:
    with pytest.raises(ConfigError, match="call fit"):
        cascade.create("learned").score(EDGE)
    fitted = cascade.create("learned").fit(*_synthetic(200, seed=0)[::2])
    with pytest.raises(ConfigError, match="fitted on"):
        fitted.score(EDGE)  # 2 classes, fitted on 4


def test_threshold_for_share_respects_ties() -> None:
    scores = [3.0, 2.0, 2.0, 1.0]
    assert threshold_for_share(scores, 0.5) == 3.0  # >= 2 would send three of four
    assert threshold_for_share(scores, 0.75) == 2.0
    assert threshold_for_share(scores, 1.0) == 1.0
    assert threshold_for_share(scores, 0.2) == math.inf
    with pytest.raises(ConfigError, match="outside"):
        threshold_for_share(scores, 1.5)


def test_threshold_for_accuracy_hand_computed() -> None:
    scores = cascade.create("max-prob").score(EDGE)  # 0.1, 0.4, 0.3, 0.45
    assert threshold_for_accuracy(scores, EDGE, CLOUD, LABELS, 0.75) == pytest.approx(0.4)
    assert threshold_for_accuracy(scores, EDGE, CLOUD, LABELS, 0.5) == math.inf
    with pytest.raises(ConfigError, match=r"the best is 0\.7500"):
        threshold_for_accuracy(scores, EDGE, CLOUD, LABELS, 0.8)
    with pytest.raises(ConfigError, match="one score per sample"):
        threshold_for_accuracy(scores[:3], EDGE, CLOUD, LABELS, 0.8)


def test_gap_recovered() -> None:
    assert gap_recovered(0.9, 0.8, 0.95) == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="no gap"):
        gap_recovered(0.9, 0.9, 0.9)


def test_sweep_rejects_bad_fractions_and_shapes() -> None:
    with pytest.raises(ConfigError, match="outside"):
        sweep("max-prob", EDGE, CLOUD, LABELS, [1.2])
    with pytest.raises(ConfigError, match="differ in shape"):
        sweep("max-prob", EDGE, CLOUD[:3], LABELS, [0.5])
    with pytest.raises(ConfigError, match="3 labels for 4"):
        sweep("max-prob", EDGE, CLOUD, LABELS[:3], [0.5])
