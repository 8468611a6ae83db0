"""Hard-example policies: which edge predictions to send to the cloud (Sedna's joint inference).

Each policy scores samples from the edge model's softmax output, higher = harder = send first;
a deployment sends every sample whose score reaches a threshold (`threshold_for_share`). The
`oracle` alone reads the labels and the cloud's answers: it is the upper bound, not a policy
one can deploy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from scipy.special import expit

from skyline._registry import PluginRegistry
from skyline.errors import ConfigError, RegistryError

_EPS = 1e-12


def as_probs(probs: ArrayLike, what: str = "edge_probs") -> np.ndarray:
    """`probs` as a float64 N x classes array whose rows are probability distributions."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ConfigError(
            f"{what} has shape {p.shape}",
            fix="pass N x classes softmax outputs (N >= 1, 2+ classes)",
        )
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ConfigError(
            f"the rows of {what} are not probability distributions",
            fix="apply softmax to the logits first",
        )
    return p


def correct(probs: np.ndarray, labels: ArrayLike) -> np.ndarray:
    """Whether each row's arg-max is its label."""
    y = np.asarray(labels)
    if y.shape != (probs.shape[0],):
        raise ConfigError(
            f"{y.shape[0] if y.ndim else 0} labels for {probs.shape[0]} predictions",
            fix="pass one integer label per sample",
        )
    return probs.argmax(axis=1) == y


def entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, _EPS, None))).sum(axis=1)


def margin(p: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability."""
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


class HardExamplePolicy(ABC):
    """Scores edge predictions by how likely the edge is wrong. Subclasses implement `hardness`.

    `score` (the template) validates inputs, hands the ground truth only to policies that
    declare `needs_truth`, and returns float64 scores; `fit` learns from held-out training data
    for policies that need it (default: nothing to learn).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    needs_truth: ClassVar[bool] = False

    def fit(self, edge_probs: ArrayLike, labels: ArrayLike) -> Self:
        """Learn from the edge model's outputs on a held-out split of the training set."""
        del edge_probs, labels
        return self

    def score(
        self,
        edge_probs: ArrayLike,
        *,
        cloud_probs: ArrayLike | None = None,
        labels: ArrayLike | None = None,
    ) -> np.ndarray:
        """One score per sample; higher = send to the cloud first."""
        p = as_probs(edge_probs)
        truth: tuple[np.ndarray, np.ndarray] | None = None
        if self.needs_truth:
            if cloud_probs is None or labels is None:
                raise ConfigError(
                    f"policy {self.name!r} needs cloud_probs and labels",
                    fix="pass both (it is an offline upper bound), or pick a deployable policy",
                )
            q = as_probs(cloud_probs, "cloud_probs")
            if q.shape != p.shape:
                raise ConfigError(
                    f"cloud_probs {q.shape} and edge_probs {p.shape} differ in shape",
                    fix="score the same samples with both models",
                )
            truth = (correct(p, labels), correct(q, labels))
        scores = np.asarray(self.hardness(p, truth), dtype=np.float64)
        if scores.shape != (p.shape[0],):
            raise RegistryError(
                f"policy {self.name!r} returned {scores.shape} scores for {p.shape[0]} samples",
                fix="return one score per row of edge_probs from hardness()",
            )
        return scores

    @abstractmethod
    def hardness(
        self, edge_probs: np.ndarray, truth: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        """Scores for validated probabilities; `truth` = (edge correct, cloud correct) or None."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


POLICIES: PluginRegistry[HardExamplePolicy] = PluginRegistry(
    "hard-example policy", HardExamplePolicy, "skyline.cascade.HardExamplePolicy"
)
register = POLICIES.add
check_policy = POLICIES.check
create = POLICIES.create
names = POLICIES.names


@register
class MaxProb(HardExamplePolicy):
    name = "max-prob"
    description = "1 - max softmax probability (Sedna's ThresholdFilter)"

    def hardness(
        self, edge_probs: np.ndarray, truth: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        return 1.0 - edge_probs.max(axis=1)


@register
class Entropy(HardExamplePolicy):
    name = "entropy"
    description = "entropy of the softmax output (Sedna's CrossEntropyFilter)"

    def hardness(
        self, edge_probs: np.ndarray, truth: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        return entropy(edge_probs)


@register
class Margin(HardExamplePolicy):
    name = "margin"
    description = "1 - (top-1 minus top-2 probability)"

    def hardness(
        self, edge_probs: np.ndarray, truth: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        return 1.0 - margin(edge_probs)


@register
class Random(HardExamplePolicy):
    name = "random"
    description = "uniform random scores (seeded): the no-information baseline"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def hardness(
        self, edge_probs: np.ndarray, truth: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        return np.random.default_rng(self.seed).random((len(edge_probs),))


@register
class Oracle(HardExamplePolicy):
    name = "oracle"
    description = "edge wrong and cloud right first, then no-change, then cloud-wrong: the bound"
    needs_truth = True

    def hardness(
        self, edge_probs: np.ndarray, truth: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        assert truth is not None  # the template passes it because needs_truth is set
        edge_ok, cloud_ok = truth
        return cloud_ok.astype(np.float64) - edge_ok.astype(np.float64) + 1.0


def features(p: np.ndarray) -> np.ndarray:
    """What `learned` sees: sorted probabilities, entropy, margin, log max-prob, predicted class.

    The one-hot predicted class lets it learn that some classes (e.g. Fashion-MNIST's "Shirt")
    are wrong more often than their confidence says.
    """
    one_hot = np.eye(p.shape[1])[p.argmax(axis=1)]
    log_top = np.log(np.clip(p.max(axis=1), _EPS, None))
    return np.column_stack([np.sort(p, axis=1)[:, ::-1], entropy(p), margin(p), log_top, one_hot])


@register
class Learned(HardExamplePolicy):
    """L2-regularised logistic regression predicting "the edge is wrong" from `features`.

    Fit it on the edge model's outputs for a held-out split of the *training* set (never the
    test set): the edge model must not have trained on those samples, or it looks too sure.
    """

    name = "learned"
    description = "logistic regression on confidence features, fitted on held-out train data"

    def __init__(self, l2: float = 1e-3, max_iter: int = 200) -> None:
        self.l2 = l2
        self.max_iter = max_iter
        self._mean: np.ndarray | None = None
        self._std = np.ones(1)
        self._weights = np.zeros(1)

    def fit(self, edge_probs: ArrayLike, labels: ArrayLike) -> Self:
        p = as_probs(edge_probs)
        wrong = ~correct(p, labels)
        x = features(p)
        self._mean, self._std = x.mean(axis=0), x.std(axis=0) + 1e-6
        xs = torch.from_numpy(np.column_stack([(x - self._mean) / self._std, np.ones(len(x))]))
        target = torch.from_numpy(wrong.astype(np.float64))
        w = torch.zeros(xs.shape[1], dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([w], max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(xs @ w, target)
            loss = loss + self.l2 * (w[:-1] ** 2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self._weights = w.detach().numpy()
        return self

    def hardness(
        self, edge_probs: np.ndarray, truth: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        if self._mean is None:
            raise ConfigError(
                "the learned policy has not been fitted",
                fix="call fit(edge_probs, labels) on a held-out split of the training set first",
            )
        x = features(edge_probs)
        if x.shape[1] != len(self._mean):
            raise ConfigError(
                f"fitted on {len(self._mean)} features, got {x.shape[1]}",
                fix="score outputs with as many classes as the policy was fitted on",
            )
        logit = (x - self._mean) / self._std @ self._weights[:-1] + self._weights[-1]
        return np.asarray(expit(logit))  # P(edge wrong)
