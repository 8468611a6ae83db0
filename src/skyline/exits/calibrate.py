"""Temperature scaling (Guo et al., 2017) and expected calibration error.

Exit decisions compare a softmax confidence with a threshold. Raw confidences of deep nets are
over-confident, and early heads differently so than late ones; one temperature per exit, fitted
on held-out data, makes "confidence 0.9" mean "right 90 % of the time" at every exit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import Tensor

from skyline.errors import ConfigError


def _logits_and_labels(logits: ArrayLike, labels: ArrayLike) -> tuple[Tensor, Tensor]:
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if z.ndim != 2 or y.shape != (z.shape[0],) or z.shape[0] == 0:
        raise ConfigError(
            f"logits of shape {tuple(z.shape)} and labels of shape {tuple(y.shape)} do not match",
            fix="pass N x classes logits and N integer labels (N >= 1)",
        )
    return z, y


def fit_temperature(logits: ArrayLike, labels: ArrayLike, *, max_iter: int = 100) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T) on (held-out) `labels`.

    Optimises log T with LBFGS, so T stays positive without constraints; float64 keeps the
    optimum exact enough to recover a known T from synthetic data.
    """
    z, y = _logits_and_labels(logits, labels)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def calibrated_probs(logits: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature) as a float64 array."""
    if not temperature > 0:
        raise ConfigError(
            f"temperature {temperature} is not positive", fix="use a T > 0 from fit_temperature"
        )
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    return torch.softmax(z / temperature, dim=-1).numpy()


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, *, bins: int = 15) -> float:
    """ECE: sum over equal-width confidence bins of (bin share) x |accuracy - mean confidence|.

    Confidence is the max probability and bin b holds confidences in (b/bins, (b+1)/bins], the
    standard definition (Naeini et al. 2015; Guo et al. 2017).
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or y.shape != (p.shape[0],) or p.shape[0] == 0 or bins < 1:
        raise ConfigError(
            f"probs of shape {p.shape}, labels of shape {y.shape}, bins={bins} do not fit",
            fix="pass N x classes probabilities, N labels (N >= 1) and bins >= 1",
        )
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    # Per bin, n_b/N * |acc_b - conf_b| = |sum of (correct - confidence)| / N.
    gap = np.bincount(which, weights=correct - confidence, minlength=bins)
    return float(np.abs(gap).sum() / len(y))
