"""A two-op graph whose costs are easy to compute by hand."""

from skyline.graph import ModelGraph, Op, Value
from skyline.topology import Link, Node, PowerModel, Tier, Topology


def hand_graph() -> ModelGraph:
    # x (1000 B) -> a (out 4000 B, 2 ms on host) -> b (out 100 B, 6 ms on host) -> output
    ops = [
        Op("a", "t", ("x",), 0, 10, (), 4000.0, None, None, 0.002),
        Op("b", "t", ("a",), 0, 20, (), 100.0, None, None, 0.006),
    ]
    return ModelGraph("hand", [Value("x", (250,), "float32", 1000)], ops, ["b"])


def hand_topology() -> Topology:
    """A device at half the host's speed, a cloud at twice it: 8 Mbit/s up, 0.8 down, 10 ms."""
    power = PowerModel(idle_w=1.0, active_w=3.0, tx_j_per_bit=1e-6, rx_j_per_bit=2e-6)
    return Topology(
        nodes=[
            Node(name="device", tier=Tier.DEVICE, speed=0.5, power=power),
            Node(name="cloud", tier=Tier.CLOUD, speed=2.0),
        ],
        links=[Link(a="device", b="cloud", up_mbps=8.0, down_mbps=0.8, rtt_ms=10.0)],
    )
