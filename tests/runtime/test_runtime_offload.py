"""The runtime's scheduler: any skyline.sched policy, fed the Observation the worker builds from
live measurements, decides per request where the model runs; outputs never change, none is lost."""

import uuid
from contextlib import ExitStack

import numpy as np
import pytest
import torch

from skyline import models
from skyline.emulation import Shaper
from skyline.graph import profile
from skyline.runtime import CloudWorker, ShapedTransport
from skyline.runtime.offload import OffloadingEdgeWorker, whole_plan
from skyline.sched import Observation, Policy, create
from skyline.sched.policies import names
from skyline.topology import Link, Node, Tier, Topology


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    spec = models.spec("small_cnn")
    model = spec.build().eval()
    x = spec.example_inputs(batch=2)
    graph = profile(model, x, name="small_cnn", repeats=1)
    topo = Topology(
        nodes=[
            Node(name="device", tier=Tier.DEVICE, speed=0.05),
            Node(name="edge", tier=Tier.EDGE, speed=1.0),
            Node(name="cloud", tier=Tier.CLOUD, speed=4.0),
        ],
        links=[
            Link(a="device", b="edge", up_mbps=100, down_mbps=100, rtt_ms=1),
            Link(a="device", b="cloud", up_mbps=50, down_mbps=50, rtt_ms=2),
        ],
    )
    with torch.no_grad():
        ref = model(*x)
    return model, x, graph, topo, ref


class Spy(Policy):
    """Random choices, remembering every Observation and answer."""

    name = "spy"

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.seen: list[tuple[Observation, np.ndarray]] = []

    def decide(self, obs: Observation) -> np.ndarray:
        choice = self.rng.integers(0, len(obs.targets), size=obs.n)
        self.seen.append((obs, choice))
        return choice


def run(setup, policy, *, nodes=("edge", "cloud"), shapers=None, **options):
    """An OffloadingEdgeWorker over inproc CloudWorkers (one per remote node) in an ExitStack."""
    _, _, graph, topo, _ = setup
    stack = ExitStack()
    remotes = {}
    for node in nodes:
        address = f"inproc://{uuid.uuid4().hex}"
        plan = whole_plan(graph, topo, "device", node)
        stack.enter_context(CloudWorker(plan, graph, node=node, bind_address=address))
        remotes[node] = address
    wrap = {n: (lambda t, s=s: ShapedTransport(t, *s)) for n, s in (shapers or {}).items()}
    worker = OffloadingEdgeWorker(graph, topo, graph, policy, remotes, wrap=wrap, **options)
    stack.enter_context(worker)
    return stack, worker


def test_targets_are_what_the_policy_decides_and_outputs_never_change(setup):
    _, x, _, _, ref = setup
    spy = Spy(seed=3)
    stack, worker = run(setup, spy, deadline_s=0.5)
    with stack:
        worker.handshake()
        outs = [worker.infer(*x) for _ in range(8)]
        tight = worker.infer(*x, deadline_s=0.01)
    assert all(torch.equal(o, ref) for o in [*outs, tight])
    assert worker.choices == [int(choice[0]) for _, choice in spy.seen]
    assert set(worker.choices) == {0, 1, 2}  # every target ran something
    obs = spy.seen[0][0]
    assert obs.targets == ("local", "edge", "cloud") and obs.edge.tolist() == [1]
    assert obs.tiers == (Tier.DEVICE, Tier.EDGE, Tier.CLOUD)
    assert obs.deadline_s.tolist() == [0.5] and spy.seen[-1][0].deadline_s.tolist() == [0.01]
    assert np.all(obs.transfer_s[0, 1:] > 0) and obs.transfer_s[0, 0] == 0
    assert [r.outcome for r in worker.records] == [
        "local" if c == 0 else "remote" for c in worker.choices
    ]
    # measured compute replaced the cost model's prior (the last request ran after its obs)
    ran = zip(worker.records[:-1], worker.choices[:-1], strict=True)
    local = [r.compute_ms["device"] / 1e3 for r, c in ran if c == 0]
    assert spy.seen[-1][0].compute_s[0, 0] == pytest.approx(float(np.median(local[-5:])))


@pytest.mark.parametrize("name", names())
def test_every_registered_policy_drives_the_runtime(setup, name):
    _, x, _, _, ref = setup
    stack, worker = run(setup, create(name), deadline_s=0.05)
    with stack:
        outs = [worker.infer(*x) for _ in range(2)]
    assert all(torch.equal(o, ref) for o in outs)
    assert [r.outcome for r in worker.records] == [
        "local" if c == 0 else "remote" for c in worker.choices
    ]


def test_greedy_offloads_on_a_fast_link_stays_local_when_it_collapses_and_comes_back(setup):
    _, x, _, _, ref = setup
    up, down = Shaper(200.0, 0.5), Shaper(200.0, 0.5)
    stack, worker = run(
        setup,
        create("greedy-min-latency"),
        nodes=("edge",),
        shapers={"edge": (up, down)},
        slowdown=20.0,  # only the device computes in a local run
        window=2,
        probe_every=2,
        probe_bytes=8_000,
    )
    outs = []

    def settle(target: int) -> None:
        """Requests until the policy picks `target` twice running (a few, as estimates move)."""
        for _ in range(8):
            outs.append(worker.infer(*x))
            if worker.choices[-2:] == [target, target]:
                return
        raise AssertionError((worker.choices, worker.records))

    with stack:
        settle(1)  # the slow device loses to the edge
        up.set_rate(0.3)  # collapse: the slow remote requests show it
        down.set_rate(0.3)
        settle(0)
        up.set_rate(200.0)  # recovery: only the probes can tell
        down.set_rate(200.0)
        settle(1)
        assert worker.records[-1].outcome == "remote"
    assert all(torch.equal(o, ref) for o in outs)


def test_dead_target_falls_back_then_is_avoided_and_nothing_is_lost(setup):
    _, x, graph, topo, ref = setup
    plan = whole_plan(graph, topo, "device", "cloud")
    cloud = CloudWorker(plan, graph, node="cloud", bind_address="tcp://127.0.0.1:0").start()
    worker = OffloadingEdgeWorker(
        graph, topo, graph, create("all-cloud"), {"cloud": cloud.address}, timeout_s=0.2, retries=0
    )
    outs = [worker.infer(*x)]
    cloud.stop()
    outs += [worker.infer(*x) for _ in range(2)]
    worker.close()
    assert all(torch.equal(o, ref) for o in outs)
    assert [r.outcome for r in worker.records] == ["remote", "fallback", "local"]
    assert worker.choices == [1, 1, 0]  # unreachable after the fallback: all-cloud stays home
