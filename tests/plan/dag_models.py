"""Random DAG-shaped nn.Modules (branches, skips, tuples, several inputs and outputs) for tests."""

from __future__ import annotations

import random

import torch
from torch import nn

KINDS = ("linear", "add", "gate", "cat", "swap", "scale")


class RandomDag(nn.Module):
    def __init__(
        self, seed: int, num_nodes: int, num_inputs: int = 1, num_outputs: int = 1, width: int = 8
    ):
        super().__init__()
        rng = random.Random(seed)
        self.num_inputs = num_inputs
        self.spec: list[tuple[str, int, int]] = []
        self.layers = nn.ModuleDict()
        for i in range(num_nodes):
            avail = num_inputs + i
            kind = rng.choice(KINDS)
            a, b = rng.randrange(max(0, avail - 4), avail), rng.randrange(avail)
            self.spec.append((kind, a, b))
            if kind == "linear":
                self.layers[str(i)] = nn.Linear(width, width)
            elif kind == "cat":
                self.layers[str(i)] = nn.Linear(2 * width, width)
        total = num_inputs + num_nodes
        self.outputs = sorted(rng.sample(range(num_inputs, total), min(num_outputs, num_nodes)))

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        vals = list(xs)
        for i, (kind, a, b) in enumerate(self.spec):
            x, y = vals[a], vals[b]
            if kind == "linear":
                v = torch.relu(self.layers[str(i)](x))
            elif kind == "add":
                v = x + y
            elif kind == "gate":
                v = x * torch.sigmoid(y)
            elif kind == "cat":
                v = self.layers[str(i)](torch.cat([x, y], dim=-1))
            elif kind == "swap":  # chunk -> a tuple value inside the graph
                p, q = x.chunk(2, dim=-1)
                v = torch.cat([q, p], dim=-1)
            else:
                v = x * 0.5 - y.mean(dim=-1, keepdim=True)
            vals.append(v)
        return tuple(vals[o] for o in self.outputs)

    def example_inputs(self, batch: int = 3) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(1)
        width = 8
        return tuple(torch.randn(batch, width, generator=g) for _ in range(self.num_inputs))
