"""Fixtures for runtime tests: a small DAG model, its graph, and plans with real cuts."""

import numpy as np
import pytest
import torch
from dag_models import RandomDag
from runtime_topologies import three_nodes

from skyline.graph import profile
from skyline.plan import Problem


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return RandomDag(7, 12, num_inputs=2, num_outputs=2).eval()


@pytest.fixture(scope="module")
def inputs(model):
    return model.example_inputs()


@pytest.fixture(scope="module")
def graph(model, inputs):
    return profile(model, inputs, warmup=0, repeats=1)


def spread_labels(problem: Problem, top: int) -> np.ndarray:
    """Prefix cuts of the op order that use every label up to `top`, as even as possible, where
    no tuple value crosses a link (the wire carries tensors only)."""
    n = problem.graph.num_ops
    positions = np.arange(n)
    targets = [n * (k + 1) // (top + 1) for k in range(top)]
    for shift in range(n):
        for sign in (1, -1):
            cuts = [min(max(t + sign * shift, 1), n - 1) for t in targets]
            labels = sum((positions >= c).astype(np.int64) for c in cuts)
            if len(set(labels.tolist())) == top + 1 and np.isfinite(
                problem.evaluate(labels).latency_s
            ):
                return labels
    raise AssertionError("no valid spread placement")


@pytest.fixture(scope="module")
def plan2(graph):
    """device | cloud, both holding ops."""
    problem = Problem(graph, three_nodes(), path=["device", "cloud"])
    return problem.to_plan(spread_labels(problem, 1), "test")


@pytest.fixture(scope="module")
def plan3(graph):
    """device | edge | cloud."""
    problem = Problem(graph, three_nodes())
    return problem.to_plan(spread_labels(problem, 2), "test")
