"""`skyline topology`: list the presets, or show one topology's nodes and links."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import typer

from skyline.cli._common import console, fmt_bytes, new_table
from skyline.topology import (
    Link,
    Node,
    link_preset,
    load_topology,
    node_preset,
    preset_names,
    topology_preset,
)

_NODE_HEADERS = [
    "compute",
    "op overhead µs",
    "memory",
    "idle W",
    "active W",
    "radio tx/rx nJ/bit",
    "preset",
]
_LINK_HEADERS = ["up Mbit/s", "down Mbit/s", "RTT ms", "loss", "trace", "preset"]


def _node_table(title: str, nodes: Mapping[str, Node]) -> None:
    table = new_table(title, ["name", "tier", *_NODE_HEADERS], right=_NODE_HEADERS[:-1])
    for name, n in nodes.items():
        p = n.power
        table.add_row(
            name,
            n.tier.value,
            f"{n.gflops:g} GFLOP/s" if n.gflops is not None else f"{n.speed:g}x this host",
            f"{n.op_overhead_us:g}",
            "unlimited" if n.memory_mb is None else fmt_bytes(n.memory_bytes),
            f"{p.idle_w:g}",
            f"{p.active_w:g}",
            f"{p.tx_j_per_bit * 1e9:.0f}/{p.rx_j_per_bit * 1e9:.0f}",
            n.preset or "-",
        )
    console.print(table)


def _link_table(title: str, links: Mapping[str, Link]) -> None:
    table = new_table(title, ["link", *_LINK_HEADERS], right=_LINK_HEADERS[:-2])
    for name, ln in links.items():
        table.add_row(
            name,
            f"{ln.up_mbps:g}",
            f"{ln.down_mbps:g}",
            f"{ln.rtt_ms:g}",
            f"{ln.loss:g}",
            "-" if ln.trace is None else f"{len(ln.trace.times_s)} samples",
            ln.preset or "-",
        )
    console.print(table)


def _entries(items: list[Node] | list[Link]) -> str:
    return ", ".join(f"{item.name} ({item.preset or 'custom'})" for item in items)


def _list_presets() -> None:
    names = preset_names()
    _node_table("Node presets", {name: node_preset(name) for name in names["node"]})
    _link_table("Link presets", {name: link_preset(name, "a", "b") for name in names["link"]})
    table = new_table("Topology presets", ["name", "nodes (preset)", "links (preset)"])
    for name in names["topology"]:
        topo = topology_preset(name)
        table.add_row(name, _entries(topo.nodes), _entries(topo.links))
    console.print(table)


def topology_command(
    source: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME_OR_FILE",
            help="topology preset name or .toml/.yaml file",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List node, link and topology presets, or show one topology's nodes and links."""
    if source is None:
        _list_presets()
        return
    topo = load_topology(source)
    _node_table(f"Nodes of {topo.name}", {n.name: n for n in topo.nodes})
    _link_table(f"Links of {topo.name} (up: a -> b)", {ln.name: ln for ln in topo.links})
