"""The cascade's two Fashion-MNIST classifiers: a tiny edge CNN and a larger cloud CNN.

The edge model is a narrowed `small_cnn` (8/16 channels, 0.3 M multiply-adds) that a weak
device runs at once; the cloud model is a VGG-style BatchNorm CNN (15 M, 48x) that is
several points more accurate. Their gap is what a hard-example policy tries to recover.
"""

from __future__ import annotations

from torch import nn

from skyline.models._layers import ConvNormAct, seeded_build


def edge_cnn(num_classes: int = 10, in_channels: int = 1, seed: int = 0) -> nn.Sequential:
    """conv8-pool, conv16-pool, fc32, fc: ~26 k parameters for 1x28x28 inputs."""
    return seeded_build(
        seed,
        lambda: nn.Sequential(
            ConvNormAct(in_channels, 8, 3, norm=False),
            nn.MaxPool2d(2),
            ConvNormAct(8, 16, 3, norm=False),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, 32),
            nn.ReLU(),
            nn.Linear(32, num_classes),
        ),
    )


def cloud_cnn(num_classes: int = 10, in_channels: int = 1, seed: int = 0) -> nn.Sequential:
    """conv32-pool, conv64-pool, (conv128 x2)-pool, fc256, dropout, fc (BatchNorm)."""
    return seeded_build(
        seed,
        lambda: nn.Sequential(
            ConvNormAct(in_channels, 32, 3),
            nn.MaxPool2d(2),
            ConvNormAct(32, 64, 3),
            nn.MaxPool2d(2),
            ConvNormAct(64, 128, 3),
            ConvNormAct(128, 128, 3),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(128 * 3 * 3, 256),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(256, num_classes),
        ),
    )
