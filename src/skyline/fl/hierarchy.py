"""Hierarchical federated learning (HierFAVG, Liu et al. 2020) on Flower's Grid: devices train,
each edge aggregates its devices for `edge_rounds` rounds with its own Flower strategy, then the
cloud aggregates the edges with another. Flat FL is the same loop with one group aggregated at
the cloud, every device message crossing its edge on the way.

The orchestrator runs inside a Flower ServerApp (simulation or deployment): it only uses the
Grid to reach devices, so the same code drives Flower's Ray simulation and real SuperNodes.
Bytes are the real payloads of the messages sent; seconds and joules come from the topology.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skyline.errors import ConfigError
from skyline.fl._flower import flower
from skyline.fl.client import CID_KEY, ROUND_KEY
from skyline.fl.compress import create_codec, payload_bytes
from skyline.fl.task import (
    Task,
    build_model,
    evaluate,
    get_weights,
    samples,
    set_weights,
    test_data,
)
from skyline.fl.traffic import Tiers, Traffic

Arrays = list[np.ndarray]
DISCOVERY_S = 120.0  # clients' first answer includes starting their process and loading data


@functools.cache
def _grid_view_class() -> type:
    """The GridView class, built once (Flower's Grid base is only importable with the extra)."""

    class GridView(flower().serverapp.Grid):  # type: ignore[misc]
        def __init__(
            self, grid: Any, nodes: Sequence[int] | None, meter: Callable[[int], None] | None
        ) -> None:
            self.grid, self.nodes, self.meter = grid, nodes, meter

        def _measure(self, messages: Iterable[Any]) -> list[Any]:
            messages = list(messages)
            if self.meter is not None:
                from flwr.common.serde import message_to_proto

                for m in messages:
                    self.meter(message_to_proto(m).ByteSize())
            return messages

        def set_run(self, run: Any) -> None:
            self.grid.set_run(run)

        @property
        def run(self) -> Any:
            return self.grid.run

        def create_message(self, *args: Any, **kwargs: Any) -> Any:
            return self.grid.create_message(*args, **kwargs)

        def get_node_ids(self) -> Iterable[int]:
            return list(self.grid.get_node_ids()) if self.nodes is None else list(self.nodes)

        def push_messages(self, messages: Iterable[Any]) -> Iterable[str]:
            return self.grid.push_messages(self._measure(messages))

        def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Any]:
            return self._measure(self.grid.pull_messages(message_ids))

        def send_and_receive(
            self, messages: Iterable[Any], *, timeout: float | None = None
        ) -> Iterable[Any]:
            sent = self._measure(messages)
            return self._measure(self.grid.send_and_receive(sent, timeout=timeout))

    return GridView


def grid_view(
    grid: Any, nodes: Sequence[int] | None = None, meter: Callable[[int], None] | None = None
) -> Any:
    """`grid` as a Flower Grid that shows only `nodes` (one edge's devices) and/or reports the
    wire size (protobuf bytes) of every message sent and reply received to `meter`."""
    return _grid_view_class()(grid, nodes, meter)


@dataclass
class RoundRecord:
    """One cloud round (flat: one round). Bytes are cumulative since the start."""

    round: int
    accuracy: float
    loss: float
    edge_cloud_bytes: int
    device_edge_bytes: int
    comm_s: float
    device_energy_j: float
    replies: int
    failures: int
    epsilon: float | None
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class HierarchicalFL:
    """Drives FL over `tiers`. `flat=True` aggregates all devices at the cloud each round.

    `edge_strategy(group_index, clients)` and `cloud_strategy(edges)` build Flower strategies;
    per-tier codecs compress every downlink (weights) and uplink (updates, error feedback at
    edges too)."""

    task: Task
    tiers: Tiers
    traffic: Traffic
    edge_strategy: Callable[[int, int], Any]
    cloud_strategy: Callable[[int], Any]
    flat: bool = False
    only_edge: int | None = None
    edges_as_clients: bool = False
    edge_rounds: int = 1
    up_codec: str = "none"
    down_codec: str = "none"
    round_timeout_s: float = 60.0
    history: list[RoundRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.edge_rounds < 1:
            raise ConfigError(f"edge_rounds={self.edge_rounds} must be >= 1", fix="use e.g. 5")
        if self.flat and self.edge_rounds != 1:
            raise ConfigError("flat FL has no edge rounds", fix="set edge_rounds=1 or flat=False")
        if (self.only_edge is not None or self.edges_as_clients) and not self.flat:
            raise ConfigError(
                "one tier of a deployed hierarchy runs flat rounds", fix="set flat=True"
            )
        self._up, self._down = create_codec(self.up_codec), create_codec(self.down_codec)
        self._client_eps: float | None = None

    # -- topology helpers ------------------------------------------------------------------
    def groups(self) -> tuple[tuple[int, ...], ...]:
        """Client ids per aggregator. Deployed tiers: one edge's devices (`only_edge`), or the
        edges themselves as the cloud's clients (`edges_as_clients`)."""
        if self.only_edge is not None:
            return (self.tiers.groups[self.only_edge],)
        if self.edges_as_clients:
            return (tuple(range(len(self.tiers.edges))),)
        return (tuple(c for g in self.tiers.groups for c in g),) if self.flat else self.tiers.groups

    def _path(self, cid: int) -> list[str]:
        if self.edges_as_clients:
            return [self.tiers.edges[cid], self.tiers.cloud]
        path = [self.tiers.devices[cid], self.tiers.edge_of(cid)]
        return [*path, self.tiers.cloud] if self.flat and self.only_edge is None else path

    # -- protocol --------------------------------------------------------------------------
    def discover(self, grid: Any) -> dict[int, int]:
        """client id -> Flower node id, asked of every connected node (QUERY message)."""
        app = flower().app
        wanted = {c for g in self.groups() for c in g}
        expected = len(wanted)
        wait_s = max(self.round_timeout_s, DISCOVERY_S)
        deadline = time.monotonic() + wait_s
        while len(nodes := list(grid.get_node_ids())) < expected and time.monotonic() < deadline:
            time.sleep(0.2)  # nodes register as they start
        msgs = [
            grid.create_message(app.RecordDict(), app.MessageType.QUERY, node, "discover")
            for node in nodes
        ]
        found: dict[int, int] = {}
        errors: list[str] = []
        for reply in grid.send_and_receive(msgs, timeout=wait_s):
            if reply.has_error():
                errors.append(reply.error.reason)
            else:
                found[int(reply.content["metrics"][CID_KEY])] = reply.metadata.src_node_id
        missing = sorted(wanted - set(found))
        if missing:
            raise ConfigError(
                f"{len(missing)} of {expected} FL clients did not answer discovery "
                f"(e.g. {missing[:5]}; {len(nodes)} nodes connected; errors: {errors[:2]})",
                fix="start one Flower node per device in the topology",
            )
        return found

    def run(
        self,
        grid: Any,
        rounds: int,
        on_round: Callable[[RoundRecord], None] | None = None,
        *,
        initial: Arrays | None = None,
        first_round: int = 1,
    ) -> Arrays:
        """`rounds` cloud rounds from `initial` weights (default: the task's fresh model);
        returns the final global weights. Clients see round numbers from `first_round` on
        (seeds and dropout key on them), so a deployed edge continues the count."""
        nodes = self.discover(grid)
        groups = self.groups()
        edge_strats = [self.edge_strategy(j, len(g)) for j, g in enumerate(groups)]
        cloud = None if self.flat else self.cloud_strategy(len(groups))
        model = build_model(self.task)
        global_w = get_weights(model) if initial is None else list(initial)
        test = test_data(self.task)
        residuals: list[Arrays | None] = [None] * len(groups)
        edge_round = first_round - 1
        start = time.perf_counter()
        for r in range(first_round, first_round + rounds):
            comm_s, replies_n, failures = 0.0, 0, 0
            if self.flat:
                edge_w = [global_w]
            else:  # cloud -> every edge
                down = self._down.encode(global_w)
                for e in self.tiers.edges:
                    self.traffic.send([self.tiers.cloud, e], payload_bytes(down))
                comm_s += self.traffic.close_phase()
                edge_w = [self._down.decode(down, global_w)] * len(groups)
            start_w = list(edge_w)
            for _ in range(self.edge_rounds):
                edge_round += 1
                edge_w, n_ok, n_bad, secs = self._edge_round(
                    grid, edge_round, groups, nodes, edge_strats, edge_w
                )
                replies_n, failures, comm_s = replies_n + n_ok, failures + n_bad, comm_s + secs
            if self.flat:
                global_w = edge_w[0]
            else:
                global_w, secs = self._cloud_round(
                    grid, r, cloud, groups, start_w, edge_w, residuals
                )
                comm_s += secs
            set_weights(model, global_w)
            loss, acc = evaluate(model, test)
            tier = self.traffic.tier_bytes()
            record = RoundRecord(
                round=r,
                accuracy=acc,
                loss=loss,
                edge_cloud_bytes=tier["edge-cloud"],
                device_edge_bytes=tier["device-edge"],
                comm_s=comm_s,
                device_energy_j=self.traffic.device_energy_j(),
                replies=replies_n,
                failures=failures,
                epsilon=self._epsilon(edge_strats),
                wall_s=time.perf_counter() - start,
            )
            self.history.append(record)
            if on_round is not None:
                on_round(record)
        return global_w

    def _edge_round(
        self,
        grid: Any,
        round_: int,
        groups: Sequence[Sequence[int]],
        nodes: dict[int, int],
        strategies: Sequence[Any],
        weights: Sequence[Arrays],
    ) -> tuple[list[Arrays], int, int, float]:
        """One round of every edge at once (their devices train in parallel)."""
        app = flower().app
        messages, owner, sent = [], {}, []
        for j, group in enumerate(groups):
            view = grid_view(grid, [nodes[c] for c in group])
            config = app.ConfigRecord({ROUND_KEY: round_})
            msgs = list(
                strategies[j].configure_train(round_, app.ArrayRecord(weights[j]), config, view)
            )
            down = self._down.encode(weights[j])
            by_node = {nodes[c]: c for c in group}
            for m in msgs:
                m.content["arrays"] = app.ArrayRecord(down)
                owner[m.metadata.dst_node_id] = j
                self.traffic.send(
                    self._path(by_node[m.metadata.dst_node_id])[::-1], payload_bytes(down)
                )
            messages += msgs
            sent.append(len(msgs))
        seconds = self.traffic.close_phase()
        per_group: list[list[Any]] = [[] for _ in groups]
        n_bad = 0
        for reply in grid.send_and_receive(messages, timeout=self.round_timeout_s):
            j = owner[reply.metadata.src_node_id]
            if reply.has_error():
                n_bad += 1
                continue
            encoded = reply.content["arrays"].to_numpy_ndarrays()
            metrics = reply.content["metrics"]
            cid = int(metrics[CID_KEY])
            if "epsilon" in metrics:
                self._client_eps = max(self._client_eps or 0.0, float(metrics["epsilon"]))
            self.traffic.send(self._path(cid), payload_bytes(encoded))
            update = self._up.decode(encoded, weights[j])
            reply.content["arrays"] = app.ArrayRecord([w + u for w, u in zip(weights[j], update)])
            per_group[j].append(reply)
        seconds += self.traffic.close_phase()
        n_ok = sum(len(g) for g in per_group)
        n_bad += sum(sent) - n_ok - n_bad  # timed out: never answered
        out: list[Arrays] = []
        for j, replies in enumerate(per_group):
            # Replies arrive in a timing-dependent order and a float sum depends on its order:
            # aggregate by client id, so a rerun from the same seed gives the same weights.
            replies.sort(key=lambda r: int(r.content["metrics"][CID_KEY]))
            arrays, _ = strategies[j].aggregate_train(round_, replies) if replies else (None, None)
            out.append(arrays.to_numpy_ndarrays() if arrays is not None else weights[j])
        return out, n_ok, n_bad, seconds

    def _cloud_round(
        self,
        grid: Any,
        round_: int,
        strategy: Any,
        groups: Sequence[Sequence[int]],
        start: Sequence[Arrays],
        edge_w: Sequence[Arrays],
        residuals: list[Arrays | None],
    ) -> tuple[Arrays, float]:
        """Edges send their (compressed) model change up; the cloud strategy aggregates them
        weighted by the samples under each edge (HierFAVG)."""
        app = flower().app
        weights = [samples(self.task, g) for g in groups]
        replies = []
        for j, edge in enumerate(self.tiers.edges):
            update = [e - s for e, s in zip(edge_w[j], start[j])]
            encoded, residuals[j] = self._up.compress(update, residuals[j])
            self.traffic.send([edge, self.tiers.cloud], payload_bytes(encoded))
            decoded = self._up.decode(encoded, start[j])
            content = app.RecordDict(
                {
                    "arrays": app.ArrayRecord([s + u for s, u in zip(start[j], decoded)]),
                    "metrics": app.MetricRecord({"num-examples": weights[j]}),
                }
            )
            replies.append(grid.create_message(content, app.MessageType.TRAIN, 0, "cloud"))
        seconds = self.traffic.close_phase()
        arrays, _ = strategy.aggregate_train(round_, replies)
        return (arrays.to_numpy_ndarrays() if arrays is not None else list(start[0])), seconds

    def _epsilon(self, strategies: Sequence[Any]) -> float | None:
        """Largest epsilon spent so far: client DP-SGD (reported by clients) or server-side DP
        (Flower's accountant in each edge's wrapper)."""
        spent = [s.privacy_spent() for s in strategies if hasattr(s, "privacy_spent")]
        values = [p.epsilon for p in spent if p is not None]
        if self._client_eps is not None:
            values.append(self._client_eps)
        return max(values) if values else None
