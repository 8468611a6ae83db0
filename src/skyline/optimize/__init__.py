"""Model optimization for the edge: int8 quantization on ONNX Runtime, structured and
unstructured pruning, low-rank factorization, knowledge distillation. Heavy backends
(onnxruntime, torch-pruning) load lazily: install the `optimize` extra."""

from skyline.optimize.distill import distill, teacher_logits
from skyline.optimize.lowrank import Factorized, choose_rank, low_rank
from skyline.optimize.ort import OrtModel, export_onnx, quantize_int8
from skyline.optimize.pareto import dominates, pareto_front
from skyline.optimize.prune import (
    output_layers,
    parameter_count,
    prune_channels,
    prune_magnitude,
)

__all__ = [
    "Factorized",
    "OrtModel",
    "choose_rank",
    "distill",
    "dominates",
    "export_onnx",
    "low_rank",
    "output_layers",
    "parameter_count",
    "pareto_front",
    "prune_channels",
    "prune_magnitude",
    "quantize_int8",
    "teacher_logits",
]
