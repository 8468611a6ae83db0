"""Baselines that run the whole model on one node: device-only, edge-only, cloud-only."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from skyline.errors import PlanError
from skyline.plan.planners.base import Planner, best_feasible, register
from skyline.plan.problem import Problem
from skyline.topology import Tier


class _WholeModel(Planner):
    tier: ClassVar[Tier]

    def solve(self, problem: Problem) -> np.ndarray:
        ks = [k for k, node in enumerate(problem.nodes) if node.tier == self.tier]
        if not ks:
            raise PlanError(
                f"planner {self.name!r} needs a {self.tier.value} node on the path "
                f"{[n.name for n in problem.nodes]}",
                fix=f"add a {self.tier.value} node to the topology or pick another planner",
            )
        n = problem.graph.num_ops
        return best_feasible(problem, (np.full(n, k, dtype=np.int64) for k in ks), self.name)


@register
class DeviceOnly(_WholeModel):
    name = "device-only"
    description = "everything on the device (no network)"
    tier = Tier.DEVICE


@register
class EdgeOnly(_WholeModel):
    name = "edge-only"
    description = "ship the inputs, run everything on the edge server"
    tier = Tier.EDGE


@register
class CloudOnly(_WholeModel):
    name = "cloud-only"
    description = "ship the inputs, run everything in the cloud"
    tier = Tier.CLOUD
