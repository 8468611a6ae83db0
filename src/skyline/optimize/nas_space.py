"""The NAS search space: MobileNet-like nets of inverted residual blocks, per stage choices.

An `Arch` is the choices only (per stage: width multiplier, depth, depthwise kernel,
expansion ratio); a `SearchSpace` holds what is fixed (input shape, classes, stem, base
channels and strides per stage, head) and the allowed values. `layout()` turns the pair into
a list of conv specs that both `build()` (the nn.Module) and the latency predictor's features
read, so the predicted and the built network cannot drift apart.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from torch import nn

from skyline.errors import ConfigError
from skyline.models._layers import ConvNormAct, seeded_build
from skyline.models.mobilenet import make_divisible

ARCH_SCHEMA = "skyline.nas.arch/v1"
_FLOAT_BYTES = 4


@dataclass(frozen=True)
class Stage:
    """One stage's choices: `depth` blocks of `kernel` x `kernel` depthwise inverted residuals,
    `width` times the space's base channels, hidden channels `expansion` times the input."""

    width: float
    depth: int
    kernel: int
    expansion: int


@dataclass(frozen=True)
class Arch:
    """A point of the space; JSON round-trips exactly (`to_json` / `from_json`)."""

    stages: tuple[Stage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": ARCH_SCHEMA, "stages": [asdict(s) for s in self.stages]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Arch:
        if data.get("schema") != ARCH_SCHEMA:
            raise ConfigError(
                f"arch schema {data.get('schema')!r} is not {ARCH_SCHEMA!r}",
                fix="load a dict written by Arch.to_dict",
            )
        stages = data.get("stages")
        if not isinstance(stages, list):
            raise ConfigError(
                f"arch stages = {stages!r} is not a list", fix="give a list of stages"
            )
        names = {"width", "depth", "kernel", "expansion"}
        out = []
        for i, s in enumerate(stages):
            if not isinstance(s, dict) or set(s) != names:
                raise ConfigError(
                    f"arch stages[{i}] = {s!r} does not have exactly the keys {sorted(names)}",
                    fix="give width, depth, kernel and expansion for every stage",
                )
            for key in ("depth", "kernel", "expansion"):
                if isinstance(s[key], bool) or not isinstance(s[key], int):
                    raise ConfigError(
                        f"arch stages[{i}].{key} = {s[key]!r} is not an integer",
                        fix=f"give {key} as an integer",
                    )
            if isinstance(s["width"], bool) or not isinstance(s["width"], int | float):
                raise ConfigError(
                    f"arch stages[{i}].width = {s['width']!r} is not a number",
                    fix="give width as a number, e.g. 1.0",
                )
            out.append(Stage(float(s["width"]), s["depth"], s["kernel"], s["expansion"]))
        return cls(tuple(out))

    @classmethod
    def from_json(cls, text: str) -> Arch:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class ConvSpec:
    """One conv + BatchNorm (+ ReLU6) of a built net, with its input size at batch 1."""

    cin: int
    cout: int
    kernel: int
    stride: int
    groups: int
    height: int
    width: int
    act: bool = True

    @property
    def out_hw(self) -> tuple[int, int]:
        # padding kernel // 2 with an odd kernel: ceil(size / stride)
        return (self.height - 1) // self.stride + 1, (self.width - 1) // self.stride + 1

    @property
    def macs(self) -> int:
        h, w = self.out_hw
        return self.cout * h * w * (self.cin // self.groups) * self.kernel**2

    @property
    def params(self) -> int:
        return self.cout * (self.cin // self.groups) * self.kernel**2 + 2 * self.cout  # + BN

    @property
    def in_elems(self) -> int:
        return self.cin * self.height * self.width

    @property
    def out_elems(self) -> int:
        h, w = self.out_hw
        return self.cout * h * w


@dataclass(frozen=True)
class BlockSpec:
    """Convs run in sequence; `residual` adds the block input to the last conv's output."""

    convs: tuple[ConvSpec, ...]
    residual: bool = False


@dataclass(frozen=True)
class SearchSpace:
    """What is fixed and what may be chosen; the default fits 1 x 28 x 28 Fashion-MNIST.

    The stem (3x3, stride `stem_stride`) halves the input first: that keeps each trial's
    training cheap (a first stage at full 28x28 resolution would cost four times as much).
    """

    input_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    stem_channels: int = 16
    stem_stride: int = 2
    base_channels: tuple[int, ...] = (16, 24, 40, 64)
    strides: tuple[int, ...] = (1, 2, 2, 1)
    head_channels: int = 128
    widths: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5)
    depths: tuple[int, ...] = (1, 2, 3)
    kernels: tuple[int, ...] = (3, 5)
    expansions: tuple[int, ...] = (1, 3, 6)

    def __post_init__(self) -> None:
        if len(self.base_channels) != len(self.strides) or not self.strides:
            raise ConfigError(
                f"{len(self.base_channels)} base_channels but {len(self.strides)} strides",
                fix="give one base channel count and one stride per stage",
            )
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ConfigError(
                f"input_shape = {self.input_shape} is not C x H x W", fix="give (C, H, W) > 0"
            )
        for name in ("widths", "depths", "kernels", "expansions", "base_channels", "strides"):
            values = getattr(self, name)
            if not values or min(values) <= 0:
                raise ConfigError(
                    f"{name} = {values} is empty or not positive", fix="give values > 0"
                )
        for name in ("num_classes", "stem_channels", "stem_stride", "head_channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} = {getattr(self, name)} < 1", fix="give it >= 1")
        if any(k % 2 == 0 for k in self.kernels):
            raise ConfigError(f"kernels = {self.kernels} holds an even size", fix="use odd sizes")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        known = {f.name for f in fields(cls)}
        if set(data) - known:
            raise ConfigError(
                f"unknown search space fields {sorted(set(data) - known)}",
                fix=f"use only {sorted(known)}",
            )
        args: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**args)

    def check(self, arch: Arch) -> None:
        """Raise ConfigError naming the first stage field whose value the space does not allow."""
        if len(arch.stages) != len(self.strides):
            raise ConfigError(
                f"arch has {len(arch.stages)} stages, the space has {len(self.strides)}",
                fix=f"give exactly {len(self.strides)} stages",
            )
        allowed = {
            "width": self.widths,
            "depth": self.depths,
            "kernel": self.kernels,
            "expansion": self.expansions,
        }
        for i, stage in enumerate(arch.stages):
            for name, values in allowed.items():
                value = getattr(stage, name)
                if value not in values:
                    raise ConfigError(
                        f"arch stages[{i}].{name} = {value!r} is not allowed by the space",
                        fix=f"choose {name} from {list(values)}",
                    )

    def sample(self, rng: random.Random) -> Arch:
        """A uniformly random arch (each stage choice independently)."""
        return Arch(
            tuple(
                Stage(
                    rng.choice(self.widths),
                    rng.choice(self.depths),
                    rng.choice(self.kernels),
                    rng.choice(self.expansions),
                )
                for _ in self.strides
            )
        )

    def baseline(self) -> Arch:
        """Hand-designed reference, MobileNetV2's recipe scaled down: width 1, expansion 6
        (1 in the first stage), 3x3 kernels, one block first then two per stage."""
        n = len(self.strides)
        return Arch(
            tuple(
                Stage(
                    _nearest(self.widths, 1.0),
                    _nearest(self.depths, 1 if i == 0 else 2),
                    _nearest(self.kernels, 3),
                    _nearest(self.expansions, 1 if i == 0 else 6),
                )
                for i in range(n)
            )
        )

    def largest(self) -> Arch:
        """Every choice at its maximum: the slowest arch, a natural latency reference point."""
        stage = Stage(max(self.widths), max(self.depths), max(self.kernels), max(self.expansions))
        return Arch((stage,) * len(self.strides))

    def layout(self, arch: Arch) -> list[BlockSpec]:
        """Stem, inverted residual blocks, head conv as conv specs (checked against the space)."""
        self.check(arch)
        c, h, w = self.input_shape
        stem = ConvSpec(c, self.stem_channels, 3, self.stem_stride, 1, h, w)
        blocks = [BlockSpec((stem,))]
        cin, (h, w) = self.stem_channels, stem.out_hw
        for stage, base, first_stride in zip(arch.stages, self.base_channels, self.strides):
            cout = make_divisible(base * stage.width)
            for j in range(stage.depth):
                stride = first_stride if j == 0 else 1
                hidden = cin * stage.expansion
                convs = []
                if stage.expansion != 1:
                    convs.append(ConvSpec(cin, hidden, 1, 1, 1, h, w))
                dw = ConvSpec(hidden, hidden, stage.kernel, stride, hidden, h, w)
                h2, w2 = dw.out_hw
                convs += [dw, ConvSpec(hidden, cout, 1, 1, 1, h2, w2, act=False)]
                blocks.append(BlockSpec(tuple(convs), residual=stride == 1 and cin == cout))
                cin, h, w = cout, h2, w2
        blocks.append(BlockSpec((ConvSpec(cin, self.head_channels, 1, 1, 1, h, w),)))
        return blocks

    def blocks(self) -> list[BlockSpec]:
        """Every distinct block any arch of the space can hold (stem and head included): a
        block depends only on its stage's choices and the previous stage's width, so one arch
        per (stage, previous width, choices) with two blocks in that stage covers them all."""
        found: dict[BlockSpec, None] = {}
        default = Stage(self.widths[0], min(self.depths), self.kernels[0], self.expansions[0])
        repeat = 2 if max(self.depths) >= 2 else 1
        for i in range(len(self.strides)):
            for prev in self.widths if i else self.widths[:1]:
                for width, kernel, expansion in itertools.product(
                    self.widths, self.kernels, self.expansions
                ):
                    stages = [default] * len(self.strides)
                    if i:
                        stages[i - 1] = replace(default, width=prev)
                    depth = _nearest([d for d in self.depths if d <= repeat], repeat)
                    stages[i] = Stage(width, depth, kernel, expansion)
                    found.update(dict.fromkeys(self.layout(Arch(tuple(stages)))))
        return list(found)

    def tail_module(self) -> nn.Sequential:
        """What follows the head conv: global pooling and the classifier."""
        return nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(self.head_channels, self.num_classes),
        )

    def param_count(self, arch: Arch) -> int:
        convs = sum(c.params for b in self.layout(arch) for c in b.convs)
        return convs + self.head_channels * self.num_classes + self.num_classes

    def param_bytes(self, arch: Arch) -> int:
        return _FLOAT_BYTES * self.param_count(arch)

    def activation_bytes(self, arch: Arch) -> int:
        """Peak live activation bytes of one image (an upper bound for eager inference): per
        block, its input (kept for the residual) plus the largest conv input + output."""
        peak = 0
        for block in self.layout(arch):
            inner = max(c.in_elems + c.out_elems for c in block.convs)
            peak = max(peak, block.convs[0].in_elems + inner)
        return _FLOAT_BYTES * peak


def _nearest(values: Sequence[float], target: float) -> Any:
    return min(values, key=lambda v: abs(v - target))


class _Block(nn.Module):
    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *(
                ConvNormAct(
                    c.cin,
                    c.cout,
                    c.kernel,
                    c.stride,
                    groups=c.groups,
                    act=nn.ReLU6 if c.act else None,
                )
                for c in spec.convs
            )
        )
        self.residual = spec.residual

    def forward(self, x: Any) -> Any:
        # fixed at construction, so graph capture sees no data-dependent branch
        return x + self.body(x) if self.residual else self.body(x)


def build(arch: Arch, space: SearchSpace | None = None, *, seed: int = 0) -> nn.Module:
    """The arch as an nn.Module (N x C x H x W -> N x classes), weights from `seed` alone."""
    space = space or SearchSpace()
    blocks = space.layout(arch)

    def make() -> nn.Module:
        return nn.Sequential(*(_Block(b) for b in blocks), *space.tail_module())

    return seeded_build(seed, make)


def block_module(spec: BlockSpec, *, seed: int = 0) -> nn.Module:
    """One block alone, as `build` makes it (for timing it in a lookup table)."""
    return seeded_build(seed, lambda: _Block(spec))


def block_to_dict(spec: BlockSpec) -> dict[str, Any]:
    return {"convs": [asdict(c) for c in spec.convs], "residual": spec.residual}


def block_from_dict(data: dict[str, Any]) -> BlockSpec:
    return BlockSpec(tuple(ConvSpec(**c) for c in data["convs"]), bool(data["residual"]))
