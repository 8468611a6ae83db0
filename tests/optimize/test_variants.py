"""Variant registry and choice per node, on hand-computed cases."""

import json

import pytest
import torch
from torch import nn

from skyline.errors import ConfigError, InfeasiblePlanError, RegistryError
from skyline.graph import profile
from skyline.optimize.variants import (
    Variant,
    load_variants,
    pick_per_node,
    pick_variant,
    predicted_latency_ms,
    register_variant,
    variants_for,
)
from skyline.topology import Node, Tier, Topology

MB = 2**20


def node(name: str, memory_mb: float | None = None) -> Node:
    return Node(name=name, tier=Tier.DEVICE, gflops=1.0, memory_mb=memory_mb)


def variants() -> list[Variant]:
    # name, size, latency on "pi" / "edge", accuracy
    table = [
        ("fp32", 44 * MB, 40.0, 4.0, 0.92),
        ("int8", 11 * MB, 14.0, 1.5, 0.91),
        ("pruned+int8", 6 * MB, 8.0, 1.0, 0.85),
        ("unmeasured", 1 * MB, 1.0, 0.1, None),
    ]
    return [
        Variant("net", name, size, {"pi": pi, "edge": edge}, accuracy)
        for name, size, pi, edge, accuracy in table
    ]


@pytest.mark.parametrize(
    ("floor", "memory_mb", "expected"),
    [
        (0.9, 64, "int8"),  # fp32 is accurate too but slower; pruned+int8 misses the floor
        (0.8, 64, "pruned+int8"),  # fastest above 0.8; "unmeasured" has no accuracy
        (0.92, 64, "fp32"),
        (0.8, 8, "pruned+int8"),  # only 6 MB fits in 8 MB
        (0.0, 64, "pruned+int8"),  # accuracy unknown never counts as meeting a floor
    ],
)
def test_pick_fastest_accurate_enough_that_fits(floor, memory_mb, expected):
    assert pick_variant(variants(), node("pi", memory_mb), floor).name == expected


def test_nothing_fits_says_why():
    with pytest.raises(InfeasiblePlanError, match=r"int8: 11534336 B > 'pi' memory") as info:
        pick_variant(variants(), node("pi", 8), 0.9)
    assert "lower the accuracy floor" in str(info.value)
    with pytest.raises(InfeasiblePlanError, match="no variants given"):
        pick_variant([], node("pi"), 0.5)


def test_ties_go_to_the_smaller_variant():
    a = Variant("net", "a", 10, {"pi": 5.0}, 0.9)
    b = Variant("net", "b", 5, {"pi": 5.0}, 0.9)
    assert pick_variant([a, b], node("pi"), 0.9) is b


def test_pick_per_node_leaves_out_nodes_without_a_fit():
    topo = Topology(nodes=[node("pi", 8), node("edge"), node("cloud")], links=[])
    picks = pick_per_node(variants(), topo, 0.9)
    assert {n: v.name for n, v in picks.items()} == {"edge": "int8"}  # cloud: no latency


def test_predicted_latency_hand_computed():
    graph = profile(nn.Linear(100, 10, bias=False), (torch.randn(1, 100),), repeats=1)
    topo = Topology(
        nodes=[Node(name="pi", tier=Tier.DEVICE, gflops=2.0, op_overhead_us=50.0)], links=[]
    )
    # 2 * 100 * 10 FLOPs at 2 GFLOP/s = 1 µs, + 50 µs overhead = 0.051 ms; int8 2x faster
    assert predicted_latency_ms(graph, topo) == {"pi": pytest.approx(0.051)}
    assert predicted_latency_ms(graph, topo, speedup=2.0) == {"pi": pytest.approx(0.0255)}
    with pytest.raises(ConfigError, match="speedup"):
        predicted_latency_ms(graph, topo, speedup=0.0)


def test_registry_refuses_silent_overwrite():
    first = register_variant(Variant("test_variants_net", "int8", 1, {"pi": 1.0}, 0.9))
    register_variant(first)  # the same variant again is harmless
    other = Variant("test_variants_net", "int8", 2, {"pi": 1.0}, 0.9)
    with pytest.raises(RegistryError, match="already registered"):
        register_variant(other)
    register_variant(other, overwrite=True)
    assert variants_for("test_variants_net") == [other]
    assert variants_for("no such model") == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"size_bytes": -1}, "size_bytes"),
        ({"accuracy": 91.0}, "accuracy"),
        ({"latency_ms": {"pi": 0.0}}, "latency_ms"),
    ],
)
def test_bad_fields_are_named(kwargs, field):
    fields = {"size_bytes": 1, "latency_ms": {"pi": 1.0}, "accuracy": 0.5, **kwargs}
    with pytest.raises(ConfigError, match=field):
        Variant("net", "v", **fields)


def test_to_dict_is_json_ready():
    v = Variant("net", "int8", 3, {"pi": 2.0}, 0.5, factory=lambda: None)
    assert v.to_dict() == {
        "model": "net",
        "name": "int8",
        "size_bytes": 3,
        "predicted_latency_ms": {"pi": 2.0},
        "accuracy": 0.5,
        "path": None,
    }


def test_load_variants_round_trips_to_dict(tmp_path):
    written = [*variants(), Variant("net", "saved", 5, {"pi": 1.0}, 0.5, path=tmp_path / "x.pt")]
    file = tmp_path / "optimize.json"
    file.write_text(json.dumps({"variants": [{**v.to_dict(), "host_ms": 1.0} for v in written]}))
    assert load_variants(file) == written
    file.write_text(json.dumps({"variants": [{"name": "x"}]}))
    with pytest.raises(ConfigError, match="does not hold variants"):
        load_variants(file)
    with pytest.raises(ConfigError, match="does not hold variants"):
        load_variants(tmp_path / "missing.json")
