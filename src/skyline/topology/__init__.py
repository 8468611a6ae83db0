"""Nodes, links and topologies: where a workload can run and what connects the parts."""

from skyline.topology.loader import load_topology, save_topology
from skyline.topology.presets import (
    LINK_PRESETS,
    NODE_PRESETS,
    TOPOLOGY_PRESETS,
    link_preset,
    node_preset,
    preset_names,
    topology_preset,
)
from skyline.topology.spec import BandwidthTrace, Link, Node, PowerModel, Tier, Topology

__all__ = [
    "LINK_PRESETS",
    "NODE_PRESETS",
    "TOPOLOGY_PRESETS",
    "BandwidthTrace",
    "Link",
    "Node",
    "PowerModel",
    "Tier",
    "Topology",
    "link_preset",
    "load_topology",
    "node_preset",
    "preset_names",
    "save_topology",
    "topology_preset",
]
