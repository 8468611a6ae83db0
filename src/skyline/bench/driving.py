"""Autonomous driving: per-frame perception on a moving vehicle, road-side units and a cloud.

A vehicle drives a straight road at constant speed past road-side units (RSUs, the topology's
edge node) spaced evenly beside it. Every frame (`fps` per second) it must classify the frame's
`crops` object crops (Fashion-MNIST test images, a stand-in for camera crops) within
`deadline_ms`. The vehicle-RSU uplink rate falls with the distance to the serving RSU (the
topology link's rate at `ref_m` times (ref_m / distance) ** `exponent`, at least `min_mbps`);
the vehicle hands over when another RSU is nearer, and the link is down for `handover_ms`
then. Strategies:

- `vehicle-only`: the whole model on the vehicle;
- `static-split`: the planner's plan at the route's mean uplink rate, kept all the way;
- `early-exit`: the model on the vehicle, each crop leaving at the first exit confident enough
  (thresholds chosen on held-out data for at most `max_loss` accuracy loss);
- `adaptive-split`: before each frame, the candidate plan that the runtime's `Replanner`
  (plans over a grid of rates, hysteresis) picks for the rate the previous frame saw (the rate
  counts as nil while a handover outage is on);
- `offload-min-latency`, `offload-energy-aware`: the scheduling policies `greedy-min-latency`
  and `energy-aware` place each whole frame on the vehicle, the RSU or the cloud, from costs
  predicted at the previous frame's rate.

What is real and what is not: the early-exit CNN is trained here on Fashion-MNIST, and every
frame's crops run through the real model stages in this process (torch on one thread), so
accuracy and exit rate are measured on real outputs. Each stage's measured time is scaled to
the node running it by the cost model's node-to-host ratio for the whole model (the preset
nodes are given in GFLOP/s), so compute times are predicted from measurements. Positions, link
rates, handovers and transfer times are simulated from the route and the topology's links
(transfers wait for an outage to end), so per-frame latency, deadline misses and energy are
predictions built on measured host time; bytes are simulated. Frames are independent: a late
frame does not delay the next. Plans and placements come from the cost model's FLOP-based
predictions, so reruns from one seed choose the same splits. Energy is the vehicle's power
model applied to its compute time and radio bytes, summed over the route (idle power excluded).
Frames run in route order with every strategy in turn, so drift in machine load hits all alike;
placements that differ only in where the same ops run share one measurement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from skyline.bench import metrics
from skyline.bench.plots import line_plot
from skyline.bench.runner import RUNNERS, RunData, ScenarioRunner, SeedContext
from skyline.data import fashion_mnist, split_holdout
from skyline.errors import ConfigError
from skyline.exits import EarlyExitNet, choose_thresholds, fashion_exit_net, predict_logits
from skyline.exits.train import train_joint
from skyline.graph import CostModel, profile
from skyline.plan import Plan, Problem, StageModule, planners, split
from skyline.runtime.adapt import Replanner
from skyline.sched.observation import Observation
from skyline.sched.policies import create as create_policy
from skyline.topology import BandwidthTrace, PowerModel, Tier, Topology
from skyline.topology.spec import _invalid  # the shared error-with-fix for validators

_METHOD = __doc__ or ""  # the module docstring: how the numbers are obtained, for the report
_CONFIG = ConfigDict(frozen=True, extra="forbid")
_OUTAGE_MBPS = 1e-3  # the rate a re-planner assumes while the link is down (nothing offloads)
_POLICIES = {"offload-min-latency": "greedy-min-latency", "offload-energy-aware": "energy-aware"}


class DrivingModels(BaseModel):
    """The perception model (a multi-exit CNN) and how it is trained."""

    model_config = _CONFIG

    width: int = Field(1, ge=1, description="channel multiplier of fashion_exit_net")
    train_samples: int = Field(
        8000, ge=100, le=50_000, description="training images", examples=[8000]
    )
    holdout: int = Field(1000, ge=100, le=10_000, description="held-out images for exit thresholds")
    epochs: int = Field(2, ge=1, description="training epochs", examples=[2])
    lr: float = Field(2e-3, gt=0, description="Adam learning rate")
    batch: int = Field(128, ge=1, description="minibatch size")
    max_loss: float = Field(
        0.01, ge=0, lt=1, description="accuracy the early exits may lose on held-out data"
    )


class DrivingWorkload(BaseModel):
    """The road, the RSUs, the radio, the frames and the deadline."""

    model_config = _CONFIG

    route_m: float = Field(1500.0, gt=0, description="road length driven, m", examples=[1500])
    speed_mps: float = Field(15.0, gt=0, description="vehicle speed, m/s", examples=[15.0])
    fps: float = Field(10.0, gt=0, description="camera frames per second", examples=[10.0])
    crops: int = Field(128, ge=1, description="object crops classified per frame")
    deadline_ms: float = Field(100.0, gt=0, description="per-frame deadline, ms")
    rsu_spacing_m: float = Field(500.0, gt=0, description="distance between RSUs, m")
    rsu_offset_m: float = Field(10.0, ge=0, description="RSU distance from the road, m")
    ref_m: float = Field(50.0, gt=0, description="distance up to which the link's rate holds")
    exponent: float = Field(1.5, ge=0, description="rate falls as (ref_m / distance) ** this")
    min_mbps: float = Field(2.0, gt=0, description="rate at the cell edge, at least")
    handover_ms: float = Field(200.0, ge=0, description="link outage at each handover, ms")
    planner: str = Field("neurosurgeon", description="planner of the split strategies")
    hysteresis: float = Field(0.1, ge=0, lt=1, description="adaptive-split re-plan margin")

    @property
    def frames(self) -> int:
        return int(self.route_m / self.speed_mps * self.fps)

    @model_validator(mode="after")
    def _some_frames(self) -> Self:
        if self.frames < 2:
            raise _invalid(
                f"the drive lasts {self.route_m / self.speed_mps:g} s: {self.frames} frame(s) "
                f"at {self.fps:g} per second",
                "lengthen route_m or raise fps so the drive has at least two frames",
                loc=("route_m",),
                value=self.route_m,
            )
        return self


class DrivingSettings(BaseModel):
    model_config = _CONFIG

    models: DrivingModels = Field(default_factory=DrivingModels)
    workload: DrivingWorkload = Field(default_factory=DrivingWorkload)


@dataclass(frozen=True)
class Route:
    """Per frame: time, position, serving RSU and uplink rate; outages as (start, end) s."""

    t_s: np.ndarray
    x_m: np.ndarray
    rsu: np.ndarray
    up_mbps: np.ndarray
    outages_s: tuple[tuple[float, float], ...]

    def ready_s(self, t_s: float) -> float:
        """When the link can carry data that is ready to go at `t_s` (after any outage)."""
        for start, end in self.outages_s:
            if start <= t_s < end:
                return end
        return t_s

    def link_up(self, i: int) -> bool:
        """Whether frame i started outside a handover outage."""
        return bool(self.ready_s(float(self.t_s[i])) == self.t_s[i])

    def known_mbps(self, i: int) -> float:
        """The rate the vehicle knows before frame i: what frame i - 1 saw (frame 0: the rate
        at association), nil if that frame met an outage."""
        j = max(i - 1, 0)
        return float(self.up_mbps[j]) if self.link_up(j) else _OUTAGE_MBPS


def drive(w: DrivingWorkload, peak_mbps: float) -> Route:
    """The vehicle's frames along the road, attached to the nearest RSU."""
    t_s = np.arange(w.frames) / w.fps
    x_m = t_s * w.speed_mps
    rsu_x = np.arange(w.rsu_spacing_m / 2, w.route_m + w.rsu_spacing_m, w.rsu_spacing_m)
    along = np.abs(x_m[:, None] - rsu_x[None, :])
    rsu = np.argmin(along, axis=1)
    distance = np.hypot(along[np.arange(len(t_s)), rsu], w.rsu_offset_m)
    up = peak_mbps * (w.ref_m / np.maximum(distance, w.ref_m)) ** w.exponent
    up = np.maximum(up, w.min_mbps)
    # the handover happens where the next RSU becomes the nearer: midway between the two
    switches = (rsu_x[:-1] + rsu_x[1:]) / 2 / w.speed_mps
    outages = tuple(
        (float(s), float(s + w.handover_ms / 1e3)) for s in switches if s < t_s[-1] + 1 / w.fps
    )
    return Route(t_s, x_m, rsu, up, outages)


class FinalExit(nn.Module):
    """The backbone and final head of an early-exit net: what runs when no exit is taken."""

    def __init__(self, net: EarlyExitNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.net.blocks:
            x = block(x)
        return cast(torch.Tensor, self.net.heads[str(self.net.exit_blocks[-1])](x))


@dataclass
class Placement:
    """A plan made runnable: its stages, and the bytes and round trips each hop carries."""

    plan: Plan
    stages: list[StageModule]
    up_bytes: np.ndarray  # per hop
    down_bytes: np.ndarray
    hops: int  # hops used (0: all on the vehicle)
    vehicle_share: float  # predicted share of the model's compute on the vehicle
    predicted_compute_s: float
    predicted_fixed_s: float  # transfers beyond the first hop and round trips, predicted
    predicted_hop0_s_mbps: float  # first-hop transfer time x rate (s * Mbit/s)


@dataclass
class _Outcome:
    latency_ms: list[float] = field(default_factory=list)
    predicted: list[np.ndarray] = field(default_factory=list)
    exits: list[np.ndarray] = field(default_factory=list)
    share: list[float] = field(default_factory=list)
    energy_j: float = 0.0
    bytes_up: float = 0.0
    bytes_down: float = 0.0

    def add(
        self,
        latency_s: float,
        vehicle_s: float,
        predicted: np.ndarray,
        power: PowerModel,
        up: float = 0.0,
        down: float = 0.0,
    ) -> None:
        """One frame: its latency, the vehicle's compute, its answers and radio bytes."""
        self.latency_ms.append(latency_s * 1e3)
        self.predicted.append(predicted)
        self.bytes_up += up
        self.bytes_down += down
        self.energy_j += metrics.energy_j(
            power, busy_s=vehicle_s, idle_s=0.0, tx_bytes=up, rx_bytes=down
        )


class _World:
    """Everything one seed's strategies share: the route, the trained model, its graph and
    plans, the frames, and the measured host time of each (frame, op partition)."""

    def __init__(self, ctx: SeedContext) -> None:
        s = cast(DrivingSettings, ctx.settings)
        self.w, m = s.workload, s.models
        self.topology = ctx.topology
        path = ctx.topology.path([Tier.DEVICE, Tier.EDGE, Tier.CLOUD])
        self.vehicle, self.rsu, self.cloud = (n.name for n in path)
        self.radio = ctx.topology.link(self.vehicle, self.rsu)
        self.wan = ctx.topology.link(self.rsu, self.cloud)
        if self.radio.trace is not None:
            raise ConfigError(
                f"link {self.radio.name} has a bandwidth trace; the driving scenario derives it "
                "from the vehicle's position",
                fix="drop the trace and set up_mbps (the rate within ref_m of an RSU)",
            )
        self.route = drive(self.w, self.radio.mbps(self.vehicle))
        ratio = self.radio.down_mbps / self.radio.up_mbps
        trace = BandwidthTrace(
            times_s=self.route.t_s.tolist(),
            up_mbps=self.route.up_mbps.tolist(),
            down_mbps=(self.route.up_mbps * ratio).tolist(),
        )
        moving = ctx.topology.with_link(self.vehicle, self.rsu, trace=trace)
        self.radio_at = moving.link(self.vehicle, self.rsu)  # at the rate where the vehicle is
        ctx.progress(0.02, "training the perception model")
        self.net, self.thresholds = _trained(m, ctx.seed)
        test = fashion_mnist("test")
        order = torch.randperm(len(test), generator=torch.Generator().manual_seed(ctx.seed))
        self.images, self.labels = test.tensors[0][order], test.tensors[1][order]
        self.graph = profile(FinalExit(self.net), (self.frame(0)[0],), name="perception", repeats=5)
        cm = CostModel(ctx.topology)
        host_s = self.graph.total_host_time_s
        self.factor = {n.name: cm.op_times_s(self.graph, n).sum() / host_s for n in path}
        self.problem = Problem(self.graph, ctx.topology)
        self.placements: dict[str, Placement] = {}
        self.measured: dict[tuple[int, tuple[tuple[str, ...], ...]], list[float]] = {}
        self.classes = np.zeros(0, dtype=np.int64)  # the final exit's answers, last frame run

    def frame(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame i's crops and labels (the shuffled test set, wrapping around)."""
        idx = (np.arange(self.w.crops) + i * self.w.crops) % len(self.labels)
        return self.images[idx], self.labels[idx]

    def at_mbps(self, mbps: float) -> Topology:
        ratio = self.radio.down_mbps / self.radio.up_mbps
        return self.topology.with_link(self.vehicle, self.rsu, up_mbps=mbps, down_mbps=mbps * ratio)

    def placement(self, plan: Plan) -> Placement:
        if plan.key not in self.placements:
            where = plan.placement()
            labels = np.array([plan.path.index(where[op.name]) for op in self.graph.ops])
            b = self.problem.evaluate(labels)
            hops = int(labels.max())
            self.placements[plan.key] = Placement(
                plan=plan,
                stages=cast(list[StageModule], list(split(self.graph, plan).stages)),
                up_bytes=b.up_bytes,
                down_bytes=b.down_bytes,
                hops=hops,
                vehicle_share=float(b.compute_s[0] / b.compute_s.sum()),
                predicted_compute_s=float(b.compute_s.sum()),
                predicted_fixed_s=float(b.up_s[1:].sum() + b.down_s[1:].sum() + b.rtt_s),
                predicted_hop0_s_mbps=float(b.up_s[0] + b.down_s[0]) * self.radio.up_mbps,
            )
        return self.placements[plan.key]

    def whole(self, node: int) -> Placement:
        """The whole model on path node 0 (vehicle), 1 (RSU) or 2 (cloud)."""
        labels = np.full(self.graph.num_ops, node, dtype=np.int64)
        return self.placement(self.problem.to_plan(labels, f"whole@{node}"))

    def run(self, i: int, p: Placement) -> tuple[float, float]:
        """Frame i under placement p: (latency s, vehicle compute s). The stages run for real
        once per frame and op partition (placements that differ only in where they run share
        the measurement; frames run in order, so only the current frame's are kept); each
        stage's time is scaled to its node."""
        working = [(st, module) for st, module in zip(p.plan.stages, p.stages) if st.ops]
        key = (i, tuple(tuple(st.ops) for st, _ in working))
        if key not in self.measured:
            if all(k[0] != i for k in self.measured):
                self.measured.clear()
            env: dict[str, torch.Tensor] = {self.graph.inputs[0].name: self.frame(i)[0]}
            times = []
            with torch.no_grad():
                for _, stage in working:  # an empty stage only forwards the input
                    start = time.perf_counter()
                    env.update(stage(env))
                    times.append(time.perf_counter() - start)
            self.measured[key] = times
            self.classes = env[self.graph.outputs[0]].argmax(1).numpy()
        node_s = {
            st.node: h * self.factor[st.node] for (st, _), h in zip(working, self.measured[key])
        }
        vehicle_s = node_s.get(self.vehicle, 0.0)
        t0 = float(self.route.t_s[i])
        t = t0 + vehicle_s
        if p.hops:
            t = self.route.ready_s(t)
            t += self.radio.rtt_ms / 1e3 + self.radio_at.transfer_s(p.up_bytes[0], self.vehicle, t)
            t += node_s.get(self.rsu, 0.0)
            if p.hops > 1:
                t += self.wan.rtt_ms / 1e3 + self.wan.transfer_s(p.up_bytes[1], self.rsu, t)
                t += node_s[self.cloud] + self.wan.transfer_s(p.down_bytes[1], self.cloud, t)
            t += self.radio_at.transfer_s(p.down_bytes[0], self.rsu, t)
        return t - t0, vehicle_s

    def predicted_s(self, p: Placement, mbps: float) -> float:
        """The cost model's latency of p at first-hop rate `mbps`."""
        return p.predicted_compute_s + p.predicted_fixed_s + p.predicted_hop0_s_mbps / mbps


def _trained(m: DrivingModels, seed: int) -> tuple[EarlyExitNet, tuple[float, ...]]:
    """The multi-exit CNN trained on Fashion-MNIST, and its exit thresholds from held-out
    images (confidence: top softmax probability)."""
    train, held = split_holdout(
        fashion_mnist("train", limit=m.train_samples + m.holdout), m.holdout, seed=seed
    )
    net = fashion_exit_net(seed=seed, width=m.width)
    train_joint(net, train, epochs=m.epochs, lr=m.lr, batch_size=m.batch, seed=seed)
    logits = predict_logits(net, held)
    confidence = np.stack([torch.softmax(lg, 1).amax(1).numpy() for lg in logits])
    correct = np.stack([(lg.argmax(1) == held.tensors[1]).numpy() for lg in logits])
    return net, choose_thresholds(confidence, correct, max_loss=m.max_loss)


def exit_run(
    net: EarlyExitNet, x: torch.Tensor, thresholds: tuple[float, ...]
) -> tuple[float, np.ndarray, np.ndarray]:
    """The crops through the net, each leaving at its first exit confident enough:
    (measured host seconds, predicted class, exit index) with exits numbered 0, 1, ..."""
    n = len(x)
    predicted = np.zeros(n, dtype=np.int64)
    exits = np.full(n, len(thresholds), dtype=np.int64)
    alive = np.arange(n)
    host_s, k = 0.0, 0
    with torch.no_grad():
        for i, block in enumerate(net.blocks):
            start = time.perf_counter()
            x = block(x)
            if str(i) in net.heads:
                top = torch.softmax(net.heads[str(i)](x), 1).max(1)
                last = k == len(thresholds)
                stop = np.ones(len(alive), bool) if last else (top.values >= thresholds[k]).numpy()
                x = x[torch.from_numpy(~stop)]
                predicted[alive[stop]] = top.indices.numpy()[stop]
                exits[alive[stop]] = k
                alive, k = alive[~stop], k + 1
            host_s += time.perf_counter() - start
            if not alive.size:
                break
    return host_s, predicted, exits


class DrivingRunner(ScenarioRunner):
    """Vehicle perception under a deadline while driving past RSUs: where should it run?"""

    name = "driving"
    method = _METHOD
    strategies = ("vehicle-only", "static-split", "early-exit", "adaptive-split", *_POLICIES)
    settings_model = DrivingSettings

    def run_seed(self, ctx: SeedContext) -> None:
        world = _World(ctx)
        route, w = world.route, world.w
        ctx.series.update(
            {
                "latency_ms": {},
                "latency_source": {},
                "vehicle_share": {},
                "deadline_ms": w.deadline_ms,
                "x_m": np.round(route.x_m, 3).tolist(),
                "up_mbps": [
                    round(float(route.up_mbps[i]), 4) if route.link_up(i) else 0.0
                    for i in range(len(route.t_s))
                ],
                "handover_m": [round(start * w.speed_mps, 3) for start, _ in route.outages_s],
                "thresholds": list(world.thresholds),
            }
        )
        todo = ctx.scenario.strategies
        choosers = {s: self._chooser(world, s, ctx.seed) for s in todo if s != "early-exit"}
        outcomes = {s: _Outcome() for s in todo}
        power = world.topology.node(world.vehicle).power
        n = len(route.t_s)
        # frame by frame, every strategy in turn, so drift in machine load hits all alike
        for i in range(n):
            for strategy, out in outcomes.items():
                if strategy == "early-exit":
                    host_s, predicted, exits = exit_run(
                        world.net, world.frame(i)[0], world.thresholds
                    )
                    vehicle_s = host_s * world.factor[world.vehicle]
                    out.add(vehicle_s, vehicle_s, predicted, power)
                    out.exits.append(exits)
                    continue
                p = choosers[strategy](i)
                latency_s, vehicle_s = world.run(i, p)
                up, down = (p.up_bytes[0], p.down_bytes[0]) if p.hops else (0.0, 0.0)
                out.add(latency_s, vehicle_s, world.classes, power, up, down)
                out.share.append(p.vehicle_share)
            if i % 50 == 0:
                ctx.progress(0.1 + 0.9 * i / n, f"frame {i} of {n}")
        for strategy, out in outcomes.items():
            self._report(ctx, world, strategy, out)
            if out.share:
                ctx.series["vehicle_share"][strategy] = np.round(out.share, 4).tolist()

    def _chooser(self, world: _World, strategy: str, seed: int) -> Callable[[int], Placement]:
        """What picks frame i's placement under `strategy`."""
        if strategy == "static-split":
            return self._static(world)
        if strategy == "adaptive-split":
            return self._adaptive(world)
        if strategy in _POLICIES:
            return self._policy(world, strategy, seed)
        vehicle = world.whole(0)
        return lambda i: vehicle

    def _static(self, world: _World) -> Callable[[int], Placement]:
        """The planner's plan at the mean rate along the route, for every frame."""
        mean = float(np.mean(world.route.up_mbps))
        plan = planners.create(world.w.planner).plan(world.graph, world.at_mbps(mean))
        fixed = world.placement(plan)
        return lambda i: fixed

    def _adaptive(self, world: _World) -> Callable[[int], Placement]:
        """The Replanner's choice at the rate the previous frame saw."""
        replanner = Replanner(
            world.graph,
            world.topology,
            (world.vehicle, world.rsu),
            planner=world.w.planner,
            hysteresis=world.w.hysteresis,
        )
        current: list[str] = []

        def choose(i: int) -> Placement:
            key = replanner.choose(world.route.known_mbps(i), current[-1] if current else None)
            current.append(key)
            return world.placement(replanner.plans[key])

        return choose

    def _policy(self, world: _World, name: str, seed: int) -> Callable[[int], Placement]:
        """A scheduling policy placing each whole frame on the vehicle, the RSU or the cloud,
        from costs the cost model predicts at the rate the previous frame saw."""
        policy = create_policy(_POLICIES[name], seed=seed)
        whole = [world.whole(k) for k in range(3)]
        power = world.topology.node(world.vehicle).power
        local_j = (power.active_w - power.idle_w) * whole[0].predicted_compute_s
        radio_j = [
            8 * (power.tx_j_per_bit * p.up_bytes[0] + power.rx_j_per_bit * p.down_bytes[0])
            for p in whole[1:]
        ]
        one = np.ones((1, 3))

        def choose(i: int) -> Placement:
            mbps = world.route.known_mbps(i)
            latency = np.array([[world.predicted_s(p, mbps) for p in whole]])
            compute = np.array([[p.predicted_compute_s for p in whole]])
            obs = Observation(
                time_s=float(world.route.t_s[i]),
                targets=("local", world.rsu, world.cloud),
                tiers=(Tier.DEVICE, Tier.EDGE, Tier.CLOUD),
                device=np.zeros(1, dtype=np.int64),
                task_type=np.zeros(1, dtype=np.int64),
                deadline_s=np.array([world.w.deadline_ms / 1e3]),
                edge=np.ones(1, dtype=np.int64),
                reachable=np.array([[True, *[mbps > _OUTAGE_MBPS] * 2]]),
                compute_s=compute,
                transfer_s=latency - compute,
                wait_s=np.zeros((1, 3)),
                energy_j=np.array([[local_j, *radio_j]]),
                accuracy=one,
                lanes=one,
            )
            return whole[int(policy.place(obs)[0])]

        return choose

    def _report(self, ctx: SeedContext, world: _World, strategy: str, out: _Outcome) -> None:
        latency = np.array(out.latency_ms)
        ctx.add(strategy, "latency_p50_ms", metrics.latency_p50_ms(latency), "predicted")
        ctx.add(strategy, "latency_p95_ms", metrics.latency_p95_ms(latency), "predicted")
        miss = metrics.deadline_miss_rate(latency, world.w.deadline_ms)
        ctx.add(strategy, "deadline_miss_rate", miss, "predicted")
        labels = np.concatenate([world.frame(i)[1].numpy() for i in range(len(latency))])
        accuracy = metrics.top1_accuracy(labels, np.concatenate(out.predicted))
        ctx.add(strategy, "top1_accuracy", accuracy, "measured")
        if out.exits:
            rate = metrics.exit_rate(np.concatenate(out.exits), len(world.thresholds))
            ctx.add(strategy, "exit_rate", rate, "measured")
        ctx.add(strategy, "bytes_up", out.bytes_up, "simulated")
        ctx.add(strategy, "bytes_down", out.bytes_down, "simulated")
        ctx.add(strategy, "energy_j", out.energy_j, "predicted")
        ctx.series["latency_ms"][strategy] = np.round(latency, 4).tolist()
        ctx.series["latency_source"][strategy] = "predicted"

    def plots(self, run: RunData, out_dir: Path) -> list[tuple[str, Path]]:
        """The first seed's uplink rate along the route, and where each split strategy ran."""
        if not run.series:
            return []
        seed, first = next(iter(run.series.items()))
        x_m = first["x_m"]
        marks = {f"handover at {x:g} m": x for x in first["handover_m"][:4]}
        rate = line_plot(
            {"vehicle-RSU uplink": (x_m, first["up_mbps"])},
            out_dir / "route_bandwidth.png",
            title="Uplink rate to the serving RSU along the route (0: handover outage)",
            xlabel="position on the road (m)",
            ylabel="Mbit/s",
            vlines=marks,
        )
        share = line_plot(
            {name: (x_m, values) for name, values in first["vehicle_share"].items()},
            out_dir / "route_split.png",
            title=f"Where the model ran along the route (seed {seed})",
            xlabel="position on the road (m)",
            ylabel="share of compute on the vehicle",
            vlines=marks,
        )
        return [
            (
                "Simulated uplink rate from the vehicle to its nearest RSU: it peaks beside each "
                "RSU, falls with distance and drops to 0 during each handover outage.",
                rate,
            ),
            (
                "The split each strategy chose per frame, as the cost model's share of the "
                "model's compute run on the vehicle (1: all on the vehicle, 0: all offloaded).",
                share,
            ),
        ]


RUNNERS.add(DrivingRunner)
