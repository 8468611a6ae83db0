"""Exact discrete-event engine on a heap: one event per task per stage, FIFO queues exact.

A queue with k lanes serves in arrival order on the lane that frees first; with service times
known on arrival, a task's start is max(arrival, earliest lane free time), so one event per
stage (its arrival at the queue) suffices: pop, take the lane, push the arrival at the next
stage. Events are processed in time order, which is what makes every queue FIFO.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from skyline.sched import Policy
from skyline.sim.engines.base import Engine, RunStats, register
from skyline.sim.metrics import Recorder
from skyline.sim.workload import Arrivals
from skyline.sim.world import MAX_STAGES, World


class _Batch:
    """One window's tasks: arrays for metrics; flat stage lists (task i, stage k at
    i * MAX_STAGES + k) for the event loop, which reads Python lists much faster than arrays."""

    __slots__ = ("arrivals", "delay", "edge", "finish", "left", "length", "res", "svc", "target")

    def __init__(self, arrivals: Arrivals, edge: np.ndarray) -> None:
        n = len(arrivals)
        self.arrivals = arrivals
        self.edge = edge
        self.target = np.zeros(n, dtype=np.int64)
        self.finish = [0.0] * n
        self.left = n
        self.res: list[int] = []
        self.svc: list[float] = []
        self.delay: list[float] = []
        self.length: list[int] = []


@register
class ExactEngine(Engine):
    name = "exact"
    description = "discrete events on a heap; FIFO k-lane queues exact; per-task decisions"

    def __init__(self, world: World, policy: Policy, recorder: Recorder, *, tick_s: float) -> None:
        super().__init__(world, policy, recorder, tick_s=tick_s)
        self.lanes = [[0.0] * k for k in world.lanes.tolist()]
        self.busy = [0.0] * world.n_resources
        self.heap: list[tuple[float, int, _Batch, int, int]] = []
        self.seq = 0
        self.events = 0
        self.last_s = 0.0
        # earliest lane free time per resource, kept only for policies that read queues
        self.free = np.zeros(world.n_resources) if policy.uses_state else None

    def _route(self, batch: _Batch, rows: np.ndarray, now_s: float) -> None:
        wait = None
        if self.free is not None:
            free = self.free

            def wait(ids: np.ndarray) -> np.ndarray:
                return np.maximum(free[ids] - now_s, 0.0)

        target, routes = self.decide(now_s, batch.arrivals.take(rows), batch.edge[rows], wait)
        batch.target[rows] = target
        if len(rows) == len(batch.arrivals):
            batch.res = routes.res.ravel().tolist()
            batch.svc = routes.svc.ravel().tolist()
            batch.delay = routes.delay.ravel().tolist()
            batch.length = routes.length.tolist()
            return
        if not batch.length:  # decided one by one: room for every task
            n = len(batch.arrivals)
            batch.res, batch.svc = [0] * (n * MAX_STAGES), [0.0] * (n * MAX_STAGES)
            batch.delay, batch.length = [0.0] * (n * MAX_STAGES), [0] * n
        for j, row in enumerate(rows.tolist()):
            span = slice(row * MAX_STAGES, (row + 1) * MAX_STAGES)
            batch.res[span] = routes.res[j].tolist()
            batch.svc[span] = routes.svc[j].tolist()
            batch.delay[span] = routes.delay[j].tolist()
            batch.length[row] = int(routes.length[j])

    def window(self, t0: float, t1: float, arrivals: Arrivals, attach: np.ndarray) -> None:
        n = len(arrivals)
        if n:
            batch = _Batch(arrivals, attach[arrivals.device])
            first = -1  # decided on arrival, with the queues as they are then
            if not self.policy.uses_state:
                self._route(batch, np.arange(n), t0)
                first = 0
            heap, seq = self.heap, self.seq
            for i, t in enumerate(arrivals.time_s.tolist()):
                seq += 1
                heapq.heappush(heap, (t, seq, batch, i, first))
            self.seq = seq
        self._advance(t1)

    def drain(self) -> RunStats:
        self._advance(math.inf)
        horizon = max(self.world.scenario.duration_s, self.last_s)
        return RunStats(np.array(self.busy), horizon, self.events)

    def _advance(self, until: float) -> None:
        """Process every event before `until`."""
        heap, lanes, busy, free = self.heap, self.lanes, self.busy, self.free
        pop, push, replace = heapq.heappop, heapq.heappush, heapq.heapreplace
        seq, events = self.seq, 0
        while heap and heap[0][0] < until:
            t, _, batch, i, k = pop(heap)
            events += 1
            if k < 0:
                self._route(batch, np.array([i]), t)
                k = 0
            at = i * MAX_STAGES + k
            r = batch.res[at]
            s = batch.svc[at]
            q = lanes[r]
            f = q[0]
            end = (t if t > f else f) + s
            replace(q, end)
            busy[r] += s
            if free is not None:
                free[r] = q[0]
            k += 1
            if k < batch.length[i]:
                seq += 1
                push(heap, (end + batch.delay[at], seq, batch, i, k))
                continue
            batch.finish[i] = end + batch.delay[at]
            batch.left -= 1
            if batch.left == 0:
                self._flush(batch)
        self.seq = seq
        self.events += events

    def _flush(self, batch: _Batch) -> None:
        a = batch.arrivals
        finish = np.array(batch.finish)
        self.recorder.add(a.device, a.task_type, batch.target, a.time_s, finish)
        self.last_s = max(self.last_s, float(finish.max()))
