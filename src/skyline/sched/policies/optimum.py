"""The optimum of a batch placement model by mixed-integer programming (small instances).

Model: the n tasks of one Observation are placed together. Task i at target j costs its
predicted latency `latency_s[i, j]` (queues as they are now) plus the compute of the batch's
earlier tasks placed on the same server (rows are in arrival order), divided by the server's
lanes; a device's own CPU is shared only by that device's tasks. The objective is the sum of
latencies, or the device energy with each deadline overrun charged `penalty_j_per_s`. This is
what per-task heuristics miss in a batch: greedy sends every task of a tick to the server that
is fastest for one. Solved exactly by HiGHS through scipy (a core dependency, so no extra):
binary x[i, j], continuous y >= x[h, j] + x[i, j] - 1 for tasks sharing a server (tight at
the optimum, since y only adds cost), and slacks for deadlines.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from skyline.errors import ConfigError, PlanError
from skyline.sched.observation import LOCAL, Observation
from skyline.sched.policies.base import Policy, register

Objective = Literal["latency", "energy"]


def _pairs(obs: Observation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(earlier task h, task i, target j) for every two tasks that would share a server at j."""
    h, i = np.triu_indices(obs.n, 1)
    hs, is_, js = [], [], []
    for j in range(len(obs.targets)):
        shared = obs.reachable[h, j] & obs.reachable[i, j]
        if j == LOCAL:
            shared &= obs.device[h] == obs.device[i]
        hs.append(h[shared])
        is_.append(i[shared])
        js.append(np.full(int(shared.sum()), j))
    return np.concatenate(hs), np.concatenate(is_), np.concatenate(js)


def batch_latency(obs: Observation, target: np.ndarray) -> np.ndarray:
    """Per task, the model's latency of a placement: predicted latency plus the compute of
    the batch's earlier tasks on the same server, over its lanes."""
    rows = np.arange(obs.n)
    latency = obs.latency_s[rows, target].copy()
    work = obs.compute_s[rows, target] / obs.lanes[rows, target]
    for i in range(obs.n):
        same = (target[:i] == target[i]) & (
            (obs.device[:i] == obs.device[i]) if target[i] == LOCAL else True
        )
        latency[i] += work[:i][same].sum()
    return latency


@register
class MilpOptimum(Policy):
    name = "milp"
    description = "exact optimum of the batch model by MILP (HiGHS); small batches only"

    def __init__(
        self,
        seed: int = 0,
        *,
        objective: Objective = "latency",
        penalty_j_per_s: float = 1e4,
        max_tasks: int = 40,
        time_limit_s: float = 10.0,
    ) -> None:
        if objective not in ("latency", "energy"):
            raise ConfigError(
                f"milp objective {objective!r} is unknown", fix="use 'latency' or 'energy'"
            )
        super().__init__(seed)
        self.objective = objective
        self.penalty_j_per_s = penalty_j_per_s
        self.max_tasks = max_tasks
        self.time_limit_s = time_limit_s

    def cost(self, obs: Observation, target: np.ndarray) -> float:
        """The model's objective for a placement (what `decide` minimizes)."""
        latency = batch_latency(obs, target)
        if self.objective == "latency":
            return float(latency.sum())
        energy = obs.energy_j[np.arange(obs.n), target].sum()
        overrun = np.maximum(latency - obs.deadline_s, 0.0).sum()
        return float(energy + self.penalty_j_per_s * overrun)

    def decide(self, obs: Observation) -> np.ndarray:
        from scipy import sparse
        from scipy.optimize import Bounds, LinearConstraint, milp

        n, T = obs.n, len(obs.targets)
        if n > self.max_tasks:
            raise PlanError(
                f"policy 'milp' solves batches of at most {self.max_tasks} tasks, got {n}",
                fix="use a shorter tick, raise max_tasks, or a heuristic policy",
            )
        if n <= 1:  # nothing to share: the optimum is the cheapest reachable target
            options = np.flatnonzero(obs.reachable[0]) if n else np.zeros(0, dtype=np.int64)
            costs = [self.cost(obs, np.array([j])) for j in options]
            return options[np.argmin(costs)][None] if n else options
        h, i, j = _pairs(obs)
        nx, ny = n * T, len(h)
        energy = self.objective == "energy"
        deadlines = np.flatnonzero(np.isfinite(obs.deadline_s)) if energy else np.zeros(0, int)
        nv = nx + ny + len(deadlines)
        base = np.where(obs.reachable, obs.latency_s, 0.0)
        wait = obs.compute_s[h, j] / obs.lanes[h, j]  # what y[h, i, j] adds to task i
        c = np.zeros(nv)
        if energy:
            c[:nx] = np.where(obs.reachable, obs.energy_j, 0.0).ravel()
            c[nx + ny :] = self.penalty_j_per_s
        else:
            c[:nx] = base.ravel()
            c[nx : nx + ny] = wait
        # each task placed once
        rows = [
            sparse.coo_matrix(
                (np.ones(nx), (np.repeat(np.arange(n), T), np.arange(nx))), shape=(n, nv)
            )
        ]
        lower, upper = [np.ones(n)], [np.ones(n)]
        # y >= x[h, j] + x[i, j] - 1
        k = np.arange(ny)
        link = sparse.coo_matrix(
            (
                np.concatenate([np.ones(ny), np.ones(ny), -np.ones(ny)]),
                (np.tile(k, 3), np.concatenate([h * T + j, i * T + j, nx + k])),
            ),
            shape=(ny, nv),
        )
        rows.append(link)
        lower.append(np.full(ny, -np.inf))
        upper.append(np.ones(ny))
        if len(deadlines):  # latency_i - slack_i <= deadline_i
            where = {int(t): r for r, t in enumerate(deadlines)}
            data, r_idx, c_idx = [], [], []
            for t, r in where.items():
                cols = np.flatnonzero(obs.reachable[t])
                data += base[t, cols].tolist()
                r_idx += [r] * len(cols)
                c_idx += (t * T + cols).tolist()
            for kk in np.flatnonzero(np.isin(i, deadlines)):
                data.append(wait[kk])
                r_idx.append(where[int(i[kk])])
                c_idx.append(nx + int(kk))
            data += [-1.0] * len(deadlines)
            r_idx += list(range(len(deadlines)))
            c_idx += list(range(nx + ny, nv))
            rows.append(sparse.coo_matrix((data, (r_idx, c_idx)), shape=(len(deadlines), nv)))
            lower.append(np.full(len(deadlines), -np.inf))
            upper.append(obs.deadline_s[deadlines])
        ub = np.concatenate(
            [obs.reachable.ravel().astype(float), np.ones(ny), np.full(len(deadlines), np.inf)]
        )
        result = milp(
            c,
            integrality=np.concatenate([np.ones(nx), np.zeros(nv - nx)]),
            bounds=Bounds(np.zeros(nv), ub),
            constraints=LinearConstraint(
                sparse.vstack(rows).tocsr(), np.concatenate(lower), np.concatenate(upper)
            ),
            options={"time_limit": self.time_limit_s},
        )
        if result.status != 0 or result.x is None:
            raise PlanError(
                f"policy 'milp' found no optimum for {n} tasks: {result.message}",
                fix="use fewer tasks per batch (a shorter tick) or raise time_limit_s",
            )
        return np.asarray(np.argmax(result.x[:nx].reshape(n, T), axis=1), dtype=np.int64)
