"""`neurosurgeon`: the best single cut of a topological order (Kang et al., ASPLOS'17).

The chain baseline: ops before the cut run at the origin, the rest on one other node. On a DAG
this misses placements that are not prefixes of the order, which is what `dads` adds.
"""

from __future__ import annotations

import numpy as np

from skyline.plan.planners.base import Planner, best_feasible, register
from skyline.plan.problem import Problem


def prefix_costs(problem: Problem, j: int) -> np.ndarray:
    """Objective of every cut c = 0..n (ops [0, c) at label 0, the rest at label j), in O(n + E)."""
    unary, hop, fixed = problem.terms
    n, n_in = problem.graph.num_ops, problem.num_inputs
    cost = np.concatenate([[0.0], np.cumsum(unary[:, 0])])
    cost += np.concatenate([np.cumsum(unary[::-1, j])[::-1], [0.0]])
    # value v (produced at op position p, inputs at -1) crosses cut c when p < c <= last consumer.
    last = np.full(n_in + n, -1, dtype=np.int64)
    np.maximum.at(last, problem.edge_src, problem.edge_dst)
    produced = np.concatenate([np.full(n_in, -1), np.arange(n)])
    crosses = last > produced
    start, stop = produced[crosses] + 1, last[crosses] + 1
    per_value = hop[crosses, :j].sum(axis=1)
    blocked = ~np.isfinite(per_value)
    diff = np.zeros(n + 2)
    np.add.at(diff, start[~blocked], per_value[~blocked])
    np.add.at(diff, stop[~blocked], -per_value[~blocked])
    cost += np.cumsum(diff)[: n + 1]
    inf_diff = np.zeros(n + 2, dtype=np.int64)
    np.add.at(inf_diff, start[blocked], 1)
    np.add.at(inf_diff, stop[blocked], -1)
    cost[np.cumsum(inf_diff)[: n + 1] > 0] = np.inf
    cost[:n] += fixed[:j].sum()
    return cost


@register
class Neurosurgeon(Planner):
    name = "neurosurgeon"
    description = "best single cut of a topological order (chain baseline)"

    def solve(self, problem: Problem) -> np.ndarray:
        n = problem.graph.num_ops
        positions = np.arange(n)
        ranked: list[tuple[float, int, int]] = []
        for j in range(1, problem.K):
            costs = prefix_costs(problem, j)
            ranked.extend((float(c), cut, j) for cut, c in enumerate(costs))
        if problem.K == 1:
            ranked.append((0.0, n, 0))
        ranked.sort()
        candidates = (np.where(positions < cut, 0, j).astype(np.int64) for _, cut, j in ranked)
        return best_feasible(problem, candidates, self.name, presorted=True)
