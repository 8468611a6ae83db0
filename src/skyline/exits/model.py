"""Early-exit networks (BranchyNet, Edgent): a block backbone with classifier heads part-way up.

`forward` returns every exit's logits so all heads train jointly; `forward_until` stops after a
given exit, so an edge can run a prefix only. Both are straight-line code: whether a sample
*stops* at an exit is decided outside the module (`skyline.exits.policy`), which keeps every
prefix capturable by torch.export and therefore profilable and splittable by the planner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from skyline.errors import ConfigError
from skyline.models._layers import ConvNormAct, seeded_build


class EarlyExitNet(nn.Module):
    """`blocks` run in order; `heads[i]` classifies the output of block `i`.

    The last block must carry a head: it is the final classifier. Exits are numbered 0, 1, ...
    in block order, so exit `len(heads) - 1` is the final one.
    """

    def __init__(self, blocks: Sequence[nn.Module], heads: Mapping[int, nn.Module]) -> None:
        super().__init__()
        if not blocks:
            raise ConfigError("an EarlyExitNet needs at least one block", fix="pass blocks")
        bad = sorted(i for i in heads if not 0 <= i < len(blocks))
        if bad:
            raise ConfigError(
                f"heads {bad} sit after blocks that do not exist (there are {len(blocks)})",
                fix=f"key heads by block index 0..{len(blocks) - 1}",
            )
        if len(blocks) - 1 not in heads:
            raise ConfigError(
                f"block {len(blocks) - 1} (the last) has no head",
                fix="give the last block a head: it is the final classifier",
            )
        self.blocks = nn.ModuleList(blocks)
        self.exit_blocks: tuple[int, ...] = tuple(sorted(heads))
        self.heads = nn.ModuleDict({str(i): heads[i] for i in self.exit_blocks})

    @property
    def num_exits(self) -> int:
        return len(self.exit_blocks)

    def check_exit(self, exit_index: int) -> None:
        """Refuse an exit index this model does not have."""
        if not 0 <= exit_index < self.num_exits:
            raise ConfigError(
                f"exit {exit_index} does not exist (this model has {self.num_exits})",
                fix=f"pass an exit index between 0 and {self.num_exits - 1}",
            )

    def forward(self, x: Tensor) -> list[Tensor]:
        """Logits of every exit, final classifier last."""
        return self.forward_until(x, self.num_exits - 1)

    def forward_until(self, x: Tensor, exit_index: int) -> list[Tensor]:
        """Logits of exits 0..`exit_index`, running only the blocks those exits need."""
        self.check_exit(exit_index)
        outputs: list[Tensor] = []
        for i, block in enumerate(self.blocks[: self.exit_blocks[exit_index] + 1]):
            x = block(x)
            if str(i) in self.heads:
                outputs.append(self.heads[str(i)](x))
        return outputs

    def prefix(self, exit_index: int) -> ExitPrefix:
        """A module computing `forward_until(x, exit_index)`, for torch.export or `profile`."""
        self.check_exit(exit_index)
        return ExitPrefix(self, exit_index)


class ExitPrefix(nn.Module):
    """The part of an `EarlyExitNet` up to one exit, sharing its parameters."""

    def __init__(self, net: EarlyExitNet, exit_index: int) -> None:
        super().__init__()
        self.net = net
        self.exit_index = exit_index

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.net.forward_until(x, self.exit_index)


def _head(channels: int, num_classes: int) -> nn.Module:
    """A cheap exit: pool to 4x4, one linear layer (BranchyNet keeps side branches small)."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(channels * 16, num_classes)
    )


def fashion_exit_net(
    num_classes: int = 10, in_channels: int = 1, seed: int = 0, width: int = 1
) -> EarlyExitNet:
    """A 4-block CNN for 1x28x28 images with exits after blocks 0 and 1 and a final head.

    Channels (16-32-64-128) x `width` (BatchNorm); at width 1, ~2.6 M multiply-adds: it trains
    on Fashion-MNIST in minutes on two CPU cores. Exits: 0 after block 0 (14x14 maps), 1 after
    block 1 (7x7), 2 = final (linear on the globally pooled features).
    """
    if width < 1:
        raise ConfigError(f"width must be >= 1, got {width}", fix="pass width=1 or more")
    c = [16 * width, 32 * width, 64 * width, 128 * width]

    def build() -> EarlyExitNet:
        blocks = [
            nn.Sequential(ConvNormAct(in_channels, c[0], 3), nn.MaxPool2d(2)),
            nn.Sequential(ConvNormAct(c[0], c[1], 3), nn.MaxPool2d(2)),
            nn.Sequential(ConvNormAct(c[1], c[2], 3), nn.MaxPool2d(2)),
            nn.Sequential(ConvNormAct(c[2], c[3], 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        ]
        return EarlyExitNet(
            blocks,
            {
                0: _head(c[0], num_classes),
                1: _head(c[1], num_classes),
                3: nn.Linear(c[3], num_classes),
            },
        )

    return seeded_build(seed, build)


def fashion_exit_net_wide(seed: int = 0) -> EarlyExitNet:
    """`fashion_exit_net` at width 2 (~4x the multiply-adds): a loadable "module:attr" for an
    edge model whose compute, not per-request overhead, dominates."""
    return fashion_exit_net(seed=seed, width=2)
