"""scikit-learn's bundled Wisconsin breast-cancer diagnostic data (569 patients x 30 features):
real, public, tabular clinical data that needs no download, a stand-in for hospital records."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError


def breast_cancer() -> TensorDataset:
    """sklearn's `load_breast_cancer` as raw float32 N x 30 features (cell-nucleus measurements
    from fine-needle aspirate images) and int64 labels (0 malignant, 1 benign).

    Unscaled: standardize with statistics of a training split only (`standardize`), so nothing
    about held-out patients leaks into training. scikit-learn is optional, imported only here.
    """
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError as exc:
        raise ConfigError(
            "the breast-cancer dataset ships with scikit-learn, which is not installed",
            fix="pip install scikit-learn",
        ) from exc
    bunch = load_breast_cancer()
    features = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32))
    return TensorDataset(features, torch.from_numpy(np.asarray(bunch.target, dtype=np.int64)))


def standardize(train: TensorDataset, *others: TensorDataset) -> tuple[TensorDataset, ...]:
    """`train` and `others` with features shifted and scaled by the mean and standard deviation
    of `train` alone (constant features are only shifted)."""
    x = train.tensors[0]
    mean, std = x.mean(0), x.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return tuple(
        TensorDataset((d.tensors[0] - mean) / std, *d.tensors[1:]) for d in (train, *others)
    )
