"""Seeded next-byte training on the offline domains, and the held-out figures a checkpoint
carries: loss per domain and how often draft and target agree (greedy acceptance, estimated)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skyline.errors import ConfigError
from skyline.llm.model import DecoderLM


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_size: int = 16
    block: int = 256
    lr: float = 2e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.block < 2:
            raise ConfigError(
                "training needs steps >= 1, batch_size >= 1 and block >= 2",
                fix="pass positive sizes",
            )

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to min_lr_ratio * lr."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(self.steps - self.warmup, 1)
        floor = self.min_lr_ratio * self.lr
        return floor + (self.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def sample_batch(
    domains: Sequence[torch.Tensor], block: int, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows, rows split evenly across domains (row i from domain i mod n), so a
    small domain weighs as much as a large one. Targets are the inputs shifted by one."""
    for tokens in domains:
        if len(tokens) <= block:
            raise ConfigError(
                f"a domain of {len(tokens)} tokens is too short for block {block}",
                fix="use a smaller block or more text",
            )
    rows = []
    for i in range(batch_size):
        tokens = domains[i % len(domains)]
        start = int(torch.randint(len(tokens) - block, (), generator=generator))
        rows.append(tokens[start : start + block + 1])
    window = torch.stack(rows).long()
    return window[:, :-1], window[:, 1:]


def train(
    model: DecoderLM,
    domains: Sequence[torch.Tensor],
    config: TrainConfig,
    *,
    log: Callable[[int, float, float], None] | None = None,
) -> list[float]:
    """AdamW (decay on matrices only), warm-up + cosine schedule, gradient clipping. Returns
    the training loss (nats per byte) of every step; `log(step, loss, lr)` is called each step."""
    generator = torch.Generator().manual_seed(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95))
    model.train()
    losses = []
    for step in range(config.steps):
        lr = config.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = sample_batch(domains, config.block, config.batch_size, generator)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        if log is not None:
            log(step, losses[-1], lr)
    model.eval()
    return losses


def _windows(tokens: torch.Tensor, block: int, count: int) -> torch.Tensor:
    """`count` evenly spaced windows of block + 1 tokens: the same every time."""
    if len(tokens) <= block:
        raise ConfigError(
            f"{len(tokens)} held-out tokens are too few for block {block}",
            fix="hold out more text or use a smaller block",
        )
    starts = torch.linspace(0, len(tokens) - block - 1, count).long().tolist()
    return torch.stack([tokens[s : s + block + 1] for s in starts]).long()


@torch.inference_mode()
def evaluate(model: DecoderLM, tokens: torch.Tensor, block: int, windows: int = 16) -> float:
    """Mean next-byte cross-entropy (nats per byte) over fixed held-out windows."""
    data = _windows(tokens, block, windows)
    logits, _ = model(data[:, :-1])
    return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data[:, 1:].reshape(-1)))


@torch.inference_mode()
def agreement(
    draft: DecoderLM, target: DecoderLM, tokens: torch.Tensor, block: int, windows: int = 16
) -> float:
    """Fraction of held-out positions where draft and target predict the same next byte: the
    greedy acceptance rate alpha that speculative decoding can expect on this text."""
    data = _windows(tokens, block, windows)[:, :-1]
    same = draft(data)[0].argmax(-1) == target(data)[0].argmax(-1)
    return float(same.float().mean())
