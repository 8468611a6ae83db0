"""The `Planner` plug-in interface and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar

import numpy as np

from skyline._registry import PluginRegistry
from skyline.errors import InfeasiblePlanError
from skyline.graph import CostModel, ModelGraph
from skyline.plan.codec_cost import CodecCost
from skyline.plan.problem import Problem
from skyline.plan.spec import Constraints, Objective, Plan
from skyline.topology import Topology


class Planner(ABC):
    """Decides which path node runs each op. Subclasses implement `solve` only.

    `solve` returns labels (one path index per op, never decreasing along data edges) and must
    respect the problem's constraints or raise `InfeasiblePlanError`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def plan(
        self,
        graph: ModelGraph,
        topology: Topology,
        *,
        cost_model: CostModel | None = None,
        objective: Objective | None = None,
        constraints: Constraints | None = None,
        path: list[str] | None = None,
        codec: CodecCost | None = None,
    ) -> Plan:
        """The plan for `graph` on `topology`; `codec` (measured) is used on every up cut."""
        problem = Problem(
            graph,
            topology,
            cost_model=cost_model,
            path=path,
            objective=objective,
            constraints=constraints,
            codec=codec,
        )
        labels = self.solve(problem)
        problems = problem.violations(problem.evaluate(labels))
        if problems:
            raise InfeasiblePlanError(
                f"planner {self.name!r} returned an infeasible placement: {'; '.join(problems)}"
            )
        return problem.to_plan(labels, self.name)

    @abstractmethod
    def solve(self, problem: Problem) -> np.ndarray:
        """Labels for every op of `problem.graph`."""


def best_feasible(
    problem: Problem, candidates: Iterable[np.ndarray], what: str, *, presorted: bool = False
) -> np.ndarray:
    """The candidate with the lowest objective that meets the constraints.

    With `presorted` (candidates come cheapest first) the first feasible one is returned.
    """
    best: tuple[float, np.ndarray] | None = None
    first_problem = ""
    for labels in candidates:
        b = problem.evaluate(labels)
        issues = problem.violations(b)
        if issues:
            first_problem = first_problem or "; ".join(issues)
            continue
        if presorted:
            return labels
        value = problem.objective_value(b)
        if best is None or value < best[0]:
            best = (value, labels)
    if best is None:
        raise InfeasiblePlanError(
            f"no {what} placement meets the constraints (e.g. {first_problem})",
            fix="relax the deadline, give nodes more memory, or add a faster node or link",
        )
    return best[1]


PLANNERS: PluginRegistry[Planner] = PluginRegistry("planner", Planner, "skyline.plan.Planner")
register = PLANNERS.add
check_planner = PLANNERS.check
create = PLANNERS.create
names = PLANNERS.names
