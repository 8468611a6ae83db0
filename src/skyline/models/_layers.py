"""Building blocks shared by the zoo, so every family gets the same conv block and the same init."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


class ConvNormAct(nn.Sequential):
    """Conv2d, optional BatchNorm, optional activation: the unit every CNN here is made of.

    Padding is `kernel_size // 2` ("same" at stride 1). The conv has a bias only without a norm,
    because BatchNorm's shift makes a conv bias redundant. Activations are never in-place: in-place
    ops on a tensor another branch reads make graph capture and splitting harder.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        *,
        groups: int = 1,
        norm: bool = True,
        act: Callable[[], nn.Module] | None = nn.ReLU,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                groups=groups,
                bias=not norm,
            )
        ]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


def init_weights(model: nn.Module) -> None:
    """He-normal convs, unit BatchNorm, small-normal linears, zero biases (from the global RNG).

    One scheme for all families keeps activations finite and non-vanishing through the deep nets
    while eval-mode BatchNorm is still the identity (logit std at init ranges ~0.01 to ~40).
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            # He-normal over fan-out per group: torch's own fan ignores `groups`, which would
            # shrink every depthwise conv's output ~hidden-fold (MobileNetV2 logits ~1e-10).
            fan_out = module.weight.shape[0] // module.groups * module.weight[0, 0].numel()
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
            bias = module.bias
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            bias = module.bias
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            bias = module.bias
        else:
            continue
        if bias is not None:
            nn.init.zeros_(bias)


def seeded_build(seed: int, build: Callable[[], M]) -> M:
    """Build and initialise a model from `seed` alone, leaving the caller's global RNG untouched.

    Only the CPU generator is forked and seeded, so building never perturbs a caller's
    experiment (or CUDA state) yet the same seed always yields bit-identical weights.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        model = build()
        init_weights(model)
    return model
