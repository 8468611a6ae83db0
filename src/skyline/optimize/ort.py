"""ONNX Runtime as the edge inference backend: export, fp32 sessions and static int8 (QDQ).

Static quantization with calibration data is the path that pays on CPUs: weights and
activations in int8, scales fixed ahead of time, QDQ pairs that ORT fuses into integer
kernels. Dynamic quantization is deliberately absent: on CNNs it is slower than fp32 (the
activation scales are computed per call and convolutions stay float).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skyline.errors import ConfigError

_EXTRA = "pip install 'skyline[optimize]' (onnx, onnxscript, onnxruntime)"


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError("ONNX Runtime is not installed", fix=_EXTRA) from exc
    onnxruntime.set_default_logger_severity(3)
    return onnxruntime


def export_onnx(model: nn.Module, example_inputs: Sequence[torch.Tensor], path: str | Path) -> Path:
    """`model` (eval mode) as an ONNX file with the example inputs' shapes (batch included)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    names = [f"input_{i}" for i in range(len(example_inputs))]
    try:
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            torch.onnx.export(
                model,
                tuple(example_inputs),
                str(out),
                input_names=names,
                dynamo=True,
                external_data=False,  # one self-contained file (the quantizer copies it)
            )
    except ImportError as exc:
        raise ConfigError("ONNX export needs onnx and onnxscript", fix=_EXTRA) from exc
    return out


class OrtModel:
    """An ONNX Runtime session behind a torch-like call: tensors in, a tensor (or a list, for
    several outputs) out. `threads` sets intra-op threads; inter-op is 1."""

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        ort = _ort()
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"ONNX file {str(self.path)!r} does not exist", fix="export first")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    @property
    def size_bytes(self) -> int:
        """Bytes of the model file (weights dominate)."""
        return self.path.stat().st_size

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if len(inputs) != len(self.input_names):
            raise ConfigError(
                f"{self.path.name} takes {len(self.input_names)} inputs, got {len(inputs)}",
                fix=f"pass {', '.join(self.input_names)}",
            )
        feed = {n: x.detach().cpu().numpy() for n, x in zip(self.input_names, inputs)}
        outs = [torch.from_numpy(o) for o in self.session.run(None, feed)]
        return outs[0] if len(outs) == 1 else outs


def quantize_int8(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    calibration: Iterable[torch.Tensor | Sequence[torch.Tensor]],
    out_dir: str | Path,
    *,
    per_channel: bool = True,
    threads: int = 1,
) -> tuple[OrtModel, OrtModel]:
    """(fp32, int8) ORT sessions of `model`: static QDQ int8, activation ranges calibrated
    (min-max) on `calibration` batches shaped like `example_inputs`. Both come back so a
    speedup is always measured against the same backend."""
    ort = _ort()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(out_dir)
    fp32_path = export_onnx(model, example_inputs, out / "model.fp32.onnx")
    prepared = out / "model.prep.onnx"
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    names = [i.name for i in ort.InferenceSession(str(prepared)).get_inputs()]
    shapes = [tuple(x.shape) for x in example_inputs]

    def batches() -> Iterator[dict[str, np.ndarray]]:
        for item in calibration:
            tensors = [item] if isinstance(item, torch.Tensor) else list(item)
            got = [tuple(t.shape) for t in tensors]
            if got != shapes:
                raise ConfigError(
                    f"calibration batch shapes {got} differ from the example inputs {shapes}",
                    fix="give calibration batches of the exported (batch included) shape",
                )
            yield {n: t.detach().cpu().numpy() for n, t in zip(names, tensors)}

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = batches()

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    int8_path = out / "model.int8.onnx"
    quantize_static(
        str(prepared),
        str(int8_path),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return OrtModel(fp32_path, threads=threads), OrtModel(int8_path, threads=threads)
