"""Fashion-MNIST from the IDX files on disk (Debian package `dataset-fashion-mnist`), no download.

Images become float32 N x 1 x 28 x 28: pixels scaled to [0, 1], then standardized with the train
set's pixel mean and std (below), the usual input scaling for small CNNs. Labels are int64 0-9.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import TensorDataset

from skyline.data.idx import read_idx
from skyline.errors import ConfigError

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
ROOT_ENV = "SKYLINE_FASHION_MNIST"
# Pixel mean and std of the 60k training images after scaling to [0, 1] (measured from the files).
MEAN = 0.2860
STD = 0.3530
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_PREFIX = {"train": "train", "test": "t10k"}
_SIDE = 28

Split = Literal["train", "test"]


def _root(root: str | Path | None) -> Path:
    if root is not None:
        return Path(root)
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


@functools.lru_cache(maxsize=4)
def _decoded(images: Path, labels: Path, stamp: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Decoded (images, labels), cached per process; `stamp` (sizes, mtimes) drops stale entries."""
    del stamp  # only part of the cache key
    x = read_idx(images, ndim=3)
    y = read_idx(labels, ndim=1)
    if x.shape[1:] != (_SIDE, _SIDE):
        raise ConfigError(
            f"{images} holds {x.shape[1]}x{x.shape[2]} images, Fashion-MNIST's are 28x28",
            fix=f"point {ROOT_ENV} at the Fashion-MNIST IDX files",
        )
    if len(x) != len(y):
        raise ConfigError(
            f"{images} has {len(x)} images but {labels} has {len(y)} labels",
            fix="use the image and label files of the same split and release",
        )
    if y.size and int(y.max()) >= len(CLASSES):
        raise ConfigError(
            f"{labels} holds label {int(y.max())}, Fashion-MNIST's are 0-9",
            fix=f"point {ROOT_ENV} at the Fashion-MNIST IDX files",
        )
    return x, y


def fashion_mnist(
    split: Split = "train", *, root: str | Path | None = None, limit: int | None = None
) -> TensorDataset:
    """The Fashion-MNIST `split` as (images, labels); `limit` keeps the first `limit` samples.

    Files are looked up in `root`, else `$SKYLINE_FASHION_MNIST`, else
    /usr/share/datasets/fashion-mnist. Decoding happens once per process and file.
    """
    if split not in _PREFIX:
        raise ConfigError(f"unknown Fashion-MNIST split {split!r}", fix="use 'train' or 'test'")
    base = _root(root)
    paths = [
        base / f"{_PREFIX[split]}-{kind}-idx{n}-ubyte.gz"
        for kind, n in (("images", 3), ("labels", 1))
    ]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(
            f"Fashion-MNIST file {missing[0]} not found",
            fix="install the Debian package dataset-fashion-mnist (apt-get install "
            f"dataset-fashion-mnist) or set {ROOT_ENV} to the folder holding the IDX .gz files",
        )
    stamp = tuple(v for p in paths for v in (p.stat().st_size, p.stat().st_mtime_ns))
    x, y = _decoded(paths[0], paths[1], stamp)
    if limit is not None:
        if not 0 < limit <= len(y):
            raise ConfigError(
                f"limit={limit} is outside 1..{len(y)} for the {split} split",
                fix=f"pass a limit between 1 and {len(y)}, or None for all samples",
            )
        x, y = x[:limit], y[:limit]
    images = torch.from_numpy(x.astype(np.float32)).unsqueeze(1).div_(255.0).sub_(MEAN).div_(STD)
    return TensorDataset(images, torch.from_numpy(y.astype(np.int64)))
