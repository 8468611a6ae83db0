"""MobileNetV2 (Sandler et al., 2018): inverted residuals with linear bottlenecks.

At `width_mult=1.0` it has the published 3,504,872 parameters.
"""

from __future__ import annotations

from torch import Tensor, nn

from skyline.models._layers import ConvNormAct, seeded_build

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2.
_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of `divisor`, never dropping more than 10 %.

    Multiples of 8 keep vectorised kernels efficient at any `width_mult`.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    """1x1 expand (none when t=1), 3x3 depthwise, linear 1x1 project; residual if shapes match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvNormAct(in_channels, hidden, 1, act=nn.ReLU6))
        layers += [
            ConvNormAct(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            ConvNormAct(hidden, out_channels, 1, act=None),
        ]
        self.body = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        # `use_residual` is fixed at construction, so tracing sees no data-dependent branch.
        return x + self.body(x) if self.use_residual else self.body(x)


class MobileNetV2(nn.Module):
    """3x3/2 stem, 17 inverted residuals, 1x1 conv to 1280, global average pool, dropout, fc."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0) -> None:
        super().__init__()
        in_channels = make_divisible(32 * width_mult)
        last_channels = make_divisible(1280 * max(1.0, width_mult))
        layers: list[nn.Module] = [ConvNormAct(3, in_channels, 3, 2, act=nn.ReLU6)]
        for expansion, channels, repeats, stride in _STAGES:
            out_channels = make_divisible(channels * width_mult)
            for i in range(repeats):
                layers.append(
                    InvertedResidual(in_channels, out_channels, stride if i == 0 else 1, expansion)
                )
                in_channels = out_channels
        layers.append(ConvNormAct(in_channels, last_channels, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channels, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, seed: int = 0) -> MobileNetV2:
    """MobileNetV2; `width_mult` scales every layer's channels (the last conv never below 1280)."""
    return seeded_build(seed, lambda: MobileNetV2(num_classes, width_mult))
