"""`edgent`: its predictions are exact on hand-made evidence, and the runtime delivers them."""

import uuid

import numpy as np
import pytest
import torch

from skyline.errors import ConfigError, InfeasiblePlanError, PlanError
from skyline.exits import ExitEvidence, confident_exit, edgent, exit_evidence, fashion_exit_net
from skyline.exits.edgent import crossing_values
from skyline.graph import profile
from skyline.plan import Problem, measure_codec_costs
from skyline.runtime import CloudWorker, EdgeWorker
from skyline.topology import Link, Node, Tier, Topology


@pytest.fixture(scope="module")
def setup():
    model = fashion_exit_net(seed=0).eval()
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    graph = profile(model, (x,), repeats=1)
    topo = Topology(
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=0.05),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[Link(a="edge", b="cloud", up_mbps=2, down_mbps=2, rtt_ms=20)],
    )
    return model, x, graph, topo


def first_cut(graph, exit_index):
    needed = graph.ancestors(graph.outputs[exit_index])
    return max(i + 1 for i, op in enumerate(graph.ops) if op.name in needed)


def hand_evidence(n=10):
    """Exit 0 is confident (0.9) and right on the first 8 samples, unsure (0.2) on 2; exit 1
    is never right on them; the final exit is right on 9 samples."""
    conf = np.array([[0.9] * 8 + [0.2] * 2, [0.3] * n, [0.99] * n])
    correct = np.array([[True] * 8 + [False] * 2, [True] * 8 + [False] * 2, [True] * 9 + [False]])
    return ExitEvidence((1.0, 1.0, 1.0), conf, correct, {})


def test_choice_matches_hand_evaluation(setup):
    _, _, graph, topo = setup
    choice = edgent(graph, topo, hand_evidence(), {"raw": None}, max_loss=0.0)
    # leaving at exit 0 when confident keeps 8 right answers there and 1 of 2 at the final exit
    # -> 90 % = the final exit's accuracy, at a fraction of the latency
    (exit0,) = choice.exits
    assert exit0[:2] == (0, graph.outputs[0]) and 0.2 < exit0[2] <= 0.9
    assert choice.exit_fractions == (pytest.approx(0.8), 0.0) and choice.accuracy == 0.9
    problem = Problem(graph, topo)
    labels = (np.arange(graph.num_ops) >= choice.cut).astype(np.int64)
    b = problem.evaluate(labels)
    to_exit0 = problem.compute_s[: first_cut(graph, 0), 0].sum()
    assert choice.latency_ms == pytest.approx((0.8 * to_exit0 + 0.2 * b.latency_s) * 1e3)
    assert graph.outputs[0] in choice.plan.stages[0].ops
    where, accuracy = choice.outcome(hand_evidence())
    assert where.tolist() == [0] * 8 + [2] * 2 and accuracy == pytest.approx(choice.accuracy)
    # without exits: the best split, slower at the same accuracy
    base = edgent(graph, topo, hand_evidence(), {"raw": None}, max_loss=0.0, exits=False)
    assert base.exits == () and base.exit_fractions == (0.0, 0.0)
    assert base.accuracy == pytest.approx(0.9) and base.latency_ms > choice.latency_ms


def test_deadline_mode_trades_accuracy_for_latency(setup):
    _, _, graph, topo = setup
    evidence = hand_evidence()
    loose = edgent(graph, topo, evidence, {"raw": None}, deadline_ms=1e6)
    assert loose.accuracy == pytest.approx(0.9)
    fastest = edgent(graph, topo, evidence, {"raw": None}, max_loss=0.99)
    assert fastest.exit_fractions == (1.0, 0.0)  # exit 0 always answers
    tight = edgent(graph, topo, evidence, {"raw": None}, deadline_ms=fastest.latency_ms + 1e-9)
    assert tight.latency_ms <= fastest.latency_ms + 1e-9
    assert tight.accuracy == pytest.approx(0.8) and tight.accuracy < loose.accuracy
    with pytest.raises(InfeasiblePlanError, match="latency <="):
        edgent(graph, topo, evidence, {"raw": None}, deadline_ms=1e-6)


def test_bad_arguments(setup):
    _, _, graph, topo = setup
    with pytest.raises(ConfigError, match="max_loss"):
        edgent(graph, topo, hand_evidence(), {"raw": None}, max_loss=2)
    with pytest.raises(ConfigError, match="exits"):
        two = ExitEvidence((1.0, 1.0), np.ones((2, 3)), np.ones((2, 3), bool), {})
        edgent(graph, topo, two, {"raw": None})
    three = topo.model_copy(
        update={
            "nodes": [*topo.nodes, Node(name="far", tier=Tier.CLOUD, speed=2.0)],
            "links": [*topo.links, Link(a="cloud", b="far", up_mbps=10, down_mbps=10)],
        }
    )
    with pytest.raises(PlanError, match="one hop"):
        edgent(graph, three, hand_evidence(), {"raw": None}, path=["edge", "cloud", "far"])


def test_crossing_values_of_a_chain(setup):
    _, _, graph, _ = setup
    assert crossing_values(graph, 0) == [graph.inputs[0].name]
    assert crossing_values(graph, graph.num_ops) == []
    first = graph.ops[0].name
    assert first in crossing_values(graph, 1)


def test_evidence_and_runtime_agree_per_request(setup):
    """The planner's accuracy is what the runtime delivers: for each sample, the edge exits
    exactly when the evidence says so, and the answer (int8-coded cut) is the evidence's."""
    model, x, graph, topo = setup
    gen = torch.Generator().manual_seed(2)
    inputs = torch.randn(12, 1, 28, 28, generator=gen)
    labels = torch.randint(0, 10, (12,), generator=gen)
    temps = (1.0, 1.0, 1.0)
    evidence = exit_evidence(model, graph, inputs, labels, temps, codecs=["int8"], batch=5)
    assert evidence.confidences.shape == (3, 12) and evidence.correct.shape == (3, 12)
    with torch.no_grad():
        ref = model(inputs)
    for e in range(3):
        expected = torch.softmax(ref[e], dim=-1).amax(dim=-1).numpy()
        assert evidence.confidences[e] == pytest.approx(expected, abs=1e-5)
    assert {k for k in evidence.coded_correct} == {(c, "int8") for c in range(graph.num_ops)}
    costs = measure_codec_costs(graph, (x,), ["int8"], repeats=1)
    # both early exits at the origin, the rest in the cloud behind an int8-coded cut
    cut = first_cut(graph, 1)
    plan = Problem(graph, topo, codec=costs["int8"]).to_plan(
        (np.arange(graph.num_ops) >= cut).astype(np.int64), "test"
    )
    thresholds = [float(np.quantile(evidence.confidences[e], 0.6)) for e in (0, 1)]
    rules = [confident_exit(graph.outputs[e], 1.0, thresholds[e]) for e in (0, 1)]
    final_ok = evidence.final_correct(cut, "int8")
    address = f"inproc://{uuid.uuid4().hex}"
    outcomes = []
    with CloudWorker(plan, graph, bind_address=address):
        with EdgeWorker(plan, graph, cloud=address, exits=rules) as edge:
            for i in range(12):
                out = edge.infer(inputs[i : i + 1])
                leaves = [evidence.confidences[e, i] >= thresholds[e] for e in (0, 1)]
                where = leaves.index(True) if any(leaves) else 2
                record = edge.records[-1]
                assert record.outcome == ("exit" if where < 2 else "remote")
                assert (record.bytes_up > 0) == (where == 2)
                answer = (out if where < 2 else out[where]).argmax().item()
                right = evidence.correct[where, i] if where < 2 else final_ok[i]
                assert (answer == labels[i].item()) == right
                outcomes.append(where)
    assert len(set(outcomes)) > 1  # the case exercises more than one way out


def test_edge_worker_refuses_an_exit_the_origin_does_not_compute(setup):
    _, _, graph, topo = setup
    plan = Problem(graph, topo).to_plan(np.ones(graph.num_ops, dtype=np.int64), "cloud")
    with pytest.raises(PlanError, match="not computed on 'edge'"):
        EdgeWorker(plan, graph, cloud="inproc://x", exits=[confident_exit("linear", 1.0, 0.5)])


def test_choice_rules_drive_the_runtime(setup):
    _, _, graph, topo = setup
    choice = edgent(graph, topo, hand_evidence(), {"raw": None}, max_loss=0.0)
    (rule,) = choice.rules()
    assert rule.value == graph.outputs[0] and 0.2 < rule.threshold <= 0.9
    assert choice.summary()["exits"] == [
        {"exit": 0, "threshold": rule.threshold, "temperature": 1.0}
    ]
