"""Joint training and batched evaluation of multi-exit (or plain single-output) classifiers.

A model may return one logits tensor or a list of them (one per exit); a single tensor is treated
as a one-exit model, so the cascade's edge and cloud models train with the same loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError

Progress = Callable[[int, float], None]


def _exit_logits(output: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [output] if isinstance(output, Tensor) else list(output)


def train_joint(
    model: nn.Module,
    train_ds: TensorDataset,
    *,
    epochs: int,
    weights: Sequence[float] | None = None,
    lr: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[float]:
    """Adam on the weighted sum of every exit's cross-entropy; returns the mean loss per epoch.

    `weights` (one per exit, default all 1) trade early-exit accuracy against the final exit's,
    as in BranchyNet. Shuffling uses its own generator seeded by `seed`, so the caller's global
    RNG is untouched and runs repeat. `progress(epoch, mean_loss)` is called after each epoch.
    The model is left in eval mode.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(
            f"epochs={epochs}, batch_size={batch_size}, lr={lr} must all be positive",
            fix="pass epochs >= 1, batch_size >= 1 and lr > 0",
        )
    images, labels = train_ds.tensors
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    model.train()
    try:
        for epoch in range(epochs):
            total = 0.0
            order = torch.randperm(len(labels), generator=generator)
            for batch in order.split(batch_size):
                outputs = _exit_logits(model(images[batch]))
                w = [1.0] * len(outputs) if weights is None else list(weights)
                if len(w) != len(outputs):
                    raise ConfigError(
                        f"{len(w)} loss weights for a model with {len(outputs)} exits",
                        fix="pass one weight per exit (or weights=None for all 1)",
                    )
                loss = sum(
                    (wk * F.cross_entropy(out, labels[batch]) for wk, out in zip(w, outputs)),
                    torch.zeros(()),
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            losses.append(total / len(labels))
            if progress is not None:
                progress(epoch, losses[-1])
    finally:
        model.eval()
    return losses


@torch.no_grad()
def predict_logits(model: nn.Module, ds: TensorDataset, *, batch_size: int = 1000) -> list[Tensor]:
    """Every exit's logits over `ds` (eval mode, no grad), one N x classes tensor per exit."""
    model.eval()
    batches = [_exit_logits(model(x)) for x in ds.tensors[0].split(batch_size)]
    return [torch.cat(per_exit) for per_exit in zip(*batches)]


def evaluate(model: nn.Module, ds: TensorDataset, *, batch_size: int = 1000) -> list[float]:
    """Top-1 accuracy of every exit on `ds`, final exit last."""
    labels = ds.tensors[1]
    return [
        float((logits.argmax(1) == labels).float().mean())
        for logits in predict_logits(model, ds, batch_size=batch_size)
    ]
