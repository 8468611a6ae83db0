"""ResNet-18 and ResNet-50 in the standard ImageNet layout (He et al., 2016).

The stride of a downsampling bottleneck sits on its 3x3 conv ("v1.5"), as in common reference
implementations; parameter counts match the published 11,689,512 and 25,557,032.
"""

from __future__ import annotations

from torch import Tensor, nn

from skyline.models._layers import ConvNormAct, seeded_build


class _Residual(nn.Module):
    """`relu(body(x) + shortcut(x))`; the shortcut is a 1x1 projection when shapes change."""

    expansion: int

    def __init__(self, body: nn.Module, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = body
        self.shortcut: nn.Module = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else ConvNormAct(in_channels, out_channels, 1, stride, act=None)
        )
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class BasicBlock(_Residual):
    """Two 3x3 convs (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        body = nn.Sequential(
            ConvNormAct(in_channels, width, 3, stride),
            ConvNormAct(width, width, 3, act=None),
        )
        super().__init__(body, in_channels, width, stride)


class Bottleneck(_Residual):
    """1x1 reduce, 3x3, 1x1 expand to 4x width (ResNet-50 and deeper)."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        body = nn.Sequential(
            ConvNormAct(in_channels, width, 1),
            ConvNormAct(width, width, 3, stride),
            ConvNormAct(width, width * self.expansion, 1, act=None),
        )
        super().__init__(body, in_channels, width * self.expansion, stride)


class ResNet(nn.Module):
    """7x7/2 stem, 3x3/2 max pool, four stages (widths 64-512), global average pool, fc."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        depths: tuple[int, int, int, int],
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.stem = ConvNormAct(3, 64, 7, 2)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages: list[nn.Module] = []
        in_channels = 64
        for index, (width, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
            blocks: list[nn.Module] = []
            for i in range(depth):
                stride = 2 if index > 0 and i == 0 else 1
                blocks.append(block(in_channels, width, stride))
                in_channels = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.stem(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(num_classes: int = 1000, seed: int = 0) -> ResNet:
    """ResNet-18: BasicBlocks (2, 2, 2, 2)."""
    return seeded_build(seed, lambda: ResNet(BasicBlock, (2, 2, 2, 2), num_classes))


def resnet50(num_classes: int = 1000, seed: int = 0) -> ResNet:
    """ResNet-50: Bottlenecks (3, 4, 6, 3)."""
    return seeded_build(seed, lambda: ResNet(Bottleneck, (3, 4, 6, 3), num_classes))
