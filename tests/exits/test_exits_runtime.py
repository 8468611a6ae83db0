"""Early exits in the runtime: the edge answers alone when confident, else the cloud finishes."""

import uuid

import pytest
import torch

from skyline.errors import PlanError
from skyline.exits import confident_exit, exit_plan, fashion_exit_net
from skyline.graph import profile
from skyline.runtime import CloudWorker, EdgeWorker
from skyline.topology import Link, Node, Tier, Topology


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = fashion_exit_net().eval()
    x = torch.randn(1, 1, 28, 28)
    graph = profile(model, (x,), repeats=1)
    topo = Topology(
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=0.25),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[Link(a="edge", b="cloud", up_mbps=10, down_mbps=10, rtt_ms=5)],
    )
    return model, x, graph, topo


def test_exit_plan_puts_the_exit_at_the_origin(setup):
    _, _, graph, topo = setup
    plan = exit_plan(graph, topo, 0)
    edge, cloud = plan.stages
    assert edge.node == "edge" and graph.outputs[0] in edge.ops
    assert graph.outputs[-1] in cloud.ops
    # the edge runs fewer FLOPs than the whole model, and a cut exists
    flops = {op.name: op.flops for op in graph.ops}
    assert sum(flops[o] for o in edge.ops) < 0.5 * graph.total_flops
    assert any(c.direction == "up" for c in plan.cuts)
    with pytest.raises(PlanError, match="exit 7"):
        exit_plan(graph, topo, 7)


@pytest.mark.parametrize(("threshold", "outcome"), [(0.0, "exit"), (1.01, "remote")])
def test_confident_requests_exit_at_the_edge(setup, threshold, outcome):
    model, x, graph, topo = setup
    plan = exit_plan(graph, topo, 0)
    rule = confident_exit(graph.outputs[0], temperature=1.0, threshold=threshold)
    address = f"inproc://{uuid.uuid4().hex}"
    with CloudWorker(plan, graph, bind_address=address):
        with EdgeWorker(plan, graph, cloud=address, exits=[rule]) as edge:
            out = edge.infer(x)
    with torch.no_grad():
        ref = model(x)
    (record,) = edge.records
    assert record.outcome == outcome
    if outcome == "exit":
        assert torch.equal(out, ref[0]) and record.bytes_up == 0
    else:
        assert all(torch.equal(a, b) for a, b in zip(out, ref, strict=True)) and record.bytes_up > 0


def test_exit_rule_needs_the_exit_at_the_origin(setup):
    rule = confident_exit("not_there", 1.0, 0.5)
    with pytest.raises(PlanError, match="exit_plan"):
        rule({})
