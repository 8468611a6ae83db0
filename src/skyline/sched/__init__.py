"""Offloading policies: where each task runs (device, which edge, cloud), called by the simulator
and, through the same `Observation`, by a real scheduler."""

from skyline.sched import policies
from skyline.sched.observation import LOCAL, Observation
from skyline.sched.policies import Policy, create

__all__ = ["LOCAL", "Observation", "Policy", "create", "policies"]
