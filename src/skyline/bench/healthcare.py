"""Healthcare: hospitals learn a diagnosis together without pooling patient records, by
hierarchical federated learning, with and without differential privacy.

The data is a stand-in for hospital records: scikit-learn's bundled Wisconsin breast-cancer
diagnostic data (569 patients, 30 cell-nucleus measurements from fine-needle aspirate images,
malignant or benign). It is real, public clinical data, but tiny. 20 % of the patients (seeded)
are held out as the test split every model is judged on; the rest are spread over the clinics
non-IID (Dirichlet label skew, `alpha`), `clinics_per_hospital` clinics under each hospital.
Features are standardized with statistics of the training split only. The model is an MLP
(30-64-2).

Topology: each clinic is a device linked to its hospital's edge server, each hospital to the
cloud (`skyline.fl.fl_topology` from the presets named in the workload; the scenario's own
`topology` is not used, since every clinic is a node). Strategies:

- `local-only`: each hospital trains alone on its clinics' patients, for as many epochs as an
  FL clinic trains in total; accuracy is the mean over hospitals; nothing is sent;
- `flat-fedavg`: FedAvg at the cloud, every clinic's update crossing its hospital to the
  cloud, rounds x edge_rounds rounds (the same local training as the hierarchy);
- `hier-fedavg`: HierFAVG: each hospital averages its clinics for `edge_rounds` rounds, then
  the cloud averages the hospitals, `rounds` times;
- `hier-dp-z1`, `hier-dp-z2`, `hier-dp-z4`: `hier-fedavg` with DP-SGD (Opacus) in every
  clinic at noise multiplier 1, 2 or 4: per-patient gradients clipped to `max_grad_norm`,
  Gaussian noise, Poisson-sampled batches.

What is real and what is not: every FL strategy is a real Flower simulation on Ray (client
actors are processes); training and test accuracy are measured on real model outputs. Bytes
per tier are the measured payloads of the messages sent (both directions). Epsilon is not
measured: it is the bound Opacus's RDP accountant computes from each clinic's noise,
sampling rate and steps (record-level (epsilon, delta)-DP for that clinic's patients, at the
scenario's delta); the largest over clinics is reported, so it is marked predicted.
Communication time and the clinics' radio energy are predicted from the topology's links and
power models (bytes over rate plus half an RTT, slowest link per tier; no link is emulated).
Flower returns replies in a timing-dependent order; Skyline aggregates them by client id, so
reruns from one seed reproduce every number except wall times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Self, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch.utils.data import TensorDataset

from skyline.bench import metrics
from skyline.bench.plots import line_plot
from skyline.bench.runner import RUNNERS, RunData, ScenarioRunner, SeedContext
from skyline.errors import ConfigError
from skyline.fl import DPSGD, FLConfig, RoundRecord, Task, run, tiers
from skyline.fl.task import build_model, client_data, evaluate, test_data, train_local
from skyline.topology import Tier
from skyline.topology.presets import LINK_PRESETS, NODE_PRESETS
from skyline.topology.spec import _invalid  # the shared error-with-fix for validators

_METHOD = __doc__ or ""  # the module docstring: how the numbers are obtained, for the report
_CONFIG = ConfigDict(frozen=True, extra="forbid")
_NOISE = {"hier-dp-z1": 1.0, "hier-dp-z2": 2.0, "hier-dp-z4": 4.0}  # DP-SGD noise multiplier


class HealthModels(BaseModel):
    """Local training of every clinic (and of a hospital alone)."""

    model_config = _CONFIG

    lr: float = Field(0.1, gt=0, description="SGD learning rate", examples=[0.1])
    batch_size: int = Field(
        8, ge=1, description="batch size (DP-SGD: expected Poisson batch)", examples=[8]
    )
    epochs: int = Field(1, ge=1, description="local epochs per edge round", examples=[1])


class HealthWorkload(BaseModel):
    """Hospitals, clinics, data skew, rounds, the DP setting and the network presets."""

    model_config = _CONFIG

    hospitals: int = Field(4, ge=1, description="hospitals (edge servers)", examples=[4])
    clinics_per_hospital: int = Field(2, ge=1, description="clinics (devices) per hospital")
    alpha: float = Field(
        0.3, gt=0, description="Dirichlet label skew over clinics (lower: more skewed)"
    )
    rounds: int = Field(10, ge=1, description="cloud rounds", examples=[10])
    edge_rounds: int = Field(2, ge=1, description="hospital rounds per cloud round")
    max_grad_norm: float = Field(1.0, gt=0, description="DP-SGD per-patient clipping norm")
    delta: float = Field(1e-5, gt=0, lt=1, description="DP delta (epsilon is reported at it)")
    device: str = Field("rpi4", description="node preset of a clinic", examples=["rpi4"])
    access: str = Field("wifi", description="link preset clinic-hospital", examples=["wifi"])
    backhaul: str = Field("wan", description="link preset hospital-cloud", examples=["wan"])
    cpus: int = Field(2, ge=1, description="CPUs given to Ray (one per client actor)")

    @model_validator(mode="after")
    def _presets(self) -> Self:
        if NODE_PRESETS.get(self.device, {}).get("tier") != Tier.DEVICE.value:
            devices = [n for n, p in NODE_PRESETS.items() if p["tier"] == Tier.DEVICE.value]
            raise _invalid(
                f"{self.device!r} is not a device node preset",
                f"use one of: {', '.join(devices)}",
                loc=("device",),
                value=self.device,
            )
        for name in ("access", "backhaul"):
            if getattr(self, name) not in LINK_PRESETS:
                raise _invalid(
                    f"{getattr(self, name)!r} is not a link preset",
                    f"use one of: {', '.join(LINK_PRESETS)}",
                    loc=(name,),
                    value=getattr(self, name),
                )
        return self


class HealthSettings(BaseModel):
    model_config = _CONFIG

    models: HealthModels = Field(default_factory=HealthModels)
    workload: HealthWorkload = Field(default_factory=HealthWorkload)


def fl_config(s: HealthSettings, strategy: str, seed: int) -> FLConfig:
    """The Flower run of an FL strategy: flat runs as many rounds as the hierarchy has
    hospital rounds, so every clinic trains the same number of epochs."""
    m, w = s.models, s.workload
    task = Task(
        dataset="breast_cancer",
        model="mlp",
        clients=w.hospitals * w.clinics_per_hospital,
        partition="dirichlet",
        alpha=w.alpha,
        seed=seed,
        batch_size=m.batch_size,
        lr=m.lr,
        epochs=m.epochs,
    )
    noise = _NOISE.get(strategy)
    flat = strategy == "flat-fedavg"
    return FLConfig(
        task=task,
        mode="flat" if flat else "hier",
        edges=w.hospitals,
        rounds=w.rounds * w.edge_rounds if flat else w.rounds,
        edge_rounds=1 if flat else w.edge_rounds,
        dp=None if noise is None else DPSGD(noise, w.max_grad_norm, w.delta),
        device=w.device,
        access=w.access,
        backhaul=w.backhaul,
    )


def local_only(config: FLConfig) -> list[float]:
    """Test accuracy of each hospital trained alone on its clinics' patients, for as many
    epochs as one FL clinic trains over the whole run."""
    task = config.task
    epochs = config.rounds * config.edge_rounds * task.epochs
    test = test_data(task)
    accuracies = []
    for j, group in enumerate(tiers(config.topology()).groups):
        shards = [client_data(task, c).tensors for c in group]
        data = TensorDataset(*(torch.cat(parts) for parts in zip(*shards)))
        model = build_model(task)
        train_local(model, data, replace(task, epochs=epochs), seed=task.seed * 100_003 + j)
        accuracies.append(evaluate(model, test)[1])
    return accuracies


class HealthcareRunner(ScenarioRunner):
    """Hospitals as edges: local-only vs flat vs hierarchical FL, and hierarchical FL with DP."""

    name = "healthcare"
    method = _METHOD
    strategies = ("local-only", "flat-fedavg", "hier-fedavg", *_NOISE)
    settings_model = HealthSettings

    def run_seed(self, ctx: SeedContext) -> None:
        s = cast(HealthSettings, ctx.settings)
        if ctx.scenario.links:
            raise ConfigError(
                "the healthcare scenario builds its FL topology from presets; [links.*] "
                "overrides would be ignored",
                fix="set workload.access / workload.backhaul instead of [links.*]",
            )
        todo = ctx.scenario.strategies
        curves: dict[str, dict[str, list[float]]] = {}
        for i, strategy in enumerate(todo):
            ctx.progress(i / len(todo), strategy)
            config = fl_config(s, strategy, ctx.seed)
            if strategy == "local-only":
                per_hospital = local_only(config)
                ctx.series["local_only_accuracy"] = per_hospital
                ctx.add(strategy, "accuracy", float(np.mean(per_hospital)), "measured")
                for metric in ("bytes_device_edge", "bytes_edge_cloud"):
                    ctx.add(strategy, metric, 0, "measured")
                ctx.add(strategy, "comm_time_s", 0.0, "predicted")
                ctx.add(strategy, "energy_j", 0.0, "predicted", timing=False)
                continue
            history = run(config, cpus=s.workload.cpus).history
            curves[strategy] = _curves(history)
            self._report(ctx, strategy, history)
        ctx.series["rounds"] = curves

    def _report(self, ctx: SeedContext, strategy: str, history: list[RoundRecord]) -> None:
        last = history[-1]
        ctx.add(strategy, "accuracy", last.accuracy, "measured")
        ctx.add(strategy, "bytes_device_edge", last.device_edge_bytes, "measured")
        ctx.add(strategy, "bytes_edge_cloud", last.edge_cloud_bytes, "measured")
        comm = metrics.comm_time_s(r.comm_s for r in history)
        ctx.add(strategy, "comm_time_s", comm, "predicted")
        ctx.add(strategy, "energy_j", last.device_energy_j, "predicted", timing=False)
        if last.epsilon is not None:
            ctx.add(strategy, "epsilon", last.epsilon, "predicted")

    def plots(self, run: RunData, out_dir: Path) -> list[tuple[str, Path]]:
        """Accuracy after each cloud round against the epsilon spent so far (DP strategies)
        and against the edge-cloud bytes sent so far (every FL strategy), means over seeds;
        the strategies without DP (or without traffic) as horizontal reference lines."""
        seeds = list(run.series.values())
        if not seeds or not seeds[0]["rounds"]:
            return []
        strategies = list(seeds[0]["rounds"])
        final = {
            name: float(np.mean([s["rounds"][name]["accuracy"][-1] for s in seeds]))
            for name in strategies
        }
        if "local_only_accuracy" in seeds[0]:
            final["local-only"] = float(np.mean([np.mean(s["local_only_accuracy"]) for s in seeds]))
        delta = HealthWorkload.model_validate(run.scenario["workload"]).delta
        figures = []
        for key, label, file, caption in (
            (
                "epsilon",
                f"epsilon at delta {delta:g} (predicted by Opacus's RDP accountant)",
                "accuracy_vs_epsilon.png",
                "Test accuracy (measured) after each cloud round against the epsilon spent so "
                "far (predicted by the accountant, largest over clinics), mean over seeds; "
                "flat lines: final accuracy of the strategies without DP.",
            ),
            (
                "bytes_edge_cloud",
                "edge-cloud bytes so far (measured payloads, both directions)",
                "accuracy_vs_edge_cloud_bytes.png",
                "Test accuracy (measured) after each round against the bytes sent over the "
                "hospitals' WAN links so far, mean over seeds; flat lines: final accuracy of "
                "the strategies not plotted as curves.",
            ),
        ):
            lines: dict[str, tuple[Sequence[float], Sequence[float]]] = {
                name: (_mean(seeds, name, key), _mean(seeds, name, "accuracy"))
                for name in strategies
                if all(s["rounds"][name][key] for s in seeds)
            }
            if not lines:
                continue
            xs = [x for line, _ in lines.values() for x in line]
            span = [min(xs), max(xs)]
            for name, acc in final.items():
                if name not in lines:
                    lines[f"{name} (final)"] = (span, [acc, acc])
            path = line_plot(
                lines,
                out_dir / file,
                title=f"Accuracy vs {key}",
                xlabel=label,
                ylabel="test accuracy (mean over seeds)",
                logx=True,
            )
            figures.append((caption, path))
        return figures


def _curves(history: list[RoundRecord]) -> dict[str, list[float]]:
    """Per cloud round: accuracy, epsilon spent so far (empty without DP), edge-cloud bytes."""
    return {
        "accuracy": [r.accuracy for r in history],
        "epsilon": [r.epsilon for r in history if r.epsilon is not None],
        "bytes_edge_cloud": [float(r.edge_cloud_bytes) for r in history],
    }


def _mean(seeds: list[dict[str, Any]], strategy: str, key: str) -> list[float]:
    return np.mean([s["rounds"][strategy][key] for s in seeds], axis=0).tolist()


RUNNERS.add(HealthcareRunner)
