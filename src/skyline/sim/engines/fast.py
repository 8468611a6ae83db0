"""Fast vectorized engine: fixed ticks, batch decisions, FIFO queues solved with numpy scans.

Each tick [t, t + tick_s): the policy places the tick's arrivals in one batch (queues as at
t), then tasks whose next stage starts before the tick's end take it, pass after pass. A pass
takes only stages no other task in flight could precede at their queue (see `_safe`), so
every queue serves in exact FIFO order, and sorts them by queue and time. Single-lane queues
(links, one-core CPUs) solve the FIFO recursion start_i = max(arrival_i, finish_{i-1}) in closed
form, start_i = S_i + max(free, max_{j<=i}(arrival_j - S_j)) with S the service ahead of i,
by one cumsum and one running max over all queues at once; k-lane queues (servers, multi-core
devices) give each stage the lane that frees first, stage by stage on the queue's heap of lane
free times as the exact engine does (one heap operation per stage in Python is cheaper than
the numpy calls of a vectorized round). Times are exact; the one approximation is that
decisions are made once per tick with queues as at its start, so with a policy that reads no
queues the engine computes exactly what the exact engine does (up to float rounding),
whatever the tick.
"""

from __future__ import annotations

import heapq

import numpy as np

from skyline.sched import Policy
from skyline.sim.engines.base import Engine, RunStats, register
from skyline.sim.metrics import Recorder
from skyline.sim.workload import Arrivals
from skyline.sim.world import MAX_STAGES, Routes, WaitFn, World

# column -> (dtype, shape of one row)
_COLUMNS: dict[str, tuple[type, tuple[int, ...]]] = {
    "res": (np.int64, (MAX_STAGES,)),
    "svc": (np.float64, (MAX_STAGES,)),
    "delay": (np.float64, (MAX_STAGES,)),
    "ahead": (np.float64, (MAX_STAGES,)),
    "length": (np.int64, ()),
    "stage": (np.int64, ()),
    "ready": (np.float64, ()),
    "device": (np.int64, ()),
    "task_type": (np.int64, ()),
    "target": (np.int64, ()),
    "arrival": (np.float64, ()),
}


class _Live:
    """Tasks admitted and not yet recorded, one row each, in arrays with room to grow at the
    end: admitting a tick's tasks copies only them, not every task of the window."""

    res: np.ndarray
    """(n, MAX_STAGES) route: resource (past the route's length: `World.n_resources`, a queue
    no task takes), service, and delay after it."""
    svc: np.ndarray
    delay: np.ndarray
    ahead: np.ndarray
    """Service and delay of the stages before each one."""
    length: np.ndarray
    stage: np.ndarray
    """Next stage to take (== length: done)."""
    ready: np.ndarray
    """Arrival at the next stage's queue (done: finish time)."""
    device: np.ndarray
    task_type: np.ndarray
    target: np.ndarray
    arrival: np.ndarray

    def __init__(self) -> None:
        self.n = 0
        self._buffers: dict[str, np.ndarray] = {
            name: np.zeros((0, *shape), dtype=dtype) for name, (dtype, shape) in _COLUMNS.items()
        }
        self._views()

    def _views(self) -> None:
        for name, buffer in self._buffers.items():
            setattr(self, name, buffer[: self.n])

    def append(self, rows: dict[str, np.ndarray]) -> None:
        """Add tasks: one array per column (every column)."""
        n, m = self.n, len(rows["ready"])
        for name, buffer in self._buffers.items():
            if n + m > len(buffer):
                grown = np.zeros((max(n + m, 2 * len(buffer)), *buffer.shape[1:]), buffer.dtype)
                grown[:n] = buffer[:n]
                self._buffers[name] = buffer = grown
            buffer[n : n + m] = rows[name]
        self.n = n + m
        self._views()

    def keep(self, mask: np.ndarray) -> None:
        """Forget the rows where `mask` is False (order kept)."""
        kept = int(mask.sum())
        for buffer in self._buffers.values():
            buffer[:kept] = buffer[: self.n][mask]
        self.n = kept
        self._views()


@register
class FastEngine(Engine):
    name = "fast"
    description = "numpy ticks with batch decisions and closed-form FIFO scans; 10k+ devices"

    def __init__(self, world: World, policy: Policy, recorder: Recorder, *, tick_s: float) -> None:
        super().__init__(world, policy, recorder, tick_s=tick_s)
        self.multi_lane = world.lanes > 1
        # earliest lane free time per queue (a single-lane queue's one lane)
        self.free_min = np.zeros(world.n_resources)
        # free times of a k-lane queue's lanes, a heap
        self.heaps = {int(r): [0.0] * int(world.lanes[r]) for r in np.flatnonzero(self.multi_lane)}
        self.busy = np.zeros(world.n_resources)
        self.events = 0
        self.last_s = 0.0
        self.now_s = 0.0
        self.live = _Live()
        # scratch for `_safe`: earliest arrival per queue of the stages still on their way (the
        # last entry is the queue of the columns past a route's end)
        self._earliest = np.full(world.n_resources + 1, np.inf)

    def _waiter(self, now_s: float) -> WaitFn:
        """Queueing a task arriving now would meet at given resources (first lane to free)."""

        def wait(ids: np.ndarray) -> np.ndarray:
            return np.maximum(self.free_min[ids] - now_s, 0.0)

        return wait

    def _admit(self, batch: Arrivals, target: np.ndarray, routes: Routes) -> None:
        on_route = np.arange(MAX_STAGES)[None, :] < routes.length[:, None]
        cost = routes.svc + routes.delay
        self.live.append(
            {
                "res": np.where(on_route, routes.res, self.world.n_resources),
                "svc": routes.svc,
                "delay": routes.delay,
                "ahead": np.cumsum(cost, axis=1) - cost,
                "length": routes.length,
                "stage": np.zeros(len(batch), dtype=np.int64),
                "ready": batch.time_s,
                "device": batch.device,
                "task_type": batch.task_type,
                "target": target,
                "arrival": batch.time_s,
            }
        )

    def window(self, t0: float, t1: float, arrivals: Arrivals, attach: np.ndarray) -> None:
        edge = attach[arrivals.device]
        stateful = self.policy.uses_state
        if not stateful and len(arrivals):  # decided up front: the answer ignores queues
            self._admit(arrivals, *self.decide(t0, arrivals, edge))
        t = t0
        while t < t1:
            end = min(t + self.tick_s, t1)
            if stateful:
                lo, hi = np.searchsorted(arrivals.time_s, [t, end])
                if hi > lo:
                    rows = np.arange(lo, hi)
                    batch = arrivals.take(rows)
                    self._admit(batch, *self.decide(t, batch, edge[rows], self._waiter(t)))
            self._tick(end)
            t = end
        self.now_s = t1
        self._flush()

    def drain(self) -> RunStats:
        t = self.now_s
        live = self.live
        while (waiting := live.stage < live.length).any():
            # jump over idle time: nothing can happen before the earliest waiting stage
            t = max(t, float(live.ready[waiting].min())) + self.tick_s
            self._tick(t)
        self._flush()
        horizon = max(self.world.scenario.duration_s, self.last_s)
        return RunStats(self.busy.copy(), horizon, self.events)

    def _tick(self, end: float) -> None:
        """Move every task whose next stage starts before `end`, pass after pass."""
        live = self.live
        ready, stage, length = live.ready, live.stage, live.length
        res = live.res.ravel()
        active = np.flatnonzero((ready < end) & (stage < length))
        while active.size:
            at = active * MAX_STAGES + stage[active]
            here, arrive = res[at], ready[active]
            take = self._safe(active, at, here, arrive)
            if take is None:
                self._pass(active, at, here, arrive)
            else:
                self._pass(active[take], at[take], here[take], arrive[take])
            active = active[(ready[active] < end) & (stage[active] < length[active])]

    def _safe(
        self, active: np.ndarray, at: np.ndarray, here: np.ndarray, ready: np.ndarray
    ) -> np.ndarray | None:
        """Mask of stages no other active task can precede at their queue (None: all are).

        A stage is taken only when no task still on its way could reach that queue earlier
        (lower bound: the time it can start where it is - ready, and not before its queue's
        first lane frees - plus the service and delay of the stages in between). The earliest
        stage is always safe, so every pass makes progress; FIFO order then holds exactly.
        """
        live = self.live
        later = np.arange(MAX_STAGES)[None, :] > live.stage[active][:, None]
        start = np.maximum(ready, self.free_min[here]) - live.ahead.ravel()[at]
        reach = start[:, None] + live.ahead[active]  # earliest arrival at each stage
        queues = live.res[active][later]
        earliest = self._earliest
        np.minimum.at(earliest, queues, reach[later])
        safe = ready <= earliest[here]
        earliest[queues] = np.inf
        return None if safe.all() else safe

    def _flush(self) -> None:
        """Hand finished tasks to the recorder and forget them."""
        live = self.live
        done = live.stage == live.length
        if not done.any():
            return
        finish = live.ready[done]
        self.recorder.add(
            live.device[done], live.task_type[done], live.target[done], live.arrival[done], finish
        )
        self.last_s = max(self.last_s, float(finish.max()))
        live.keep(~done)

    def _pass(self, active: np.ndarray, at: np.ndarray, r: np.ndarray, a: np.ndarray) -> None:
        """Each task takes its next stage (flat index `at`, queue r, arrival a)."""
        live = self.live
        s = live.svc.ravel()[at]
        lo = a.min()
        order = np.argsort(r * (float(a.max() - lo) + 1.0) + (a - lo), kind="stable")
        r, s, a, rows, at = r[order], s[order], a[order], active[order], at[order]
        multi = self.multi_lane[r]
        if multi.any():
            finish = np.empty(len(r))
            one = ~multi
            if one.any():
                finish[one] = self._one_lane(r[one], s[one], a[one])
            finish[multi] = self._lanes(r[multi], s[multi], a[multi])
        else:
            finish = self._one_lane(r, s, a)
        np.add.at(self.busy, r, s)
        live.ready[rows] = finish + live.delay.ravel()[at]
        live.stage[rows] += 1
        self.events += len(rows)

    @staticmethod
    def _segments(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First index and length of each run of equal queues in r (sorted by queue)."""
        firsts = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1])))
        return firsts, np.concatenate((firsts[1:], [len(r)])) - firsts

    def _one_lane(self, r: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Finish times at single-lane queues, stages sorted by (queue, arrival): the FIFO
        recursion in closed form for all queues at once."""
        seg, sizes = self._segments(r)
        seg_id = np.repeat(np.arange(len(seg)), sizes)
        last = seg + sizes - 1
        before = np.cumsum(s) - s  # service ahead of each stage in its queue's segment
        before -= before[seg][seg_id]
        lo = a.min()
        v = (a - lo) - before
        v_min = float(v.min())
        width = float(v.max()) - v_min + 1.0
        free = np.maximum(self.free_min[r[seg]] - lo, v_min)
        running = np.maximum.accumulate(v + seg_id * width) - seg_id * width
        finish = lo + np.maximum(running, free[seg_id]) + before + s
        self.free_min[r[last]] = finish[last]
        return finish

    def _lanes(self, r: np.ndarray, s: np.ndarray, a: np.ndarray) -> list[float]:
        """Finish times at k-lane queues, stages sorted by (queue, arrival): each takes the
        lane that frees first, stage by stage on the queue's heap of lane free times, as in
        the exact engine (one heap operation per stage: cheap next to a pass's numpy calls)."""
        heaps = self.heaps
        finish = []
        queues = r.tolist()
        for q, arrive, service in zip(queues, a.tolist(), s.tolist(), strict=True):
            heap = heaps[q]
            soonest = heap[0]
            end = (arrive if arrive > soonest else soonest) + service
            heapq.heapreplace(heap, end)
            finish.append(end)
        touched = list(dict.fromkeys(queues))
        self.free_min[touched] = [heaps[q][0] for q in touched]
        return finish
