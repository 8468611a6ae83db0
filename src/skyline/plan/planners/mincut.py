"""Exact DAG partitioning by s-t min-cut: `dads` (origin + one node) and `tiered` (whole path).

DADS (Hu et al., INFOCOM'19) places each op on the origin or the server by a min-cut. `tiered`
extends it to a path of any length with Ishikawa's layered construction: one binary layer per
boundary between allowed labels, chain edges carrying each op's cost on each label, infinite
edges keeping labels non-decreasing along data edges, and one auxiliary node per (value, layer)
so a tensor read by several ops is paid once. The fixed RTT of each hop is not representable in
a cut; solving once per prefix of the allowed labels and keeping the best is still exact because
RTT cost only grows with the highest label used.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from skyline.plan.planners.base import Planner, best_feasible, register
from skyline.plan.problem import Problem

_CAP_BUDGET = 2**30  # scipy's max-flow uses int32 capacities: finite ones sum below this
_INF = 2**31 - 1


def mincut_labels(
    problem: Problem,
    allowed: Sequence[int],
    terms: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Labels in `allowed` (starting with 0) minimizing the separable part of the objective."""
    unary, hop, _ = terms
    n, n_in = problem.graph.num_ops, problem.num_inputs
    allowed = list(allowed)
    m = len(allowed) - 1  # binary layers
    if m == 0:
        return np.zeros(n, dtype=np.int64)
    src_v, dst_op = problem.edge_src, problem.edge_dst
    # layer t's boundary: a value crossing it pays every hop from allowed[t-1] to allowed[t].
    layer_hop = np.stack(
        [hop[:, allowed[t - 1] : allowed[t]].sum(axis=1) for t in range(1, m + 1)], axis=1
    )
    U = unary[:, allowed]

    S, T = 0, 1

    def opnode(ops: np.ndarray, t: int | np.ndarray) -> np.ndarray:  # t in 1..m
        return 2 + ops * m + (t - 1)

    ops = np.arange(n)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    caps: list[np.ndarray] = []

    def add(r: np.ndarray | int, c: np.ndarray | int, w: np.ndarray | float) -> None:
        r_, c_, w_ = np.broadcast_arrays(np.asarray(r), np.asarray(c), np.asarray(w, dtype=float))
        rows.append(r_.ravel())
        cols.append(c_.ravel())
        caps.append(w_.ravel())

    # Chain S -> (v,m) -> ... -> (v,1) -> T: the one edge cut into T-side layer t picks allowed[t].
    add(S, opnode(ops, m), U[:, m])
    for t in range(m, 1, -1):
        add(opnode(ops, t), opnode(ops, t - 1), U[:, t - 1])
        add(opnode(ops, t - 1), opnode(ops, t), np.inf)  # layers stay nested
    add(opnode(ops, 1), T, U[:, 0])

    # Data edges: value v (op output or model input) read by op d.
    is_op = src_v >= n_in
    producer = src_v - n_in
    consumers = np.bincount(src_v, minlength=n_in + n)
    next_id = 2 + n * m
    single = consumers[src_v] == 1
    multi_values = np.flatnonzero(consumers > 1)
    from_op = multi_values >= n_in
    for t in range(1, m + 1):
        # Monotone: a consumer may not sit below its producer.
        add(opnode(dst_op[is_op], t), opnode(producer[is_op], t), np.inf)
        cost = layer_hop[:, t - 1]
        # one reader: pay on the edge itself; inputs always sit at the origin (S side).
        sel = single & is_op
        add(opnode(producer[sel], t), opnode(dst_op[sel], t), cost[src_v[sel]])
        sel = single & ~is_op
        add(S, opnode(dst_op[sel], t), cost[src_v[sel]])
        # several readers: value -> aux (paid once) -> each reader (free).
        aux = next_id + np.arange(len(multi_values))
        next_id += len(multi_values)
        aux_of = np.full(n_in + n, -1, dtype=np.int64)
        aux_of[multi_values] = aux
        add(opnode(multi_values[from_op] - n_in, t), aux[from_op], cost[multi_values[from_op]])
        add(S, aux[~from_op], cost[multi_values[~from_op]])
        sel = ~single
        add(aux_of[src_v[sel]], opnode(dst_op[sel], t), np.inf)

    r, c, w = np.concatenate(rows), np.concatenate(cols), np.concatenate(caps)
    finite = np.isfinite(w)
    total = float(w[finite].sum())
    scale = _CAP_BUDGET / total if total > 0 else 1.0
    icap = np.where(finite, np.rint(w * scale), _INF).astype(np.int64)
    size = next_id
    graph = sp.csr_matrix((icap, (r, c)), shape=(size, size))
    graph.sum_duplicates()  # in int64: parallel infinite edges must not overflow
    graph.data = np.minimum(graph.data, _INF).astype(np.int32)
    flow = maximum_flow(graph, S, T).flow
    residual = (graph.astype(np.int64) - flow.astype(np.int64)).tocsr()  # int32 would wrap
    residual.data = (residual.data > 0).astype(np.int32)
    residual.eliminate_zeros()
    reached = np.zeros(size, dtype=bool)
    reached[breadth_first_order(residual, S, directed=True, return_predecessors=False)] = True
    on_t = ~reached[opnode(ops[:, None], np.arange(1, m + 1)[None, :])]  # [n, m]
    return np.asarray(allowed, dtype=np.int64)[on_t.sum(axis=1)]


def _candidates(problem: Problem, label_sets: list[list[int]]) -> list[np.ndarray]:
    """Min-cut for every prefix of every label set (covers the fixed RTT terms exactly)."""
    terms = problem.terms
    seen: set[tuple[int, ...]] = set()
    out = []
    for labels in label_sets:
        for r in range(1, len(labels) + 1):
            key = tuple(labels[:r])
            if key not in seen:
                seen.add(key)
                out.append(mincut_labels(problem, key, terms))
    return out


class _MinCutPlanner(Planner):
    @abstractmethod
    def label_sets(self, problem: Problem) -> list[list[int]]:
        """Label sets to solve (each starting with the origin, 0)."""

    def solve(self, problem: Problem) -> np.ndarray:
        candidates = _candidates(problem, self.label_sets(problem))
        constrained = (
            problem.constraints.deadline_ms is not None or np.isfinite(problem.memory_limit).any()
        )
        if constrained and all(problem.violations(problem.evaluate(c)) for c in candidates):
            candidates += self._lagrangian(problem)
        return best_feasible(problem, candidates, self.name)

    def _lagrangian(self, problem: Problem) -> list[np.ndarray]:
        """Candidates under growing penalties on memory use and latency (constraint handling).

        Not exact: the optimum under hard constraints is NP-hard in general, so this returns
        feasible placements the penalties find (the DADS paper's heavy-load case is likewise
        approximate)."""
        out = []
        base = problem.terms[0].max() or 1.0
        mem_scale = base / max(float(problem.param_bytes.max()), 1.0)
        for exponent in range(-10, 31):
            lam = 2.0**exponent
            over = problem.memory_limit < np.inf
            penalty = np.where(over, lam * mem_scale, 0.0)
            wl = problem.objective.latency_weight + (
                lam if problem.constraints.deadline_ms else 0.0
            )
            terms = problem.cost_terms(wl=wl, memory_penalty=penalty)
            for labels in self.label_sets(problem):
                out.append(mincut_labels(problem, labels, terms))
            if not problem.violations(problem.evaluate(out[-1])):
                break
        return out


@register
class Dads(_MinCutPlanner):
    name = "dads"
    description = "exact min-cut of the DAG between the origin and one other node (DADS)"

    def label_sets(self, problem: Problem) -> list[list[int]]:
        return [[0, j] for j in range(1, problem.K)] or [[0]]


@register
class Tiered(_MinCutPlanner):
    name = "tiered"
    description = "exact min-cut over the whole path, e.g. device -> edge -> cloud (two cuts)"

    def label_sets(self, problem: Problem) -> list[list[int]]:
        return [list(range(problem.K))]
