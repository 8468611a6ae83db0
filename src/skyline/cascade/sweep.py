"""Accuracy of an edge-cloud cascade as a function of how much is sent, and thresholds for it.

Sending a sample replaces the edge's prediction by the cloud's. With samples ranked by a
policy's score, the accuracy after sending the top m is the edge's accuracy plus the running
sum of (cloud right - edge right) over those m: one cumulative sum gives the whole curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from skyline.cascade.policies import HardExamplePolicy, as_probs, correct, create
from skyline.errors import ConfigError


def _outcomes(
    edge_probs: ArrayLike, cloud_probs: ArrayLike, labels: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    p, q = as_probs(edge_probs), as_probs(cloud_probs, "cloud_probs")
    if p.shape != q.shape:
        raise ConfigError(
            f"edge_probs {p.shape} and cloud_probs {q.shape} differ in shape",
            fix="score the same samples with both models",
        )
    return correct(p, labels), correct(q, labels)


def _scores(scores: ArrayLike, n: int | None = None) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or (n is not None and s.size != n) or np.isnan(s).any():
        raise ConfigError(
            f"scores of shape {s.shape} (expected {n or 'N >= 1'} numbers, no NaN)",
            fix="pass one score per sample, as returned by policy.score()",
        )
    return s


def sweep(
    policy: HardExamplePolicy | str,
    edge_probs: ArrayLike,
    cloud_probs: ArrayLike,
    labels: ArrayLike,
    fractions: Sequence[float],
) -> list[tuple[float, float]]:
    """(fraction actually sent, cascade accuracy) for each requested fraction in [0, 1].

    The top round(fraction x N) samples by score are sent (ties keep sample order). A policy
    given by name is created with default arguments, so `learned` must be passed fitted.
    """
    if isinstance(policy, str):
        policy = create(policy)
    edge_ok, cloud_ok = _outcomes(edge_probs, cloud_probs, labels)
    scores = policy.score(edge_probs, cloud_probs=cloud_probs, labels=labels)
    n = len(scores)
    gain = (cloud_ok.astype(np.int64) - edge_ok)[np.argsort(-scores, kind="stable")]
    reached = int(edge_ok.sum()) + np.concatenate([[0], np.cumsum(gain)])
    curve = []
    for fraction in fractions:
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"fraction {fraction} is outside [0, 1]", fix="pass shares of N")
        m = round(fraction * n)
        curve.append((m / n, float(reached[m]) / n))
    return curve


def _sent_counts(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct scores in decreasing order and, for each, how many samples score >= it."""
    ascending = np.sort(scores)
    values = np.unique(scores)[::-1]
    return values, len(scores) - np.searchsorted(ascending, values, side="left")


def threshold_for_share(scores: ArrayLike, share: float) -> float:
    """The lowest threshold t such that sending every score >= t sends at most `share` of them.

    Computed on held-out scores, it is what a deployment uses; `inf` sends nothing.
    """
    s = _scores(scores)
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"share {share} is outside [0, 1]", fix="pass a fraction of samples")
    values, counts = _sent_counts(s)
    fits = counts <= share * len(s) + 1e-9
    return float(values[fits][-1]) if fits.any() else math.inf


def threshold_for_accuracy(
    scores: ArrayLike,
    edge_probs: ArrayLike,
    cloud_probs: ArrayLike,
    labels: ArrayLike,
    target: float,
) -> float:
    """The highest threshold (fewest samples sent) whose cascade accuracy reaches `target`.

    `inf` if the edge alone reaches it; `ConfigError` if no threshold does.
    """
    edge_ok, cloud_ok = _outcomes(edge_probs, cloud_probs, labels)
    s = _scores(scores, len(edge_ok))
    gain = cloud_ok.astype(np.int64) - edge_ok
    if edge_ok.mean() >= target:
        return math.inf
    values, counts = _sent_counts(s)
    order = np.argsort(-s, kind="stable")
    accuracy = (edge_ok.sum() + np.cumsum(gain[order])[counts - 1]) / len(s)
    reached = np.flatnonzero(accuracy >= target)
    if reached.size == 0:
        raise ConfigError(
            f"no threshold reaches accuracy {target:.4f}; the best is {accuracy.max():.4f}",
            fix="lower the target, or improve the cloud model",
        )
    return float(values[reached[0]])


def gap_recovered(acc_at_fraction: float, edge_acc: float, cloud_acc: float) -> float:
    """Share of the edge-to-cloud accuracy gap a cascade closes: 0 = edge alone, 1 = cloud."""
    if not cloud_acc > edge_acc:
        raise ConfigError(
            f"cloud accuracy {cloud_acc:.4f} is not above edge accuracy {edge_acc:.4f}",
            fix="there is no gap to recover; check the models and that the cloud is trained",
        )
    return (acc_at_fraction - edge_acc) / (cloud_acc - edge_acc)
