"""Simulation engines by name: `exact` (event heap) and `fast` (numpy ticks)."""

from skyline.sim.engines import exact, fast
from skyline.sim.engines.base import ENGINES, Engine, RunStats, register

__all__ = ["ENGINES", "Engine", "RunStats", "exact", "fast", "register"]
