"""Cost-quality curves of routers: mean answer quality against the share of prompts sent to
the cloud, and thresholds that send a target share.

Sending prompt i replaces its edge quality by its cloud quality. With prompts ranked by a
router's score, quality after sending the top m is the edge's mean plus the running sum of
the gaps over those m: one cumulative sum gives the whole curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from skyline.cascade import threshold_for_share
from skyline.errors import ConfigError
from skyline.llm.routing.base import Router
from skyline.llm.routing.signals import Labels, Measured


def _check_shares(shares: Sequence[float]) -> None:
    bad = [s for s in shares if not 0.0 <= s <= 1.0]
    if bad or not shares:
        raise ConfigError(f"shares {bad or '[]'} are not in [0, 1]", fix="pass fractions of N")


def curve(scores: np.ndarray, labels: Labels, shares: Sequence[float]) -> list[tuple[float, float]]:
    """(share actually sent, mean quality) per requested share: the top round(share x N)
    prompts by score go to the cloud (ties keep prompt order)."""
    _check_shares(shares)
    s = np.asarray(scores, dtype=np.float64)
    n = len(labels)
    if s.shape != (n,):
        raise ConfigError(f"{s.shape} scores for {n} prompts", fix="score the labelled prompts")
    gain = labels.gap[np.argsort(-s, kind="stable")]
    reached = float(np.sum(labels.edge_quality)) + np.concatenate([[0.0], np.cumsum(gain)])
    return [(round(share * n) / n, float(reached[round(share * n)]) / n) for share in shares]


def random_line(labels: Labels, share: float) -> float:
    """Expected quality when a uniformly random `share` of prompts is sent: the edge's mean
    quality plus `share` of the mean gap (each prompt is sent with probability `share`)."""
    _check_shares([share])
    return float(np.mean(labels.edge_quality) + share * np.mean(labels.gap))


def area(points: Sequence[tuple[float, float]]) -> float:
    """Mean quality over the shares covered (trapezoids): one number to rank curves by."""
    xs, ys = np.array(points).T
    if len(xs) < 2 or xs[-1] <= xs[0]:
        raise ConfigError("an area needs a curve over two or more shares", fix="e.g. 0..1")
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)) / (xs[-1] - xs[0]))


@dataclass(frozen=True)
class RouterResult:
    """One router on a test set: its curve, area and quality at exactly the target share
    (`at_target_share`, from the curve), and the deployed view: the threshold that sent at
    most the target share of the fit prompts, applied to the test prompts (`share`, `quality`;
    ties in scores can make it send less)."""

    router: str
    points: list[tuple[float, float]]
    area: float
    at_target_share: float
    threshold: float
    share: float
    quality: float


def compare(
    routers: Mapping[str, Router],
    fit: Measured,
    test: Measured,
    shares: Sequence[float],
    target_share: float,
) -> list[RouterResult]:
    """Fit every router on `fit` (a no-op for those that learn nothing), pick its threshold
    for `target_share` on `fit`, and measure its curve and its threshold on `test` (both
    labelled): how it would be deployed."""
    if fit.labels is None or test.labels is None:
        raise ConfigError(
            "comparing routers needs labelled prompt sets", fix="measure them with the target"
        )
    results = []
    for name, router in routers.items():
        router.fit(fit.signals, fit.labels)
        threshold = threshold_for_share(router.score(fit.signals, fit.labels), target_share)
        scores = router.score(test.signals, test.labels)
        points = curve(scores, test.labels, shares)
        (_, at_target), *_ = curve(scores, test.labels, [target_share])
        sent = scores >= threshold
        quality = np.where(sent, test.labels.cloud_quality, test.labels.edge_quality)
        results.append(
            RouterResult(
                name,
                points,
                area(points),
                at_target,
                threshold,
                float(sent.mean()),
                float(quality.mean()),
            )
        )
    return results
