"""Simulate offloading at scale: scenarios, an exact and a fast engine, streamed metrics."""

from skyline.sim.engines import ENGINES
from skyline.sim.loader import load_scenario, parse_scenario, scenario_names
from skyline.sim.run import SimResult, simulate
from skyline.sim.spec import Scenario

__all__ = [
    "ENGINES",
    "Scenario",
    "SimResult",
    "load_scenario",
    "parse_scenario",
    "scenario_names",
    "simulate",
]
