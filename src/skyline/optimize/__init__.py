"""Model optimization for the edge: static int8 (ONNX Runtime QDQ, or torchao PT2E + Inductor),
quantization-aware training, structured and unstructured pruning, low-rank factorization,
knowledge distillation, hardware-aware NAS, incremental learning under drift (edge monitor,
cloud fine-tune, hot swap), and variants a planner picks per node. Heavy backends load lazily:
onnxruntime, torch-pruning and torchao are the `optimize` extra, optuna the `nas` extra."""

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
from skyline.optimize.nas_latency import (
    LatencyPredictor,
    measure_latency_ms,
    measure_parts_ms,
    median_ape,
)
from skyline.optimize.nas_lut import LookupTablePredictor
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
from skyline.optimize.pt2e import Pt2eModel, enable_freezing, quantize_pt2e
from skyline.optimize.qat import quantize_aware
from skyline.optimize.variants import (
    Variant,
    load_variants,
    pick_per_node,
    pick_variant,
    predicted_latency_ms,
    register_variant,
    variants_for,
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
    "LookupTablePredictor",
    "MemoryLimit",
    "ModelVersion",
    "OrtModel",
    "Pt2eModel",
    "RemoteAdapter",
    "SearchSpace",
    "Stage",
    "Variant",
    "build_arch",
    "choose_rank",
    "confidences",
    "distill",
    "dominates",
    "dominating",
    "enable_freezing",
    "export_onnx",
    "front",
    "front_hypervolume",
    "hypervolume_2d",
    "image_features",
    "load_variants",
    "low_rank",
    "measure_latency_ms",
    "measure_parts_ms",
    "median_ape",
    "output_layers",
    "parameter_count",
    "pareto_front",
    "pick_per_node",
    "pick_variant",
    "predicted_latency_ms",
    "prune_channels",
    "prune_magnitude",
    "quantize_aware",
    "quantize_int8",
    "quantize_pt2e",
    "register_variant",
    "search",
    "teacher_logits",
    "train_accuracy",
    "variants_for",
]
