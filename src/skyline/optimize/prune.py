"""Pruning: structured channel pruning (torch-pruning) that makes dense kernels faster, and
unstructured magnitude pruning that only makes the model compressible.

Structured pruning removes whole channels, following every dependency (residual adds,
concatenations, BatchNorm) through torch-pruning's dependency graph, so the result is a
smaller dense model. Unstructured pruning zeroes individual weights: the tensors keep their
shape, dense kernels do the same work, and only the compressed size shrinks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from skyline.errors import ConfigError


def _tp() -> Any:
    try:
        import torch_pruning
    except ImportError as exc:
        raise ConfigError(
            "structured pruning needs torch-pruning", fix="pip install 'skyline[optimize]'"
        ) from exc
    return torch_pruning


def _check_ratio(ratio: float) -> None:
    if not 0 <= ratio < 1:
        raise ConfigError(f"pruning ratio {ratio} is outside [0, 1)", fix="pass e.g. 0.5")


def output_layers(model: nn.Module, example_inputs: Sequence[torch.Tensor]) -> list[nn.Module]:
    """Linear/conv layers whose output is a model output (classifier heads): their output
    width is the task's, so pruning must leave it alone."""
    produced: dict[int, nn.Module] = {}

    def remember(module: nn.Module, _args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            produced[id(output)] = module

    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    handles = [m.register_forward_hook(remember) for m in layers]
    try:
        with torch.no_grad():
            outputs = model(*example_inputs)
    finally:
        for h in handles:
            h.remove()
    flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [produced[id(o)] for o in flat if id(o) in produced]


def prune_channels(
    model: nn.Module, example_inputs: Sequence[torch.Tensor], ratio: float
) -> nn.Module:
    """Remove `ratio` of the channels of every prunable layer group, by group L2 weight norm,
    in place (classifier outputs kept). Fine-tune afterwards: accuracy drops first."""
    _check_ratio(ratio)
    tp = _tp()
    model.eval()
    pruner = tp.pruner.MetaPruner(
        model,
        tuple(example_inputs) if len(example_inputs) > 1 else example_inputs[0],
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=ratio,
        ignored_layers=output_layers(model, example_inputs),
    )
    pruner.step()
    return model


def prune_magnitude(model: nn.Module, amount: float) -> float:
    """Zero the `amount` smallest-magnitude weights over all conv/linear layers together
    (global L1), made permanent; returns the achieved share of zero weights in those layers."""
    _check_ratio(amount)
    layers = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not layers:
        raise ConfigError("the model has no conv or linear layer to prune")
    torch_prune.global_unstructured(layers, torch_prune.L1Unstructured, amount=amount)
    for module, name in layers:
        torch_prune.remove(module, name)
    zeros = sum(int((m.weight == 0).sum()) for m, _ in layers)
    return zeros / sum(m.weight.numel() for m, _ in layers)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
