"""`OffloadingEdgeWorker`: the runtime's scheduler. Per request it builds the same `Observation`
the simulator builds and asks any `skyline.sched` policy where to run it: locally, or wholly on
one of several remote workers (an edge server, a cloud).

Predictions come from what requests show, so a policy sees the live system: compute time per
target is the moving median of the measured stage times (the cost model's prediction until one
is measured), the link time uses a `LinkEstimator` per remote target, and the wait is the
requests already in flight there. Running a request is an `EdgeWorker`'s job (one per target,
its plan putting every op on that target), so a lost target falls back locally as always.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from skyline.errors import FrameError, RemoteError, TransportError
from skyline.graph import ModelGraph
from skyline.plan import Plan, Problem
from skyline.plan.problem import Breakdown
from skyline.runtime.adapt import LinkEstimator
from skyline.runtime.edge import EdgeWorker
from skyline.runtime.records import RequestRecord
from skyline.runtime.transports import Transport
from skyline.sched.observation import LOCAL, Observation
from skyline.sched.policies import Policy
from skyline.topology import Tier, Topology


def whole_plan(graph: ModelGraph, topology: Topology, device: str, node: str) -> Plan:
    """The plan that runs every op on `node` (`device` itself: all local): what the remote's
    `CloudWorker` must serve for the origin to send it requests."""
    path = [device] if node == device else [device, node]
    labels = np.full(graph.num_ops, len(path) - 1, dtype=np.int64)
    return Problem(graph, topology, path=path).to_plan(labels, "offload")


class _Target:
    """One column: its worker, and the measurements its predictions come from."""

    def __init__(self, node: str, prior: Breakdown, worker: EdgeWorker, window: int) -> None:
        self.node = node
        self.worker = worker
        self.energy_j = prior.energy_j
        self.prior_compute_s = float(prior.compute_s.sum())
        self.compute_s: deque[float] = deque(maxlen=window)
        self.bytes = (float(prior.up_bytes.sum()), float(prior.down_bytes.sum()))
        self.in_flight = 0
        self.reachable = True

    def learn(self, record: RequestRecord) -> None:
        if record.outcome == "fallback":
            self.reachable = False  # until a probe gets through
        if record.outcome not in ("local", "remote") or self.node not in record.compute_ms:
            return  # a fallback says nothing about this target's compute
        self.reachable = True
        self.compute_s.append(record.compute_ms[self.node] / 1e3)
        if record.outcome == "remote":
            self.bytes = (float(record.bytes_up), float(record.bytes_down))

    @property
    def median_compute_s(self) -> float:
        return statistics.median(self.compute_s) if self.compute_s else self.prior_compute_s


class OffloadingEdgeWorker:
    """An origin that lets `policy` choose, per request, where the whole model runs.

    `remotes` maps each remote node of `topology` (linked directly to `device`) to the address
    of a `CloudWorker` serving `whole_plan(graph, topology, device, node)`; `wrap` optionally
    wraps each remote's transport (e.g. a `ShapedTransport`). `deadline_s` is the default
    relative deadline of a request; `window` the number of measurements a median is taken of.
    Every `probe_every` requests (0: never) each remote target the request did not use gets a
    padded PING of `probe_bytes`: otherwise a link that collapsed, or a target that was lost,
    would never be seen to recover once the policy stops sending there."""

    def __init__(
        self,
        graph: ModelGraph,
        topology: Topology,
        model: nn.Module | ModelGraph,
        policy: Policy,
        remotes: Mapping[str, str | Transport],
        *,
        device: str | None = None,
        wrap: Mapping[str, Any] | None = None,
        deadline_s: float = float("inf"),
        window: int = 5,
        probe_every: int = 4,
        probe_bytes: int = 32_000,
        **edge_options: Any,
    ) -> None:
        self.topology = topology
        self.policy = policy
        self.deadline_s = deadline_s
        self.probe_every = probe_every
        self.probe_bytes = probe_bytes
        self.device = device or next(n.name for n in topology.nodes if n.tier == Tier.DEVICE)
        self.plans = {
            node: whole_plan(graph, topology, self.device, node) for node in (self.device, *remotes)
        }
        wraps = wrap or {}
        self.estimators: dict[str, LinkEstimator] = {}
        self.targets: list[_Target] = []
        for node, plan in self.plans.items():
            remote = node != self.device
            worker = EdgeWorker(
                plan,
                model,
                cloud=remotes[node] if remote else None,
                wrap=wraps.get(node),
                **edge_options,
            )
            problem = Problem(graph, topology, path=plan.path)
            prior = problem.evaluate(np.full(graph.num_ops, len(plan.path) - 1))
            self.targets.append(_Target(node, prior, worker, window))
            if remote:
                link = topology.link(self.device, node)
                self.estimators[node] = LinkEstimator(
                    link.rtt_ms / 1e3, link.down_mbps / link.up_mbps, link.up_mbps, window
                )
        self.records: list[RequestRecord] = []
        self.choices: list[int] = []
        self._lock = threading.Lock()
        self._started_s = time.monotonic()

    def observe(self, deadline_s: float | None = None) -> Observation:
        """The Observation of one request arriving now, as the simulator would build it."""
        with self._lock:
            compute = np.array([t.median_compute_s for t in self.targets])
            wait = np.array([t.in_flight for t in self.targets]) * compute
        transfer = np.zeros(len(self.targets))
        for j, target in enumerate(self.targets[1:], start=1):
            est = self.estimators[target.node]
            up, down = target.bytes
            transfer[j] = est.rtt_s + (up + down / est.down_ratio) * 8 / (est.mbps * 1e6)
        tiers = tuple(self.topology.node(t.node).tier for t in self.targets)
        edges = [j for j, tier in enumerate(tiers) if tier == Tier.EDGE and j != LOCAL]
        row = np.ones((1, len(self.targets)))
        return Observation(
            time_s=time.monotonic() - self._started_s,
            targets=("local", *(t.node for t in self.targets[1:])),
            tiers=tiers,
            device=np.zeros(1, dtype=np.int64),
            task_type=np.zeros(1, dtype=np.int64),
            deadline_s=np.array([self.deadline_s if deadline_s is None else deadline_s]),
            edge=np.array([edges[0] if edges else -1]),
            reachable=np.array([[t.reachable for t in self.targets]]),
            compute_s=compute[None],
            transfer_s=transfer[None],
            wait_s=wait[None],
            energy_j=np.array([[t.energy_j for t in self.targets]]),
            accuracy=row,  # every target runs the same model
            lanes=row,
        )

    def handshake(self) -> None:
        for target in self.targets:
            target.worker.handshake()

    def infer(self, *args: Any, deadline_s: float | None = None, **kwargs: Any) -> Any:
        """Run one request where the policy decides; returns the model's outputs."""
        choice = int(self.policy.place(self.observe(deadline_s))[0])
        target = self.targets[choice]
        self.choices.append(choice)
        with self._lock:
            target.in_flight += 1
        try:
            return target.worker.infer(*args, **kwargs)
        finally:
            with self._lock:
                target.in_flight -= 1
            record = target.worker.records.pop()
            self.records.append(record)
            target.learn(record)
            if target.node in self.estimators:
                self.estimators[target.node].observe_request(record)
            if self.probe_every and len(self.records) % self.probe_every == 0:
                self._probe(skip=target)

    def _probe(self, skip: _Target) -> None:
        for target in self.targets[1:]:
            if target is skip or target.worker.hop is None:
                continue
            try:
                seconds, sent = target.worker.hop.probe(self.probe_bytes)
            except (TransportError, RemoteError, FrameError):
                target.reachable = False
                continue
            target.reachable = True
            self.estimators[target.node].observe(seconds, sent)

    def close(self) -> None:
        for target in self.targets:
            target.worker.close()

    def __enter__(self) -> OffloadingEdgeWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
