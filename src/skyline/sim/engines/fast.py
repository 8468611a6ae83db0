"""Fast vectorized engine: fixed ticks, batch decisions, FIFO queues solved with numpy scans.

Each tick [t, t + tick_s): the policy places the tick's arrivals in one batch (queues as at
t), then tasks whose next stage starts before the tick's end take it, pass after pass. A pass
takes only stages no other task in flight could precede at their queue (see `_safe`), so
every queue serves in exact FIFO order, and sorts them by queue and time. Single-lane queues
(links, one-core CPUs) solve the FIFO recursion start_i = max(arrival_i, finish_{i-1}) in closed
form, start_i = S_i + max(free, max_{j<=i}(arrival_j - S_j)) with S the service ahead of i,
by one cumsum and one running max over all queues at once; k-lane queues give each stage the
lane that frees first (all at once when enough lanes are free). Times are exact; the one
approximation is that decisions are made once per tick with queues as at its start, so with a
policy that reads no queues the engine computes exactly what the exact engine does, whatever
the tick.
"""

from __future__ import annotations

import numpy as np

from skyline.sched import Policy
from skyline.sim.engines.base import Engine, RunStats, register
from skyline.sim.metrics import Recorder
from skyline.sim.workload import Arrivals
from skyline.sim.world import MAX_STAGES, Routes, WaitFn, World

_FIELDS = (
    "res",
    "svc",
    "delay",
    "cost",
    "length",
    "stage",
    "ready",
    "device",
    "task_type",
    "target",
    "arrival",
)


@register
class FastEngine(Engine):
    name = "fast"
    description = "numpy ticks with batch decisions and closed-form FIFO scans; 10k+ devices"

    def __init__(self, world: World, policy: Policy, recorder: Recorder, *, tick_s: float) -> None:
        super().__init__(world, policy, recorder, tick_s=tick_s)
        lanes = world.lanes
        self.n_lanes = lanes
        self.lane_first = np.concatenate([[0], np.cumsum(lanes)[:-1]])
        self.lane_free = np.zeros(int(lanes.sum()))
        self.free_min = np.zeros(world.n_resources)  # earliest lane free time per queue
        self.busy = np.zeros(world.n_resources)
        self.events = 0
        self.last_s = 0.0
        self.now_s = 0.0
        self.live: dict[str, np.ndarray] = {
            "res": np.zeros((0, MAX_STAGES), dtype=np.int64),
            "svc": np.zeros((0, MAX_STAGES)),
            "delay": np.zeros((0, MAX_STAGES)),
            "cost": np.zeros((0, MAX_STAGES)),
            **{
                k: np.zeros(0, dtype=np.int64)
                for k in ("length", "stage", "device", "task_type", "target")
            },
            "ready": np.zeros(0),
            "arrival": np.zeros(0),
        }

    def _waiter(self, now_s: float) -> WaitFn:
        """Queueing a task arriving now would meet at given resources (first lane to free)."""

        def wait(ids: np.ndarray) -> np.ndarray:
            return np.maximum(self.free_min[ids] - now_s, 0.0)

        return wait

    def _admit(self, batch: Arrivals, target: np.ndarray, routes: Routes) -> None:
        new = {
            "res": routes.res,
            "svc": routes.svc,
            "delay": routes.delay,
            "cost": routes.svc + routes.delay,
            "length": routes.length,
            "stage": np.zeros(len(batch), dtype=np.int64),
            "ready": batch.time_s,
            "device": batch.device,
            "task_type": batch.task_type,
            "target": target,
            "arrival": batch.time_s,
        }
        self.live = {k: np.concatenate([self.live[k], new[k]]) for k in _FIELDS}

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
        while (waiting := live["stage"] < live["length"]).any():
            # jump over idle time: nothing can happen before the earliest waiting stage
            t = max(t, float(live["ready"][waiting].min())) + self.tick_s
            self._tick(t)
        self._flush()
        horizon = max(self.world.scenario.duration_s, self.last_s)
        return RunStats(self.busy.copy(), horizon, self.events)

    def _tick(self, end: float) -> None:
        """Move every task whose next stage starts before `end`, pass after pass."""
        live = self.live
        ready, stage, length = live["ready"], live["stage"], live["length"]
        res = live["res"].ravel()
        active = np.flatnonzero((ready < end) & (stage < length))
        while active.size:
            at = active * MAX_STAGES + stage[active]
            here, arrive = res[at], ready[active]
            take = self._safe(active, here, arrive)
            if take is None:
                self._pass(active, at, here, arrive)
            else:
                self._pass(active[take], at[take], here[take], arrive[take])
            active = active[(ready[active] < end) & (stage[active] < length[active])]

    def _safe(self, active: np.ndarray, here: np.ndarray, ready: np.ndarray) -> np.ndarray | None:
        """Mask of stages no other active task can precede at their queue (None: all are).

        A stage is taken only when no task still on its way could reach that queue earlier
        (lower bound: the time it can start where it is - ready, and not before its queue's
        first lane frees - plus the service and delay of the stages in between). The earliest
        stage is always safe, so every pass makes progress; FIFO order then holds exactly.
        """
        live = self.live
        stage = live["stage"][active]
        cols = np.arange(MAX_STAGES)[None, :]
        later = (cols > stage[:, None]) & (cols < live["length"][active][:, None])
        if not later.any():
            return None
        start = np.maximum(ready, self.free_min[here])
        cost = np.where(cols >= stage[:, None], live["cost"][active], 0.0)
        reach = start[:, None] + np.cumsum(cost, axis=1) - cost  # earliest arrival at stage k
        ahead_res, ahead_t = live["res"][active][later], reach[later]
        order = np.argsort(ahead_res, kind="stable")
        ahead_res, ahead_t = ahead_res[order], ahead_t[order]
        firsts = np.flatnonzero(np.concatenate(([True], ahead_res[1:] != ahead_res[:-1])))
        queues, earliest = ahead_res[firsts], np.minimum.reduceat(ahead_t, firsts)
        pos = np.minimum(np.searchsorted(queues, here), len(queues) - 1)
        safe = ready <= np.where(queues[pos] == here, earliest[pos], np.inf)
        return None if safe.all() else safe

    def _flush(self) -> None:
        """Hand finished tasks to the recorder and forget them."""
        live = self.live
        done = live["stage"] == live["length"]
        if not done.any():
            return
        finish = live["ready"][done]
        self.recorder.add(
            live["device"][done],
            live["task_type"][done],
            live["target"][done],
            live["arrival"][done],
            finish,
        )
        self.last_s = max(self.last_s, float(finish.max()))
        keep = ~done
        self.live = {k: v[keep] for k, v in live.items()}

    def _pass(self, active: np.ndarray, at: np.ndarray, r: np.ndarray, a: np.ndarray) -> None:
        """Each task takes its next stage (flat index `at`, queue r, arrival a)."""
        live = self.live
        s = live["svc"].ravel()[at]
        lo = a.min()
        order = np.argsort(r * (float(a.max() - lo) + 1.0) + (a - lo), kind="stable")
        r, s, a, rows, at = r[order], s[order], a[order], active[order], at[order]
        multi = self.n_lanes[r] > 1
        if multi.any():
            finish = np.empty(len(r))
            one = ~multi
            if one.any():
                finish[one] = self._one_lane(r[one], s[one], a[one])
            finish[multi] = self._lanes(r[multi], s[multi], a[multi])
        else:
            finish = self._one_lane(r, s, a)
        np.add.at(self.busy, r, s)
        live["ready"][rows] = finish + live["delay"].ravel()[at]
        live["stage"][rows] += 1
        self.events += len(rows)

    def _one_lane(self, r: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Finish times at single-lane queues, stages sorted by (queue, arrival): the FIFO
        recursion in closed form for all queues at once."""
        m = len(r)
        new = np.concatenate(([True], r[1:] != r[:-1]))
        seg = np.flatnonzero(new)
        seg_id = np.cumsum(new) - 1
        last = np.append(seg[1:], m) - 1
        before = np.cumsum(s) - s  # service ahead of each stage in its queue's segment
        before -= before[seg][seg_id]
        lo = a.min()
        v = (a - lo) - before
        v_min = float(v.min())
        width = float(v.max()) - v_min + 1.0
        free = np.maximum(self.lane_free[self.lane_first[r[seg]]] - lo, v_min)
        running = np.maximum.accumulate(v + seg_id * width) - seg_id * width
        finish = lo + np.maximum(running, free[seg_id]) + before + s
        self.lane_free[self.lane_first[r[last]]] = finish[last]
        self.free_min[r[last]] = finish[last]
        return finish

    def _lanes(self, r: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Finish times at k-lane queues, stages sorted by (queue, arrival): each takes the
        lane that frees first.

        A queue with at least as many lanes already free at its first stage's arrival as it
        has stages is settled at once: the q-th stage starts on arrival on the q-th earliest
        lane. Other queues go round by round, one stage per queue each.
        """
        m = len(r)
        firsts = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1])))
        sizes = np.diff(firsts, append=m)
        queue = r[firsts]
        k = self.n_lanes[queue]
        cols = np.arange(int(k.max()))
        lane = self.lane_first[queue][:, None] + cols
        real = cols < k[:, None]
        free = np.where(real, self.lane_free[np.where(real, lane, 0)], np.inf)
        by_free = np.argsort(free, axis=1)
        free = np.take_along_axis(free, by_free, axis=1)
        lane = np.take_along_axis(lane, by_free, axis=1)  # padding (inf) sorts last
        calm = (free <= a[firsts][:, None]).sum(axis=1) >= sizes
        finish = a + s
        group = np.repeat(np.arange(len(queue)), sizes)
        quick = calm[group]
        free[group[quick], (np.arange(m) - firsts[group])[quick]] = finish[quick]
        busy = np.flatnonzero(~calm)
        for q in range(int(sizes[busy].max()) if busy.size else 0):
            busy = busy[sizes[busy] > q]
            e = firsts[busy] + q
            j = np.argmin(free[busy], axis=1)
            finish[e] = np.maximum(a[e], free[busy, j]) + s[e]
            free[busy, j] = finish[e]
        self.lane_free[lane[real]] = free[real]
        self.free_min[queue] = free.min(axis=1)
        return finish
