"""The built-in routers: two draft-model signals, a learned combination of all of them, and
the random baseline and oracle bound every curve is read against."""

from __future__ import annotations

from typing import Literal, Self

import numpy as np

from skyline.errors import ConfigError
from skyline.llm.routing.base import Router, register
from skyline.llm.routing.signals import Labels, Signals


@register
class EdgeConfidence(Router):
    """1 - the draft's mean max-probability on its own answer (a cascade: answer, then
    escalate) or on the prompt (decide before generating)."""

    name = "edge-confidence"
    description = "1 - mean max-probability of the draft on its answer (or on the prompt)"

    def __init__(self, on: Literal["answer", "prompt"] = "answer") -> None:
        if on not in ("answer", "prompt"):
            raise ConfigError(f"on={on!r}", fix="pass on='answer' or on='prompt'")
        self.on = on

    def hardness(self, signals: Signals, labels: Labels | None) -> np.ndarray:
        confidence = signals.answer_confidence if self.on == "answer" else signals.prompt_confidence
        return 1.0 - np.asarray(confidence)


@register
class DraftLoss(Router):
    """The draft's mean next-token loss on the prompt: text the draft predicts badly is text
    it will continue badly. Needs no generation, so it routes before the edge spends time."""

    name = "draft-loss"
    description = "mean next-token loss of the draft on the prompt"

    def hardness(self, signals: Signals, labels: Labels | None) -> np.ndarray:
        return np.asarray(signals.prompt_loss)


@register
class Learned(Router):
    """Ridge regression of the quality gap on every signal (standardized), fitted on labelled
    prompts other than those it routes. Closed form: deterministic, no tuning loop."""

    name = "learned"
    description = "ridge regression of the quality gap on the draft's signals"

    def __init__(self, l2: float = 1e-2) -> None:
        if l2 < 0:
            raise ConfigError(f"l2 = {l2}", fix="pass a penalty >= 0")
        self.l2 = l2
        self._fit: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # mean, std, weights

    def fit(self, signals: Signals, labels: Labels) -> Self:
        if len(labels) != len(signals):
            raise ConfigError(
                f"{len(labels)} labels for {len(signals)} prompts",
                fix="measure labels and signals on the same prompts",
            )
        x = signals.matrix()
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)  # a constant signal (e.g. one prompt length)
        xs = np.column_stack([(x - mean) / std, np.ones(len(x))])
        penalty = self.l2 * len(x) * np.diag([1.0] * (xs.shape[1] - 1) + [0.0])  # no bias
        weights = np.linalg.solve(xs.T @ xs + penalty, xs.T @ labels.gap)
        self._fit = (mean, std, weights)
        return self

    def hardness(self, signals: Signals, labels: Labels | None) -> np.ndarray:
        if self._fit is None:
            raise ConfigError(
                "the learned router has not been fitted",
                fix="call fit(signals, labels) on labelled prompts other than those routed",
            )
        mean, std, weights = self._fit
        return (signals.matrix() - mean) / std @ weights[:-1] + weights[-1]


@register
class Random(Router):
    """Uniform random scores (seeded): the no-information baseline. In expectation its curve
    is the straight line from the edge's quality to the cloud's (`random_line`)."""

    name = "random"
    description = "uniform random scores: the no-information baseline"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def hardness(self, signals: Signals, labels: Labels | None) -> np.ndarray:
        return np.random.default_rng(self.seed).random(len(signals))


@register
class Oracle(Router):
    """The quality gap itself: the best any router can do at every share (an offline bound)."""

    name = "oracle"
    description = "the measured quality gap: the upper bound"
    needs_labels = True

    def hardness(self, signals: Signals, labels: Labels | None) -> np.ndarray:
        assert labels is not None  # the template passes them because needs_labels is set
        return labels.gap
