"""Seeded hold-out splits, so calibration and policy fitting never see the training samples."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError


def split_holdout(
    dataset: TensorDataset, holdout: int, *, seed: int = 0
) -> tuple[TensorDataset, TensorDataset]:
    """(rest, held_out): `holdout` samples drawn at random (seeded) and the remaining ones."""
    n = len(dataset)
    if not 0 < holdout < n:
        raise ConfigError(
            f"cannot hold out {holdout} of {n} samples",
            fix=f"pass a holdout between 1 and {n - 1}",
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    rest, held = order[holdout:], order[:holdout]
    return (
        TensorDataset(*(t[rest] for t in dataset.tensors)),
        TensorDataset(*(t[held] for t in dataset.tensors)),
    )
