"""Reference model zoo: ImageNet-shaped ResNet/MobileNetV2/VGG/Inception and a small CNN.

Written from scratch in plain PyTorch (torchvision does not import beside this torch build) so
every model can be captured by both `torch.export.export` and `torch.fx.symbolic_trace`: no
data-dependent control flow, no in-place activations, BatchNorm in eval mode. Every factory takes
`num_classes` and a `seed`; the same seed gives bit-identical weights without touching the
caller's global RNG. Adaptive pooling lets tests use small inputs (`example_inputs(size=64)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from skyline._registry import Registry, load_object
from skyline.errors import ConfigError, UnknownNameError
from skyline.models.inception import inception
from skyline.models.mobilenet import mobilenet_v2
from skyline.models.resnet import resnet18, resnet50
from skyline.models.small_cnn import small_cnn
from skyline.models.vgg import vgg16

__all__ = ["ZOO", "ModelSpec", "create", "instantiate", "load", "names", "spec"]


@dataclass(frozen=True)
class ModelSpec:
    """A named model factory with the input it expects, so tools can build and feed it by name."""

    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, ...]  # one example input including batch dim 1, e.g. (1, 3, 224, 224)
    description: str

    def build(self, **kwargs: Any) -> nn.Module:
        """`factory(**kwargs)` in eval mode (BatchNorm uses running stats, dropout is off)."""
        return self.factory(**kwargs).eval()

    def example_inputs(
        self, batch: int = 1, seed: int = 0, size: int | None = None
    ) -> tuple[torch.Tensor, ...]:
        """A deterministic standard-normal input of `input_shape` with `batch` rows.

        `size` replaces the spatial height and width of an image-shaped (N, C, H, W) input, so
        tests can run on small images.
        """
        shape = (batch, *self.input_shape[1:])
        if size is not None:
            if len(shape) != 4:
                raise ConfigError(
                    f"model {self.name!r} takes input shape {self.input_shape}, not an image",
                    fix="pass size=None for models whose input is not (N, C, H, W)",
                )
            shape = (*shape[:2], size, size)
        generator = torch.Generator().manual_seed(seed)
        return (torch.randn(shape, generator=generator),)


ZOO: Registry[ModelSpec] = Registry("model")

_IMAGENET = (1, 3, 224, 224)
for _spec in (
    ModelSpec("resnet18", resnet18, _IMAGENET, "ResNet-18, BasicBlocks (2,2,2,2); 11.7M params"),
    ModelSpec("resnet50", resnet50, _IMAGENET, "ResNet-50, Bottlenecks (3,4,6,3); 25.6M params"),
    ModelSpec(
        "mobilenet_v2", mobilenet_v2, _IMAGENET, "MobileNetV2, inverted residuals; 3.5M params"
    ),
    ModelSpec("vgg16", vgg16, _IMAGENET, "VGG-16 (config D), optional BatchNorm; 138.4M params"),
    ModelSpec(
        "inception",
        inception,
        _IMAGENET,
        "GoogLeNet-style, nine 4-branch inception modules; 7.0M params",
    ),
    ModelSpec(
        "small_cnn",
        small_cnn,
        (1, 1, 28, 28),
        "two-conv CNN for 28x28 grey images (Fashion-MNIST); 0.4M params",
    ),
):
    ZOO.register(_spec.name, _spec)


def spec(name: str) -> ModelSpec:
    """The registered `ModelSpec` for `name` (or a `"module:attr"` path to a ModelSpec)."""
    found = ZOO.get(name)
    if not isinstance(found, ModelSpec):
        raise UnknownNameError(
            f"{name!r} resolves to a {type(found).__name__}, not a ModelSpec",
            fix="point the 'module:attr' path at a skyline.models.ModelSpec instance",
        )
    return found


def create(name: str, **kwargs: Any) -> nn.Module:
    """Build model `name` in eval mode; kwargs (num_classes, seed, ...) go to its factory."""
    return spec(name).build(**kwargs)


def names() -> list[str]:
    """Registered model names, sorted."""
    return ZOO.names()


_MODULE_FIX = (
    "point 'module:attr' at an nn.Module instance, an nn.Module subclass, "
    "or a factory that takes no arguments"
)


def instantiate(spec: str, obj: object) -> nn.Module:
    """`obj` (loaded from `spec`) as a module: an instance, or the result of calling it."""
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ConfigError(f"{spec!r} is a {type(obj).__name__}, not an nn.Module", fix=_MODULE_FIX)
    try:
        made = obj()
    except Exception as exc:  # user code: report it as a bad model argument
        raise ConfigError(
            f"calling {spec}() failed: {type(exc).__name__}: {exc}", fix=_MODULE_FIX
        ) from exc
    if not isinstance(made, nn.Module):
        raise ConfigError(
            f"{spec}() returned a {type(made).__name__}, not an nn.Module", fix=_MODULE_FIX
        )
    return made


def load(spec: str, weights: str | Path | None = None) -> nn.Module:
    """A model in eval mode from a zoo name or a 'package.module:attr' path (what plans record),
    with its parameters and buffers from a `state_dict` file (`torch.save`) if `weights` is
    given. The file is read with `weights_only=True`: tensors only, no code runs."""
    model = instantiate(spec, load_object(spec)).eval() if ":" in spec else create(spec)
    if weights is None:
        return model
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(f"weights file {str(path)!r} does not exist", fix="check the path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # unpickling refusal, missing/unexpected keys, shape mismatch
        raise ConfigError(
            f"{path} does not hold weights for {spec!r}: {type(exc).__name__}: {exc}"[:500],
            fix="save them with torch.save(model.state_dict(), path) from the same model",
        ) from exc
    return model
