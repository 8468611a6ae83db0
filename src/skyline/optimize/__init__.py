"""Model optimization for the edge: int8 quantization on ONNX Runtime, structured and
unstructured pruning, low-rank factorization, knowledge distillation, hardware-aware NAS, and
incremental learning under drift (edge monitor, cloud fine-tune, hot swap). Heavy backends load
lazily: onnxruntime and torch-pruning are the `optimize` extra, optuna the `nas` extra."""

from skyline.optimize.distill import distill, teacher_logits
from skyline.optimize.drift import (
    DriftAlarm,
    DriftMonitor,
    HardExamples,
    confidences,
    image_features,
)
from skyline.optimize.incremental import (
    AdaptationServer,
    IncrementalEdge,
    IncrementalTrainer,
    ModelVersion,
    RemoteAdapter,
)
from skyline.optimize.lowrank import Factorized, choose_rank, low_rank
from skyline.optimize.nas import (
    Candidate,
    MemoryLimit,
    dominating,
    front,
    front_hypervolume,
    hypervolume_2d,
    search,
    train_accuracy,
)
from skyline.optimize.nas_latency import LatencyPredictor, measure_latency_ms, median_ape
from skyline.optimize.nas_space import Arch, SearchSpace, Stage
from skyline.optimize.nas_space import build as build_arch
from skyline.optimize.ort import OrtModel, export_onnx, quantize_int8
from skyline.optimize.pareto import dominates, pareto_front
from skyline.optimize.prune import (
    output_layers,
    parameter_count,
    prune_channels,
    prune_magnitude,
)

__all__ = [
    "AdaptationServer",
    "Arch",
    "Candidate",
    "DriftAlarm",
    "DriftMonitor",
    "Factorized",
    "HardExamples",
    "IncrementalEdge",
    "IncrementalTrainer",
    "LatencyPredictor",
    "MemoryLimit",
    "ModelVersion",
    "OrtModel",
    "RemoteAdapter",
    "SearchSpace",
    "Stage",
    "build_arch",
    "choose_rank",
    "confidences",
    "distill",
    "dominates",
    "dominating",
    "export_onnx",
    "front",
    "front_hypervolume",
    "hypervolume_2d",
    "image_features",
    "low_rank",
    "measure_latency_ms",
    "median_ape",
    "output_layers",
    "parameter_count",
    "pareto_front",
    "prune_channels",
    "prune_magnitude",
    "quantize_int8",
    "search",
    "teacher_logits",
    "train_accuracy",
]
