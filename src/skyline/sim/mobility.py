"""Device positions and which edge each device is attached to (nearest edge in coverage).

Positions change only at `mobility.update_s` steps, which are also the engines' arrival
windows, so within a window every device keeps one attachment. A task keeps the route it
was given when it arrived (no handover of tasks in flight).
"""

from __future__ import annotations

import numpy as np

from skyline.sim.spec import Scenario

NO_EDGE = -1


class Positions:
    """Where every device is; random waypoint moves the unpinned, unplaced ones."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        mob = scenario.mobility
        self.rng = rng
        self.area = np.array(mob.area_m, dtype=float)
        self.speed_range = mob.speed_mps
        self.pause_range = mob.pause_s
        n = scenario.n_devices
        self.xy = rng.random((n, 2)) * self.area
        self.pinned = np.full(n, NO_EDGE, dtype=np.int64)
        self.moving = np.full(n, mob.kind == "random_waypoint")
        trace = mob.trace
        index = {name: i for i, name in enumerate(scenario.device_names())}
        self.trace_s = np.array(trace.times_s if trace else [], dtype=float)
        self.trace_device = np.array([index[d] for d in trace.devices] if trace else [], dtype=int)
        self.trace_xy = np.column_stack([trace.x_m, trace.y_m]) if trace else np.zeros((0, 2))
        self.trace_next = 0
        edge_names = [e.name for e in scenario.edges]
        first = 0
        for group in scenario.devices:
            part = slice(first, first + group.count)
            if group.edge is not None:
                self.pinned[part] = edge_names.index(group.edge)
                self.moving[part] = False
            elif group.x_m is not None and group.y_m is not None:
                self.xy[part] = (group.x_m, group.y_m)
                self.moving[part] = False
            first += group.count
        self.edge_xy = np.array([(e.x_m, e.y_m) for e in scenario.edges], dtype=float)
        self.radius = np.array([e.radius_m for e in scenario.edges], dtype=float)
        self.goal = rng.random((n, 2)) * self.area
        self.speed = rng.uniform(*self.speed_range, size=n)
        self.paused_until = np.zeros(n)
        self.now_s = 0.0
        self._attached: np.ndarray | None = None

    def advance(self, t_s: float) -> None:
        """Move devices to where they are at t_s: recorded positions up to t_s take effect;
        walkers go from the last time to t_s (pausing at waypoints)."""
        dt = t_s - self.now_s
        self.now_s = t_s
        upto = int(np.searchsorted(self.trace_s, t_s, side="right"))
        if upto > self.trace_next:
            span = slice(self.trace_next, upto)  # later samples of a device win
            self.xy[self.trace_device[span]] = self.trace_xy[span]
            self.trace_next = upto
            self._attached = None
        if dt <= 0 or not self.moving.any():
            return
        walk = np.flatnonzero(self.moving & (self.paused_until <= t_s))
        delta = self.goal[walk] - self.xy[walk]
        dist = np.hypot(delta[:, 0], delta[:, 1])
        step = self.speed[walk] * dt
        arrived = step >= dist
        frac = np.where(arrived, 1.0, step / np.maximum(dist, 1e-12))
        self.xy[walk] += delta * frac[:, None]
        done = walk[arrived]
        self.goal[done] = self.rng.random((len(done), 2)) * self.area
        self.speed[done] = self.rng.uniform(*self.speed_range, size=len(done))
        self.paused_until[done] = t_s + self.rng.uniform(*self.pause_range, size=len(done))

    def attachment(self) -> np.ndarray:
        """Edge index per device: pinned, else the nearest edge in coverage, else NO_EDGE."""
        if self._attached is not None and not self.moving.any():
            return self._attached  # nothing moved since it was computed
        if not len(self.radius):
            return self.pinned.copy()
        dx = self.xy[:, 0, None] - self.edge_xy[None, :, 0]
        dy = self.xy[:, 1, None] - self.edge_xy[None, :, 1]
        d2 = dx * dx + dy * dy
        d2[d2 > self.radius * self.radius] = np.inf
        nearest = np.argmin(d2, axis=1)
        covered = np.isfinite(d2[np.arange(len(d2)), nearest])
        self._attached = np.where(
            self.pinned >= 0, self.pinned, np.where(covered, nearest, NO_EDGE)
        )
        return self._attached
