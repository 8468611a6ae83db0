"""Knowledge distillation (Hinton et al.): a small edge student learns from a large cloud
teacher's softened outputs as well as from the labels.

loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)

The T^2 factor keeps the soft term's gradients on the scale of the hard one as T grows. The
teacher's logits are computed once for the whole training set (no augmentation, eval mode),
so distillation costs one teacher pass, not one per epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from skyline.errors import ConfigError


def _final(output: Tensor | list[Tensor] | tuple[Tensor, ...]) -> Tensor:
    """The answer of a model that may return several exits: the last one."""
    return output if isinstance(output, Tensor) else output[-1]


@torch.no_grad()
def teacher_logits(teacher: nn.Module, images: Tensor, *, batch_size: int = 1000) -> Tensor:
    teacher.eval()
    return torch.cat([_final(teacher(chunk)) for chunk in images.split(batch_size)])


def distill(
    student: nn.Module,
    train: TensorDataset,
    soft_targets: Tensor | None,
    *,
    epochs: int,
    temperature: float = 4.0,
    alpha: float = 0.5,
    lr: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train `student` on `train` (images, labels) against the teacher's `soft_targets` logits
    (one row per training image); alpha=0 or soft_targets=None is plain training, so the
    baseline runs through the very same loop. Returns the mean loss per epoch."""
    if epochs < 1 or temperature <= 0 or not 0 <= alpha <= 1:
        raise ConfigError(
            f"epochs={epochs}, temperature={temperature}, alpha={alpha}",
            fix="pass epochs >= 1, temperature > 0 and 0 <= alpha <= 1",
        )
    images, labels = train.tensors
    if soft_targets is not None and len(soft_targets) != len(images):
        raise ConfigError(
            f"{len(soft_targets)} teacher rows for {len(images)} training images",
            fix="compute teacher_logits on the same training images",
        )
    soft = soft_targets if soft_targets is not None else torch.zeros(len(images), 1)
    weight = alpha if soft_targets is not None else 0.0
    loader = DataLoader(
        TensorDataset(images, labels, soft),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    losses: list[float] = []
    student.train()
    for epoch in range(epochs):
        total, count = 0.0, 0
        for x, y, t in loader:
            logits = _final(student(x))
            loss = F.cross_entropy(logits, y) * (1 - weight)
            if weight:
                kl = F.kl_div(
                    F.log_softmax(logits / temperature, dim=-1),
                    F.log_softmax(t / temperature, dim=-1),
                    log_target=True,
                    reduction="batchmean",
                )
                loss = loss + weight * temperature**2 * kl
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(x)
            count += len(x)
        losses.append(total / count)
        if progress:
            progress(epoch, losses[-1])
    student.eval()
    return losses
