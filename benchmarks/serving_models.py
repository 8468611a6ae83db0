"""Stages for benchmarks/serving.py, in a module so the ingress process and Ray workers can
import them by name (`serving_models:light_stage`). Seeded: every process builds the same
weights."""

from __future__ import annotations

import torch
from torch import nn

from skyline import models

# ResNet-18's activation after layer2 (1 x 128 x 28 x 28 float32 = 401,408 bytes)
CUT_SHAPE = (1, 128, 28, 28)


def light_stage() -> nn.Module:
    """One 1x1 convolution over the 400 KB tensor: so little compute that serving dominates."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(128, 16, kernel_size=1)).eval()


def resnet18() -> nn.Module:
    """The zoo ResNet-18; the benchmark cuts it after layer2 and serves the tail."""
    return models.create("resnet18")
