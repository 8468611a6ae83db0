"""Exact discrete-event engine on a heap: one event per task per stage, FIFO queues exact.

A queue with k lanes serves in arrival order on the lane that frees first; with service times
known on arrival, a task's start is max(arrival, earliest lane free time), so one event per
stage (its arrival at the queue) suffices: pop, take the lane, push the arrival at the next
stage. Events are processed in time order, which is what makes every queue FIFO.
"""

from __future__ import annotations

import contextlib
import heapq
import math

import numpy as np

from skyline.sched import Policy
from skyline.sim.engines.base import Engine, RunStats, paused_gc, register
from skyline.sim.metrics import Recorder
from skyline.sim.workload import Arrivals
from skyline.sim.world import MAX_STAGES, Routes, World

_SLICE = 256  # arrivals that join the event heap at once


class _Batch:
    """One window's tasks: arrays for metrics; flat stage lists (task i, stage k at
    i * MAX_STAGES + k) for the event loop, which reads Python lists much faster than arrays:
    resource, service, delay after it, and whether another stage follows."""

    __slots__ = ("arrivals", "delay", "edge", "finish", "follows", "left", "res", "svc", "target")

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
        self.follows: list[bool] = []

    def set_routes(self, rows: np.ndarray, routes: Routes) -> None:
        """Stages of the tasks at `rows` (every task, or a few once the lists are sized)."""
        follows = np.arange(1, MAX_STAGES + 1)[None, :] < routes.length[:, None]
        if len(rows) == len(self.arrivals):
            self.res = routes.res.ravel().tolist()
            self.svc = routes.svc.ravel().tolist()
            self.delay = routes.delay.ravel().tolist()
            self.follows = follows.ravel().tolist()
            return
        if not self.res:  # decided one by one: room for every task
            size = len(self.arrivals) * MAX_STAGES
            self.res, self.svc, self.delay = [0] * size, [0.0] * size, [0.0] * size
            self.follows = [False] * size
        for j, row in enumerate(rows.tolist()):
            span = slice(row * MAX_STAGES, (row + 1) * MAX_STAGES)
            self.res[span] = routes.res[j].tolist()
            self.svc[span] = routes.svc[j].tolist()
            self.delay[span] = routes.delay[j].tolist()
            self.follows[span] = follows[j].tolist()


@register
class ExactEngine(Engine):
    name = "exact"
    description = "discrete events on a heap; FIFO k-lane queues exact; per-task decisions"

    def __init__(self, world: World, policy: Policy, recorder: Recorder, *, tick_s: float) -> None:
        super().__init__(world, policy, recorder, tick_s=tick_s)
        with paused_gc():  # one list per resource: the collector would only scan them
            self.lanes = [[0.0] * k for k in world.lanes.tolist()]
        self.busy = [0.0] * world.n_resources
        # (time, sequence number: FIFO among equal times, batch, flat stage index; a task not
        # yet placed: -1 - its row)
        self.heap: list[tuple[float, int, _Batch, int]] = []
        self.seq = 0
        self.events = 0  # stages of the tasks placed: each is one event
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
        self.events += int(routes.length.sum())
        batch.set_routes(rows, routes)

    def _quiet(self) -> contextlib.AbstractContextManager[None]:
        """Context of a window or the drain: with a policy that reads no queues it runs no code
        but the engine's, which allocates a tuple per event and no reference cycles, so the
        cyclic garbage collector, which would only scan them, is paused."""
        return paused_gc() if self.free is None else contextlib.nullcontext()

    def window(self, t0: float, t1: float, arrivals: Arrivals, attach: np.ndarray) -> None:
        with self._quiet():
            n = len(arrivals)
            if n == 0:
                self._events(t1)
                return
            batch = _Batch(arrivals, attach[arrivals.device])
            placed = not self.policy.uses_state
            if placed:  # the answer ignores queues: place the window at once
                self._route(batch, np.arange(n), t0)
            # task i's first event: stage 0, or (not placed yet) its placement on arrival, with
            # the queues as they are then; sequence numbers as if all were pushed now
            first = range(0, n * MAX_STAGES, MAX_STAGES) if placed else range(-1, -n - 1, -1)
            seqs = range(self.seq + 1, self.seq + n + 1)
            self.seq += n
            times = arrivals.time_s.tolist()
            events = list(zip(times, seqs, [batch] * n, first, strict=True))
            # arrivals join the heap a slice at a time, just before they are due: the heap
            # stays as small as the tasks in flight, and events leave it in the same order
            for lo in range(0, n, _SLICE):
                for event in events[lo : lo + _SLICE]:
                    heapq.heappush(self.heap, event)
                self._events(times[lo + _SLICE] if lo + _SLICE < n else t1)

    def drain(self) -> RunStats:
        with self._quiet():
            self._events(math.inf)
        horizon = max(self.world.scenario.duration_s, self.last_s)
        return RunStats(np.array(self.busy), horizon, self.events)

    def _events(self, until: float) -> None:
        """Process every event before `until`."""
        heap, lanes, busy, free = self.heap, self.lanes, self.busy, self.free
        pop, push, replace = heapq.heappop, heapq.heappush, heapq.heapreplace
        seq = self.seq
        while heap and heap[0][0] < until:
            t, _, batch, at = pop(heap)
            if at < 0:
                row = -1 - at
                self._route(batch, np.array([row]), t)
                at = row * MAX_STAGES
            r = batch.res[at]
            s = batch.svc[at]
            q = lanes[r]
            f = q[0]
            end = (t if t > f else f) + s
            replace(q, end)
            busy[r] += s
            if free is not None:
                free[r] = q[0]
            if batch.follows[at]:
                seq += 1
                push(heap, (end + batch.delay[at], seq, batch, at + 1))
                continue
            batch.finish[at // MAX_STAGES] = end + batch.delay[at]
            batch.left -= 1
            if batch.left == 0:
                self._flush(batch)
        self.seq = seq

    def _flush(self, batch: _Batch) -> None:
        a = batch.arrivals
        finish = np.array(batch.finish)
        self.recorder.add(a.device, a.task_type, batch.target, a.time_s, finish)
        self.last_s = max(self.last_s, float(finish.max()))
