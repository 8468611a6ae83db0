"""A batch of tasks as a learned policy sees it: one task at a time, as a fixed-length vector.

A learned policy places a batch task by task (its action space is one target). `BatchCursor`
walks the batch in row (arrival) order and adds each placed task's compute, over the server's
lanes, to the wait of the later tasks at the same target (at the device only for tasks of the
same device): the batch model of the `milp` policy, so that the sum of the latencies it
returns is exactly `MilpOptimum.cost` for the latency objective (tested). The Gymnasium env
and the DRL policies both use it, so training and deployment see the same features.

Features of the current task, per target column j (times in units of the task's deadline,
or of 1 s when it has none, clipped to [0, CLIP]): reachable, latency, wait, compute,
transfer, meets the deadline, device energy over the row's largest, 1 / lanes; then, for the
task: its deadline (s), and the batch's tasks still to place after it (/ BATCH_SCALE).
"""

from __future__ import annotations

import numpy as np

from skyline.sched.observation import LOCAL, Observation

CLIP = 4.0
"""Upper bound of every feature (times past 4 deadlines all look alike)."""
BATCH_SCALE = 16
PER_TARGET = 8
PER_TASK = 2


def feature_size(n_targets: int) -> int:
    return PER_TARGET * n_targets + PER_TASK


class BatchCursor:
    """Places one Observation's tasks in order, tracking the load they add to each target."""

    def __init__(self, obs: Observation) -> None:
        self.obs = obs
        self.i = 0
        self.targets = np.zeros(obs.n, dtype=np.int64)
        self._server = np.zeros(len(obs.targets))  # compute / lanes placed so far per column
        self._device: dict[int, float] = {}  # ... and on each device's own CPU

    @property
    def done(self) -> bool:
        return self.i >= self.obs.n

    def wait_s(self) -> np.ndarray:
        """(T,) the current task's queueing: now, plus the batch's earlier tasks."""
        extra = self._server.copy()
        extra[LOCAL] = self._device.get(int(self.obs.device[self.i]), 0.0)
        return np.asarray(self.obs.wait_s[self.i] + extra)

    def latency_s(self) -> np.ndarray:
        """(T,) the current task's predicted latency per target; inf where unreachable."""
        obs, i = self.obs, self.i
        latency = self.wait_s() + obs.transfer_s[i] + obs.compute_s[i]
        return np.where(obs.reachable[i], latency, np.inf)

    def features(self) -> np.ndarray:
        """The current task's feature vector (float32, in [0, CLIP])."""
        obs, i = self.obs, self.i
        deadline = float(obs.deadline_s[i])
        unit = deadline if np.isfinite(deadline) and deadline > 0 else 1.0
        reach = obs.reachable[i]
        latency = self.latency_s()
        energy = np.where(reach, obs.energy_j[i], 0.0)
        columns = [
            reach,
            latency / unit,
            self.wait_s() / unit,
            obs.compute_s[i] / unit,
            obs.transfer_s[i] / unit,
            latency <= deadline,
            energy / max(float(energy.max()), 1e-12),
            1.0 / obs.lanes[i],
        ]
        per_target = np.where(reach, np.stack(columns).astype(float), 0.0)
        per_target[1] = np.where(reach, per_target[1], CLIP)  # unreachable: as slow as can be
        task = [deadline, (obs.n - 1 - i) / BATCH_SCALE]
        vector = np.concatenate([per_target.T.ravel(), task])
        return np.clip(np.nan_to_num(vector, posinf=CLIP), 0.0, CLIP).astype(np.float32)

    def place(self, target: int) -> float:
        """Put the current task on `target` (its device when unreachable); its latency, s."""
        obs, i = self.obs, self.i
        if not (0 <= target < len(obs.targets) and obs.reachable[i, target]):
            target = LOCAL
        latency = float(self.latency_s()[target])
        work = float(obs.compute_s[i, target] / obs.lanes[i, target])
        if target == LOCAL:
            device = int(obs.device[i])
            self._device[device] = self._device.get(device, 0.0) + work
        else:
            self._server[target] += work
        self.targets[i] = target
        self.i += 1
        return latency
