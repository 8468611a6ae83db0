"""Early exits in the real runtime: a plan that computes an exit at the origin, and the rule that
returns the exit's answer there when it is confident (otherwise the plan goes on to the cloud)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from skyline.errors import PlanError
from skyline.graph import CostModel, ModelGraph
from skyline.plan import Plan, Problem
from skyline.topology import Topology


def exit_plan(
    graph: ModelGraph,
    topology: Topology,
    exit_index: int,
    *,
    path: list[str] | None = None,
    cost_model: CostModel | None = None,
) -> Plan:
    """Everything output `exit_index` depends on runs at the origin; the rest on the next node.

    The cut is then exactly the features the rest of the backbone needs, and the exit's logits
    are available at the origin for `confident_exit`."""
    if not 0 <= exit_index < len(graph.outputs):
        raise PlanError(
            f"exit {exit_index} does not exist: the model has {len(graph.outputs)} outputs",
            fix=f"pick an exit in 0..{len(graph.outputs) - 1}",
        )
    needed = graph.ancestors(graph.outputs[exit_index])
    labels = np.array([0 if op.name in needed else 1 for op in graph.ops], dtype=np.int64)
    problem = Problem(graph, topology, path=path, cost_model=cost_model)
    if problem.K < 2:
        raise PlanError("an exit plan needs a path of at least two nodes", fix="add a node")
    return problem.to_plan(labels, f"exit@{exit_index}")


def top_probability(logits: list[float], temperature: float) -> float:
    """Calibrated confidence softmax(logits / T).max() in plain Python floats: a handful of
    logits per request, where each torch call would cost microseconds. Planning evidence uses
    this same function, so the runtime's exit decisions match the planner's bit for bit."""
    top = max(logits)
    return 1.0 / sum(math.exp((v - top) / temperature) for v in logits)


@dataclass(frozen=True)
class ConfidentExit:
    """An `EdgeWorker` exit rule: answer with exit `value`'s logits when every sample's
    calibrated top-class probability reaches `threshold` (a batch leaves together or not at
    all)."""

    value: str
    temperature: float
    threshold: float

    def __call__(self, values: dict[str, Any]) -> torch.Tensor | None:
        logits = values.get(self.value)
        if logits is None:
            raise PlanError(
                f"exit value {self.value!r} is not computed at the origin",
                fix="make the plan with exit_plan() or edgent() so the exit head runs there",
            )
        rows = logits.reshape(-1, logits.shape[-1]).tolist()
        if all(top_probability(row, self.temperature) >= self.threshold for row in rows):
            return logits
        return None


def confident_exit(value: str, temperature: float, threshold: float) -> ConfidentExit:
    """The rule for one calibrated exit (see `ConfidentExit`)."""
    return ConfidentExit(value, temperature, threshold)
