"""Topology models: hand-computed transfer times, trace stepping, paths and validation messages."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from skyline.errors import ConfigError, TopologyError, UnknownNameError
from skyline.topology import BandwidthTrace, Link, Node, PowerModel, Tier, Topology


def node(name: str, tier: str, **kw: float) -> Node:
    return Node(name=name, tier=Tier(tier), **({"speed": 1.0} | kw))


def link(a: str, b: str, **kw: float) -> Link:
    return Link(a=a, b=b, **({"up_mbps": 8.0, "down_mbps": 16.0} | kw))


def three_tier(**link_kw: float) -> Topology:
    return Topology(
        name="t",
        nodes=[node("cloud", "cloud"), node("dev", "device"), node("edge", "edge")],
        links=[link("dev", "edge", **link_kw), link("edge", "cloud")],
    )


def test_tier_rank_and_order_follow_device_edge_cloud() -> None:
    assert [t.rank for t in Tier] == [0, 1, 2]
    assert Tier.DEVICE < Tier.EDGE < Tier.CLOUD  # alphabetical order would put cloud first
    assert sorted([Tier.CLOUD, Tier.DEVICE, Tier.EDGE]) == [Tier.DEVICE, Tier.EDGE, Tier.CLOUD]
    assert Tier("edge") is Tier.EDGE and f"{Tier.EDGE}" == "edge"


def test_node_needs_exactly_one_compute_measure() -> None:
    for kw in ({"speed": 1.0, "gflops": 10.0}, {}):
        with pytest.raises(ValidationError, match=r"exactly one is needed. Fix: set speed"):
            Node(name="n", tier=Tier.EDGE, **kw)
    assert Node(name="n", tier=Tier.EDGE, gflops=10.0).gflops == 10.0


@pytest.mark.parametrize("field", ["speed", "gflops", "memory_mb"])
def test_node_rejects_non_positive_values(field: str) -> None:
    kw = {"speed": 1.0, field: 0.0}
    with pytest.raises(ValidationError, match="greater than 0"):
        Node(name="n", tier=Tier.EDGE, **kw)


@pytest.mark.parametrize("name", ["", "my node", "a\tb"])
def test_node_name_must_be_non_empty_without_whitespace(name: str) -> None:
    with pytest.raises(ValidationError, match=r"empty or contains whitespace. Fix"):
        node(name, "edge")


def test_memory_bytes_uses_mib_and_none_or_inf_mean_unlimited() -> None:
    assert node("n", "edge", memory_mb=2.0).memory_bytes == 2 * 1024 * 1024
    assert node("n", "edge").memory_bytes == math.inf
    assert node("n", "edge", memory_mb=math.inf).memory_mb is None


def test_power_model_defaults_to_zero_and_rejects_negative() -> None:
    assert node("n", "edge").power == PowerModel(idle_w=0, active_w=0)
    with pytest.raises(ValidationError):
        PowerModel(tx_j_per_bit=-1e-9)


def test_transfer_time_hand_computed() -> None:
    lk = link("dev", "edge", up_mbps=8.0, down_mbps=16.0)
    assert lk.transfer_s(1e6, "dev") == pytest.approx(1.0)  # 8e6 bit / 8e6 bit/s
    assert lk.transfer_s(1e6, "edge") == pytest.approx(0.5)  # down direction, 16 Mbit/s
    assert link("dev", "edge", loss=0.2).transfer_s(1e6, "dev") == pytest.approx(1.25)
    assert lk.transfer_s(0, "dev") == 0.0
    assert lk.name == "dev-edge"


def test_transfer_rejects_stranger_and_negative_size() -> None:
    lk = link("dev", "edge")
    with pytest.raises(TopologyError, match="'cloud' is not an end of link dev-edge"):
        lk.mbps("cloud")
    with pytest.raises(ConfigError, match="Fix"):
        lk.transfer_s(-1, "dev")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"up_mbps": 0.0}, "greater than 0"),
        ({"down_mbps": -1.0}, "greater than 0"),
        ({"loss": 1.0}, "less than 1"),
        ({"rtt_ms": -1.0}, "greater than or equal to 0"),
    ],
)
def test_link_rejects_bad_values(kw: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        link("a", "b", **kw)


def test_link_rejects_self_link() -> None:
    with pytest.raises(ValidationError, match=r"to itself. Fix"):
        link("a", "a")


STEPS = BandwidthTrace(times_s=[0, 2, 5], up_mbps=[10, 20, 30], down_mbps=[1, 2, 3])


@pytest.mark.parametrize(
    ("t", "expected"),
    [(0, (10, 1)), (1.99, (10, 1)), (2, (20, 2)), (4.9, (20, 2)), (5, (30, 3)), (100, (30, 3))],
)
def test_trace_holds_last_sample(t: float, expected: tuple[float, float]) -> None:
    assert STEPS.at(t) == expected


@pytest.mark.parametrize(("t", "up"), [(7.9, 30), (8, 10), (10, 20), (13.5, 30), (16, 10)])
def test_looping_trace_repeats_with_period_last_time_plus_last_step(t: float, up: float) -> None:
    looped = STEPS.model_copy(update={"loop": True})  # period = 5 + (5 - 2) = 8 s
    assert looped.at(t)[0] == up


def test_single_sample_trace_is_constant_and_negative_time_is_refused() -> None:
    flat = BandwidthTrace(times_s=[0], up_mbps=[5], down_mbps=[6], loop=True)
    assert flat.at(123.4) == (5, 6)
    with pytest.raises(ConfigError, match="negative"):
        flat.at(-1)


@pytest.mark.parametrize(
    ("times", "up", "message"),
    [
        ([1, 2], [1, 2], "must start at 0"),
        ([0, 0], [1, 2], "increase strictly"),
        ([0, 1], [1, 2, 3], "up_mbps has 3 samples but times_s has 2"),
        ([0, 1], [1, 0], "greater than 0"),
    ],
)
def test_trace_validation(times: list[float], up: list[float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BandwidthTrace(times_s=times, up_mbps=up, down_mbps=[1, 2])


def test_link_uses_trace_only_when_a_time_is_given() -> None:
    lk = link("dev", "edge", up_mbps=8.0).model_copy(update={"trace": STEPS})
    assert lk.mbps("dev") == 8.0
    assert lk.mbps("dev", t_s=3) == 20
    assert lk.mbps("edge", t_s=3) == 2
    assert lk.transfer_s(2.5e6, "dev", t_s=6) == pytest.approx(2.5e6 * 8 / 30e6)


def test_trace_from_csv(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("time_s,up_mbps,down_mbps\n0,10,1\n2,20,2\n5,30,3\n")
    assert BandwidthTrace.from_csv(csv) == STEPS
    assert BandwidthTrace.from_csv(csv, loop=True).loop


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time_s,up_mbps\n0,1\n", "lacks column\\(s\\) down_mbps"),
        ("time_s,up_mbps,down_mbps\n0,1,1\n1,fast,1\n", "line 3: up_mbps = 'fast' is not"),
        ("time_s,up_mbps,down_mbps\n1,1,1\n", "time_s: times_s must start at 0"),
        ("time_s,up_mbps,down_mbps\n0,1,1\n1,0,1\n", r"up_mbps \(data row 2\): Input should be"),
    ],
)
def test_trace_from_bad_csv(tmp_path: Path, text: str, message: str) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with pytest.raises(TopologyError, match=message) as info:
        BandwidthTrace.from_csv(csv)
    assert "bad.csv" in str(info.value) and "Fix:" in str(info.value)


def test_trace_from_missing_csv(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match=r"cannot read trace file .*nope.csv"):
        BandwidthTrace.from_csv(tmp_path / "nope.csv")


def test_topology_rejects_duplicate_names_missing_ends_and_duplicate_links() -> None:
    with pytest.raises(ValidationError, match="duplicate node name 'a'"):
        Topology(nodes=[node("a", "edge"), node("a", "cloud")])
    with pytest.raises(ValidationError, match="names no node; known nodes: a, b"):
        Topology(nodes=[node("a", "edge"), node("b", "cloud")], links=[link("a", "c")])
    with pytest.raises(ValidationError, match="a second link between 'b' and 'a'"):
        Topology(
            nodes=[node("a", "edge"), node("b", "cloud")], links=[link("a", "b"), link("b", "a")]
        )
    with pytest.raises(ValidationError):
        Topology(nodes=[])


def test_lookups_name_what_exists() -> None:
    topo = three_tier()
    assert topo.node("edge").tier is Tier.EDGE
    assert topo.link("edge", "dev") is topo.link("dev", "edge") is topo.links[0]
    with pytest.raises(UnknownNameError, match=r"no node 'gpu'. Fix: use one of: cloud, dev, edge"):
        topo.node("gpu")
    with pytest.raises(TopologyError, match=r"no link between 'dev' and 'cloud'.*\[\[link\]\]"):
        topo.link("dev", "cloud")


def test_default_path_is_device_edge_cloud_first_node_per_tier() -> None:
    topo = three_tier()
    assert [n.name for n in topo.path()] == ["dev", "edge", "cloud"]
    two_edges = Topology(
        nodes=[node("e2", "edge"), *topo.nodes],
        links=[*topo.links, link("dev", "e2"), link("e2", "cloud")],
    )
    assert [n.name for n in two_edges.path()] == ["dev", "e2", "cloud"]


def test_path_with_chosen_tiers() -> None:
    topo = three_tier()
    assert [n.name for n in topo.path(["edge", Tier.CLOUD])] == ["edge", "cloud"]
    with pytest.raises(TopologyError, match="no link between 'dev' and 'cloud'"):
        topo.path(["device", "cloud"])
    with pytest.raises(TopologyError, match=r"unknown tier.*Fix: use device, edge or cloud"):
        topo.path(["fog"])
    no_cloud = Topology(nodes=[node("dev", "device")])
    with pytest.raises(TopologyError, match=r"has no cloud node. Fix: add a \[\[node\]\]"):
        no_cloud.path(["device", "cloud"])


def test_path_requires_links_between_consecutive_nodes() -> None:
    unlinked = Topology(nodes=[node("dev", "device"), node("cloud", "cloud")])
    with pytest.raises(TopologyError, match="no link between 'dev' and 'cloud'"):
        unlinked.path()


def test_with_link_replaces_fields_in_a_copy() -> None:
    topo = three_tier()
    slower = topo.with_link("edge", "dev", up_mbps=1.0, rtt_ms=30.0)
    assert slower.link("dev", "edge").up_mbps == 1.0  # `up` stays the stored a -> b
    assert slower.link("dev", "edge").rtt_ms == 30.0
    assert slower.links[1] == topo.links[1] and slower.nodes == topo.nodes
    assert topo.link("dev", "edge").up_mbps == 8.0
    with pytest.raises(ValidationError, match="greater than 0"):
        topo.with_link("dev", "edge", up_mbps=-1.0)


def test_json_and_dict_round_trips_are_exact() -> None:
    topo = three_tier(loss=0.05, rtt_ms=12.5).with_link("edge", "cloud", trace=STEPS.model_dump())
    topo = topo.model_copy(
        update={"nodes": [*topo.nodes, node("p", "device", memory_mb=512.0, speed=0.1)]}
    )
    assert Topology.model_validate_json(topo.model_dump_json()) == topo
    assert Topology.from_dict(topo.to_dict()) == topo
    assert topo.to_dict()["nodes"][0]["tier"] == "cloud"


def test_models_are_frozen() -> None:
    with pytest.raises(ValidationError):
        three_tier().links[0].up_mbps = 1.0
