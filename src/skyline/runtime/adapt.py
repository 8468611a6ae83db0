"""Online adaptation: estimate the link from what requests show, re-plan with hysteresis, and
switch plans between requests, so no request is dropped by a switch.

The cloud serves every candidate plan from the start (plans for a grid of bandwidths), so a
switch is only the edge choosing another one; the decision uses the same cost model as planning.
"""

from __future__ import annotations

import contextlib
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from skyline.errors import ConfigError, FrameError, RemoteError, TransportError
from skyline.graph import CostModel, ModelGraph
from skyline.plan import Objective, Plan, Problem, planners
from skyline.runtime.edge import EdgeWorker
from skyline.runtime.hop import HopClient
from skyline.runtime.records import RequestRecord
from skyline.topology import Topology


class LinkEstimator:
    """Uplink bandwidth of one hop from observed request times (median of a sliding window).

    A remote request's network time is its latency minus the compute every node reported; it is
    modelled as rtt + (bytes_up + bytes_down / down_ratio) * 8 / bandwidth, with the RTT and the
    down/up bandwidth ratio taken from the topology (the estimator tracks the rate, which is what
    changes; probes with no compute measure it too)."""

    def __init__(
        self, rtt_s: float, down_ratio: float, initial_mbps: float, window: int = 5
    ) -> None:
        if window < 1 or initial_mbps <= 0 or down_ratio <= 0:
            raise ConfigError("LinkEstimator needs window >= 1 and positive rates")
        self.rtt_s = rtt_s
        self.down_ratio = down_ratio
        self.samples: deque[float] = deque([initial_mbps], maxlen=window)

    @property
    def mbps(self) -> float:
        return statistics.median(self.samples)

    def observe(self, network_s: float, bytes_up: float, bytes_down: float = 0.0) -> None:
        """One transfer: seconds on the network and the bytes that crossed."""
        payload_bits = (bytes_up + bytes_down / self.down_ratio) * 8
        busy = network_s - self.rtt_s
        if payload_bits <= 0 or busy <= 0:
            return  # nothing measurable (tiny transfer hidden in the RTT)
        self.samples.append(payload_bits / busy / 1e6)

    def observe_request(self, record: RequestRecord) -> None:
        if record.outcome != "remote":
            return
        network_s = (record.latency_ms - sum(record.compute_ms.values())) / 1e3
        self.observe(network_s, record.bytes_up, record.bytes_down)


@dataclass
class Switch:
    request: int
    from_plan: str
    to_plan: str
    estimated_mbps: float


class Replanner:
    """Candidate plans over a bandwidth grid, and which to use at an estimated bandwidth.

    `choose` keeps the current plan unless another candidate is predicted faster by more than
    `hysteresis` (a fraction), so noise near a break-even bandwidth does not make plans flap."""

    def __init__(
        self,
        graph: ModelGraph,
        topology: Topology,
        hop: tuple[str, str],
        *,
        planner: str = "dads",
        objective: Objective | None = None,
        grid_mbps: Any = None,
        hysteresis: float = 0.1,
    ) -> None:
        self.graph = graph
        self.topology = topology
        self.link = topology.link(*hop)
        self.objective = objective
        self.hysteresis = hysteresis
        grid = np.geomspace(0.5, 1000, 24) if grid_mbps is None else np.asarray(grid_mbps)
        self.plans: dict[str, Plan] = {}
        for mbps in grid:
            plan = planners.create(planner).plan(graph, self._at(float(mbps)), objective=objective)
            self.plans.setdefault(plan.key, plan)
        # Each candidate's objective is a + b / mbps (transfer time scales with 1 / bandwidth,
        # both directions alike): two exact evaluations give a and b, so choosing at run time
        # costs no re-evaluation of the graph.
        lo, hi = self._objectives(1.0), self._objectives(100.0)
        self._slope = {k: (lo[k] - hi[k]) / (1.0 - 0.01) for k in self.plans}
        self._base = {k: lo[k] - self._slope[k] for k in self.plans}

    def _at(self, mbps: float) -> Topology:
        ratio = self.link.down_mbps / self.link.up_mbps
        return self.topology.with_link(
            self.link.a, self.link.b, up_mbps=mbps, down_mbps=mbps * ratio
        )

    def _labels_of(self, plan: Plan) -> np.ndarray:
        where = plan.placement()
        return np.array([plan.path.index(where[op.name]) for op in self.graph.ops], dtype=np.int64)

    def _objectives(self, mbps: float) -> dict[str, float]:
        topo = self._at(mbps)
        problem = Problem(self.graph, topo, cost_model=CostModel(topo), objective=self.objective)
        return {
            key: problem.objective_value(problem.evaluate(self._labels_of(plan)))
            for key, plan in self.plans.items()
        }

    def predicted_s(self, mbps: float) -> dict[str, float]:
        """Predicted objective of every candidate at `mbps`."""
        return {k: self._base[k] + self._slope[k] / mbps for k in self.plans}

    def choose(self, mbps: float, current: str | None) -> str:
        costs = self.predicted_s(mbps)
        best = min(costs, key=costs.__getitem__)
        if current in costs and costs[best] >= costs[current] * (1 - self.hysteresis):
            return current
        return best


class AdaptiveEdgeWorker:
    """An origin that re-plans as the link changes: one EdgeWorker per candidate plan (all served
    by the same cloud worker), a LinkEstimator fed by every remote request and, while the current
    plan stays local, by a probe every `probe_every` requests."""

    def __init__(
        self,
        replanner: Replanner,
        model: Any,
        *,
        cloud: str,
        initial_mbps: float | None = None,
        probe_every: int = 2,
        probe_bytes: int = 32_000,
        window: int = 3,
        **edge_options: Any,
    ) -> None:
        self.replanner = replanner
        link = replanner.link
        start = initial_mbps or link.up_mbps
        self.estimator = LinkEstimator(
            link.rtt_ms / 1e3, link.down_mbps / link.up_mbps, start, window
        )
        self.workers = {
            key: EdgeWorker(plan, model, cloud=cloud, **edge_options)
            for key, plan in replanner.plans.items()
        }
        self.prober = HopClient(cloud, timeout_s=edge_options.get("timeout_s", 5.0), retries=0)
        self.current = replanner.choose(start, None)
        self.probe_every = probe_every
        self.probe_bytes = probe_bytes
        self.records: list[RequestRecord] = []
        self.switches: list[Switch] = []

    def handshake(self) -> None:
        for worker in self.workers.values():
            worker.handshake()

    def infer(self, *args: Any, **kwargs: Any) -> Any:
        worker = self.workers[self.current]
        try:
            return worker.infer(*args, **kwargs)
        finally:
            record = worker.records.pop()
            self.records.append(record)
            self._learn(record, remote=worker.hop is not None)

    def _learn(self, record: RequestRecord, remote: bool) -> None:
        if remote:
            self.estimator.observe_request(record)
        elif len(self.records) % self.probe_every == 0:
            # a lost probe changes nothing: requests stay local meanwhile
            with contextlib.suppress(TransportError, RemoteError, FrameError):
                seconds, sent = self.prober.probe(self.probe_bytes)
                self.estimator.observe(seconds, sent)
        chosen = self.replanner.choose(self.estimator.mbps, self.current)
        if chosen != self.current:
            self.switches.append(
                Switch(len(self.records), self.current, chosen, self.estimator.mbps)
            )
            self.current = chosen

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.prober.close()

    def __enter__(self) -> AdaptiveEdgeWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
