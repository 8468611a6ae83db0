"""What a scheduling policy sees: a batch of tasks and, per task, what each target would cost.

One `Observation` is built by the simulator's engines (and later by the runtime's scheduler) so
the same policy object runs unchanged in all of them. Rows are tasks, columns are targets:
column 0 is the task's own device (`LOCAL`), then one column per edge server, then the cloud
when there is one. Costs are predictions made at decision time: `wait_s` is the queueing the
task would meet now (server and links on its route), the other parts hold no queueing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skyline.topology import Tier

LOCAL = 0
"""Column of the task's own device in every Observation."""


@dataclass(frozen=True, eq=False)
class Observation:
    """A batch of n tasks to place among T targets, with predicted costs per (task, target)."""

    time_s: float
    targets: tuple[str, ...]
    """Column names: 'local', then edge server names, then the cloud's name."""
    tiers: tuple[Tier, ...]
    device: np.ndarray
    """(n,) device index of each task."""
    task_type: np.ndarray
    """(n,) task type index."""
    deadline_s: np.ndarray
    """(n,) relative deadline, s (inf = none)."""
    edge: np.ndarray
    """(n,) column of the edge the device is attached to, or -1 when out of coverage."""
    reachable: np.ndarray
    """(n, T) bool: the task can be sent there (LOCAL always is)."""
    compute_s: np.ndarray
    """(n, T) compute time at the target, s."""
    transfer_s: np.ndarray
    """(n, T) serialization plus propagation on the route, up and down, s."""
    wait_s: np.ndarray
    """(n, T) queueing the task would meet now at the target and on its links, s."""
    energy_j: np.ndarray
    """(n, T) device energy the task adds: compute above idle power, or radio send + receive."""
    accuracy: np.ndarray
    """(n, T) expected accuracy of the model the target runs, in [0, 1]."""
    lanes: np.ndarray
    """(n, T) tasks the target's server runs at once (the device's cores in column 0)."""

    @property
    def n(self) -> int:
        return len(self.device)

    @property
    def latency_s(self) -> np.ndarray:
        """(n, T) predicted latency; inf where unreachable."""
        latency = self.wait_s + self.transfer_s + self.compute_s
        return np.where(self.reachable, latency, np.inf)

    @property
    def meets_deadline(self) -> np.ndarray:
        """(n, T) reachable and predicted to finish within the deadline."""
        return self.latency_s <= self.deadline_s[:, None]

    def columns(self, tier: Tier) -> np.ndarray:
        """Indices of the targets on one tier."""
        return np.array([j for j, t in enumerate(self.tiers) if t == tier], dtype=np.int64)
