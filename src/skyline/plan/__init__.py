"""Partition planning: the serializable `Plan`, planners by name, and `split()` into stages."""

from skyline.plan import planners
from skyline.plan.codec_cost import CodecCost, measure_codec_costs, value_tensors
from skyline.plan.planners import Planner, create
from skyline.plan.problem import Breakdown, Problem
from skyline.plan.spec import (
    SCHEMA,
    Constraints,
    Cut,
    CutTensor,
    ModelInfo,
    Objective,
    Plan,
    Prediction,
    Stage,
    TensorSpec,
    load_plans,
)
from skyline.plan.split import SplitModel, StageModule, split
from skyline.plan.sweep import SweepPoint, bandwidth_sweep

__all__ = [
    "SCHEMA",
    "Breakdown",
    "CodecCost",
    "Constraints",
    "Cut",
    "CutTensor",
    "ModelInfo",
    "Objective",
    "Plan",
    "Planner",
    "Prediction",
    "Problem",
    "SplitModel",
    "Stage",
    "StageModule",
    "SweepPoint",
    "TensorSpec",
    "bandwidth_sweep",
    "create",
    "load_plans",
    "measure_codec_costs",
    "planners",
    "split",
    "value_tensors",
]
