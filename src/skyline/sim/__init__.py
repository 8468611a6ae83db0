"""Simulate offloading at scale: scenarios, an exact and a fast engine, streamed metrics,
replications and sweeps in this process or fanned out on Ray."""

from skyline.sim.engines import ENGINES
from skyline.sim.loader import load_scenario, parse_scenario, scenario_names
from skyline.sim.run import SimResult, SweepPoint, simulate, sweep
from skyline.sim.spec import Scenario

__all__ = [
    "ENGINES",
    "Scenario",
    "SimResult",
    "SweepPoint",
    "load_scenario",
    "parse_scenario",
    "scenario_names",
    "simulate",
    "sweep",
]
