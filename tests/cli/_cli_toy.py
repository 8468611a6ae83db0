"""Tiny models the CLI tests load by 'module:attr' (this folder goes on sys.path)."""

from __future__ import annotations

import torch
from torch import nn


class Toy(nn.Module):
    """Linear 8 -> 4 then ReLU; declares no input shape."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


class ShapedToy(Toy):
    """Declares its input, so no --input-shape is needed."""

    input_shape = (3, 8)


def make_toy() -> Toy:
    return Toy()


TOY = Toy()
NOT_A_MODEL = 42
