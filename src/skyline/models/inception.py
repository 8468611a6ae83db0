"""A GoogLeNet-style multi-branch network (Szegedy et al., 2015) with BatchNorm.

Nine inception modules, each four parallel branches joined by a channel concatenation, give a
DAG planner wide fork/join structure to cut across (VGG is a chain; ResNet joins only two paths).
It follows the paper's channel table and 5x5 branch, with BatchNorm in place of local response
normalisation and without the auxiliary classifiers. At 1000 classes it has 7,005,832 parameters
and costs 3.17 GFLOPs (FlopCounterMode, 2 per multiply-add) on a 1x3x224x224 input.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from skyline.models._layers import ConvNormAct, seeded_build

# Per module: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) output channels.
# Groups of modules are separated by a 3x3/2 max pool.
_GROUPS: tuple[tuple[tuple[int, int, int, int, int, int], ...], ...] = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    (
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ),
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
)


class InceptionModule(nn.Module):
    """Four parallel branches (1x1; 1x1->3x3; 1x1->5x5; 3x3 max pool->1x1), concatenated."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        c1, r3, c3, r5, c5, pool = widths
        self.branch1 = ConvNormAct(in_channels, c1, 1)
        self.branch3 = nn.Sequential(ConvNormAct(in_channels, r3, 1), ConvNormAct(r3, c3, 3))
        self.branch5 = nn.Sequential(ConvNormAct(in_channels, r5, 1), ConvNormAct(r5, c5, 5))
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), ConvNormAct(in_channels, pool, 1)
        )
        self.out_channels = c1 + c3 + c5 + pool

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


class InceptionNet(nn.Module):
    """Stem (7x7/2, pool, 1x1, 3x3, pool), three groups of inception modules, pool, dropout, fc."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvNormAct(3, 64, 7, 2),
            nn.MaxPool2d(3, stride=2, padding=1),
            ConvNormAct(64, 64, 1),
            ConvNormAct(64, 192, 3),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        layers: list[nn.Module] = []
        in_channels = 192
        for index, group in enumerate(_GROUPS):
            if index > 0:
                layers.append(nn.MaxPool2d(3, stride=2, padding=1))
            for widths in group:
                module = InceptionModule(in_channels, widths)
                layers.append(module)
                in_channels = module.out_channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.4), nn.Linear(in_channels, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(self.stem(x))).flatten(1))


def inception(num_classes: int = 1000, seed: int = 0) -> InceptionNet:
    """GoogLeNet-style InceptionNet (see the module docstring for size and cost)."""
    return seeded_build(seed, lambda: InceptionNet(num_classes))
