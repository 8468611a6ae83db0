"""Hardware-aware NAS: accuracy vs predicted device latency under a memory limit (Optuna).

`search()` runs one Optuna study with either NSGA-II or random sampling through the same
objective, so the two differ only in how they pick archs and get the same number of trials.
Archs over the memory limit are not trained (their accuracy is None) and never enter a front;
NSGA-II sees them through its constraint function. `hypervolume_2d` scores a front against an
explicit reference point. Optuna is the `nas` extra, imported only when a search runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError
from skyline.optimize.nas_space import Arch, SearchSpace, Stage, build
from skyline.optimize.pareto import dominates, pareto_front

Sampler = Literal["nsga2", "random"]
SAMPLERS: tuple[Sampler, ...] = ("nsga2", "random")


@dataclass(frozen=True)
class MemoryLimit:
    """Largest allowed float32 parameter bytes and peak activation bytes (batch 1)."""

    param_bytes: float = math.inf
    activation_bytes: float = math.inf

    def fits(self, space: SearchSpace, arch: Arch) -> bool:
        return (
            space.param_bytes(arch) <= self.param_bytes
            and space.activation_bytes(arch) <= self.activation_bytes
        )


@dataclass(frozen=True)
class Candidate:
    """One evaluated arch; `accuracy` is None when it broke the memory limit (not trained)."""

    arch: Arch
    accuracy: float | None
    latency_ms: float
    param_bytes: int
    activation_bytes: int

    @property
    def feasible(self) -> bool:
        return self.accuracy is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch.to_dict(),
            "accuracy": self.accuracy,
            "latency_ms": self.latency_ms,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
        }


def evaluate(
    arch: Arch,
    space: SearchSpace,
    accuracy_fn: Callable[[Arch], float],
    latency_fn: Callable[[Arch], float],
    memory: MemoryLimit = MemoryLimit(),
) -> Candidate:
    """Check memory first, then train (`accuracy_fn`) only archs that fit."""
    accuracy = accuracy_fn(arch) if memory.fits(space, arch) else None
    params, acts = space.param_bytes(arch), space.activation_bytes(arch)
    return Candidate(arch, accuracy, latency_fn(arch), params, acts)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError(
            "the NAS search needs optuna", fix="pip install 'skyline[nas]' (optuna>=5)"
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _suggest(trial: Any, space: SearchSpace) -> Arch:
    return Arch(
        tuple(
            Stage(
                trial.suggest_categorical(f"s{i}_width", list(space.widths)),
                trial.suggest_categorical(f"s{i}_depth", list(space.depths)),
                trial.suggest_categorical(f"s{i}_kernel", list(space.kernels)),
                trial.suggest_categorical(f"s{i}_expansion", list(space.expansions)),
            )
            for i in range(len(space.strides))
        )
    )


def search(
    space: SearchSpace,
    accuracy_fn: Callable[[Arch], float],
    latency_fn: Callable[[Arch], float],
    *,
    trials: int,
    sampler: Sampler,
    memory: MemoryLimit = MemoryLimit(),
    seed: int = 0,
    population: int | None = None,
    on_trial: Callable[[Candidate], None] | None = None,
) -> list[Candidate]:
    """`trials` candidates picked by NSGA-II or uniformly at random (Optuna, seeded).

    `population` is NSGA-II's generation size (default trials // 5, at least 4, so a small
    budget still sees several generations rather than one random one).
    """
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler {sampler!r} is unknown", fix=f"use one of {list(SAMPLERS)}")
    if trials < 1:
        raise ConfigError(f"trials = {trials} is not positive", fix="give trials >= 1")
    optuna = _optuna()
    if sampler == "nsga2":
        size = population if population is not None else max(4, trials // 5)
        chosen = optuna.samplers.NSGAIISampler(population_size=size, seed=seed)
    else:
        chosen = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=chosen)
    found: list[Candidate] = []

    def objective(trial: Any) -> tuple[float, float]:
        cand = evaluate(_suggest(trial, space), space, accuracy_fn, latency_fn, memory)
        # relative excess over each limit, <= 0 when within it (NSGA-II ranks by it)
        trial.set_constraint("param_bytes", cand.param_bytes / memory.param_bytes - 1)
        trial.set_constraint(
            "activation_bytes", cand.activation_bytes / memory.activation_bytes - 1
        )
        found.append(cand)
        if on_trial is not None:
            on_trial(cand)
        return (cand.accuracy if cand.accuracy is not None else 0.0), cand.latency_ms

    study.optimize(objective, n_trials=trials)
    return found


def front(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The feasible candidates no other feasible one beats on both accuracy and latency,
    by latency (duplicates of one arch counted once)."""
    unique = list({c.arch: c for c in candidates if c.feasible}.values())
    points = [{"acc": c.accuracy or 0.0, "ms": c.latency_ms} for c in unique]
    kept = [unique[i] for i in pareto_front(points, minimize=["ms"], maximize=["acc"])]
    return sorted(kept, key=lambda c: c.latency_ms)


def hypervolume_2d(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by `points` (both coordinates minimized) and bounded by `reference`.

    Points not strictly better than the reference on both coordinates add nothing. Sweep by
    the first coordinate; each point that lowers the best second coordinate so far adds the
    strip between it and the reference.
    """
    rx, ry = reference
    inside = sorted((x, y) for x, y in points if x < rx and y < ry)
    area, best_y = 0.0, ry
    for x, y in inside:
        if y < best_y:
            area += (rx - x) * (best_y - y)
            best_y = y
    return area


def front_hypervolume(
    candidates: Sequence[Candidate], reference_ms: float, reference_error: float
) -> float:
    """Hypervolume of the feasible front in (latency ms, error = 1 - accuracy), units ms."""
    pts = [(c.latency_ms, 1.0 - (c.accuracy or 0.0)) for c in front(candidates)]
    return hypervolume_2d(pts, (reference_ms, reference_error))


def dominating(candidates: Sequence[Candidate], baseline: Candidate) -> list[Candidate]:
    """Feasible candidates at least as accurate and as fast as `baseline` and better on one."""
    if baseline.accuracy is None:
        raise ConfigError("the baseline broke the memory limit", fix="raise the limit")
    ref = {"acc": baseline.accuracy, "ms": baseline.latency_ms}
    return [
        c
        for c in front(candidates)
        if dominates({"acc": c.accuracy or 0.0, "ms": c.latency_ms}, ref, ["ms"], ["acc"])
    ]


def train_accuracy(
    arch: Arch,
    space: SearchSpace,
    train: TensorDataset,
    val: TensorDataset,
    *,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> float:
    """Validation accuracy after a short Adam training from `seed` (weights and batch order):
    a cheap proxy that ranks archs, not their converged accuracy."""
    model = build(arch, space, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = train.tensors
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=order)
        for idx in perm.split(batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    vx, vy = val.tensors
    right = 0
    with torch.inference_mode():
        for bx, by in zip(vx.split(500), vy.split(500)):
            right += int((model(bx).argmax(1) == by).sum())
    return right / len(vy)
