"""A small CNN for 1x28x28 images (Fashion-MNIST, MNIST): fast to train on CPU and in FL rounds.

It has no BatchNorm on purpose: federated averaging of BatchNorm running statistics across
non-IID clients is a known source of accuracy loss, and this model is the default for FL work.
"""

from __future__ import annotations

from torch import Tensor, nn

from skyline.models._layers import ConvNormAct, seeded_build


class SmallCNN(nn.Module):
    """conv32-pool, conv64-pool, adaptive 7x7 pool (any input size), fc128, fc."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvNormAct(in_channels, 32, 3, norm=False),
            nn.MaxPool2d(2),
            ConvNormAct(32, 64, 3, norm=False),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7),
        )
        self.classifier = nn.Sequential(
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(inplace=False), nn.Linear(128, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


def small_cnn(num_classes: int = 10, in_channels: int = 1, seed: int = 0) -> SmallCNN:
    """SmallCNN for `in_channels` x 28 x 28 inputs."""
    return seeded_build(seed, lambda: SmallCNN(num_classes, in_channels))
