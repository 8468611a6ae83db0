"""The learning task every client and aggregator shares: dataset, non-IID shard, model, local
training and evaluation. Weights travel as lists of numpy arrays in `state_dict` order, the
form Flower's `ArrayRecord` carries."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from skyline.data import breast_cancer, digits, fashion_mnist, partition, standardize
from skyline.errors import ConfigError

Weights = list[np.ndarray]
DATASETS = ("fashion_mnist", "digits", "breast_cancer")
CLASSES = {"fashion_mnist": 10, "digits": 10, "breast_cancer": 2}
TABULAR = frozenset({"breast_cancer"})  # feature vectors: only the MLP applies
MODELS = ("mlp", "cnn")
PARTITIONS = ("dirichlet", "shards", "quantity", "iid")


@dataclass(frozen=True)
class Task:
    """What is learned and how the data is spread. Frozen and plain, so it pickles into
    Ray actors and prints into result JSON."""

    dataset: str = "fashion_mnist"
    model: str = "mlp"
    clients: int = 20
    partition: str = "dirichlet"
    alpha: float = 0.5
    seed: int = 0
    batch_size: int = 32
    lr: float = 0.05
    epochs: int = 1

    def __post_init__(self) -> None:
        for field, value, allowed in (
            ("dataset", self.dataset, DATASETS),
            ("model", self.model, MODELS),
            ("partition", self.partition, PARTITIONS),
        ):
            if value not in allowed:
                raise ConfigError(
                    f"task {field}={value!r} is unknown", fix=f"use one of {', '.join(allowed)}"
                )
        if self.dataset in TABULAR and self.model != "mlp":
            raise ConfigError(
                f"task model={self.model!r} needs images; {self.dataset} is tabular",
                fix="use model='mlp'",
            )
        for field, number in (
            ("clients", self.clients),
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
        ):
            if number < 1:
                raise ConfigError(f"task {field}={number} must be >= 1", fix=f"set {field} >= 1")
        if not self.lr > 0:
            raise ConfigError(f"task lr={self.lr} must be > 0", fix="set e.g. lr=0.05")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=4)
def _datasets(name: str, seed: int) -> tuple[TensorDataset, TensorDataset]:
    """(train, test); sklearn's datasets are split 80/20 by `seed`, tabular features
    standardized with training statistics only."""
    if name == "fashion_mnist":
        return fashion_mnist("train"), fashion_mnist("test")
    full = breast_cancer() if name == "breast_cancer" else digits()
    order = np.random.default_rng(seed).permutation(len(full))
    cut = int(0.8 * len(order))
    train, test = (
        TensorDataset(*(t[order[s]] for t in full.tensors)) for s in (slice(cut), slice(cut, None))
    )
    if name in TABULAR:
        train, test = standardize(train, test)
    return train, test


@functools.lru_cache(maxsize=4)
def _parts(task: Task) -> tuple[np.ndarray, ...]:
    train, _ = _datasets(task.dataset, task.seed)
    labels = train.tensors[1].numpy()
    if task.partition == "dirichlet":
        parts = partition.dirichlet(labels, task.clients, task.alpha, seed=task.seed, min_size=8)
    elif task.partition == "shards":
        parts = partition.shards(labels, task.clients, seed=task.seed)
    elif task.partition == "quantity":
        parts = partition.quantity(
            len(labels), task.clients, task.alpha, seed=task.seed, min_size=8
        )
    else:
        order = np.random.default_rng(task.seed).permutation(len(labels))
        parts = [np.sort(p) for p in np.array_split(order, task.clients)]
    return tuple(parts)


def client_data(task: Task, cid: int) -> TensorDataset:
    """Client `cid`'s training shard (deterministic from the task, so every process agrees)."""
    if not 0 <= cid < task.clients:
        raise ConfigError(f"client id {cid} is outside 0..{task.clients - 1}", fix="check clients")
    train, _ = _datasets(task.dataset, task.seed)
    idx = torch.from_numpy(_parts(task)[cid])
    return TensorDataset(*(t[idx] for t in train.tensors))


def samples(task: Task, cids: Iterable[int]) -> int:
    """Training samples held by clients `cids` (the weight of their aggregate), without
    materializing their shards."""
    parts = _parts(task)
    return sum(len(parts[c]) for c in cids)


def test_data(task: Task) -> TensorDataset:
    """The held-out test split the global model is judged on."""
    return _datasets(task.dataset, task.seed)[1]


def build_model(task: Task) -> nn.Module:
    """A fresh model, identical in every process for the same seed."""
    train, _ = _datasets(task.dataset, task.seed)
    shape = tuple(train.tensors[0].shape[1:])
    classes = CLASSES[task.dataset]
    torch.manual_seed(task.seed)
    if task.model == "mlp":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(int(np.prod(shape)), 64), nn.ReLU(), nn.Linear(64, classes)
        )
    return nn.Sequential(
        nn.Conv2d(shape[0], 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(16 * 16, classes),
    )


def get_weights(model: nn.Module) -> Weights:
    return [v.detach().cpu().numpy().copy() for v in model.state_dict().values()]


def set_weights(model: nn.Module, weights: Weights) -> None:
    keys = list(model.state_dict())
    if len(keys) != len(weights):
        raise ConfigError(
            f"got {len(weights)} arrays for a model with {len(keys)} tensors",
            fix="send weights produced by the same task's model",
        )
    model.load_state_dict({k: torch.from_numpy(np.asarray(w)) for k, w in zip(keys, weights)})


def train_local(
    model: nn.Module,
    data: TensorDataset,
    task: Task,
    *,
    seed: int,
    prox_mu: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    loader: DataLoader[Any] | None = None,
) -> float:
    """`task.epochs` of SGD on `data`; returns the mean training loss. `prox_mu` > 0 adds
    FedProx's proximal term mu/2 * ||w - w_global||^2 (global = the weights at entry).
    `optimizer`/`loader` let DP-SGD pass its private versions."""
    torch.manual_seed(seed)
    anchor = [p.detach().clone() for p in model.parameters()]
    opt = optimizer or torch.optim.SGD(model.parameters(), lr=task.lr)
    batches = loader or DataLoader(data, batch_size=task.batch_size, shuffle=True)
    model.train()
    total, count = 0.0, 0
    for _ in range(task.epochs):
        for x, y in batches:
            if len(y) == 0:
                continue
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            if prox_mu > 0:
                loss = loss + prox_mu / 2 * sum(
                    ((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor)
                )
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            count += len(y)
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model: nn.Module, data: TensorDataset) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over `data`."""
    model.eval()
    x, y = data.tensors
    loss, correct = 0.0, 0
    for i in range(0, len(y), 2048):
        logits = model(x[i : i + 2048])
        loss += float(nn.functional.cross_entropy(logits, y[i : i + 2048], reduction="sum"))
        correct += int((logits.argmax(1) == y[i : i + 2048]).sum())
    return loss / len(y), correct / len(y)
