"""Quantization-aware training: when post-training int8 loses too much accuracy, fine-tune the
model with int8 rounding simulated in the forward pass so the weights learn to live with it.

Built on torchao PT2E (`prepare_qat_pt2e` with the X86 Inductor quantizer's QAT config), so
the result is the same kind of int8 model as `quantize_pt2e`: fake quantizers learn their
ranges during training, BatchNorm is folded into the convolutions the QAT way (statistics
still updated while training), and `convert` gives real int8 weights. Start from a trained
fp32 model and use a small learning rate: QAT is a fine-tune, not training from scratch.
Converting a model with BatchNorm costs about 30 s on a 2-core host once per call: torchao
traces its conv-bn folding patterns then.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skyline.errors import ConfigError
from skyline.optimize.pt2e import Batch, Pt2eModel, as_tuple, capture, convert

Loss = Callable[[Tensor, Tensor], Tensor]


def quantize_aware(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    train_batches: Iterable[tuple[Batch, Tensor]],
    *,
    epochs: int,
    lr: float = 1e-4,
    loss_fn: Loss = F.cross_entropy,
    compile: bool = True,
    progress: Callable[[int, float], None] | None = None,
) -> Pt2eModel:
    """`model` fine-tuned with simulated int8 for `epochs` passes over `train_batches`
    ((inputs, targets) pairs; a DataLoader or a list, iterated once per epoch), then converted
    to int8. The model's output for the loss is its last one if it returns several (exits).

    compile=False returns the eager int8 reference (for accuracy); compile=True the fast
    Inductor model. `progress(epoch, mean_loss)` is called after every epoch. Training runs
    on a copy: the exported graph shares its parameters, and `model` stays the fp32 parent."""
    if epochs < 1 or lr <= 0:
        raise ConfigError(f"epochs={epochs}, lr={lr}", fix="pass epochs >= 1 and lr > 0")
    prepared = capture(copy.deepcopy(model), example_inputs, qat=True)
    optimizer = torch.optim.Adam(prepared.parameters(), lr=lr)
    for epoch in range(epochs):
        total, count = 0.0, 0
        for inputs, target in train_batches:
            output = prepared(*as_tuple(inputs))
            final = output if isinstance(output, Tensor) else output[-1]
            loss = loss_fn(final, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()), count + 1
        if count == 0:
            raise ConfigError(
                "train_batches gave no batch", fix="pass a non-empty DataLoader or list of batches"
            )
        if progress is not None:
            progress(epoch, total / count)
    return convert(prepared, compile=compile)
