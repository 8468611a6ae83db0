"""Topologies shared by runtime tests (a plain module: `conftest` names collide across folders)."""

from skyline.topology import Link, Node, Tier, Topology


def three_nodes() -> Topology:
    return Topology(
        nodes=[
            Node(name="device", tier=Tier.DEVICE, speed=0.5),
            Node(name="edge", tier=Tier.EDGE, speed=1.0),
            Node(name="cloud", tier=Tier.CLOUD, speed=4.0),
        ],
        links=[
            Link(a="device", b="edge", up_mbps=100, down_mbps=100, rtt_ms=1),
            Link(a="edge", b="cloud", up_mbps=100, down_mbps=100, rtt_ms=1),
            Link(a="device", b="cloud", up_mbps=50, down_mbps=50, rtt_ms=2),
        ],
    )
