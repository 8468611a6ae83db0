"""PyTorch-native int8: torchao PT2E with the X86 Inductor quantizer, run by torch.compile.

The model is captured with torch.export, observers are inserted where the X86 quantizer wants
them (static, per-channel symmetric int8 weights, per-tensor uint8 activations), calibrated
on real batches, converted to quantize/dequantize pairs around float ops, and compiled:
Inductor pattern-matches each dq -> conv/linear -> q into one oneDNN int8 kernel. Without
compilation the converted graph is a reference (float ops between q/dq), right in accuracy
but slower than fp32, which is what tests and accuracy checks use.

Inductor freezing must be on for the whole process. It turns the int8 weights into constants
that oneDNN pre-packs; without it they stay graph inputs, the int8 patterns do not match, and
the speedup silently vanishes: the model still runs, slower than compiled fp32 (measured
here, ResNet-18 at 64x64, one thread, median: int8 13.8 ms and fp32 12.0 ms without freezing,
2.7 ms and 5.8 ms with it). torch.compile is lazy, so a `config.patch(freezing=True)` around
the `torch.compile(...)` call is already gone when the first call compiles:
`enable_freezing()` sets it globally instead.
"""

from __future__ import annotations

import logging
import operator
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from skyline.errors import ConfigError

EXTRA = "pip install 'skyline[optimize]' (torchao >= 0.18)"

Batch = torch.Tensor | Sequence[torch.Tensor]


def _torchao() -> tuple[Any, Any]:
    """(torchao.quantization.pt2e, its X86 Inductor quantizer module), imported lazily.

    torchao's wheel also carries CUDA kernels that cannot load beside a CPU torch; its import
    logs one warning per such library, which is noise here, so that logger is quieted."""
    log = logging.getLogger("torchao")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import torchao.quantization.pt2e as pt2e
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86
    except ImportError as exc:
        raise ConfigError("PT2E int8 needs torchao, which is not installed", fix=EXTRA) from exc
    finally:
        log.setLevel(level)
    return pt2e, x86


def enable_freezing() -> None:
    """Turn Inductor freezing on for this process (see the module docstring for why)."""
    os.environ["TORCHINDUCTOR_FREEZING"] = "1"
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True


def as_tuple(batch: Batch) -> tuple[torch.Tensor, ...]:
    """A batch given as one tensor or a sequence of tensors, as the model's positional inputs."""
    return (batch,) if isinstance(batch, torch.Tensor) else tuple(batch)


def capture(
    model: nn.Module, example_inputs: Sequence[torch.Tensor], *, qat: bool = False
) -> torch.fx.GraphModule:
    """`model` exported and prepared for PT2E: observers (post-training) or fake quantizers
    (qat=True, model in train mode) at the X86 Inductor quantizer's default places. The batch
    dimension stays symbolic (where the model allows it) so training and calibration batches
    of any size go through."""
    _, x86 = _torchao()
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    was_training = model.training
    model.train(qat)  # what export records; the caller's module gets its mode back below
    given = tuple(example_inputs)
    # export specializes a batch dimension of size 1, so trace with two rows; a model that
    # only takes one row is then exported with the given shapes instead
    doubled = tuple(x.expand(2, *x.shape[1:]) if x.dim() and len(x) == 1 else x for x in given)
    dynamic = tuple({0: torch.export.Dim.AUTO} if x.dim() else None for x in given)
    try:
        try:
            graph = torch.export.export(model, doubled, dynamic_shapes=dynamic).module()
        except Exception:
            graph = torch.export.export(model, given).module()
        finally:
            model.train(was_training)
    except Exception as exc:  # user model: say which step failed
        what = f"torch.export could not capture {type(model).__name__}: {type(exc).__name__}"
        raise ConfigError(
            f"{what}: {exc}"[:500],
            fix="make the model exportable (no data-dependent control flow), or use the "
            "ONNX Runtime path, skyline.optimize.quantize_int8",
        ) from exc
    quantizer = x86.X86InductorQuantizer()
    quantizer.set_global(x86.get_default_x86_inductor_quantization_config(is_qat=qat))
    prepared: torch.fx.GraphModule = (prepare_qat_pt2e if qat else prepare_pt2e)(graph, quantizer)
    return prepared


def state_bytes(module: nn.Module) -> int:
    """Bytes of the distinct tensors a module uses (int8 weights count one byte each); for a
    graph, only those its nodes read: conversion leaves the float originals attached, unused."""
    if isinstance(module, torch.fx.GraphModule):
        tensors = [
            operator.attrgetter(str(node.target))(module)
            for node in module.graph.nodes
            if node.op == "get_attr"
        ]
    else:
        tensors = list(module.state_dict().values())
    sizes = {
        t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
        for t in tensors
        if isinstance(t, torch.Tensor)
    }
    return sum(sizes.values())


class Pt2eModel:
    """A converted PT2E int8 model behind a tensor call (no autograd).

    `reference` is the converted graph run eagerly: int8 numerics, float speed. With
    `compiled=True` calls go through torch.compile (Inductor, freezing on), which compiles on
    the first call (tens of seconds) and is the fast path afterwards; each new input shape
    compiles again."""

    def __init__(self, reference: torch.fx.GraphModule, *, compiled: bool = True) -> None:
        self.reference = reference
        self.compiled = compiled
        self._call: Callable[..., Any] = reference
        if compiled:
            enable_freezing()
            # static shapes: a new batch size recompiles instead of going dynamic, where
            # Inductor's int8 conv lowering fails a stride assertion (torch 2.13)
            self._call = torch.compile(reference, dynamic=False)

    @property
    def size_bytes(self) -> int:
        """Bytes of the converted model's tensors (int8 weights, float biases and scales)."""
        return state_bytes(self.reference)

    def __call__(self, *inputs: torch.Tensor) -> Any:
        with torch.no_grad():
            return self._call(*inputs)


def _calibrate(prepared: torch.fx.GraphModule, batches: Iterable[Batch]) -> int:
    seen = 0
    with torch.no_grad():
        for batch in batches:
            prepared(*as_tuple(batch))
            seen += 1
    return seen


def convert(prepared: torch.fx.GraphModule, *, compile: bool = True) -> Pt2eModel:
    """The int8 model from a calibrated (or QAT-trained) prepared graph."""
    pt2e, _ = _torchao()
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    pt2e.move_exported_model_to_eval(prepared)
    return Pt2eModel(convert_pt2e(prepared), compiled=compile)


def quantize_pt2e(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    calibration: Iterable[Batch],
    *,
    compile: bool = True,
) -> Pt2eModel:
    """Static int8 `model` on PT2E + X86InductorQuantizer, activation ranges calibrated on
    `calibration` batches (each a tensor or a sequence of the model's inputs).

    compile=False gives the eager reference (for accuracy); compile=True the fast model."""
    prepared = capture(model, example_inputs)
    if _calibrate(prepared, calibration) == 0:
        raise ConfigError(
            "no calibration batches were given",
            fix="pass a few batches of real inputs (e.g. 16-256 images) as calibration",
        )
    return convert(prepared, compile=compile)
