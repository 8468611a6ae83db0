"""Non-IID partitions: disjoint, complete, seeded, and skewed the way each scheme promises."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from skyline.data import partition
from skyline.errors import ConfigError

LABELS = np.repeat(np.arange(10), 100)  # 1,000 samples, 10 balanced classes


def assert_exact_cover(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))


@settings(max_examples=30, deadline=None)
@given(
    clients=st.integers(1, 40),
    alpha=st.floats(0.05, 100),
    seed=st.integers(0, 10_000),
    scheme=st.sampled_from(["dirichlet", "shards", "quantity"]),
)
def test_every_scheme_is_an_exact_cover(clients, alpha, seed, scheme):
    if scheme == "dirichlet":
        parts = partition.dirichlet(LABELS, clients, alpha, seed=seed, min_size=0)
    elif scheme == "shards":
        parts = partition.shards(LABELS, clients, 2, seed=seed)
    else:
        parts = partition.quantity(len(LABELS), clients, alpha, seed=seed)
    assert len(parts) == clients
    assert_exact_cover(parts, len(LABELS))


def test_seeds_reproduce_and_differ():
    a = partition.dirichlet(LABELS, 8, 0.5, seed=1)
    b = partition.dirichlet(LABELS, 8, 0.5, seed=1)
    c = partition.dirichlet(LABELS, 8, 0.5, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_small_alpha_concentrates_labels():
    def classes_per_client(alpha):
        counts = partition.label_counts(LABELS, partition.dirichlet(LABELS, 20, alpha, seed=0))
        return float((counts > 0).sum(axis=1).mean())

    assert classes_per_client(0.05) < 4 < 9 < classes_per_client(100.0)


def test_shards_give_each_client_at_most_its_shard_count_of_classes():
    # 10 classes x 100 samples cut into 20 shards of 50: each shard holds one class
    parts = partition.shards(LABELS, 10, 2, seed=0)
    counts = partition.label_counts(LABELS, parts)
    assert ((counts > 0).sum(axis=1) <= 2).all() and (counts.sum(axis=1) == 100).all()


def test_quantity_skew_keeps_labels_mixed_and_sizes_uneven():
    parts = partition.quantity(len(LABELS), 10, 0.3, seed=0, min_size=5)
    sizes = np.array([len(p) for p in parts])
    assert sizes.min() >= 5 and sizes.max() > 3 * sizes.min()
    big = parts[int(np.argmax(sizes))]
    assert len(np.unique(LABELS[big])) == 10  # IID labels inside a client


def test_min_size_is_honoured_or_explained():
    parts = partition.dirichlet(LABELS, 10, 0.5, seed=0, min_size=20)
    assert min(len(p) for p in parts) >= 20
    with pytest.raises(ConfigError, match="in 3 draws"):
        partition.dirichlet(LABELS, 50, 0.01, seed=0, min_size=30, attempts=3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: partition.dirichlet(LABELS, 0, 0.5), "clients"),
        (lambda: partition.dirichlet(LABELS, 10, 0.0), "alpha"),
        (lambda: partition.shards(LABELS, 600, 2), "shards"),
        (lambda: partition.quantity(10, 5, 1.0, min_size=3), "min_size"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_subsets_slice_every_tensor():
    ds = TensorDataset(torch.arange(10.0)[:, None], torch.arange(10))
    a, b = partition.subsets(ds, [np.array([0, 3]), np.array([1, 2, 4])])
    assert a.tensors[1].tolist() == [0, 3] and len(b) == 3
