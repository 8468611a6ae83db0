"""ECE on hand-computed cases, temperature scaling recovering a known T, and the exit policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skyline.errors import ConfigError
from skyline.exits import (
    calibrated_probs,
    choose_thresholds,
    exit_policy,
    expected_calibration_error,
    fit_temperature,
)


def _two_class(confidences: list[float], right: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Predict class 0 with each confidence; label 0 when right, else 1."""
    c = np.asarray(confidences)
    return np.column_stack([c, 1 - c]), np.where(right, 0, 1)


def test_ece_hand_computed() -> None:
    # bins of width 0.2: 0.55 -> (0.4, 0.6] acc 1 conf .55; 0.65 -> (0.6, 0.8] acc 0 conf .65;
    # 0.95, 0.85 -> (0.8, 1] acc 1 conf .9. ECE = (1*.45 + 1*.65 + 2*.1) / 4 = 0.325.
    probs, labels = _two_class([0.55, 0.65, 0.95, 0.85], [True, False, True, True])
    assert expected_calibration_error(probs, labels, bins=5) == pytest.approx(0.325)
    # One bin: |accuracy 0.75 - mean confidence 0.75| = 0.
    assert expected_calibration_error(probs, labels, bins=1) == pytest.approx(0.0)


def test_ece_bins_are_closed_on_the_right() -> None:
    # 0.6 belongs to (0.4, 0.6] with 0.5: |0.5 - 0.55| = 0.05 (in (0.6, 0.8] it would be 0.45).
    probs, labels = _two_class([0.6, 0.5], [True, False])
    assert expected_calibration_error(probs, labels, bins=5) == pytest.approx(0.05)


def test_ece_of_a_calibrated_source_is_small_and_of_an_overconfident_one_is_not() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10) * 0.3, size=20_000)
    labels = np.array([rng.choice(10, p=p) for p in probs])  # labels drawn from the probs
    assert expected_calibration_error(probs, labels) < 0.02
    sharpened = calibrated_probs(np.log(probs), temperature=0.5)
    assert expected_calibration_error(sharpened, labels) > 0.05


def _sampled(true_t: float, n: int = 20_000) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(n, 10, generator=g) * 3
    labels = torch.multinomial(torch.softmax(logits / true_t, dim=1), 1, generator=g).squeeze(1)
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_t: float) -> None:
    logits, labels = _sampled(true_t)
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.05)


def test_temperature_scaling_reduces_ece() -> None:
    logits, labels = _sampled(2.5)
    before = expected_calibration_error(calibrated_probs(logits), labels)
    after = expected_calibration_error(
        calibrated_probs(logits, fit_temperature(logits, labels)), labels
    )
    assert after < before / 3


def test_calibration_input_errors() -> None:
    with pytest.raises(ConfigError, match="do not match"):
        fit_temperature(np.zeros((4, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ConfigError, match="not positive"):
        calibrated_probs(np.zeros((1, 2)), 0.0)
    with pytest.raises(ConfigError, match="bins=0"):
        expected_calibration_error(np.full((1, 2), 0.5), [0], bins=0)


CONF = [[0.9, 0.5, 0.2, 0.95], [0.8, 0.9, 0.3, 0.4], [0.7, 0.6, 0.6, 0.6]]
RIGHT = [[1, 0, 0, 0], [1, 1, 0, 1], [1, 1, 1, 1]]


def test_exit_policy_hand_computed() -> None:
    out = exit_policy(CONF, RIGHT, (0.8, 0.85))
    # s0 and s3 leave at exit 0 (0.9, 0.95 >= 0.8), s1 at exit 1 (0.9 >= 0.85), s2 at the end.
    assert out.exits.tolist() == [0, 1, 2, 0]
    assert out.accuracy == pytest.approx(0.75)  # s3 is wrong at exit 0
    assert out.mean_depth == pytest.approx((1 + 2 + 3 + 1) / 4)
    assert out.fractions == (0.5, 0.25, 0.25)
    never = exit_policy(CONF, RIGHT, (math.inf, math.inf))
    assert never.exits.tolist() == [2, 2, 2, 2] and never.accuracy == 1.0


def test_exit_policy_input_errors() -> None:
    with pytest.raises(ConfigError, match="1 thresholds for 2 early exits"):
        exit_policy(CONF, RIGHT, (0.5,))
    with pytest.raises(ConfigError, match="exits x samples"):
        exit_policy(CONF, RIGHT[:2], (0.5, 0.5))


def test_choose_thresholds_known_answer() -> None:
    # One early exit, ten samples, final exit always right. Sorted by confidence, the early exit
    # is right, right, right, WRONG, right, WRONG, ...: with one error allowed (max_loss 0.1)
    # the lowest threshold is 0.7 (five samples leave early, one of them wrong).
    conf = [0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    early = [1, 1, 1, 0, 1, 0, 1, 1, 1, 1]
    (threshold,) = choose_thresholds([conf, [0.5] * 10], [early, [1] * 10], max_loss=0.1, grid=10)
    assert threshold == pytest.approx(0.7)
    out = exit_policy([conf, [0.5] * 10], [early, [1] * 10], (threshold,))
    assert out.fractions == (0.5, 0.5) and out.accuracy == pytest.approx(0.9)
    (strict,) = choose_thresholds([conf, [0.5] * 10], [early, [1] * 10], max_loss=0.0, grid=10)
    assert strict == pytest.approx(0.9)


def test_choose_thresholds_minimises_depth_not_first_exit_greed() -> None:
    # Four samples, final exit always right, one error allowed (max_loss 0.25). Exit 0 is sure
    # only of s0, and wrong; exit 1 is sure of everyone, most of all of s3, which it gets wrong.
    # Spending the error at exit 0 closes exit 1 (depth (1 + 3 + 3 + 3) / 4 = 2.5); keeping
    # exit 0 shut and sending everyone out at exit 1 gives depth 2.0.
    conf = [[0.9, 0.1, 0.1, 0.1], [0.9, 0.9, 0.9, 0.95], [1.0, 1.0, 1.0, 1.0]]
    right = [[0, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    thresholds = choose_thresholds(conf, right, max_loss=0.25, grid=5)
    out = exit_policy(conf, right, thresholds)
    assert out.exits.tolist() == [1, 1, 1, 1]
    assert out.accuracy == 0.75 and out.mean_depth == 2.0


def test_choose_thresholds_meets_the_floor_on_random_data() -> None:
    rng = np.random.default_rng(3)
    conf = rng.random((3, 500))
    right = rng.random((3, 500)) < np.array([[0.6], [0.75], [0.9]]) + 0.1 * conf
    thresholds = choose_thresholds(conf, right, max_loss=0.02, grid=20)
    out = exit_policy(conf, right, thresholds)
    assert out.accuracy >= right[-1].mean() - 0.02
    assert out.mean_depth < 3.0  # some samples do leave early
    with pytest.raises(ConfigError, match="lower grid"):
        choose_thresholds(rng.random((4, 50)), right[:, :50].repeat(2, 0)[:4], grid=200)
