"""Byzantine client behaviours for evaluating robust aggregation (never for real deployments).

Model poisoning attacks rewrite the weights a client sends; data poisoning (label flip) trains
honestly on corrupted labels. Each is a small plug-in, created from `"name"` or `"name:arg"`.
"""

from __future__ import annotations

from abc import ABC
from typing import ClassVar

import numpy as np
import torch

from skyline._registry import PluginRegistry
from skyline.errors import ConfigError

Arrays = list[np.ndarray]


class Attack(ABC):
    """An attacker's hooks: `labels` before local training, `weights` before sending."""

    name: ClassVar[str]

    def __init__(self, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ConfigError(f"attack scale={scale} must be > 0", fix="use e.g. sign_flip:4")
        self.scale = scale

    def labels(self, y: torch.Tensor, classes: int) -> torch.Tensor:
        return y

    def weights(self, trained: Arrays, received: Arrays, rng: np.random.Generator) -> Arrays:
        return trained


ATTACKS: PluginRegistry[Attack] = PluginRegistry("attack", Attack, "skyline.fl.Attack")


@ATTACKS.add
class RandomWeights(Attack):
    """Sends Gaussian noise N(0, scale^2) in place of a model."""

    name = "random"

    def weights(self, trained: Arrays, received: Arrays, rng: np.random.Generator) -> Arrays:
        return [rng.normal(0.0, self.scale, np.shape(t)).astype(np.float32) for t in trained]


@ATTACKS.add
class SignFlip(Attack):
    """Sends received - scale * (honest update): pushes the model the other way."""

    name = "sign_flip"

    def weights(self, trained: Arrays, received: Arrays, rng: np.random.Generator) -> Arrays:
        return [r - self.scale * (t - r) for t, r in zip(trained, received)]


@ATTACKS.add
class Scaled(Attack):
    """Sends received + scale * (honest update): one client outweighs the rest in a mean."""

    name = "scaled"

    def __init__(self, scale: float = 10.0) -> None:
        super().__init__(scale)

    def weights(self, trained: Arrays, received: Arrays, rng: np.random.Generator) -> Arrays:
        return [r + self.scale * (t - r) for t, r in zip(trained, received)]


@ATTACKS.add
class LabelFlip(Attack):
    """Trains honestly on labels mapped y -> classes - 1 - y."""

    name = "label_flip"

    def labels(self, y: torch.Tensor, classes: int) -> torch.Tensor:
        return classes - 1 - y


def create_attack(spec: str) -> Attack:
    """`"sign_flip"`, `"sign_flip:4"`, `"scaled:10"`, `"random:1"`, `"label_flip"`."""
    name, _, arg = spec.partition(":")
    if not arg:
        return ATTACKS.create(name)
    try:
        return ATTACKS.create(name, scale=float(arg))
    except ValueError as exc:
        raise ConfigError(
            f"attack argument {arg!r} in {spec!r} is not a number", fix="write e.g. scaled:10"
        ) from exc
