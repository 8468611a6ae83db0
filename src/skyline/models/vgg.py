"""VGG-16 (Simonyan & Zisserman, 2015), configuration D, with optional BatchNorm.

Without BatchNorm it has the published 138,357,544 parameters. With BatchNorm the convs drop
their (redundant) bias, so the count differs from implementations that keep it.
"""

from __future__ import annotations

from torch import Tensor, nn

from skyline.models._layers import ConvNormAct, seeded_build

# Output channels of each 3x3 conv; "M" is a 2x2/2 max pool.
_VGG16: tuple[int | str, ...] = (
    64, 64, "M",
    128, 128, "M",
    256, 256, 256, "M",
    512, 512, 512, "M",
    512, 512, 512, "M",
)  # fmt: skip


class VGG(nn.Module):
    """Plain 3x3 conv stack, adaptive 7x7 average pool (any input size), three-layer classifier."""

    def __init__(
        self, config: tuple[int | str, ...], num_classes: int = 1000, batch_norm: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out_channels = int(item)
                layers.append(ConvNormAct(in_channels, out_channels, 3, norm=batch_norm))
                in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * 7 * 7, 4096),
            nn.ReLU(inplace=False),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=False),
            nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def vgg16(num_classes: int = 1000, batch_norm: bool = False, seed: int = 0) -> VGG:
    """VGG-16; `batch_norm=True` adds BatchNorm after every conv."""
    return seeded_build(seed, lambda: VGG(_VGG16, num_classes, batch_norm))
