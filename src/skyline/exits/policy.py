"""The "exit when confident" decision, in plain Python outside the traced model.

A sample stops at the first early exit whose (calibrated) confidence reaches that exit's
threshold, else at the final exit. `choose_thresholds` picks thresholds on held-out data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from skyline.errors import ConfigError

_MAX_COMBINATIONS = 1_000_000


@dataclass(frozen=True)
class ExitOutcome:
    """Where each sample exits and what that yields.

    `mean_depth` counts exits 1-based (1 = everyone leaves at the first exit, `num_exits` =
    everyone runs the whole model); `fractions[k]` is the share of samples leaving at exit k.
    """

    exits: np.ndarray
    accuracy: float
    mean_depth: float
    fractions: tuple[float, ...]


def _arrays(confidences: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if conf.ndim != 2 or ok.shape != conf.shape or conf.size == 0:
        raise ConfigError(
            f"confidences {conf.shape} and correct {ok.shape} must both be exits x samples",
            fix="stack one row per exit: max softmax probability, and prediction == label",
        )
    return conf, ok


def exit_policy(
    confidences: ArrayLike, correct: ArrayLike, thresholds: Sequence[float]
) -> ExitOutcome:
    """Apply per-exit `thresholds` (one per early exit; `inf` disables an exit).

    `confidences` and `correct` are exits x samples: each exit's confidence in its prediction
    and whether that prediction is right.
    """
    conf, ok = _arrays(confidences, correct)
    num_exits, n = conf.shape
    if len(thresholds) != num_exits - 1:
        raise ConfigError(
            f"{len(thresholds)} thresholds for {num_exits - 1} early exits",
            fix="pass one threshold per exit except the final one",
        )
    stop = np.vstack(
        [conf[:-1] >= np.asarray(thresholds, dtype=np.float64)[:, None], np.ones((1, n), bool)]
    )
    exits = stop.argmax(axis=0)  # first exit whose confidence suffices
    counts = np.bincount(exits, minlength=num_exits)
    return ExitOutcome(
        exits=exits,
        accuracy=float(ok[exits, np.arange(n)].mean()),
        mean_depth=float(exits.mean() + 1),
        fractions=tuple(float(c) / n for c in counts),
    )


def choose_thresholds(
    confidences: ArrayLike, correct: ArrayLike, *, max_loss: float = 0.01, grid: int = 50
) -> tuple[float, ...]:
    """Thresholds giving the lowest mean exit depth at accuracy >= final-exit accuracy - max_loss.

    Searches every combination of `grid` confidence quantiles (plus "never exit") per early
    exit on held-out data, so the answer is exact on that grid for any number of exits (the
    cost grows as grid ** early exits). Ties go to the more accurate combination.
    """
    conf, ok = _arrays(confidences, correct)
    if not 0 <= max_loss < 1 or grid < 1:
        raise ConfigError(
            f"max_loss={max_loss}, grid={grid}", fix="pass 0 <= max_loss < 1 and grid >= 1"
        )
    candidates = [
        [*np.unique(np.quantile(row, np.linspace(0.0, 1.0, grid))).tolist(), math.inf]
        for row in conf[:-1]
    ]
    if math.prod(len(c) for c in candidates) > _MAX_COMBINATIONS:
        raise ConfigError(
            f"{grid} candidates for each of {len(candidates)} early exits are too many to search",
            fix="lower grid",
        )
    floor = float(ok[-1].mean()) - max_loss
    best: tuple[float, float, tuple[float, ...]] | None = None
    for thresholds in itertools.product(*candidates):
        outcome = exit_policy(conf, ok, thresholds)
        if outcome.accuracy < floor - 1e-12:
            continue
        key = (outcome.mean_depth, -outcome.accuracy, thresholds)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None  # all-inf (everyone at the final exit) always meets the floor
    return best[2]
