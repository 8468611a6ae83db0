"""scikit-learn's bundled 8x8 handwritten digits (1,797 images): tiny, real, no download."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError


def digits() -> TensorDataset:
    """sklearn's `load_digits` as float32 N x 1 x 8 x 8 images in [0, 1] and int64 labels 0-9.

    scikit-learn is optional, so it is imported only here.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ConfigError(
            "the digits dataset ships with scikit-learn, which is not installed",
            fix="pip install scikit-learn",
        ) from exc
    bunch = load_digits()
    images = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32) / 16.0).unsqueeze(1)
    return TensorDataset(images, torch.from_numpy(np.asarray(bunch.target, dtype=np.int64)))
