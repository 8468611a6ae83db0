"""Online adaptation: the estimator on hand-computed transfers, hysteresis, and switching plans
mid-run over a shaped link without losing or changing any result."""

import uuid

import numpy as np
import pytest
import torch

from skyline.emulation import Shaper
from skyline.graph import profile
from skyline.runtime import CloudWorker, RequestRecord, ShapedTransport
from skyline.runtime.adapt import AdaptiveEdgeWorker, LinkEstimator, Replanner
from skyline.topology import Link, Node, Tier, Topology


def test_estimator_hand_computed():
    est = LinkEstimator(rtt_s=0.010, down_ratio=2.0, initial_mbps=5.0, window=3)
    # 1 MB up + 0.5 MB down (= 0.25 MB at the up rate) in 0.010 + 1.0 s -> 10 Mbit/s
    est.observe(1.010, 1_000_000, 500_000)
    assert est.samples[-1] == pytest.approx(10.0)
    est.observe(0.005, 10, 0)  # hidden in the RTT: ignored
    assert len(est.samples) == 2
    est.observe_request(RequestRecord(1, "remote", 1010.0, {"edge": 0.0}, 1_000_000, 500_000))
    est.observe_request(RequestRecord(2, "fallback", 5.0))  # says nothing about the link
    assert est.mbps == pytest.approx(10.0)  # median of [5, 10, 10]


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    from skyline import models

    spec = models.spec("small_cnn")
    model = spec.build()
    x = spec.example_inputs(batch=8)
    graph = profile(model, x, name="small_cnn", repeats=3)
    topo = Topology(
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=0.05),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[Link(a="edge", b="cloud", up_mbps=50, down_mbps=50, rtt_ms=2)],
    )
    return model, x, graph, topo


def test_replanner_hysteresis(setup):
    _, _, graph, topo = setup
    replanner = Replanner(graph, topo, ("edge", "cloud"), hysteresis=0.2)
    assert len(replanner.plans) >= 2  # the best plan changes with bandwidth
    slow, fast = replanner.choose(0.5, None), replanner.choose(1000, None)
    assert slow != fast
    costs = replanner.predicted_s(1000)
    assert replanner.choose(1000, slow) == fast or costs[slow] <= costs[fast] / 0.8
    # near break-even the current plan stays
    for mbps in np.geomspace(0.5, 1000, 30):
        c = replanner.predicted_s(float(mbps))
        kept = replanner.choose(float(mbps), slow)
        assert kept == slow or c[kept] < c[slow] * 0.8


def test_adaptive_worker_switches_without_losing_requests(setup):
    model, x, graph, topo = setup
    replanner = Replanner(graph, topo, ("edge", "cloud"), hysteresis=0.1)
    address = f"inproc://{uuid.uuid4().hex}"
    up, down = Shaper(50.0, 1.0), Shaper(50.0, 1.0)
    with CloudWorker(list(replanner.plans.values()), graph, bind_address=address):
        with AdaptiveEdgeWorker(
            replanner,
            graph,
            cloud=address,
            wrap=lambda t: ShapedTransport(t, up, down),
            probe_every=2,
            window=3,
        ) as edge:
            edge.handshake()
            start = edge.current
            outs = [edge.infer(*x) for _ in range(6)]
            up.set_rate(0.2)  # the link collapses
            down.set_rate(0.2)
            for _ in range(30):  # detection takes a few requests (more on a loaded machine)
                outs.append(edge.infer(*x))
                if edge.switches:
                    break
            outs.append(edge.infer(*x))  # the first request on the new plan
    with torch.no_grad():
        ref = model(*x)
    assert all(torch.equal(o, ref) for o in outs)
    assert len(edge.records) == len(outs)
    assert all(r.outcome in ("remote", "local") for r in edge.records)
    assert edge.switches and edge.switches[-1].from_plan == start
    assert edge.records[-1].plan == edge.current != start


def test_replanner_shortcut_equals_full_evaluation(setup):
    _, _, graph, topo = setup
    replanner = Replanner(graph, topo, ("edge", "cloud"))
    for mbps in (0.3, 7.0, 640.0):
        assert replanner.predicted_s(mbps) == pytest.approx(replanner._objectives(mbps), rel=1e-9)
