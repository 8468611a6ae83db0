"""Exactness first: every plan's stages, composed, equal the unsplit model bit for bit."""

import numpy as np
import pytest
import torch
from dag_models import RandomDag
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyline import models
from skyline.errors import PlanError
from skyline.graph import profile
from skyline.plan import Plan, Problem, planners, split


def random_monotone_labels(problem: Problem, rng: np.random.Generator) -> np.ndarray:
    labels = np.zeros(problem.graph.num_ops, dtype=np.int64)
    n_in = problem.num_inputs
    for i in range(problem.graph.num_ops):
        preds = problem.edge_src[(problem.edge_dst == i) & (problem.edge_src >= n_in)] - n_in
        lo = int(labels[preds].max()) if preds.size else 0
        labels[i] = rng.integers(lo, problem.K)
    return labels


def assert_same(a, b):
    flat_a, flat_b = torch.utils._pytree.tree_leaves(a), torch.utils._pytree.tree_leaves(b)
    assert len(flat_a) == len(flat_b)
    for x, y in zip(flat_a, flat_b):
        assert torch.equal(x, y)


def check_all_placements(model, inputs, topology, *, random_plans=5, seed=0):
    graph = profile(model, inputs, warmup=0, repeats=1)
    with torch.no_grad():
        reference = model(*inputs)
        problem = Problem(graph, topology)
        rng = np.random.default_rng(seed)
        plans = [
            problem.to_plan(random_monotone_labels(problem, rng), "random")
            for _ in range(random_plans)
        ]
        for name in planners.names():
            if name == "exhaustive" and graph.num_ops > 14:
                continue
            plans.append(planners.create(name).plan(graph, topology))
        for plan in plans:
            plan = Plan.from_json(plan.to_json())  # what a remote worker would receive
            assert_same(split(graph, plan)(*inputs), reference)
    return graph


@pytest.mark.parametrize("name", models.names())
def test_zoo_models_split_exactly(name, det_topology):
    spec = models.spec(name)
    size = None if len(spec.input_shape) != 4 or spec.input_shape[-1] <= 32 else 32
    model = spec.build()
    check_all_placements(model, spec.example_inputs(size=size), det_topology, random_plans=4)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    num_nodes=st.integers(1, 14),
    num_inputs=st.integers(1, 3),
    num_outputs=st.integers(1, 3),
)
def test_random_dag_models_split_exactly(seed, num_nodes, num_inputs, num_outputs, det_topology):
    torch.manual_seed(seed)
    model = RandomDag(seed, num_nodes, num_inputs, num_outputs).eval()
    check_all_placements(model, model.example_inputs(), det_topology, seed=seed)


def test_split_from_module_recaptures(det_topology):
    model = models.create("small_cnn")
    x = models.spec("small_cnn").example_inputs()
    graph = profile(model, x, repeats=1)
    plan = planners.create("cloud-only").plan(graph, det_topology)
    with torch.no_grad():
        assert torch.equal(split(model, plan)(*x), model(*x))


def test_split_refuses_plan_of_another_model(det_topology):
    a = profile(models.create("small_cnn"), models.spec("small_cnn").example_inputs(), repeats=1)
    other = RandomDag(0, 5).eval()
    b = profile(other, other.example_inputs(), repeats=1)
    plan = planners.create("dads").plan(a, det_topology)
    with pytest.raises(PlanError, match="fingerprint"):
        split(b, plan)


def test_stage_reports_missing_input(det_topology):
    model = RandomDag(3, 6).eval()
    graph = profile(model, model.example_inputs(), repeats=1)
    plan = planners.create("cloud-only").plan(graph, det_topology)
    stage = split(graph, plan).stages[-1]
    with pytest.raises(PlanError, match="missing input"):
        stage({})


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000))
def test_stage_segments_compose_to_the_stage(seed, det_topology):
    """Pieces of a stage (cut where chosen values appear) run in order equal the stage."""
    from skyline.plan.split import segments

    model = RandomDag(seed, seed % 7 + 3).eval()
    inputs = model.example_inputs()
    graph = profile(model, inputs, warmup=0, repeats=1)
    problem = Problem(graph, det_topology)
    labels = np.zeros(graph.num_ops, dtype=np.int64)
    stage = split(graph, problem.to_plan(labels, "local")).stages[0]
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(graph.num_ops, size=min(2, graph.num_ops), replace=False))
    ends = [graph.ops[i].name for i in picked]
    env = dict(zip(stage.receives, inputs))
    with torch.no_grad():
        whole = stage(env)
    pieced = dict(env)
    for piece, end in zip(segments(stage, ends), [*ends, None]):
        with torch.no_grad():
            pieced.update(piece(pieced))
        assert end is None or end in pieced
    assert_same([whole[k] for k in stage.sends], [pieced[k] for k in stage.sends])
    if len(ends) == 2:
        with pytest.raises(PlanError, match="order"):
            segments(stage, ends[::-1])
