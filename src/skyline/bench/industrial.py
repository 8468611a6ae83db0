"""Industrial automation: anomaly detection on machinery streams, under deadlines and drift.

Sensors on several machines stream vibration windows (`skyline.bench.sensors`, synthetic and
seeded: a stand-in for plant data) to an edge gateway that must decide each window within
`deadline_ms`. Midway the operating point drifts and a detector trained before then floods the
line with false alarms. Strategies:

- `edge-static`: the edge runs the 1-D CNN it was deployed with, never updated;
- `edge-cloud-retrain`: the edge also uploads every `upload_every`-th window; the cloud (which
  gets labels for what it receives: ground truth here, an operator or a larger model in a
  plant) checks the deployed model's accuracy on each batch of `check_every` uploads and, when
  it falls below `retrain_below_accuracy`, fine-tunes on recent uploads plus a replay of the
  original training set and ships the weights back; the edge swaps them in on arrival;
- `cloud-only`: every window goes to the cloud, which runs the deployed detector.

What is real and what is not: detector training, retraining and every inference run for real in
this process (torch on one thread), so F1 and friends are measured on real model outputs and
edge latency is the measured inference time plus the queue of windows that arrive together.
The stream clock is simulated: window arrivals, upload and model-download times (from the
topology's edge-cloud link, trace included) and the cloud's training time budget (`retrain_s`)
decide when a new model lands, so reruns from one seed swap at the same window. Cloud-only
latency is predicted by the link model and the cost model (no cloud process runs).

Detection delay is on the stream clock: from a fault's onset to the end of the first alarmed
window overlapping it (decision latency excluded; latency_*_ms reports it). Energy is the edge
node's power model applied to measured busy time and bytes sent (idle power excluded).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from skyline.bench import metrics
from skyline.bench.plots import line_plot
from skyline.bench.runner import RUNNERS, RunData, ScenarioRunner, SeedContext, Source
from skyline.bench.sensors import SensorStream, StreamSpec, machinery_stream
from skyline.graph import CostModel, profile
from skyline.topology import Link, Topology
from skyline.topology.spec import _invalid

_METHOD = __doc__ or ""  # the module docstring: how the numbers are obtained, for the report
_CONFIG = ConfigDict(frozen=True, extra="forbid")
_TRAIN_SEED_OFFSET = 1_000_003  # training data never overlaps a test stream's seed
_ALARM_BYTES = 4  # a cloud-only verdict travelling back: one float32


class IndustrialModels(BaseModel):
    """The detector and how it is trained and retrained."""

    model_config = _CONFIG

    channels: int = Field(16, ge=1, description="filters of the first conv layer", examples=[16])
    train_s: float = Field(
        120.0, gt=0, description="seconds of pre-drift stream to train on", examples=[120.0]
    )
    epochs: int = Field(4, ge=1, description="training epochs", examples=[4])
    lr: float = Field(3e-3, gt=0, description="Adam learning rate", examples=[0.003])
    batch: int = Field(64, ge=1, description="minibatch size", examples=[64])
    retrain_epochs: int = Field(5, ge=1, description="fine-tuning epochs in the cloud")
    retrain_lr: float = Field(1e-3, gt=0, description="fine-tuning learning rate")
    replay: int = Field(
        512, ge=0, description="original training windows mixed into each retraining"
    )


class IndustrialWorkload(BaseModel):
    """The plant, its stream, the drift, the deadline and the edge-cloud protocol."""

    model_config = _CONFIG

    machines: int = Field(4, ge=1, description="machines streaming to the edge", examples=[4])
    duration_s: float = Field(240.0, gt=0, description="stream length, s", examples=[240.0])
    sample_hz: float = Field(2000.0, gt=0, description="sensor sample rate, Hz")
    window: int = Field(256, ge=16, description="samples per window", examples=[256])
    shaft_hz: float = Field(30.0, gt=0, description="shaft frequency before the drift, Hz")
    noise: float = Field(0.3, ge=0, description="sensor noise standard deviation")
    fault_every_s: float = Field(6.0, gt=0, description="mean healthy gap between faults, s")
    fault_min_s: float = Field(0.6, gt=0, description="shortest fault, s")
    fault_max_s: float = Field(2.0, gt=0, description="longest fault, s")
    drift_at_s: float = Field(96.0, gt=0, description="when the operating point changes, s")
    drift_factor: float = Field(1.7, gt=0, description="shaft frequency multiplier at the drift")
    adapted_from_s: float = Field(
        168.0, gt=0, description="start of the after-retrain phase, s", examples=[168.0]
    )
    deadline_ms: float = Field(50.0, gt=0, description="per-window decision deadline, ms")
    upload_every: int = Field(4, ge=1, description="edge-cloud-retrain uploads every n-th window")
    check_every: int = Field(32, ge=1, description="uploads per accuracy check in the cloud")
    retrain_below_accuracy: float = Field(
        0.85, gt=0, le=1, description="retrain when a check's accuracy falls below this"
    )
    buffer: int = Field(256, ge=1, description="most recent uploads used for retraining")
    retrain_s: float = Field(
        5.0, ge=0, description="cloud training time budget on the stream clock, s"
    )
    accuracy_bin_s: float = Field(4.0, gt=0, description="bin width of accuracy-over-time, s")
    edge: str = Field("edge", description="topology node of the gateway", examples=["edge"])
    cloud: str = Field("cloud", description="topology node of the cloud", examples=["cloud"])

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.drift_at_s < self.adapted_from_s < self.duration_s:
            raise _invalid(
                f"need drift_at_s < adapted_from_s < duration_s, got {self.drift_at_s}, "
                f"{self.adapted_from_s}, {self.duration_s}",
                "move adapted_from_s between the drift and the end of the stream",
                loc=("adapted_from_s",),
                value=self.adapted_from_s,
            )
        if self.fault_min_s > self.fault_max_s:
            raise _invalid(
                "fault_min_s is longer than fault_max_s",
                "make fault_min_s <= fault_max_s",
                loc=("fault_min_s",),
                value=self.fault_min_s,
            )
        return self

    def stream(self, *, drift: bool, duration_s: float | None = None) -> StreamSpec:
        return StreamSpec(
            machines=self.machines,
            duration_s=self.duration_s if duration_s is None else duration_s,
            sample_hz=self.sample_hz,
            window=self.window,
            shaft_hz=self.shaft_hz,
            noise=self.noise,
            fault_every_s=self.fault_every_s,
            fault_min_s=self.fault_min_s,
            fault_max_s=self.fault_max_s,
            drift_at_s=self.drift_at_s if drift else None,
            drift_factor=self.drift_factor,
        )


class IndustrialSettings(BaseModel):
    model_config = _CONFIG

    models: IndustrialModels = Field(default_factory=IndustrialModels)
    workload: IndustrialWorkload = Field(default_factory=IndustrialWorkload)


def detector(channels: int) -> nn.Module:
    """A small 1-D CNN: three strided convolutions, a global max (impacts and spikes are local),
    one logit (> 0: anomaly)."""
    c = channels
    return nn.Sequential(
        nn.Conv1d(1, c, 9, stride=2, padding=4),
        nn.ReLU(),
        nn.Conv1d(c, 2 * c, 9, stride=2, padding=4),
        nn.ReLU(),
        nn.Conv1d(2 * c, 2 * c, 9, stride=2, padding=4),
        nn.ReLU(),
        nn.AdaptiveMaxPool1d(1),
        nn.Flatten(),
        nn.Linear(2 * c, 1),
    )


def fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch: int,
    seed: int,
) -> nn.Module:
    """Adam on binary cross-entropy, shuffled by its own generator (reproducible per seed)."""
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    inputs = torch.from_numpy(x)[:, None]
    targets = torch.from_numpy(y).float()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), batch):
            idx = order[start : start + batch]
            loss = nn.functional.binary_cross_entropy_with_logits(
                model(inputs[idx]).squeeze(1), targets[idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """Alarms (0/1) for a batch of windows."""
    with torch.no_grad():
        return (model(torch.from_numpy(x)[:, None]).squeeze(1) > 0).numpy().astype(np.int64)


def _state_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


@dataclass
class _Outcome:
    """What one strategy did over the stream."""

    alarms: np.ndarray
    latency_ms: np.ndarray
    latency_source: Source
    latency_timing: bool
    busy_s: float = 0.0
    bytes_up: int = 0
    bytes_down: int = 0
    swaps_s: list[float] = field(default_factory=list)
    retrain_s: list[float] = field(default_factory=list)


class _Cloud:
    """The cloud side of edge-cloud-retrain: receives uploads, checks, retrains, ships weights."""

    def __init__(
        self,
        model: nn.Module,
        stream: SensorStream,
        train: SensorStream,
        settings: IndustrialSettings,
        link: Link,
        seed: int,
    ) -> None:
        self.model = copy.deepcopy(model)
        self.stream, self.train, self.settings, self.link = stream, train, settings, link
        self.seed = seed
        self.received: list[int] = []
        self.unchecked = 0
        self.retrain_s: list[float] = []

    def receive(self, index: int) -> tuple[float, dict[str, torch.Tensor]] | None:
        """Take an upload; when a check fails, retrain and return (arrival at the edge, weights)."""
        w = self.settings.workload
        self.received.append(index)
        self.unchecked += 1
        if self.unchecked < w.check_every:
            return None
        self.unchecked = 0
        recent = np.array(self.received[-w.check_every :])
        labels = self.stream.label[recent]
        if metrics.accuracy(labels, predict(self.model, self.stream.windows[recent])) >= (
            w.retrain_below_accuracy
        ):
            return None
        return self._retrain(float(self.stream.arrival_s[index]))

    def _retrain(self, t_s: float) -> tuple[float, dict[str, torch.Tensor]]:
        m, w = self.settings.models, self.settings.workload
        rng = np.random.default_rng([self.seed, len(self.retrain_s)])
        replay = rng.choice(len(self.train.label), min(m.replay, len(self.train.label)), False)
        recent = np.array(self.received[-w.buffer :])
        x = np.concatenate([self.stream.windows[recent], self.train.windows[replay]])
        y = np.concatenate([self.stream.label[recent], self.train.label[replay]])
        start = time.perf_counter()
        fit(
            self.model,
            x,
            y,
            epochs=m.retrain_epochs,
            lr=m.retrain_lr,
            batch=m.batch,
            seed=self.seed + len(self.retrain_s),
        )
        self.retrain_s.append(time.perf_counter() - start)
        state = copy.deepcopy(self.model.state_dict())
        ready_s = t_s + w.retrain_s + _one_way_s(self.link, _state_bytes(self.model), w.cloud, t_s)
        return ready_s, state


def _one_way_s(link: Link, nbytes: float, src: str, t_s: float) -> float:
    """Half the RTT plus transmission at the link's rate at `t_s`."""
    return link.rtt_ms / 2e3 + link.transfer_s(nbytes, src, t_s)


class IndustrialRunner(ScenarioRunner):
    """Edge anomaly detection under drift: static edge model vs cloud retraining vs cloud-only."""

    name = "industrial"
    method = _METHOD
    strategies = ("edge-static", "edge-cloud-retrain", "cloud-only")
    phases = ("before-drift", "after-drift", "after-retrain")
    settings_model = IndustrialSettings

    def run_seed(self, ctx: SeedContext) -> None:
        s = cast(IndustrialSettings, ctx.settings)
        w = s.workload
        link = ctx.topology.link(w.edge, w.cloud)
        ctx.progress(0.0, "generating streams")
        stream = machinery_stream(w.stream(drift=True), ctx.seed)
        train = machinery_stream(
            w.stream(drift=False, duration_s=s.models.train_s), ctx.seed + _TRAIN_SEED_OFFSET
        )
        ctx.progress(0.05, "training the detector")
        model = fit(
            detector(s.models.channels),
            train.windows,
            train.label,
            epochs=s.models.epochs,
            lr=s.models.lr,
            batch=s.models.batch,
            seed=ctx.seed,
        )
        runs: dict[str, Callable[[], _Outcome]] = {
            "edge-static": lambda: self._edge(model, stream, None, step),
            "edge-cloud-retrain": lambda: self._edge(
                model, stream, _Cloud(model, stream, train, s, link, ctx.seed), step
            ),
            "cloud-only": lambda: self._cloud_only(model, stream, ctx.topology, w),
        }
        series: dict[str, Any] = {
            "latency_ms": {},
            "latency_source": {},
            "swaps_s": {},
            "accuracy": {},
            "drift_at_s": w.drift_at_s,
            "deadline_ms": w.deadline_ms,
        }
        todo = ctx.scenario.strategies
        for i, strategy in enumerate(todo):

            def step(fraction: float, i: int = i, strategy: str = strategy) -> None:
                ctx.progress(0.1 + 0.9 * (i + fraction) / len(todo), strategy)

            step(0.0)
            outcome = runs[strategy]()
            self._report(ctx, strategy, outcome, stream, s)
            series["latency_ms"][strategy] = np.round(outcome.latency_ms, 4).tolist()
            series["latency_source"][strategy] = outcome.latency_source
            series["swaps_s"][strategy] = outcome.swaps_s
            t_s, acc = _accuracy_over_time(stream, outcome.alarms, w.accuracy_bin_s)
            series["accuracy_t_s"] = t_s
            series["accuracy"][strategy] = acc
        ctx.series.update(series)

    def _edge(
        self,
        model: nn.Module,
        stream: SensorStream,
        cloud: _Cloud | None,
        progress: Callable[[float], None],
    ) -> _Outcome:
        """Windows one at a time in arrival order, timed; uploads and swaps when a cloud helps."""
        current = copy.deepcopy(model)
        n = len(stream.label)
        alarms = np.zeros(n, dtype=np.int64)
        latency_ms = np.zeros(n)
        pending: list[tuple[float, dict[str, torch.Tensor]]] = []
        out = _Outcome(alarms, latency_ms, "measured", True)
        free_s = 0.0
        for i in range(n):
            arrival = float(stream.arrival_s[i])
            while pending and arrival >= pending[0][0]:  # the newest arrived weights win
                current.load_state_dict(pending.pop(0)[1])
                out.swaps_s.append(arrival)
            x = torch.from_numpy(stream.windows[i : i + 1])[:, None]
            start = time.perf_counter()
            with torch.no_grad():
                alarms[i] = int(current(x).item() > 0)
            service_s = time.perf_counter() - start
            free_s = max(arrival, free_s) + service_s
            latency_ms[i] = (free_s - arrival) * 1e3
            out.busy_s += service_s
            if cloud is not None and i % cloud.settings.workload.upload_every == 0:
                out.bytes_up += stream.windows[i].nbytes
                shipped = cloud.receive(i)
                if shipped is not None:
                    pending = sorted([*pending, shipped], key=lambda p: p[0])
                    out.bytes_down += _state_bytes(current)
            if i % 2000 == 0:
                progress(i / n)
        if cloud is not None:
            out.retrain_s = cloud.retrain_s
        return out

    def _cloud_only(
        self, model: nn.Module, stream: SensorStream, topology: Topology, w: IndustrialWorkload
    ) -> _Outcome:
        """Every window up, verdict down; latency by the link model plus the cost model's
        compute time on the cloud node."""
        link = topology.link(w.edge, w.cloud)
        example = torch.from_numpy(stream.windows[:1])[:, None]
        graph = profile(model, (example,), name="detector", repeats=1)
        compute_s = float(CostModel(topology).op_times_s(graph, w.cloud).sum())
        window_bytes = stream.windows[0].nbytes
        latency_ms = np.array(
            [
                1e3
                * (
                    link.rtt_ms / 1e3
                    + link.transfer_s(window_bytes, w.edge, t)
                    + compute_s
                    + link.transfer_s(_ALARM_BYTES, w.cloud, t)
                )
                for t in stream.arrival_s
            ]
        )
        timing = topology.node(w.cloud).speed is not None  # then the cost model scales host time
        out = _Outcome(predict(model, stream.windows), latency_ms, "predicted", timing)
        out.bytes_up = window_bytes * len(stream.label)
        out.bytes_down = _ALARM_BYTES * len(stream.label)
        return out

    def _report(
        self,
        ctx: SeedContext,
        strategy: str,
        out: _Outcome,
        stream: SensorStream,
        s: IndustrialSettings,
    ) -> None:
        w = s.workload
        src, timing = out.latency_source, out.latency_timing
        ctx.add(
            strategy, "latency_p50_ms", metrics.latency_p50_ms(out.latency_ms), src, timing=timing
        )
        ctx.add(
            strategy, "latency_p95_ms", metrics.latency_p95_ms(out.latency_ms), src, timing=timing
        )
        miss = metrics.deadline_miss_rate(out.latency_ms, w.deadline_ms)
        ctx.add(strategy, "deadline_miss_rate", miss, src, timing=timing)
        ctx.add(strategy, "bytes_up", out.bytes_up, "simulated")
        ctx.add(strategy, "bytes_down", out.bytes_down, "simulated")
        power = ctx.topology.node(w.edge).power
        energy = metrics.energy_j(power, busy_s=out.busy_s, idle_s=0.0, tx_bytes=out.bytes_up)
        ctx.add(strategy, "energy_j", energy, "predicted", timing=out.busy_s > 0)
        ctx.add(strategy, "model_swaps", len(out.swaps_s), "simulated")
        if out.retrain_s:
            ctx.add(strategy, "retrain_time_s", float(np.sum(out.retrain_s)), "measured")
        bounds = {
            "before-drift": (0.0, w.drift_at_s),
            "after-drift": (w.drift_at_s, w.adapted_from_s),
            "after-retrain": (w.adapted_from_s, w.duration_s + 1.0),
        }
        window_s = w.window / w.sample_hz
        # one time axis for all machines: machine m's stream shifted by m * (duration + 1 s)
        shift = w.duration_s + 1.0
        alarm_ms = (stream.arrival_s + stream.machine * shift)[out.alarms == 1] * 1e3
        for phase, (lo, hi) in bounds.items():
            mask = (stream.arrival_s > lo) & (stream.arrival_s <= hi)
            truth, alarms = stream.label[mask], out.alarms[mask]
            for score in (metrics.accuracy, metrics.precision, metrics.recall, metrics.f1):
                ctx.add(strategy, score.__name__, score(truth, alarms), "measured", phase=phase)
            events = [
                (
                    (e.onset_s + e.machine * shift) * 1e3,
                    (e.end_s + window_s + e.machine * shift) * 1e3,
                )
                for e in stream.events
                if lo <= e.onset_s < hi
            ]
            delay = metrics.detection_delay_ms(events, alarm_ms)
            ctx.add(strategy, "detection_delay_ms", delay, "simulated", phase=phase)
            ctx.add(
                strategy,
                "event_recall",
                metrics.event_recall(events, alarm_ms),
                "measured",
                phase=phase,
            )

    def plots(self, run: RunData, out_dir: Path) -> list[tuple[str, Path]]:
        """Accuracy over stream time per strategy (mean over seeds), drift marked."""
        seeds = list(run.series.values())
        if not seeds:
            return []
        t_s = seeds[0]["accuracy_t_s"]
        lines = {
            name: (t_s, np.mean([s["accuracy"][name] for s in seeds], axis=0).tolist())
            for name in seeds[0]["accuracy"]
        }
        drift = seeds[0]["drift_at_s"]
        marks = {"drift": drift}
        first_seed, first = next(iter(run.series.items()))
        swaps = first["swaps_s"].get("edge-cloud-retrain", [])
        if swaps:
            marks[f"first retrained model lands (seed {first_seed})"] = swaps[0]
        path = line_plot(
            lines,
            out_dir / "accuracy_over_time.png",
            title=f"Window accuracy over stream time (drift at {drift:g} s)",
            xlabel="stream time (s)",
            ylabel="accuracy (mean over seeds)",
            vlines=marks,
        )
        caption = (
            "Accuracy of each strategy's verdicts per time bin, measured on real model outputs; "
            "vertical lines mark the drift and when the first retrained model reached the edge. "
            "edge-static and cloud-only run the same model, so their lines coincide."
        )
        return [(caption, path)]


def _accuracy_over_time(
    stream: SensorStream, alarms: np.ndarray, bin_s: float
) -> tuple[list[float], list[float]]:
    edges = np.arange(0.0, stream.duration_s + bin_s, bin_s)
    which = np.digitize(stream.arrival_s, edges[1:], right=True)
    centers, acc = [], []
    for b in range(len(edges) - 1):
        mask = which == b
        if mask.any():
            centers.append(float((edges[b] + edges[b + 1]) / 2))
            acc.append(metrics.accuracy(stream.label[mask], alarms[mask]))
    return centers, acc


RUNNERS.add(IndustrialRunner)
