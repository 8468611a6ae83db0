"""`exhaustive`: every monotone placement of a small graph; the oracle the tests check others by."""

from __future__ import annotations

import numpy as np

from skyline.errors import PlanError
from skyline.plan.planners.base import Planner, best_feasible, register
from skyline.plan.problem import Problem


def all_labelings(problem: Problem, limit: int) -> np.ndarray:
    """Every labelling that never decreases along data edges, as rows of a matrix."""
    n, n_in = problem.graph.num_ops, problem.num_inputs
    preds: list[list[int]] = [[] for _ in range(n)]
    for v, d in zip(problem.edge_src, problem.edge_dst):
        if v >= n_in:
            preds[int(d)].append(int(v) - n_in)
    rows = np.zeros((1, 0), dtype=np.int64)
    for i in range(n):
        lo = rows[:, preds[i]].max(axis=1) if preds[i] else np.zeros(len(rows), dtype=np.int64)
        counts = problem.K - lo
        if counts.sum() > limit:
            raise PlanError(
                f"exhaustive search over {n} ops would try more than {limit} placements",
                fix="use 'dads' or 'tiered' (exact min-cut) for graphs this large",
            )
        parent = np.repeat(np.arange(len(rows)), counts)
        offset = np.arange(len(parent)) - np.repeat(np.cumsum(counts) - counts, counts)
        rows = np.concatenate([rows[parent], (lo[parent] + offset)[:, None]], axis=1)
    return rows


def objective_of_rows(problem: Problem, rows: np.ndarray) -> np.ndarray:
    """Objective of each labelling row, vectorized over rows (same terms as `Problem.evaluate`)."""
    unary, hop, fixed = problem.terms
    m = len(rows)
    cost = unary[np.arange(problem.graph.num_ops)[None, :], rows].sum(axis=1)
    vl = np.concatenate([np.zeros((m, problem.num_inputs), dtype=np.int64), rows], axis=1)
    mc = np.full_like(vl, -1)
    for v, d in zip(problem.edge_src, problem.edge_dst):
        mc[:, v] = np.maximum(mc[:, v], rows[:, d])
    for h in range(problem.K - 1):
        crossing = (vl <= h) & (mc > h)
        with np.errstate(invalid="ignore"):
            cost += np.where(crossing, hop[None, :, h], 0.0).sum(axis=1)
        cost += np.where(rows.max(axis=1) > h, fixed[h], 0.0)
    return cost


@register
class Exhaustive(Planner):
    name = "exhaustive"
    description = "tries every placement (oracle for small graphs)"

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit

    def solve(self, problem: Problem) -> np.ndarray:
        rows = all_labelings(problem, self.limit)
        order = np.argsort(objective_of_rows(problem, rows), kind="stable")
        return best_feasible(problem, (rows[i] for i in order), self.name, presorted=True)
