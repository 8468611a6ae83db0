"""CostModel predictions on hand-computed cases, and calibration from measurements."""

import pytest

from skyline.errors import ConfigError, UnknownNameError
from skyline.graph import CostModel, ModelGraph, Op, Value
from skyline.topology import Link, Node, Tier, Topology


def graph():
    ops = [
        Op("c", "aten.conv2d.default", ("x",), 4e9, 0, (), 100.0, None, None, 0.010),
        Op("r", "aten.relu.default", ("c",), 1e6, 0, (), 100.0, None, None, 0.002),
    ]
    return ModelGraph("g", [Value("x", (1,), "float32", 4)], ops, ["r"])


def topo():
    return Topology(
        nodes=[
            Node(name="slow", tier=Tier.DEVICE, speed=0.25),
            Node(name="flops", tier=Tier.EDGE, gflops=100.0, op_overhead_us=50.0),
        ],
        links=[Link(a="slow", b="flops", up_mbps=8.0, down_mbps=16.0, rtt_ms=10.0, loss=0.2)],
    )


def test_relative_speed_scales_host_time():
    cm = CostModel(topo())
    g = graph()
    assert cm.op_time_s(g.ops[0], "slow") == pytest.approx(0.040)
    assert list(cm.op_times_s(g, "slow")) == pytest.approx([0.040, 0.008])


def test_gflops_node_uses_flops_plus_overhead():
    cm = CostModel(topo())
    assert cm.op_time_s(graph().ops[0], "flops") == pytest.approx(4e9 / 100e9 + 50e-6)


def test_transfer_uses_direction_and_loss():
    t = topo()
    cm = CostModel(t)
    link = t.link("slow", "flops")
    # 1 MB up at 8 Mbit/s = 1 s, inflated by 1 / (1 - 0.2)
    assert cm.transfer_s(1e6, link, "slow") == pytest.approx(1.25)
    assert cm.transfer_s(1e6, link, "flops") == pytest.approx(0.625)


def test_calibration_fits_per_kind_factors():
    g = graph()
    cm = CostModel(topo()).calibrate(g, "slow", {"c": 0.080})  # conv measured 2x slower
    assert cm.name == "calibrated"
    assert cm.op_time_s(g.ops[0], "slow") == pytest.approx(0.080)
    # relu was not measured: falls back to the node-wide factor (2x)
    assert cm.op_time_s(g.ops[1], "slow") == pytest.approx(0.016)
    assert cm.op_time_s(g.ops[0], "flops") == pytest.approx(0.04005)  # other nodes unchanged


def test_calibration_errors():
    with pytest.raises(ConfigError, match="no usable"):
        CostModel(topo()).calibrate(graph(), "slow", {"c": 0.0})
    with pytest.raises(UnknownNameError):
        CostModel(topo()).calibrate(graph(), "nowhere", {"c": 1.0})
