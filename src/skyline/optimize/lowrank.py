"""Low-rank factorization: a weight matrix W (m x n) becomes U (m x r) V (r x n) by truncated SVD.

A layer is split only when that saves parameters (r (m + n) < m n); the rank per layer is the
smallest keeping `energy` of the squared singular values, so well-conditioned layers keep more.
Convolutions factor as a k x k conv to r channels followed by a 1 x 1 conv (W reshaped to
out x in*k*k), the standard spatial/channel split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from skyline.errors import ConfigError


@dataclass(frozen=True)
class Factorized:
    """One layer replaced: its name, shape (out, in*k*k) and the rank kept."""

    name: str
    shape: tuple[int, int]
    rank: int


def choose_rank(singular_values: torch.Tensor, energy: float) -> int:
    """The smallest r with sum(s[:r]^2) >= energy * sum(s^2)."""
    power = singular_values.double() ** 2
    total = float(power.sum())
    if total == 0:
        return 1
    cumulative = torch.cumsum(power, 0) / total
    return int(torch.searchsorted(cumulative, torch.tensor(energy, dtype=torch.float64))) + 1


def _factor(weight: torch.Tensor, energy: float) -> tuple[torch.Tensor, torch.Tensor, int] | None:
    matrix = weight.detach().reshape(weight.shape[0], -1).double()
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    r = min(choose_rank(s, energy), len(s))
    m, n = matrix.shape
    if r * (m + n) >= m * n:
        return None
    root = s[:r].sqrt()
    return (u[:, :r] * root).float(), (root[:, None] * vh[:r]).float(), r


def _split(layer: nn.Module, energy: float) -> tuple[nn.Module, int] | None:
    first: nn.Linear | nn.Conv2d
    second: nn.Linear | nn.Conv2d
    if isinstance(layer, nn.Linear):
        found = _factor(layer.weight, energy)
        if found is None:
            return None
        up, down, r = found
        first = nn.Linear(layer.in_features, r, bias=False)
        second = nn.Linear(r, layer.out_features, bias=layer.bias is not None)
        first.weight.data.copy_(down)
        second.weight.data.copy_(up)
    elif isinstance(layer, nn.Conv2d) and layer.groups == 1:
        found = _factor(layer.weight, energy)
        if found is None:
            return None
        up, down, r = found
        first = nn.Conv2d(
            layer.in_channels,
            r,
            layer.kernel_size,  # type: ignore[arg-type]
            stride=layer.stride,  # type: ignore[arg-type]
            padding=layer.padding,  # type: ignore[arg-type]
            dilation=layer.dilation,  # type: ignore[arg-type]
            bias=False,
        )
        second = nn.Conv2d(r, layer.out_channels, 1, bias=layer.bias is not None)
        first.weight.data.copy_(down.reshape(r, *layer.weight.shape[1:]))
        second.weight.data.copy_(up.reshape(layer.out_channels, r, 1, 1))
    else:
        return None
    if layer.bias is not None and second.bias is not None:
        second.bias.data.copy_(layer.bias.detach())
    return nn.Sequential(first, second), r


def low_rank(model: nn.Module, energy: float = 0.9) -> list[Factorized]:
    """Replace, in place, every Linear and (ungrouped) Conv2d whose truncated SVD at `energy`
    saves parameters; returns what was replaced. energy=1 keeps the layer's function exactly
    (up to float rounding) wherever its rank is low enough to save anything."""
    if not 0 < energy <= 1:
        raise ConfigError(f"energy {energy} is outside (0, 1]", fix="pass e.g. 0.9")
    done: list[Factorized] = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            split = _split(child, energy)
            if split is None:
                continue
            replacement, rank = split
            setattr(module, child_name, replacement)
            weight = child.weight
            full = f"{name}.{child_name}" if name else child_name
            done.append(Factorized(full, (weight.shape[0], weight[0].numel()), rank))
    return done
