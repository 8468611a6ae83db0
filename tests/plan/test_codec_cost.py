"""Codec-aware planning: measured codec costs enter every planner's per-(value, hop) terms."""

import numpy as np
import pytest
import torch
from hand import hand_graph, hand_topology

from skyline import models
from skyline.errors import PlanError
from skyline.graph import ModelGraph, profile
from skyline.plan import CodecCost, Problem, measure_codec_costs, planners
from skyline.topology import Link, Node, Tier, Topology


def test_codec_costs_match_hand_computation():
    graph, topo = hand_graph(), hand_topology()
    int8 = CodecCost("int8", wire_bytes={"a": 500.0}, encode_s={"a": 0.001}, decode_s={"a": 0.002})
    problem = Problem(graph, topo, codec=int8)
    b = problem.evaluate(np.array([0, 1]))
    # 500 B at 8 Mbit/s = 0.5 ms; encode 1 ms on a node 2x slower than the host = 2 ms;
    # decode 2 ms on a node 2x faster = 1 ms
    assert b.up_s == pytest.approx([0.0035]) and b.up_bytes == pytest.approx([500.0])
    assert b.latency_s == pytest.approx(0.004 + 0.003 + 0.0035 + 0.001 + 0.010)
    # energy: 3 W * 4 ms + 1 W * 17.5 ms + 4000 bit * 1 uJ + 800 bit * 2 uJ
    assert b.energy_j == pytest.approx(0.012 + 0.0175 + 0.004 + 0.0016)
    plan = problem.to_plan(np.array([0, 1]), "hand")
    assert [(c.direction, [t.codec for t in c.tensors]) for c in plan.cuts] == [
        ("up", ["int8"]),
        ("down", ["raw"]),
    ]
    assert plan.prediction.bytes_up == {"device-cloud": 500.0}
    # the codec is part of what a worker must do: another plan key than the raw one
    assert plan.key != Problem(graph, topo).to_plan(np.array([0, 1]), "hand").key


def test_a_cheaper_codec_moves_the_best_cut():
    graph, topo = hand_graph(), hand_topology()
    slow = topo.with_link("device", "cloud", up_mbps=0.5, down_mbps=0.5, rtt_ms=1.0)
    # raw: sending a (4000 B) costs 64 ms, more than running b on the device (12 ms)
    raw = planners.create("dads").plan(graph, slow)
    assert [s.node for s in raw.stages] == ["device"]
    tiny = CodecCost("zstd", wire_bytes={"a": 40.0})
    coded = planners.create("dads").plan(graph, slow, codec=tiny)
    assert [s.node for s in coded.stages] == ["device", "cloud"]
    assert coded.prediction.latency_ms < raw.prediction.latency_ms


def test_measure_codec_costs_on_a_real_model():
    spec = models.spec("small_cnn")
    x = spec.example_inputs()
    graph = profile(spec.build(), x, repeats=1)
    costs = measure_codec_costs(graph, x, ["raw", "fp16", "int8"], repeats=1)
    raw_bytes = dict(zip(graph.value_names, graph.value_bytes))
    for name in costs["raw"].wire_bytes:
        if raw_bytes[name] > 1000:
            assert costs["raw"].wire_bytes[name] == pytest.approx(raw_bytes[name], rel=0.05)
            assert costs["fp16"].wire_bytes[name] == pytest.approx(raw_bytes[name] / 2, rel=0.05)
            assert costs["int8"].wire_bytes[name] < raw_bytes[name] / 3.5
            assert costs["fp16"].rel_l2_error[name] < 1e-3
            assert costs["raw"].rel_l2_error[name] == 0.0
    assert all(t >= 0 for t in costs["int8"].encode_s.values())
    # planning with it is ordinary planning: the plan names the codec on its up cut
    topo = Topology(
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=0.01),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[Link(a="edge", b="cloud", up_mbps=1000, down_mbps=1000, rtt_ms=1)],
    )
    plan = planners.create("neurosurgeon").plan(graph, topo, codec=costs["int8"])
    ups = [t.codec for c in plan.cuts if c.direction == "up" for t in c.tensors]
    assert ups and set(ups) == {"int8"}


def test_measure_codec_costs_refuses_unknown_values_and_synthetic_graphs():
    spec = models.spec("small_cnn")
    x = spec.example_inputs()
    graph = profile(spec.build(), x, repeats=1)
    with pytest.raises(PlanError, match="nope"):
        measure_codec_costs(graph, x, ["raw"], values=["nope"])
    synthetic = ModelGraph.from_dict(graph.to_dict())
    with pytest.raises(PlanError, match="no captured module"):
        measure_codec_costs(synthetic, torch.zeros(1), ["raw"])
