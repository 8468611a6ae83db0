"""Skyline: edge-cloud collaborative AI.

Describe a topology, profile any PyTorch model, plan where each op runs, and split it into stages
whose composition equals the original model:

    >>> import skyline
    >>> model = skyline.models.create("resnet18")
    >>> graph = skyline.profile(model, skyline.models.spec("resnet18").example_inputs())
    >>> topo = skyline.topology_preset("device-edge-cloud")
    >>> plan = skyline.planners.create("dads").plan(graph, topo)
    >>> stages = skyline.split(graph, plan)
"""

from skyline import cascade, data, exits, models
from skyline._version import __version__
from skyline.errors import (
    ConfigError,
    InfeasiblePlanError,
    ModelCaptureError,
    PlanError,
    RegistryError,
    SkylineError,
    TopologyError,
    UnknownNameError,
)
from skyline.graph import CostModel, ModelGraph, profile
from skyline.plan import Constraints, Objective, Plan, Planner, planners, split
from skyline.runtime import CloudWorker, EdgeWorker
from skyline.sim import Scenario, simulate
from skyline.topology import Link, Node, Tier, Topology, load_topology, topology_preset

__all__ = [
    "CloudWorker",
    "ConfigError",
    "Constraints",
    "CostModel",
    "EdgeWorker",
    "InfeasiblePlanError",
    "Link",
    "ModelCaptureError",
    "ModelGraph",
    "Node",
    "Objective",
    "Plan",
    "PlanError",
    "Planner",
    "RegistryError",
    "Scenario",
    "SkylineError",
    "Tier",
    "Topology",
    "TopologyError",
    "UnknownNameError",
    "__version__",
    "cascade",
    "data",
    "exits",
    "load_topology",
    "models",
    "planners",
    "profile",
    "simulate",
    "split",
    "topology_preset",
]
