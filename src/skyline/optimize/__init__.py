"""Model optimization for the edge: int8 quantization on ONNX Runtime, structured and
unstructured pruning. Heavy backends (onnxruntime, torch-pruning) load lazily: install the
`optimize` extra."""

from skyline.optimize.ort import OrtModel, export_onnx, quantize_int8
from skyline.optimize.prune import (
    output_layers,
    parameter_count,
    prune_channels,
    prune_magnitude,
)

__all__ = [
    "OrtModel",
    "export_onnx",
    "output_layers",
    "parameter_count",
    "prune_channels",
    "prune_magnitude",
    "quantize_int8",
]
