"""Non-IID partitions of a labelled dataset across federated clients.

Three standard skews, each returning one index array per client (disjoint, covering every
sample, seeded):
- `dirichlet`: label skew, per class proportions ~ Dir(alpha) over clients (Hsu et al., 2019);
  alpha -> 0 gives each client few classes, alpha -> inf approaches IID.
- `shards`: sort by label, cut into equal shards, deal `shards_per_client` to each client
  (McMahan et al., 2017): each client sees about that many classes.
- `quantity`: IID labels, client sizes ~ Dir(alpha) (quantity skew).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError


def _check(n: int, clients: int, alpha: float | None = None) -> None:
    if clients < 1 or clients > n:
        raise ConfigError(
            f"cannot split {n} samples among {clients} clients",
            fix=f"use between 1 and {n} clients",
        )
    if alpha is not None and not alpha > 0:
        raise ConfigError(f"alpha must be > 0, got {alpha}", fix="pass e.g. alpha=0.5")


def _sizes_ok(parts: Sequence[np.ndarray], min_size: int) -> bool:
    return min(len(p) for p in parts) >= min_size


def dirichlet(
    labels: ArrayLike,
    clients: int,
    alpha: float,
    *,
    seed: int = 0,
    min_size: int = 1,
    attempts: int = 100,
) -> list[np.ndarray]:
    """Label-skewed split: each class's samples go to clients in Dir(alpha) proportions.
    Redrawn (up to `attempts` times) until every client holds at least `min_size` samples."""
    y = np.asarray(labels)
    _check(len(y), clients, alpha)
    rng = np.random.default_rng(seed)
    for _ in range(attempts):
        buckets: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for cls in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == cls))
            cuts = (np.cumsum(rng.dirichlet(np.full(clients, alpha))) * len(idx)).astype(int)
            for client, chunk in enumerate(np.split(idx, cuts[:-1])):
                buckets[client].append(chunk)
        parts = [np.sort(np.concatenate(b)) for b in buckets]
        if _sizes_ok(parts, min_size):
            return parts
    raise ConfigError(
        f"no Dirichlet({alpha}) split of {len(y)} samples gave all {clients} clients "
        f">= {min_size} samples in {attempts} draws",
        fix="raise alpha, lower min_size, or use fewer clients",
    )


def shards(
    labels: ArrayLike, clients: int, shards_per_client: int = 2, *, seed: int = 0
) -> list[np.ndarray]:
    """Pathological label skew: label-sorted shards dealt at random, `shards_per_client` each
    (the remainder of an uneven division goes to the last shard)."""
    y = np.asarray(labels)
    count = clients * shards_per_client
    if shards_per_client < 1 or count > len(y):
        raise ConfigError(
            f"{clients} clients x {shards_per_client} shards exceed {len(y)} samples",
            fix="use fewer clients or shards per client",
        )
    _check(len(y), clients)
    rng = np.random.default_rng(seed)
    order = np.argsort(y, kind="stable")
    pieces = np.array_split(order, count)
    dealt = rng.permutation(count).reshape(clients, shards_per_client)
    return [np.sort(np.concatenate([pieces[s] for s in row])) for row in dealt]


def quantity(
    n: int, clients: int, alpha: float, *, seed: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """Quantity skew: a random (IID) order cut into client sizes ~ Dir(alpha), each at least
    `min_size` (the minimum is given first, the rest shared by the Dirichlet draw)."""
    _check(n, clients, alpha)
    if min_size * clients > n:
        raise ConfigError(
            f"{clients} clients x min_size {min_size} exceed {n} samples", fix="lower min_size"
        )
    rng = np.random.default_rng(seed)
    spare = n - min_size * clients
    extra = np.floor(rng.dirichlet(np.full(clients, alpha)) * spare).astype(int)
    extra[np.argmax(extra)] += spare - extra.sum()  # rounding leftovers to the largest
    sizes = extra + min_size
    return [np.sort(p) for p in np.split(rng.permutation(n), np.cumsum(sizes)[:-1])]


def subsets(dataset: TensorDataset, parts: Sequence[np.ndarray]) -> list[TensorDataset]:
    """One TensorDataset per client from index arrays."""
    return [TensorDataset(*(t[p] for t in dataset.tensors)) for p in parts]


def label_counts(labels: ArrayLike, parts: Sequence[np.ndarray]) -> np.ndarray:
    """clients x classes sample counts: what a partition did, for reports and tests."""
    y = np.asarray(labels)
    classes = np.unique(y)
    return np.array([[int((y[p] == c).sum()) for c in classes] for p in parts])
