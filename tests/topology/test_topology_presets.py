"""Presets: every one builds, keeps its source, merges overrides, and matches docs/presets.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from skyline.errors import UnknownNameError
from skyline.topology import (
    LINK_PRESETS,
    NODE_PRESETS,
    TOPOLOGY_PRESETS,
    Tier,
    link_preset,
    node_preset,
    preset_names,
    topology_preset,
)
from skyline.topology.presets import presets_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "presets.md"


def test_preset_names_lists_every_table() -> None:
    assert preset_names() == {
        "node": list(NODE_PRESETS),
        "link": list(LINK_PRESETS),
        "topology": list(TOPOLOGY_PRESETS),
    }
    assert {"host", "rpi4", "jetson-nano", "phone", "edge-server", "cloud-server"} <= set(
        NODE_PRESETS
    )
    assert {"3g", "4g", "wifi", "5g", "6g", "wired", "wan"} <= set(LINK_PRESETS)


@pytest.mark.parametrize("name", list(NODE_PRESETS))
def test_every_node_preset_builds_and_states_its_source(name: str) -> None:
    node = node_preset(name)
    assert node.name == name and node.preset == name
    assert len(NODE_PRESETS[name]["source"]) > 40


@pytest.mark.parametrize("name", list(LINK_PRESETS))
def test_every_link_preset_builds_and_states_its_source(name: str) -> None:
    link = link_preset(name, "d", "c")
    assert (link.a, link.b, link.preset) == ("d", "c", name)
    assert len(LINK_PRESETS[name]["source"]) > 40


def test_host_is_the_unit_of_speed() -> None:
    host = node_preset("host")
    assert (host.tier, host.speed, host.gflops) == (Tier.EDGE, 1.0, None)


def test_published_figures_are_used_and_targets_labelled() -> None:
    # Neurosurgeon (ASPLOS'17) average uplinks; Pi 4 power measured at 2.7 W idle, 6.4 W loaded.
    assert [LINK_PRESETS[k]["up_mbps"] for k in ("3g", "4g", "wifi")] == [1.1, 5.85, 18.88]
    assert (node_preset("rpi4").power.idle_w, node_preset("rpi4").power.active_w) == (2.7, 6.4)
    assert node_preset("phone").power.tx_j_per_bit == pytest.approx(438.39e-9)
    assert "target" in LINK_PRESETS["6g"]["source"]
    assert all("assumption" in p["source"] for p in NODE_PRESETS.values())


def test_node_preset_overrides() -> None:
    cam = node_preset("rpi4", name="cam", memory_mb=1024.0, power={"idle_w": 3.0})
    assert (cam.name, cam.memory_mb, cam.gflops) == ("cam", 1024.0, 8.0)
    assert (cam.power.idle_w, cam.power.active_w) == (3.0, 6.4)  # power merges key by key
    slow = node_preset("rpi4", speed=0.2)  # replaces the preset's gflops
    assert (slow.speed, slow.gflops) == (0.2, None)


def test_link_preset_overrides() -> None:
    link = link_preset("4g", "phone", "cloud", rtt_ms=60.0, loss=0.01)
    assert (link.up_mbps, link.rtt_ms, link.loss) == (5.85, 60.0, 0.01)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: node_preset("rpi5"), "unknown node preset 'rpi5'. Fix: use one of: host, rpi4"),
        (lambda: link_preset("7g", "a", "b"), "unknown link preset '7g'. Fix: use one of: 3g"),
        (lambda: topology_preset("mesh"), "unknown topology preset 'mesh'. Fix: use one of"),
    ],
)
def test_unknown_presets_list_the_available_names(call: Callable[[], object], message: str) -> None:
    with pytest.raises(UnknownNameError, match=message):
        call()


@pytest.mark.parametrize("name", list(TOPOLOGY_PRESETS))
def test_every_topology_preset_builds_a_linked_path(name: str) -> None:
    topo = topology_preset(name)
    assert topo.name == name
    path = topo.path()
    assert [n.tier.rank for n in path] == sorted(n.tier.rank for n in path)


def test_device_edge_cloud_preset() -> None:
    topo = topology_preset("device-edge-cloud")
    assert [(n.name, n.preset) for n in topo.path()] == [
        ("device", "rpi4"),
        ("edge", "edge-server"),
        ("cloud", "cloud-server"),
    ]
    assert topo.link("device", "edge").preset == "wifi"
    assert topo.link("edge", "cloud").preset == "wan"
    assert topology_preset("device-cloud").link("device", "cloud").preset == "4g"


def test_docs_presets_md_is_generated_from_the_tables() -> None:
    assert DOCS.read_text(encoding="utf-8") == presets_markdown(), (
        "docs/presets.md is stale; regenerate it with "
        "python -c 'from skyline.topology.presets import presets_markdown as m; "
        'print(m(), end="")\' > docs/presets.md'
    )


def test_docs_show_every_preset_and_its_source() -> None:
    text = presets_markdown()
    for table in (NODE_PRESETS, LINK_PRESETS):
        for name, preset in table.items():
            assert f"| {name} |" in text and preset["source"] in text
