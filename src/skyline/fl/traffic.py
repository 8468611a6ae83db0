"""FL traffic on a real topology: bytes per link and direction, turned into transfer time and
device radio energy with the topology's links and power models (predicted from the link
specs, not emulated)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from skyline.errors import TopologyError
from skyline.topology import Node, Tier, Topology, link_preset, node_preset

TIER_LINKS = ("device-edge", "edge-cloud")


def fl_topology(
    clients: int,
    edges: int,
    *,
    device: str = "phone",
    edge: str = "edge-server",
    cloud: str = "cloud-server",
    access: str = "wifi",
    backhaul: str = "wan",
) -> Topology:
    """`clients` devices d0.. spread in contiguous blocks over `edges` edges e0.., each edge
    linked to one cloud: the shape hierarchical FL assumes, from presets."""
    nodes = [node_preset(device, name=f"d{i}") for i in range(clients)]
    nodes += [node_preset(edge, name=f"e{j}") for j in range(edges)]
    nodes.append(node_preset(cloud, name="cloud"))
    links = [link_preset(access, f"d{i}", f"e{i * edges // clients}") for i in range(clients)]
    links += [link_preset(backhaul, f"e{j}", "cloud") for j in range(edges)]
    return Topology(name=f"fl-{clients}x{edges}", nodes=nodes, links=links)


@dataclass(frozen=True)
class Tiers:
    """Who aggregates whom: `groups[j]` are the client ids (device order) under edge `edges[j]`."""

    devices: tuple[str, ...]
    edges: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    cloud: str

    def edge_of(self, cid: int) -> str:
        return next(self.edges[j] for j, g in enumerate(self.groups) if cid in g)


def tiers(topology: Topology) -> Tiers:
    """Read device -> edge -> cloud from a topology: every device must be linked to exactly one
    edge and every edge to the (single) cloud node."""

    def of(tier: Tier) -> list[Node]:
        return [n for n in topology.nodes if n.tier == tier]

    devices, edges, clouds = of(Tier.DEVICE), of(Tier.EDGE), of(Tier.CLOUD)
    if len(clouds) != 1 or not edges or not devices:
        raise TopologyError(
            f"FL needs devices, edges and one cloud; topology {topology.name!r} has "
            f"{len(devices)} devices, {len(edges)} edges, {len(clouds)} clouds",
            fix="use skyline.fl.fl_topology(clients, edges) or add the missing tier",
        )
    groups: dict[str, list[int]] = {e.name: [] for e in edges}
    for cid, d in enumerate(devices):
        linked = [e.name for e in edges if _linked(topology, d.name, e.name)]
        if len(linked) != 1:
            raise TopologyError(
                f"device {d.name!r} is linked to {len(linked)} edges ({linked})",
                fix="link every device to exactly one edge node",
            )
        groups[linked[0]].append(cid)
    for e in edges:
        topology.link(e.name, clouds[0].name)  # raises with the fix when missing
    return Tiers(
        devices=tuple(d.name for d in devices),
        edges=tuple(e.name for e in edges),
        groups=tuple(tuple(groups[e.name]) for e in edges),
        cloud=clouds[0].name,
    )


def _linked(topology: Topology, a: str, b: str) -> bool:
    return any({link.a, link.b} == {a, b} for link in topology.links)


@dataclass
class Traffic:
    """Bytes per (src, dst) hop. `send` walks a path (device -> edge -> cloud); `close_phase`
    ends a set of concurrent transfers and predicts how long it took: per tier, the slowest
    link (its bytes over its rate, plus half an RTT), tiers one after the other."""

    topology: Topology
    bytes: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    _phase: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def send(self, path: Iterable[str], nbytes: int) -> None:
        hops = list(path)
        for hop in itertools.pairwise(hops):
            self.bytes[hop] += nbytes
            self._phase[hop] += nbytes

    def close_phase(self) -> float:
        slowest = dict.fromkeys(TIER_LINKS, 0.0)
        for (src, dst), n in self._phase.items():
            link = self.topology.link(src, dst)
            seconds = link.transfer_s(n, src) + link.rtt_ms / 2000
            key = self._tier_link(src, dst)
            slowest[key] = max(slowest[key], seconds)
        self._phase.clear()
        return sum(slowest.values())

    def _tier_link(self, src: str, dst: str) -> str:
        pair = {self.topology.node(src).tier, self.topology.node(dst).tier}
        return "edge-cloud" if Tier.CLOUD in pair else "device-edge"

    def tier_bytes(self) -> dict[str, int]:
        """Bytes summed over both directions of every device-edge and edge-cloud link."""
        out = dict.fromkeys(TIER_LINKS, 0)
        for (src, dst), n in self.bytes.items():
            out[self._tier_link(src, dst)] += n
        return out

    def device_energy_j(self) -> float:
        """Radio energy all devices spent sending and receiving, from their power models."""
        total = 0.0
        for (src, dst), n in self.bytes.items():
            for name, kind in ((src, "tx"), (dst, "rx")):
                node = self.topology.node(name)
                if node.tier == Tier.DEVICE:
                    per_bit = node.power.tx_j_per_bit if kind == "tx" else node.power.rx_j_per_bit
                    total += n * 8 * per_bit
        return total
