"""Model hot-swap at the edge: between requests, no request lost, every record names its
version, in-flight requests finish on the version they started with."""

import copy
import threading

import pytest
import torch
from runtime_topologies import three_nodes

from skyline.errors import PlanError
from skyline.plan import planners
from skyline.runtime import EdgeWorker


@pytest.fixture(scope="module")
def local_plan(graph):
    return planners.create("device-only").plan(graph, three_nodes())


@pytest.fixture(scope="module")
def versions(model):
    """Version v's model: the fixture model with its weights shifted by v."""
    out = []
    for v in range(4):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.1 * v)
        out.append(m)
    return out


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def which(outputs, expected):
    matches = [v for v, ref in enumerate(expected) if same(outputs, ref)]
    assert len(matches) == 1
    return matches[0]


def test_swap_between_requests(local_plan, versions, inputs):
    with EdgeWorker(local_plan, versions[0]) as edge:
        assert same(edge.infer(*inputs), versions[0](*inputs))
        edge.swap_model(versions[1], 1)
        assert edge.model_version == 1
        assert same(edge.infer(*inputs), versions[1](*inputs))
        assert [r.model_version for r in edge.records] == [0, 1]
        with pytest.raises(PlanError, match="not newer"):
            edge.swap_model(versions[2], 1)


def test_swap_refused_when_the_plan_continues_upstream(plan2, model):
    with EdgeWorker(plan2, model, cloud="tcp://127.0.0.1:9") as edge:
        with pytest.raises(PlanError, match="keep the old weights"):
            edge.swap_model(model, 1)


class Gate:
    """An exit rule that never exits but holds the first request mid-way until released."""

    def __init__(self, value):
        self.value = value
        self.reached, self.release = threading.Event(), threading.Event()

    def __call__(self, values):
        if not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(5)
        return None


def test_in_flight_request_finishes_on_its_version(local_plan, versions, inputs, graph):
    gate = Gate(graph.ops[len(graph.ops) // 2].name)
    with EdgeWorker(local_plan, versions[0], exits=[gate]) as edge:
        result = {}
        slow = threading.Thread(target=lambda: result.update(out=edge.infer(*inputs)))
        slow.start()
        assert gate.reached.wait(5)
        edge.swap_model(versions[1], 1)  # while the first request is half-way through
        assert same(edge.infer(*inputs), versions[1](*inputs))
        gate.release.set()
        slow.join(5)
        assert same(result["out"], versions[0](*inputs))
        by_id = {r.request_id: r.model_version for r in edge.records}
        assert by_id == {1: 0, 2: 1}


def test_concurrent_requests_during_swaps(local_plan, versions, inputs):
    expected = [m(*inputs) for m in versions]
    seen: dict[int, list[int]] = {}
    errors = []
    swapped = threading.Event()

    def client(k):
        try:
            mine = seen.setdefault(k, [])
            while not swapped.is_set() or len(mine) < 20:
                mine.append(which(edge.infer(*inputs), expected))
            mine.append(which(edge.infer(*inputs), expected))  # started after the last swap
        except Exception as exc:  # surfaced below
            errors.append(exc)

    with EdgeWorker(local_plan, versions[0]) as edge:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for v in range(1, len(versions)):
            while sum(map(len, seen.values())) < 30 * v:  # requests keep flowing between swaps
                threading.Event().wait(0.001)
            edge.swap_model(versions[v], v)
        swapped.set()
        for t in threads:
            t.join(30)
    assert not errors
    sent = sum(map(len, seen.values()))
    assert len(edge.records) == sent  # none lost
    assert all(r.outcome == "local" and r.error is None for r in edge.records)
    for served in seen.values():
        assert served == sorted(served) and served[-1] == len(versions) - 1  # monotone
    # each output came from the version its record names
    served_all = sorted(v for served in seen.values() for v in served)
    assert sorted(r.model_version for r in edge.records) == served_all
    assert {r.model_version for r in edge.records} == set(range(len(versions)))
