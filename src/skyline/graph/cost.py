"""`CostModel`: predicted op time on each topology node and tensor time on each link.

Assumptions (each can be replaced by measurement through `calibrate`):
- A node given by `speed` runs every op in host_time / speed: the host's measured per-op time
  scaled by one factor (exact for the host itself, speed=1).
- A node given by `gflops` runs an op in flops / (gflops * 1e9) + op_overhead_us: compute-bound,
  so memory-bound ops (elementwise, pooling) are underestimated until calibrated.
- A tensor takes bytes * 8 / bandwidth / (1 - loss) on a link (loss costs expected retransmissions);
  a round trip adds the link's RTT once per request.
- Ops on one node run one after another (no intra-request parallelism across branches).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping

import numpy as np

from skyline.errors import ConfigError
from skyline.graph.model_graph import ModelGraph, Op
from skyline.topology import Link, Node, Topology

_ANY = "*"


class CostModel:
    """Per-node op time and per-link transfer time, optionally calibrated per node and op kind."""

    def __init__(
        self, topology: Topology, *, scales: Mapping[str, Mapping[str, float]] | None = None
    ) -> None:
        self.topology = topology
        self.scales: dict[str, dict[str, float]] = {k: dict(v) for k, v in (scales or {}).items()}
        for node_name in self.scales:
            topology.node(node_name)  # unknown node -> clear error

    @property
    def name(self) -> str:
        return "calibrated" if self.scales else "analytic"

    def _base_time_s(self, op: Op, node: Node) -> float:
        if node.speed is not None:
            return op.host_time_s / node.speed
        assert node.gflops is not None
        return op.flops / (node.gflops * 1e9) + node.op_overhead_us * 1e-6

    def op_time_s(self, op: Op, node: Node | str) -> float:
        n = self.topology.node(node) if isinstance(node, str) else node
        scale = self.scales.get(n.name, {})
        return self._base_time_s(op, n) * scale.get(op.kind, scale.get(_ANY, 1.0))

    def op_times_s(self, graph: ModelGraph, node: Node | str) -> np.ndarray:
        """Predicted time of every op of `graph` on `node`, in graph order."""
        n = self.topology.node(node) if isinstance(node, str) else node
        return np.array([self.op_time_s(op, n) for op in graph.ops], dtype=float)

    def transfer_s(self, nbytes: float, link: Link, src: str, t_s: float | None = None) -> float:
        """Time for `nbytes` to leave `src` over `link` (bandwidth and loss only; RTT apart)."""
        return link.transfer_s(nbytes, src, t_s)

    def calibrate(self, graph: ModelGraph, node: str, measured_s: Mapping[str, float]) -> CostModel:
        """A new model whose predictions for `node` match measured per-op times.

        Fits one factor per op kind (median of measured/predicted) and a node-wide factor for kinds
        not measured; ops with non-positive prediction or measurement are skipped.
        """
        n = self.topology.node(node)
        ratios: dict[str, list[float]] = {}
        for name, seconds in measured_s.items():
            op = graph.op(name)
            predicted = self._base_time_s(op, n)
            if predicted > 0 and seconds > 0:
                ratios.setdefault(op.kind, []).append(seconds / predicted)
        if not ratios:
            raise ConfigError(
                f"no usable measurements to calibrate node {node!r}",
                fix="pass a mapping op name -> measured seconds with positive values",
            )
        fitted = {kind: statistics.median(r) for kind, r in ratios.items()}
        fitted[_ANY] = statistics.median([x for r in ratios.values() for x in r])
        scales = {**self.scales, node: fitted}
        return CostModel(self.topology, scales=scales)
