"""Scenario spec: who computes, how they connect, what arrives when, and how devices move.

Frozen pydantic models, loaded from TOML by `skyline.sim.loader` (which turns every validation
error into a ConfigError naming the field, the value and a fix). Nodes and links come from the
topology presets (`preset = "rpi4"`, `access = "wifi"`) with any field overridden beside them.

The network is a star of stars: a device reaches the edge it is attached to over that edge's
`access` link (its own radio queue, or one queue for the whole cell with `shared_access`), the
cloud through the edge's `backhaul`, or directly over its own `cloud_link`; another edge is two
backhaul hops away (up to the core, down to that edge). Units: s, ms, bytes, FLOPs, W, J, m.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from skyline.errors import SkylineError
from skyline.topology import (
    LINK_PRESETS,
    NODE_PRESETS,
    BandwidthTrace,
    Link,
    Node,
    Tier,
    link_preset,
    node_preset,
)
from skyline.topology.spec import _invalid  # the topology's error-with-fix, shared on purpose

_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _built(what: str, build: Callable[[], object]) -> object:
    """Run a topology constructor, turning its errors into this model's validation error."""
    try:
        return build()
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        ctx = err.get("ctx") or {}
        field = ".".join(map(str, (*err["loc"], *ctx.get("loc", ())))) or what
        if err["type"] == "missing":
            raise _invalid(
                f"{what}: {field} is required", f"give {field}, or a preset that sets it"
            ) from None
        raise _invalid(
            f"{what}: {field} = {ctx.get('value', err['input'])!r}: {ctx.get('what', err['msg'])}",
            ctx.get("fix", f"set {field} to a valid value"),
        ) from None
    except SkylineError as exc:
        raise _invalid(f"{what}: {exc.args[0].split('. Fix: ')[0]}", exc.fix or "") from None


class LinkSpec(BaseModel):
    """A link from a preset (`"wifi"` is short for `{preset = "wifi"}`) with fields overridden."""

    model_config = _MODEL_CONFIG

    preset: str | None = Field(
        None, description="link preset (see docs/presets.md)", examples=["wifi"]
    )
    up_mbps: float | None = Field(None, gt=0, description="uplink, Mbit/s", examples=[20.0])
    down_mbps: float | None = Field(None, gt=0, description="downlink, Mbit/s", examples=[50.0])
    rtt_ms: float | None = Field(None, ge=0, description="round-trip time, ms", examples=[5.0])
    loss: float | None = Field(None, ge=0, lt=1, description="packet loss in [0, 1)")
    trace: BandwidthTrace | None = Field(
        None,
        description="bandwidth over time: {times_s, up_mbps, down_mbps, loop} or a CSV path "
        "(time_s,up_mbps,down_mbps) relative to the scenario file",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"preset": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _buildable(self) -> Self:
        if self.preset is not None and self.preset not in LINK_PRESETS:
            raise _invalid(
                f"unknown link preset {self.preset!r}",
                f"use one of: {', '.join(LINK_PRESETS)}",
                loc=("preset",),
                value=self.preset,
            )
        _built("link", lambda: self.link("a", "b"))
        return self

    def link(self, a: str, b: str) -> Link:
        """The topology Link from a (lower tier, sends `up`) to b."""
        fields = self.model_dump(exclude={"preset"}, exclude_none=True)
        if self.preset is not None:
            return link_preset(self.preset, a, b, **fields)
        return Link(a=a, b=b, **fields)


class _Compute(BaseModel):
    """A node from a preset, with compute, cores and power overridable."""

    model_config = _MODEL_CONFIG
    tier: ClassVar[Tier]  # set by the role (device, edge, cloud), whatever the preset says

    name: str = Field(description="name (unique in the scenario)", examples=["edge-1"])
    preset: str | None = Field(description="node preset (see docs/presets.md)", examples=["rpi4"])
    gflops: float | None = Field(None, gt=0, description="sustained GFLOP/s", examples=[20.0])
    speed: float | None = Field(
        None, gt=0, description="speed relative to the profiling host", examples=[0.5]
    )
    cores: int = Field(1, ge=1, description="tasks it runs at once (FIFO queue in front)")
    power: dict[str, float] = Field(
        default_factory=dict, description="power model fields to override (idle_w, active_w...)"
    )

    @model_validator(mode="after")
    def _buildable(self) -> Self:
        if self.preset is not None and self.preset not in NODE_PRESETS:
            raise _invalid(
                f"unknown node preset {self.preset!r}",
                f"use one of: {', '.join(NODE_PRESETS)}",
                loc=("preset",),
                value=self.preset,
            )
        _built(f"node {self.name!r}", self.node)
        return self

    def node(self) -> Node:
        """The topology Node this entry describes (the tier is the role's, whatever the preset)."""
        fields: dict[str, Any] = {"name": self.name, "tier": self.tier}
        for key in ("gflops", "speed"):
            if getattr(self, key) is not None:
                fields[key] = getattr(self, key)
        if self.power:
            fields["power"] = self.power
        if self.preset is not None:
            return node_preset(self.preset, **fields)
        return Node.model_validate(fields)


class Poisson(BaseModel):
    """Each device sends tasks as a Poisson process."""

    model_config = _MODEL_CONFIG
    kind: Literal["poisson"]
    rate_hz: float = Field(ge=0, description="tasks per second per device", examples=[0.5])


class Bursty(BaseModel):
    """On/off (two-state Markov-modulated Poisson): each device alternates busy and quiet."""

    model_config = _MODEL_CONFIG
    kind: Literal["bursty"]
    on_rate_hz: float = Field(ge=0, description="tasks/s per device while on", examples=[5.0])
    off_rate_hz: float = Field(0.0, ge=0, description="tasks/s per device while off")
    mean_on_s: float = Field(gt=0, description="mean length of an on period, s", examples=[2.0])
    mean_off_s: float = Field(gt=0, description="mean length of an off period, s", examples=[8.0])


class Trace(BaseModel):
    """Given arrival times (s); `devices` names which device of the group sends each one."""

    model_config = _MODEL_CONFIG
    kind: Literal["trace"]
    times_s: list[Annotated[float, Field(ge=0)]] = Field(
        description="arrival times, s, non-decreasing", examples=[[0.0, 0.5, 0.7]]
    )
    devices: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="device index in the group per arrival (default: uniform at random)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for i in range(1, len(self.times_s)):
            if self.times_s[i] < self.times_s[i - 1]:
                raise _invalid(
                    f"arrival times go back from {self.times_s[i - 1]} to {self.times_s[i]}",
                    "sort the trace by time",
                    loc=("times_s", i),
                    value=self.times_s[i],
                )
        if self.devices is not None and len(self.devices) != len(self.times_s):
            raise _invalid(
                f"{len(self.devices)} devices for {len(self.times_s)} arrival times",
                "give one device index per arrival, or leave devices out",
                loc=("devices",),
                value=len(self.devices),
            )
        return self


Workload = Annotated[Poisson | Bursty | Trace, Field(discriminator="kind")]


class DeviceGroup(_Compute):
    """`count` identical devices named `<name>-<i>`."""

    tier = Tier.DEVICE
    preset: str | None = Field("phone", description="node preset", examples=["rpi4"])
    count: int = Field(1, ge=1, description="number of devices", examples=[100])
    edge: str | None = Field(
        None, description="pin the group to this edge (no mobility)", examples=["edge-1"]
    )
    cloud_link: LinkSpec | None = Field(
        None, description="direct link to the cloud (e.g. 4g), used when no edge backhaul is"
    )
    x_m: float | None = Field(None, description="fixed position of the whole group, m")
    y_m: float | None = Field(None, description="fixed position of the whole group, m")
    workload: Workload | None = Field(None, description="overrides the scenario's workload")


class EdgeServer(_Compute):
    """An edge server: a FIFO queue in front of `cores`, reached over its access link."""

    tier = Tier.EDGE
    preset: str | None = Field("edge-server", description="node preset", examples=["edge-server"])
    cores: int = Field(4, ge=1, description="tasks it runs at once (FIFO queue in front)")
    access: LinkSpec | None = Field(
        None, description="device <-> edge link (the cell's radio)", examples=["wifi"]
    )
    shared_access: bool = Field(
        False, description="one queue per direction for the whole cell instead of per device"
    )
    backhaul: LinkSpec | None = Field(None, description="edge <-> cloud link", examples=["wan"])
    x_m: float = Field(0.0, description="position, m")
    y_m: float = Field(0.0, description="position, m")
    radius_m: float = Field(math.inf, gt=0, description="coverage radius, m (inf = everywhere)")


class Cloud(_Compute):
    """The cloud: one pool of `cores` behind a FIFO queue."""

    tier = Tier.CLOUD
    name: str = Field("cloud", description="name")
    preset: str | None = Field("cloud-server", description="node preset")
    cores: int = Field(16, ge=1, description="tasks it runs at once (FIFO queue in front)")


class TaskType(BaseModel):
    """One kind of request: its compute, data sizes, deadline and accuracy per tier.

    Compute on a node is `compute_ms[tier]` when given, else `flops` / node GFLOP/s, else
    `host_ms` / node speed. With `service = "exp"` a task's compute is exponential with that
    mean (input-dependent work); the same draw scales it wherever it runs.
    """

    model_config = _MODEL_CONFIG

    name: str = Field(description="task type name", examples=["classify"])
    weight: float = Field(1.0, gt=0, description="share of arrivals (relative)")
    flops: float | None = Field(None, gt=0, description="FLOPs per task", examples=[3.6e9])
    host_ms: float | None = Field(None, gt=0, description="time on the profiling host, ms")
    compute_ms: dict[Tier, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="compute time per tier, ms", examples=[{"edge": 5.0}]
    )
    input_bytes: float = Field(0.0, ge=0, description="bytes sent up when offloaded")
    output_bytes: float = Field(0.0, ge=0, description="bytes sent back down")
    deadline_ms: float = Field(math.inf, gt=0, description="deadline, ms (inf = none)")
    accuracy: dict[Tier, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict, description="accuracy per tier in [0, 1] (default 1)"
    )
    service: Literal["fixed", "exp"] = Field("fixed", description="fixed or exponential compute")

    def compute_s(self, node: Node) -> float:
        """Mean compute time on `node`, s."""
        if node.tier in self.compute_ms:
            return self.compute_ms[node.tier] / 1e3
        if self.flops is not None and node.gflops is not None:
            return self.flops / (node.gflops * 1e9)
        if self.host_ms is not None and node.speed is not None:
            return self.host_ms / 1e3 / node.speed
        raise _invalid(
            f"task {self.name!r} has no compute time on {node.name!r} "
            f"({'gflops' if node.gflops is not None else 'speed'} given there)",
            f"give compute_ms.{node.tier.value}, or flops for a node with gflops, "
            "or host_ms for a node with speed",
        )


class PositionTrace(BaseModel):
    """Recorded positions: device `devices[i]` is at (x_m[i], y_m[i]) from times_s[i] on."""

    model_config = _MODEL_CONFIG

    times_s: list[Annotated[float, Field(ge=0)]] = Field(description="sample times, s, sorted")
    devices: list[str] = Field(description="device name per sample, e.g. phone-3")
    x_m: list[float] = Field(description="x per sample, m")
    y_m: list[float] = Field(description="y per sample, m")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        n = len(self.times_s)
        for key in ("devices", "x_m", "y_m"):
            if len(getattr(self, key)) != n:
                raise _invalid(
                    f"{key} has {len(getattr(self, key))} entries but times_s has {n}",
                    "give one device, x_m and y_m per sample time",
                    loc=(key,),
                    value=len(getattr(self, key)),
                )
        for i in range(1, n):
            if self.times_s[i] < self.times_s[i - 1]:
                raise _invalid(
                    f"sample times go back from {self.times_s[i - 1]} to {self.times_s[i]}",
                    "sort the trace by time",
                    loc=("times_s", i),
                    value=self.times_s[i],
                )
        return self


class Mobility(BaseModel):
    """Where devices are: fixed, moving by random waypoint inside the area, or as recorded."""

    model_config = _MODEL_CONFIG

    kind: Literal["static", "random_waypoint", "trace"] = Field(
        "static", description="static, random_waypoint, or trace (recorded positions)"
    )
    trace: PositionTrace | None = Field(
        None, description="with kind = trace: {times_s, devices, x_m, y_m} or file = CSV"
    )
    area_m: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = Field(
        (1000.0, 1000.0), description="width and height of the area, m"
    )
    speed_mps: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = Field(
        (0.5, 1.5), description="min and max walking speed, m/s"
    )
    pause_s: tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]] = Field(
        (0.0, 0.0), description="min and max pause at a waypoint, s"
    )
    update_s: float = Field(1.0, gt=0, description="how often positions and attachments change")

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if (self.kind == "trace") != (self.trace is not None):
            raise _invalid(
                "a position trace goes with kind = 'trace', and only with it",
                "set kind = 'trace' and give trace (or file = 'positions.csv'), or neither",
                loc=("trace",),
                value=self.kind,
            )
        for key in ("speed_mps", "pause_s"):
            lo, hi = getattr(self, key)
            if lo > hi:
                raise _invalid(
                    f"{key} range [{lo}, {hi}] has min above max",
                    f"write {key} = [min, max]",
                    loc=(key,),
                    value=[lo, hi],
                )
        return self


class Scenario(BaseModel):
    """Everything a simulation needs; TOML tables [[device]], [[edge]], [cloud], [[task]]..."""

    model_config = _MODEL_CONFIG

    name: str = Field("scenario", description="scenario name")
    duration_s: float = Field(gt=0, description="arrivals happen in [0, duration_s)")
    warmup_s: float = Field(0.0, ge=0, description="tasks arriving earlier are not measured")
    seed: int = Field(0, description="seed of replication 0; replication r uses (seed, r)")
    replications: int = Field(1, ge=1, description="independent runs")
    tick_s: float = Field(0.005, gt=0, description="time step of the fast engine, s")
    devices: list[DeviceGroup] = Field(alias="device", min_length=1, description="[[device]]")
    edges: list[EdgeServer] = Field(default_factory=list, alias="edge", description="[[edge]]")
    cloud: Cloud | None = Field(None, description="[cloud]")
    tasks: list[TaskType] = Field(alias="task", min_length=1, description="[[task]]")
    workload: Workload = Field(description="[workload] with kind = poisson, bursty or trace")
    mobility: Mobility = Field(default_factory=Mobility, description="[mobility]")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.warmup_s >= self.duration_s:
            raise _invalid(
                f"warmup_s {self.warmup_s} leaves nothing of duration_s {self.duration_s}",
                "make warmup_s shorter than duration_s",
                loc=("warmup_s",),
                value=self.warmup_s,
            )
        self._unique_names()
        self._traced_devices()
        self._routes()
        self._compute_known()
        return self

    def _unique_names(self) -> None:
        seen: set[str] = set()
        entries: list[tuple[str, list[_Compute | None]]] = [
            ("device", list(self.devices)),
            ("edge", list(self.edges)),
            ("cloud", [self.cloud]),
        ]
        for key, items in entries:
            for i, item in enumerate(items):
                if item is None:
                    continue
                if item.name in seen:
                    loc = (key, "name") if key == "cloud" else (key, i, "name")
                    raise _invalid(
                        f"name {item.name!r} is used twice",
                        "give every device group, edge and the cloud its own name",
                        loc=loc,
                        value=item.name,
                    )
                seen.add(item.name)
        tasks = [t.name for t in self.tasks]
        for i, name in enumerate(tasks):
            if name in tasks[:i]:
                raise _invalid(
                    f"task name {name!r} is used twice",
                    "name each task type once",
                    loc=("task", i, "name"),
                    value=name,
                )

    def device_names(self) -> list[str]:
        """`<group>-<i>` for every device, in index order."""
        return [f"{g.name}-{i}" for g in self.devices for i in range(g.count)]

    def _traced_devices(self) -> None:
        trace = self.mobility.trace
        if trace is None:
            return
        known = set(self.device_names())
        pinned = {f"{g.name}-{i}" for g in self.devices if g.edge for i in range(g.count)}
        for i, name in enumerate(trace.devices):
            if name not in known or name in pinned:
                raise _invalid(
                    f"trace moves device {name!r}, which "
                    + ("is pinned to an edge" if name in pinned else "does not exist"),
                    "name devices <group>-<index> (from 0) of groups not pinned with edge = ...",
                    loc=("mobility", "trace", "devices", i),
                    value=name,
                )

    def _routes(self) -> None:
        """Every server is reachable from some device, and no route has zero hops."""
        edge_names = [e.name for e in self.edges]
        for i, edge in enumerate(self.edges):
            if edge.access is None:
                raise _invalid(
                    f"edge {edge.name!r} has no access link, so devices would reach it over "
                    "a zero-hop route",
                    "set access = 'wifi' (any link preset) or a table {preset = ..., "
                    "up_mbps = ...}",
                    loc=("edge", i, "access"),
                    value=None,
                )
        for i, group in enumerate(self.devices):
            if group.edge is not None and group.edge not in edge_names:
                raise _invalid(
                    f"device group {group.name!r} is pinned to unknown edge {group.edge!r}",
                    f"use one of: {', '.join(edge_names) or '(no edges: add an [[edge]])'}",
                    loc=("device", i, "edge"),
                    value=group.edge,
                )
            workload = group.workload or self.workload
            if isinstance(workload, Trace) and max(workload.devices or [0]) >= group.count:
                raise _invalid(
                    f"trace names device {max(workload.devices or [0])} but group "
                    f"{group.name!r} has {group.count}",
                    "use device indices below the group's count",
                    loc=("device", i, "workload", "devices")
                    if group.workload
                    else ("workload", "devices"),
                    value=max(workload.devices or [0]),
                )
        reached = {e.name for e in self.edges if self._edge_reachable(e)}
        for i, edge in enumerate(self.edges):
            if edge.name not in reached and not (edge.backhaul and self._any_backhaul(reached)):
                raise _invalid(
                    f"edge {edge.name!r} is unreachable: no device is ever in its coverage "
                    "(or pinned to it) and no backhaul joins it to an edge that is",
                    "move the edge or widen radius_m, pin a device group to it with "
                    "edge = ..., or give it and a reachable edge a backhaul",
                    loc=("edge", i, "name"),
                    value=edge.name,
                )
        if self.cloud is not None:
            via_edge = self._any_backhaul({e.name for e in self.edges})
            direct = any(g.cloud_link is not None for g in self.devices)
            if not (via_edge or direct):
                raise _invalid(
                    f"cloud {self.cloud.name!r} is unreachable: no edge has a backhaul and no "
                    "device group has a cloud_link",
                    "give an edge backhaul = 'wan', or a device group cloud_link = '4g'",
                    loc=("cloud", "name"),
                    value=self.cloud.name,
                )

    def _any_backhaul(self, names: set[str]) -> bool:
        return any(e.backhaul is not None for e in self.edges if e.name in names)

    def _edge_reachable(self, edge: EdgeServer) -> bool:
        """Some device is pinned to it, or it covers part of the area an unpinned one can be in."""
        if any(g.edge == edge.name for g in self.devices):
            return True
        width, height = self.mobility.area_m
        for group in self.devices:
            if group.edge is not None:
                continue
            if group.x_m is not None and group.y_m is not None and self.mobility.kind == "static":
                x, y = group.x_m, group.y_m
            else:  # nearest point of the area to the edge
                x, y = min(max(edge.x_m, 0.0), width), min(max(edge.y_m, 0.0), height)
            if math.hypot(x - edge.x_m, y - edge.y_m) <= edge.radius_m:
                return True
        return False

    def _compute_known(self) -> None:
        nodes = [entry.node() for entry in self.computers()]
        for i, task in enumerate(self.tasks):
            for node in nodes:
                try:
                    task.compute_s(node)
                except PydanticCustomError as exc:
                    ctx = exc.context or {}
                    raise _invalid(
                        ctx["what"],
                        ctx["fix"],
                        loc=("task", i, "compute_ms"),
                        value=dict(task.compute_ms),
                    ) from None

    def computers(self) -> list[_Compute]:
        """Device groups, edges, then the cloud."""
        return [*self.devices, *self.edges, *([self.cloud] if self.cloud else [])]

    def workload_of(self, group: DeviceGroup) -> Poisson | Bursty | Trace:
        return group.workload or self.workload

    @property
    def n_devices(self) -> int:
        return sum(g.count for g in self.devices)
