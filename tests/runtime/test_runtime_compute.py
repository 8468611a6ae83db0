"""Stage backends: local threads, dynamic batching, and a pool of real Ray actors."""

import os
import signal
import sys
import threading
import time
import types
from concurrent.futures import Future

import numpy as np
import pytest
import torch
from runtime_topologies import three_nodes
from torch import nn

from skyline import models
from skyline.errors import ConfigError
from skyline.graph import profile
from skyline.plan import Problem
from skyline.runtime import CloudWorker, EdgeWorker
from skyline.runtime.compute import (
    Batching,
    LocalStages,
    StageBackend,
    StageCall,
    StageResult,
    batch_safe,
)
from skyline.runtime.stages import runners_for


class ConvNet(nn.Module):
    def __init__(self, mix_rows: bool = False) -> None:
        super().__init__()
        self.mix_rows = mix_rows
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.a(x))
        x = torch.relu(self.b(x))
        if self.mix_rows:  # batch statistics: rows of one request leak into another's
            x = x - x.mean(dim=0, keepdim=True)
        return self.head(x.mean(dim=(2, 3)))


def half_plan(model: nn.Module, shape=(1, 3, 16, 16)):
    torch.manual_seed(0)
    graph = profile(model, (torch.randn(shape),), warmup=0, repeats=1)
    problem = Problem(graph, three_nodes(), path=["edge", "cloud"])
    labels = (np.arange(graph.num_ops) >= graph.num_ops // 2).astype(np.int64)
    return problem.to_plan(labels, "half")


@pytest.fixture(scope="module")
def convnet():
    torch.manual_seed(0)
    model = ConvNet().eval()
    return model, half_plan(model)


class SlowStages(StageBackend):
    """Local backend that holds each call a while, so concurrent requests pile up."""

    def __init__(self, inner: LocalStages, delay_s: float) -> None:
        self.inner, self.delay_s, self.capacity = inner, delay_s, inner.capacity
        self.batches: list[int] = []

    def submit(self, call: StageCall) -> Future[StageResult]:
        self.batches.append(next(iter(call.tensors.values())).shape[0])
        time.sleep(self.delay_s)
        return self.inner.submit(call)

    def close(self) -> None:
        self.inner.close()


def test_batch_safety_is_checked_on_the_stage(convnet):
    model, plan = convnet
    runners = runners_for(plan, model)
    local = LocalStages(runners)
    assert batch_safe(local, runners[plan.key], "cloud")
    mixed = ConvNet(mix_rows=True).eval()
    mixed.load_state_dict(model.state_dict())
    mixed_plan = half_plan(mixed)
    mixed_runners = runners_for(mixed_plan, mixed)
    assert not batch_safe(LocalStages(mixed_runners), mixed_runners[mixed_plan.key], "cloud")
    with pytest.raises(ConfigError, match="max_batch"):
        Batching(local, runners, "cloud", max_batch=0)


def test_concurrent_requests_are_batched_and_each_gets_its_rows(convnet):
    model, plan = convnet
    runners = runners_for(plan, model)
    slow = SlowStages(LocalStages(runners), delay_s=0.02)
    batching = Batching(slow, runners, "cloud", max_batch=4, max_wait_ms=5)
    assert plan.key in batching.batchable
    (declared,) = runners[plan.key].declared_inputs("cloud").items()
    name, (shape, _) = declared
    inputs = [torch.randn(shape) for _ in range(12)]
    futures = [batching.submit(StageCall(plan.key, "cloud", {name: x})) for x in inputs]
    results = [f.result(timeout=30) for f in futures]
    for x, result in zip(inputs, results, strict=True):
        alone = slow.inner.submit(StageCall(plan.key, "cloud", {name: x})).result()
        for key, value in alone.outputs.items():
            assert value.shape == result.outputs[key].shape
            torch.testing.assert_close(result.outputs[key], value, rtol=1e-4, atol=1e-5)
    assert max(r.batch for r in results) > 1
    assert sum(slow.batches[3:]) == 12  # the first three calls were the safety check
    batching.close()


def test_a_cloud_worker_batches_concurrent_edges(convnet):
    model, plan = convnet
    x = torch.randn(1, 3, 16, 16)
    with CloudWorker(plan, model, threads=8, max_batch=4) as cloud:
        assert cloud.identity()["compute"]["max_batch"] == 4
        outs: list[torch.Tensor] = []

        def client() -> None:
            with EdgeWorker(plan, model, cloud=cloud.address) as edge:
                outs.extend(edge.infer(x) for _ in range(5))
                assert all(r.outcome == "remote" for r in edge.records)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with torch.no_grad():
        expected = model(x)
    assert len(outs) == 20
    for out in outs:
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


# -- Ray ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    from skyline._ray import ensure_ray

    ray = ensure_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def zoo_cnn():
    """A model Ray workers can import (a class defined in a test module is not importable)."""
    torch.manual_seed(0)
    model = models.create("small_cnn").eval()
    shape = models.spec("small_cnn").input_shape
    return model, half_plan(model, shape), torch.randn(shape)


@pytest.mark.slow
def test_replicas_that_cannot_load_the_model_are_explained(ray_cluster, convnet):
    from skyline.runtime.raypool import RayOptions

    model, plan = convnet
    # a class from a module only this process has: Ray workers cannot import it (a test
    # module's class may be importable by workers, depending on who started the cluster)
    ghost_module = types.ModuleType("skyline_ghost_models")
    ghost_module.Ghost = type("Ghost", (ConvNet,), {"__module__": ghost_module.__name__})
    sys.modules[ghost_module.__name__] = ghost_module
    try:
        ghost = ghost_module.Ghost().eval()
        ghost.load_state_dict(model.state_dict())
        with pytest.raises(ConfigError, match="importable module"):
            CloudWorker(plan, ghost, ray=RayOptions(replicas=1))
    finally:
        del sys.modules[ghost_module.__name__]


@pytest.mark.slow
def test_ray_replicas_serve_the_exact_split(ray_cluster, zoo_cnn):
    from skyline.runtime.raypool import RayOptions

    model, plan, x = zoo_cnn
    with CloudWorker(plan, model, ray=RayOptions(replicas=2), threads=4) as cloud:
        assert cloud.identity()["compute"]["replicas"] == 2
        with EdgeWorker(plan, model, cloud=cloud.address) as edge:
            outs = [edge.infer(x) for _ in range(6)]
        assert all(r.outcome == "remote" for r in edge.records)
    with torch.no_grad():
        expected = model(x)
    assert all(torch.equal(out, expected) for out in outs)


@pytest.mark.slow
def test_a_killed_ray_replica_is_restarted_and_no_request_is_lost(ray_cluster, zoo_cnn):
    from skyline.runtime.raypool import RayOptions

    model, plan, x = zoo_cnn
    with torch.no_grad():
        expected = model(x)
    with CloudWorker(plan, model, ray=RayOptions(replicas=1), threads=4) as cloud:
        pool = cloud.stages
        (pid,) = pool.pids()
        with EdgeWorker(plan, model, cloud=cloud.address, timeout_s=30) as edge:
            edge.infer(x)
            os.kill(pid, signal.SIGKILL)
            outs = [edge.infer(x) for _ in range(5)]
            outcomes = [r.outcome for r in edge.records]
        (new_pid,) = pool.pids()
    assert new_pid != pid
    assert outcomes == ["remote"] * 6  # Ray restarted the replica and retried the call
    assert all(torch.equal(out, expected) for out in outs)
