"""Where things run: nodes on three tiers joined by links with bandwidth, delay, loss and traces.

Every class is a frozen pydantic model so a Topology can travel inside a Plan as exact JSON.
Validators raise errors that carry a fix (see `_invalid`), which the file loader turns into
messages naming the file, the field as the user wrote it, and the value.

Units: bandwidth in Mbit/s (1 Mbit = 1e6 bit), time in s or ms as the name says, memory in MiB
(2**20 bytes), energy in J, power in W, compute in GFLOP/s where a multiply-add counts 2 FLOPs.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Sequence
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from skyline.errors import ConfigError, TopologyError, UnknownNameError

_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid")
_UNSET: Any = object()


def _invalid(
    what: str, fix: str, *, loc: tuple[str | int, ...] = (), value: Any = _UNSET
) -> PydanticCustomError:
    """A validation error that carries its fix, and optionally a more precise location/value.

    `loc` is relative to the model being validated; the loader appends it to pydantic's location
    so a topology-wide check can point at `node[2].name` rather than at the whole topology.
    """
    context = {"what": what, "fix": fix, "loc": loc}
    if value is not _UNSET:
        context["value"] = value
    return PydanticCustomError("skyline", "{what}. Fix: {fix}", context)


class Tier(StrEnum):
    """Where a node sits; ordered device < edge < cloud (`rank` 0, 1, 2).

    Comparisons between tiers use that order, not the alphabetical order a str would give.
    """

    DEVICE = "device"
    EDGE = "edge"
    CLOUD = "cloud"

    @property
    def rank(self) -> int:
        return list(Tier).index(self)

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Tier) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Tier) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Tier) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Tier) else NotImplemented


def _check_name(name: str) -> str:
    if not name or any(ch.isspace() for ch in name):
        raise _invalid(
            f"name {name!r} is empty or contains whitespace",
            "use a short name without spaces, such as 'edge-1'",
        )
    return name


Name = Annotated[
    str,
    AfterValidator(_check_name),
    Field(description="node name: non-empty, no whitespace", examples=["edge"]),
]


def _unlimited_as_none(memory_mb: float | None) -> float | None:
    """`memory_mb = inf` means unlimited; TOML has no null, so this is how a file says it."""
    return None if memory_mb == math.inf else memory_mb


class PowerModel(BaseModel):
    """Linear power model: energy = idle_w*t + (active_w-idle_w)*t_busy + bits*J/bit."""

    model_config = _MODEL_CONFIG

    idle_w: float = Field(0.0, ge=0, description="power when idle, W", examples=[2.7])
    active_w: float = Field(0.0, ge=0, description="power when computing, W", examples=[6.4])
    tx_j_per_bit: float = Field(
        0.0, ge=0, description="radio energy to send one bit, J/bit", examples=[4.4e-7]
    )
    rx_j_per_bit: float = Field(
        0.0, ge=0, description="radio energy to receive one bit, J/bit", examples=[5.2e-8]
    )


class Node(BaseModel):
    """A machine that can run part of a workload.

    Compute is given either as `speed` relative to the host that profiles the model (profiled
    op times are divided by it) or as `gflops` (op time = FLOPs / gflops + op_overhead_us), never
    both, so a node's latency model is never ambiguous.
    """

    model_config = _MODEL_CONFIG

    name: Name
    tier: Tier = Field(description="one of device, edge, cloud", examples=["edge"])
    speed: float | None = Field(
        None, gt=0, description="compute speed relative to this host (1.0 = same)", examples=[0.25]
    )
    gflops: float | None = Field(
        None, gt=0, description="sustained GFLOP/s for DNN ops", examples=[20.0]
    )
    op_overhead_us: float = Field(
        0.0, ge=0, description="fixed per-op dispatch cost with gflops, µs", examples=[50.0]
    )
    memory_mb: Annotated[float | None, AfterValidator(_unlimited_as_none)] = Field(
        None, gt=0, description="memory in MiB; leave out (or inf) for unlimited", examples=[4096.0]
    )
    power: PowerModel = Field(default_factory=PowerModel, description="power model")
    preset: str | None = Field(None, description="preset this node came from", examples=["rpi4"])

    @model_validator(mode="after")
    def _one_compute_measure(self) -> Self:
        if (self.speed is None) == (self.gflops is None):
            given = "both" if self.speed is not None else "neither"
            raise _invalid(
                f"node {self.name!r} sets {given} of speed and gflops; exactly one is needed",
                "set speed (relative to this host, e.g. 0.25 = 4x slower) "
                "or gflops (sustained GFLOP/s, e.g. 20), not both",
                value={"speed": self.speed, "gflops": self.gflops},
            )
        return self

    @property
    def memory_bytes(self) -> float:
        return math.inf if self.memory_mb is None else self.memory_mb * 2**20


class BandwidthTrace(BaseModel):
    """Bandwidth over time, held step-wise: sample i applies from times_s[i] until times_s[i+1].

    When looping, the period is the last sample time plus the last interval (the last sample
    lasts as long as the one before it), which is the natural period of a regularly sampled trace.
    """

    model_config = _MODEL_CONFIG

    times_s: list[float] = Field(
        description="sample times in s, from 0, strictly increasing", examples=[[0.0, 1.0]]
    )
    up_mbps: list[Annotated[float, Field(gt=0)]] = Field(
        description="bandwidth a -> b per sample, Mbit/s", examples=[[10.0, 5.0]]
    )
    down_mbps: list[Annotated[float, Field(gt=0)]] = Field(
        description="bandwidth b -> a per sample, Mbit/s", examples=[[20.0, 10.0]]
    )
    loop: bool = Field(False, description="repeat the trace after its end", examples=[True])

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        times = self.times_s
        if not times or times[0] != 0:
            raise _invalid(
                "times_s must start at 0",
                "make the first sample time 0",
                loc=("times_s",),
                value=times,
            )
        for i, (t0, t1) in enumerate(pairwise(times)):
            if t1 <= t0:
                raise _invalid(
                    f"times_s must increase strictly, but {t1} follows {t0}",
                    "sort the samples by time and drop duplicate times",
                    loc=("times_s", i + 1),
                    value=t1,
                )
        for key in ("up_mbps", "down_mbps"):
            if len(getattr(self, key)) != len(times):
                raise _invalid(
                    f"{key} has {len(getattr(self, key))} samples but times_s has {len(times)}",
                    "give one bandwidth per sample time",
                    loc=(key,),
                    value=getattr(self, key),
                )
        return self

    def at(self, t_s: float) -> tuple[float, float]:
        """(up_mbps, down_mbps) in force at time t_s."""
        if t_s < 0:
            raise ConfigError(f"trace time {t_s} s is negative", fix="ask for a time >= 0")
        times = self.times_s
        if self.loop:
            last_step = times[-1] - times[-2] if len(times) > 1 else 1.0
            t_s %= times[-1] + last_step
        i = bisect.bisect_right(times, t_s) - 1
        return self.up_mbps[i], self.down_mbps[i]

    @classmethod
    def from_csv(cls, path: str | Path, *, loop: bool = False) -> BandwidthTrace:
        """Read a CSV with header `time_s,up_mbps,down_mbps` (one row per sample)."""
        path = Path(path)
        columns = ("time_s", "up_mbps", "down_mbps")
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                missing = [c for c in columns if c not in (reader.fieldnames or [])]
                if missing:
                    raise TopologyError(
                        f"trace file {path} lacks column(s) {', '.join(missing)}",
                        fix="start the file with the header row 'time_s,up_mbps,down_mbps'",
                    )
                samples: dict[str, list[float]] = {c: [] for c in columns}
                for row in reader:
                    for c in columns:
                        try:
                            samples[c].append(float(row[c]))
                        except (TypeError, ValueError):
                            raise TopologyError(
                                f"trace file {path} line {reader.line_num}: {c} = {row[c]!r} "
                                "is not a number",
                                fix="write plain numbers such as 12.5 in every column",
                            ) from None
        except OSError as exc:
            raise TopologyError(
                f"cannot read trace file {path}: {exc.strerror}",
                fix="check the path (relative paths start at the topology file's folder)",
            ) from exc
        try:
            return cls(
                times_s=samples["time_s"],
                up_mbps=samples["up_mbps"],
                down_mbps=samples["down_mbps"],
                loop=loop,
            )
        except ValidationError as exc:
            problems = "; ".join(_csv_problem(err) for err in exc.errors())
            raise TopologyError(
                f"trace file {path} is invalid: {problems}",
                fix="start time_s at 0 and increase it row by row; keep bandwidths > 0",
            ) from None


def _csv_problem(err: ErrorDetails) -> str:
    """One trace validation error in CSV terms: column and data row."""
    ctx = err.get("ctx") or {}
    loc = (*err["loc"], *ctx.get("loc", ()))
    column = {"times_s": "time_s"}.get(str(loc[0]), str(loc[0])) if loc else "trace"
    row = f" (data row {int(loc[1]) + 1})" if len(loc) > 1 else ""
    return f"{column}{row}: {ctx.get('what', err['msg'])}"


class Link(BaseModel):
    """A network path between two nodes; `up` is a -> b (a is usually the lower tier).

    Bandwidths are goodput. `loss` inflates transfer time by the expected number of
    retransmissions, 1 / (1 - loss); RTT is kept separate for the caller to add per exchange.
    """

    model_config = _MODEL_CONFIG

    a: Name
    b: Name
    up_mbps: float = Field(gt=0, description="bandwidth from a to b, Mbit/s", examples=[10.0])
    down_mbps: float = Field(gt=0, description="bandwidth from b to a, Mbit/s", examples=[50.0])
    rtt_ms: float = Field(0.0, ge=0, description="round-trip time, ms", examples=[20.0])
    loss: float = Field(
        0.0, ge=0, lt=1, description="fraction of packets lost, in [0, 1)", examples=[0.01]
    )
    trace: BandwidthTrace | None = Field(
        None, description="bandwidth over time; overrides up/down_mbps when a time is given"
    )
    preset: str | None = Field(None, description="preset this link came from", examples=["4g"])

    @model_validator(mode="after")
    def _two_ends(self) -> Self:
        if self.a == self.b:
            raise _invalid(
                f"link joins node {self.a!r} to itself",
                "set a and b to two different nodes",
                loc=("b",),
                value=self.b,
            )
        return self

    @property
    def name(self) -> str:
        return f"{self.a}-{self.b}"

    def mbps(self, src: str, t_s: float | None = None) -> float:
        """Bandwidth leaving `src` (a or b); from the trace when there is one and t_s is given."""
        if src not in (self.a, self.b):
            raise TopologyError(
                f"node {src!r} is not an end of link {self.name}",
                fix=f"send from {self.a!r} or {self.b!r}",
            )
        if t_s is not None and self.trace is not None:
            up, down = self.trace.at(t_s)
        else:
            up, down = self.up_mbps, self.down_mbps
        return up if src == self.a else down

    def transfer_s(self, nbytes: float, src: str, t_s: float | None = None) -> float:
        """Seconds to move nbytes from src over this link, rate held at its value at t_s."""
        if nbytes < 0:
            raise ConfigError(f"cannot transfer {nbytes} bytes", fix="pass a size >= 0")
        rate = self.mbps(src, t_s)
        if nbytes == 0:
            return 0.0
        return nbytes * 8 / (rate * 1e6) / (1 - self.loss)


class Topology(BaseModel):
    """Nodes and the links between them; the shared map for planner, runtime and simulator."""

    model_config = _MODEL_CONFIG

    name: str = Field("topology", description="topology name", examples=["lab"])
    nodes: list[Node] = Field(min_length=1, description="the machines, at least one")
    links: list[Link] = Field(default_factory=list, description="the network paths")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        seen: set[str] = set()
        for i, node in enumerate(self.nodes):
            if node.name in seen:
                raise _invalid(
                    f"duplicate node name {node.name!r}",
                    "give every node a unique name",
                    loc=("nodes", i, "name"),
                    value=node.name,
                )
            seen.add(node.name)
        pairs: set[frozenset[str]] = set()
        for i, link in enumerate(self.links):
            for end in ("a", "b"):
                if getattr(link, end) not in seen:
                    raise _invalid(
                        f"link end {end} names no node; known nodes: {self._names()}",
                        "use one of the known node names, or add a node with that name",
                        loc=("links", i, end),
                        value=getattr(link, end),
                    )
            pair = frozenset((link.a, link.b))
            if pair in pairs:
                raise _invalid(
                    f"a second link between {link.a!r} and {link.b!r}",
                    "keep one link per pair of nodes (it has both directions)",
                    loc=("links", i),
                    value=link.name,
                )
            pairs.add(pair)
        return self

    def _names(self) -> str:
        return ", ".join(n.name for n in self.nodes)

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise UnknownNameError(
            f"topology {self.name!r} has no node {name!r}",
            fix=f"use one of: {self._names()}",
        )

    def link(self, x: str, y: str) -> Link:
        """The link between x and y, whichever end each is."""
        self.node(x)
        self.node(y)
        for link in self.links:
            if {link.a, link.b} == {x, y}:
                return link
        raise TopologyError(
            f"topology {self.name!r} has no link between {x!r} and {y!r}",
            fix=f"add a [[link]] with a = {x!r} and b = {y!r}",
        )

    def path(self, tiers: Sequence[Tier | str] | None = None) -> list[Node]:
        """One node per tier, in the given order (default device -> edge -> cloud, tiers present).

        A tier with several nodes contributes its first one in file order; consecutive nodes
        must be linked, so the result is a chain a split model can actually run along.
        """
        if tiers is None:
            wanted = sorted({n.tier for n in self.nodes})
        else:
            try:
                wanted = [Tier(t) for t in tiers]
            except ValueError as exc:
                raise TopologyError(
                    f"unknown tier in {list(tiers)}", fix="use device, edge or cloud"
                ) from exc
        chain: list[Node] = []
        for tier in wanted:
            node = next((n for n in self.nodes if n.tier == tier), None)
            if node is None:
                raise TopologyError(
                    f"topology {self.name!r} has no {tier} node",
                    fix=f"add a [[node]] with tier = '{tier}', or leave {tier} out of the path",
                )
            chain.append(node)
        for x, y in pairwise(chain):
            self.link(x.name, y.name)
        return chain

    def with_link(self, a: str, b: str, **changes: Any) -> Topology:
        """A copy with one link's fields replaced (what-if sweeps); up stays the stored a -> b."""
        old = self.link(a, b)
        new = Link.model_validate({**old.model_dump(), **changes})
        links = [new if link is old else link for link in self.links]
        return Topology(name=self.name, nodes=self.nodes, links=links)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Topology:
        return cls.model_validate(data)
