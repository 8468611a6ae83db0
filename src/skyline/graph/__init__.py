"""Capture any PyTorch model into a DAG of ops, measure it, and predict its cost on each node."""

from skyline.graph.capture import Captured, capture
from skyline.graph.cost import CostModel
from skyline.graph.model_graph import ModelGraph, Op, Value, random_dag
from skyline.graph.profile import profile, single_thread

__all__ = [
    "Captured",
    "CostModel",
    "ModelGraph",
    "Op",
    "Value",
    "capture",
    "profile",
    "random_dag",
    "single_thread",
]
