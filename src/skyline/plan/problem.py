"""The partition problem: ops of a DAG placed on the nodes of a path (device -> edge -> cloud).

A placement gives each op a label k (index into the path); labels never decrease along a data
dependency, so tensors only flow up the path, and the model's outputs return to the origin
(label 0, where the inputs are). Every cost is a sum of per-op terms, per-(value, hop) terms and
one fixed RTT per hop used: that separable form is what lets `dads`/`tiered` solve it exactly by
min-cut, and `evaluate` computes the same terms for any labelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from skyline.errors import PlanError
from skyline.graph import CostModel, ModelGraph
from skyline.plan.codec_cost import CodecCost
from skyline.plan.spec import (
    Constraints,
    Cut,
    CutTensor,
    ModelInfo,
    Objective,
    Plan,
    Prediction,
    Stage,
    TensorSpec,
)
from skyline.topology import Link, Node, Topology


@dataclass(frozen=True)
class Breakdown:
    """Every predicted quantity for one labelling, in SI units."""

    compute_s: np.ndarray  # [K] per path node
    up_bytes: np.ndarray  # [K-1] per hop (hop h joins path[h] and path[h+1])
    down_bytes: np.ndarray
    up_s: np.ndarray
    down_s: np.ndarray
    rtt_s: float
    latency_s: float
    energy_j: float
    memory_bytes: np.ndarray  # [K]


class Problem:
    """Costs of placing `graph` on `path` under `objective`, precomputed as arrays."""

    def __init__(
        self,
        graph: ModelGraph,
        topology: Topology,
        *,
        cost_model: CostModel | None = None,
        path: list[str] | None = None,
        objective: Objective | None = None,
        constraints: Constraints | None = None,
        codec: CodecCost | None = None,
    ) -> None:
        if graph.num_ops == 0:
            raise PlanError(f"model {graph.name!r} has no ops to place", fix="profile a real model")
        self.graph = graph
        self.topology = topology
        self.cost_model = cost_model or CostModel(topology)
        self.nodes: list[Node] = [topology.node(n) for n in path] if path else list(topology.path())
        if len({n.name for n in self.nodes}) != len(self.nodes):
            raise PlanError(
                f"path {[n.name for n in self.nodes]} repeats a node", fix="list each node once"
            )
        self.objective = objective or Objective()
        self.constraints = constraints or Constraints()
        self.K = len(self.nodes)
        self.links = [topology.link(a.name, b.name) for a, b in zip(self.nodes, self.nodes[1:])]
        cm = self.cost_model
        self.compute_s = np.stack([cm.op_times_s(graph, n) for n in self.nodes], axis=1)
        nbytes = graph.value_bytes
        finite = np.where(np.isfinite(nbytes), nbytes, 0.0)
        self.codec = codec
        self.wire_bytes, coding_s = self._coding(codec, finite)
        up = [
            [cm.transfer_s(b, link, a.name) for b in self.wire_bytes]
            for a, link in zip(self.nodes, self.links)
        ]
        down = [
            [cm.transfer_s(b, link, link_other(link, a.name)) for b in finite]
            for a, link in zip(self.nodes, self.links)
        ]
        shape = (len(nbytes), self.K - 1)
        self.value_up_s = np.array(up, dtype=float).T.reshape(shape) + coding_s
        self.value_down_s = np.array(down, dtype=float).T.reshape(shape)
        self.value_up_s[~np.isfinite(nbytes)] = np.inf
        self.rtt_s = np.array([link.rtt_ms / 1e3 for link in self.links], dtype=float)
        self.num_inputs = len(graph.inputs)
        self.out_values = np.unique(graph.output_values)
        self.edge_src, self.edge_dst = graph.edges
        power = self.nodes[0].power
        self.active_w, self.idle_w = power.active_w, power.idle_w
        self.tx_j_per_byte, self.rx_j_per_byte = power.tx_j_per_bit * 8, power.rx_j_per_bit * 8
        self.param_bytes = np.array([op.param_bytes for op in graph.ops], dtype=float)
        self.memory_limit = np.array(
            [n.memory_bytes if self.constraints.respect_memory else np.inf for n in self.nodes]
        )

    def _coding(self, codec: CodecCost | None, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Wire bytes per value, and encode + decode seconds per (value, hop) on its two nodes
        (host seconds over each node's effective speed: host time / predicted time of the graph)."""
        seconds = np.zeros((len(raw), max(self.K - 1, 0)))
        if codec is None:
            return raw.copy(), seconds
        names = self.graph.value_names
        wire = np.array([codec.wire_bytes.get(n, b) for n, b in zip(names, raw)], dtype=float)
        enc = np.array([codec.encode_s.get(n, 0.0) for n in names], dtype=float)
        dec = np.array([codec.decode_s.get(n, 0.0) for n in names], dtype=float)
        predicted = self.compute_s.sum(axis=0)
        host = self.graph.total_host_time_s
        slowdown = np.where(predicted > 0, predicted / host, 1.0) if host > 0 else np.ones(self.K)
        seconds += enc[:, None] * slowdown[None, :-1] + dec[:, None] * slowdown[None, 1:]
        return wire, seconds

    # -- linear cost terms (weights wl for seconds, we for origin joules) ---------------------
    def cost_terms(
        self,
        wl: float | None = None,
        we: float | None = None,
        memory_penalty: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unary [n, K], hop [V, K-1], fixed [K-1]) such that the objective of a labelling is
        sum unary[i, L_i] + sum over (value, hop) crossed of hop + sum over hops used of fixed."""
        wl = self.objective.latency_weight if wl is None else wl
        we = self.objective.energy_weight if we is None else we
        wait = wl + we * self.idle_w  # a second the origin spends waiting
        unary = self.compute_s * wait
        unary[:, 0] = self.compute_s[:, 0] * (wl + we * self.active_w)
        hop = self.value_up_s * wait
        hop[:, 0] += we * self.tx_j_per_byte * self.wire_bytes
        fixed = self.rtt_s * wait
        # Outputs computed at label k return down hops k-1..0.
        ret = np.cumsum(self.value_down_s * wait, axis=1)
        ret += we * self.rx_j_per_byte * self._finite_bytes[:, None]
        for v in self.out_values:
            if v >= self.num_inputs:
                unary[v - self.num_inputs, 1:] += ret[v]
        if memory_penalty is not None:
            unary += self.param_bytes[:, None] * memory_penalty[None, :]
        return unary, hop, fixed

    @cached_property
    def terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`cost_terms()` for the problem's own objective (cached)."""
        return self.cost_terms()

    @cached_property
    def _finite_bytes(self) -> np.ndarray:
        b = self.graph.value_bytes
        return np.where(np.isfinite(b), b, 0.0)

    # -- exact evaluation ---------------------------------------------------------------------
    def check_labels(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (self.graph.num_ops,) or labels.min() < 0 or labels.max() >= self.K:
            raise PlanError(f"labels must be {self.graph.num_ops} ints in [0, {self.K})")
        value_labels = np.concatenate([np.zeros(self.num_inputs, dtype=np.int64), labels])
        if np.any(value_labels[self.edge_src] > labels[self.edge_dst]):
            raise PlanError(
                "a tensor would flow down the path", fix="labels must not decrease along edges"
            )
        return labels

    def max_consumer(self, labels: np.ndarray) -> np.ndarray:
        mc = np.full(self.num_inputs + self.graph.num_ops, -1, dtype=np.int64)
        np.maximum.at(mc, self.edge_src, labels[self.edge_dst])
        return mc

    def evaluate(self, labels: np.ndarray) -> Breakdown:
        labels = self.check_labels(labels)
        vl = np.concatenate([np.zeros(self.num_inputs, dtype=np.int64), labels])
        mc = self.max_consumer(labels)
        K = self.K
        compute = np.bincount(
            labels, weights=self.compute_s[np.arange(len(labels)), labels], minlength=K
        )
        up_b, down_b, up_s, down_s = (np.zeros(K - 1) for _ in range(4))
        nbytes = self.graph.value_bytes
        for h in range(K - 1):
            crossing = (vl <= h) & (mc > h)
            up_b[h] = self.wire_bytes[crossing].sum()
            up_s[h] = self.value_up_s[crossing, h].sum()
            returning = self.out_values[vl[self.out_values] > h]
            down_b[h] = nbytes[returning].sum()
            down_s[h] = self.value_down_s[returning, h].sum()
        used = int(max(labels.max(), 0))
        rtt = float(self.rtt_s[:used].sum())
        latency = float(compute.sum() + up_s.sum() + down_s.sum() + rtt)
        energy = (
            self.active_w * compute[0]
            + self.idle_w * (latency - compute[0])
            + self.tx_j_per_byte * (up_b[0] if K > 1 else 0.0)
            + self.rx_j_per_byte * (down_b[0] if K > 1 else 0.0)
        )
        memory = np.array(
            [self.graph.memory_bytes(np.flatnonzero(labels == k)) for k in range(K)], dtype=float
        )
        return Breakdown(compute, up_b, down_b, up_s, down_s, rtt, latency, float(energy), memory)

    def objective_value(self, b: Breakdown) -> float:
        return (
            self.objective.latency_weight * b.latency_s + self.objective.energy_weight * b.energy_j
        )

    def violations(self, b: Breakdown) -> list[str]:
        """Human-readable constraint violations (empty when feasible)."""
        out = []
        for node, used, limit in zip(self.nodes, b.memory_bytes, self.memory_limit):
            if used > limit:
                out.append(
                    f"{node.name} needs {used / 2**20:.1f} MiB of weights > {limit / 2**20:.1f} MiB"
                )
        deadline = self.constraints.deadline_ms
        if deadline is not None and b.latency_s * 1e3 > deadline:
            out.append(f"latency {b.latency_s * 1e3:.2f} ms > deadline {deadline} ms")
        if not np.isfinite(b.latency_s):
            out.append("a tensor that cannot be sent (tuple or scalar) crosses a link")
        return out

    # -- plan construction -------------------------------------------------------------------
    def _codec_of(self, value: str, direction: str) -> str:
        """The codec a cut tensor names: the problem's for measured values going up (model
        outputs come back down raw)."""
        if self.codec is not None and direction == "up" and value in self.codec.wire_bytes:
            return self.codec.codec
        return "raw"

    def to_plan(self, labels: np.ndarray, planner: str) -> Plan:
        labels = self.check_labels(labels)
        b = self.evaluate(labels)
        g = self.graph
        names = g.value_names
        vl = np.concatenate([np.zeros(self.num_inputs, dtype=np.int64), labels])
        mc = self.max_consumer(labels)
        stages = []
        outputs = set(self.out_values.tolist())
        for k in range(self.K):
            mine = np.flatnonzero(labels == k)
            if k > 0 and mine.size == 0:
                continue
            sends = [v for v in range(len(names)) if vl[v] == k and (mc[v] > k or v in outputs)]
            reads = set(self.edge_src[np.isin(self.edge_dst, mine)].tolist())
            # the origin stage "receives" the model inputs from the caller
            receives = sorted(v for v in reads | set(sends) if vl[v] < k or v < self.num_inputs)
            stages.append(
                Stage(
                    node=self.nodes[k].name,
                    tier=self.nodes[k].tier,
                    ops=[g.ops[i].name for i in mine],
                    receives=[names[v] for v in receives],
                    sends=[names[v] for v in sends],
                )
            )
        cuts = []
        for h in range(self.K - 1):
            a, c = self.nodes[h].name, self.nodes[h + 1].name
            up = np.flatnonzero((vl <= h) & (mc > h))
            down = [v for v in self.out_values if vl[v] > h]
            for direction, src, dst, values in (("up", a, c, up), ("down", c, a, down)):
                if len(values):
                    tensors = [
                        CutTensor(
                            name=names[v],
                            nbytes=float(g.value_bytes[v]),
                            codec=self._codec_of(names[v], direction),
                            shape=None if shape is None else list(shape),
                            dtype=dtype,
                        )
                        for v in values
                        for shape, dtype in [g.value_specs[v]]
                    ]
                    cuts.append(Cut(src=src, dst=dst, direction=direction, tensors=tensors))
        hop_names = [link.name for link in self.links]
        prediction = Prediction(
            latency_ms=b.latency_s * 1e3,
            compute_ms={n.name: float(t) * 1e3 for n, t in zip(self.nodes, b.compute_s)},
            transfer_ms={h: float(u + d) * 1e3 for h, u, d in zip(hop_names, b.up_s, b.down_s)},
            rtt_ms=b.rtt_s * 1e3,
            device_energy_j=b.energy_j,
            bytes_up={h: float(x) for h, x in zip(hop_names, b.up_bytes)},
            bytes_down={h: float(x) for h, x in zip(hop_names, b.down_bytes)},
            memory_bytes={n.name: float(m) for n, m in zip(self.nodes, b.memory_bytes)},
            objective=self.objective_value(b),
            cost_model=self.cost_model.name,
        )
        model = ModelInfo(
            name=g.name,
            fingerprint=g.fingerprint,
            capture=g.method,
            inputs=[TensorSpec(name=v.name, shape=list(v.shape), dtype=v.dtype) for v in g.inputs],
            outputs=list(g.outputs),
            num_ops=g.num_ops,
        )
        return Plan(
            planner=planner,
            model=model,
            objective=self.objective,
            constraints=self.constraints,
            topology=self.topology,
            path=[n.name for n in self.nodes],
            stages=stages,
            cuts=cuts,
            prediction=prediction,
        )


def link_other(link: Link, name: str) -> str:
    """The other end of a link from `name`."""
    return link.b if name == link.a else link.a
