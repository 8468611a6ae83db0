"""Collaborative inference measured for real, beside its predictions.

For each (model, link preset) the planners' plans, plus a few extra chain cuts so that "the best
measured cut" is a real search, run from a throttled edge process to a cloud process over an
emulated link: Linux namespaces + tbf + TUN delay line with a cgroup CPU quota when root
(`linux` mode), else in one process with an in-process shaper and a simulated slowdown (`inproc`
mode, labelled as such in every result).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skyline import models
from skyline.bench.machine import machine_info
from skyline.bench.stats import summarize
from skyline.errors import EmulationError, PlanError
from skyline.graph import ModelGraph, profile
from skyline.plan import Plan, Problem, planners
from skyline.runtime import CloudWorker, EdgeWorker, RequestRecord, ShapedTransport
from skyline.runtime.transports import Transport
from skyline.topology import Link, Node, PowerModel, Tier, Topology, link_preset, node_preset


@dataclass(frozen=True)
class CollabConfig:
    models: tuple[str, ...] = ("small_cnn", "resnet18", "mobilenet_v2")
    size: int | None = 96
    links: tuple[str, ...] = ("3g", "4g", "wifi", "5g")
    # every planner that applies to an edge -> cloud path (device-only needs a device tier);
    # one that finds no plan (exhaustive on large graphs) is listed as such in the results
    planners: tuple[str, ...] = (
        "edge-only",
        "cloud-only",
        "neurosurgeon",
        "dads",
        "tiered",
        "exhaustive",
    )
    extra_cuts: int = 3
    device_speed: float = 0.25
    requests: int = 8
    warmup: int = 2
    mode: str = "auto"
    profile_repeats: int = 10


@dataclass
class CaseResult:
    """Every measured plan of one (model, link) case."""

    model: str
    link: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    chosen: dict[str, str | None] = field(default_factory=dict)


class Payload(nn.Module):
    """Probe for runtime overhead: a 400 KB input (100k float32) reduced to one number, so a
    cloud-only plan moves 400 KB up and almost nothing else happens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=1)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(1, 100_000, generator=torch.Generator().manual_seed(0)),)


def model_graph(name: str, size: int | None, repeats: int) -> ModelGraph:
    """Profile a zoo model (images at `size`) or a 'module:attr' model with example_inputs()."""
    if ":" in name:
        model = models.load(name)
        return profile(model, model.example_inputs(), name=name, repeats=repeats)  # type: ignore[operator]
    spec = models.spec(name)
    image = len(spec.input_shape) == 4 and spec.input_shape[-1] > 32
    return profile(
        spec.build(), spec.example_inputs(size=size if image else None), name=name, repeats=repeats
    )


def topology_for(link: str, device_speed: float) -> Topology:
    """Throttled edge (Raspberry-Pi-like power) and an unthrottled cloud on this host."""
    power: PowerModel = node_preset("rpi4").power
    return Topology(
        name=f"edge-{link}-cloud",
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=device_speed, power=power),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[link_preset(link, "edge", "cloud")],
    )


def candidate_plans(
    graph: ModelGraph, topo: Topology, names: tuple[str, ...], extra_cuts: int
) -> tuple[dict[str, Plan], dict[str, str | None]]:
    """Distinct plans by key, and which plan each planner chose (None: no plan)."""
    plans: dict[str, Plan] = {}
    chosen: dict[str, str | None] = {}
    for name in names:
        try:
            plan = planners.create(name).plan(graph, topo)
        except PlanError:
            chosen[name] = None
            continue
        plans.setdefault(plan.key, plan)
        chosen[name] = plan.key
    problem = Problem(graph, topo)
    n = graph.num_ops
    for cut in np.linspace(0, n, extra_cuts + 2).astype(int)[1:-1]:
        labels = (np.arange(n) >= cut).astype(np.int64)
        if not problem.violations(problem.evaluate(labels)):
            plan = problem.to_plan(labels, f"cut@{cut}")
            plans.setdefault(plan.key, plan)
    return plans, chosen


class _Emulation(ABC):
    """Runs a batch of plans over one emulated link; `linux` or `inproc`."""

    mode: str
    device_speed: float

    @abstractmethod
    def run(
        self, graph: ModelGraph, plans: dict[str, Plan], link: Link, config: CollabConfig
    ) -> dict[str, list[RequestRecord]]: ...


class _Inproc(_Emulation):
    mode = "inproc (in-process shaper, simulated slowdown)"

    def __init__(self, device_speed: float) -> None:
        self.device_speed = device_speed

    def run(
        self, graph: ModelGraph, plans: dict[str, Plan], link: Link, config: CollabConfig
    ) -> dict[str, list[RequestRecord]]:
        from skyline.emulation import Shaper

        address = f"inproc://collab-{uuid.uuid4().hex}"
        inputs = _inputs(next(iter(plans.values())))

        def shaped(t: Transport) -> Transport:
            return ShapedTransport(
                t, Shaper.from_link(link, "edge"), Shaper.from_link(link, "cloud")
            )

        out: dict[str, list[RequestRecord]] = {}
        with CloudWorker(list(plans.values()), graph, bind_address=address):
            for key, plan in plans.items():
                with EdgeWorker(
                    plan,
                    graph,
                    cloud=address,
                    slowdown=1 / self.device_speed,
                    wrap=shaped,
                    timeout_s=120,
                ) as edge:
                    for _ in range(config.warmup):
                        edge.infer(*inputs)
                    edge.records.clear()
                    for _ in range(config.requests):
                        edge.infer(*inputs)
                    out[key] = list(edge.records)
        return out


class _Linux(_Emulation):
    mode = "linux (netns + tbf + TUN delay line, cgroup CPU quota)"

    def __init__(self, stack: ExitStack, device_speed: float) -> None:
        from skyline.emulation import DeviceThrottle

        # A full-speed edge gets no cgroup: a quota of one CPU would still stall the process
        # whenever its threads (Python + ZeroMQ I/O) briefly run at once.
        self.throttle = (
            stack.enter_context(DeviceThrottle(device_speed)) if device_speed < 1 else None
        )
        self.device_speed = self.throttle.measure_speed() if self.throttle else 1.0

    def _on_ready(self, pid: int) -> None:
        if self.throttle is not None:
            self.throttle.add(pid)

    def run(
        self, graph: ModelGraph, plans: dict[str, Plan], link: Link, config: CollabConfig
    ) -> dict[str, list[RequestRecord]]:
        from skyline.emulation import LinuxLink

        model = next(iter(plans.values())).model.name
        with (
            ExitStack() as stack,
            tempfile.TemporaryDirectory() as tmp,
            LinuxLink.from_link(link) as net,
        ):
            plans_path = Path(tmp) / "plans.json"
            plans_path.write_text(json.dumps([json.loads(p.to_json()) for p in plans.values()]))
            cloud_log = Path(tmp) / "cloud.log"
            log = stack.enter_context(cloud_log.open("w"))
            _cloud, agent = stack.enter_context(node_processes(net, plans_path, model, log=log))
            try:
                return _drive(agent, plans, config, on_ready=self._on_ready)
            except EmulationError as exc:
                raise EmulationError(f"{exc}; cloud log: {cloud_log.read_text()[-2000:]}") from exc


@contextmanager
def node_processes(
    net: Any,
    plans_path: Path,
    model: str,
    *,
    agent_args: tuple[str, ...] = (),
    weights: Path | None = None,
    log: Any = None,
) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[str]]]:
    """A cloud worker in the link's namespace b serving `plans_path`, and an edge agent (JSON
    lines on stdin/stdout) in namespace a; both killed on exit. The agent starts at full speed
    (imports and capture take seconds): throttle it once it says it is ready."""
    address = f"tcp://{net.addr_b}:5555"
    weight_args = ("--weights", str(weights)) if weights is not None else ()
    cloud = subprocess.Popen(
        [
            *net.exec_prefix("b"),
            sys.executable,
            "-m",
            "skyline",
            "serve",
            "cloud",
            "--plan",
            str(plans_path),
            "--model",
            model,
            "--bind",
            address,
            *weight_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.DEVNULL,
    )
    agent = subprocess.Popen(
        [
            *net.exec_prefix("a"),
            sys.executable,
            "-m",
            "skyline.runtime.agent",
            "--plans",
            str(plans_path),
            "--model",
            model,
            "--cloud",
            address,
            *weight_args,
            *agent_args,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield cloud, agent
    finally:
        for proc in (agent, cloud):
            proc.kill()
            proc.wait()


def agent_call(agent: subprocess.Popen[str], command: dict[str, Any]) -> dict[str, Any]:
    """Send one JSON command to an edge agent and return its reply (`EmulationError` on an
    error reply or if the agent died)."""
    assert agent.stdin is not None and agent.stdout is not None
    agent.stdin.write(json.dumps(command) + "\n")
    agent.stdin.flush()
    line = agent.stdout.readline()
    if not line:
        raise EmulationError(f"the edge agent exited with code {agent.poll()}")
    reply = dict(json.loads(line))
    if "error" in reply:
        raise EmulationError(f"agent: {reply['error']}")
    return reply


def _drive(
    agent: subprocess.Popen[str],
    plans: dict[str, Plan],
    config: CollabConfig,
    on_ready: Callable[[int], None],
) -> dict[str, list[RequestRecord]]:
    assert agent.stdin is not None and agent.stdout is not None

    def read() -> dict[str, Any]:
        line = agent.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise EmulationError(f"the edge agent exited with code {agent.poll()}")
        return dict(json.loads(line))

    ready = read()
    if not ready.get("ready"):
        raise EmulationError("the edge agent did not start")
    on_ready(int(ready["pid"]))
    out = {}
    for key in plans:
        agent.stdin.write(
            json.dumps(
                {"op": "run", "plan": key, "requests": config.requests, "warmup": config.warmup}
            )
            + "\n"
        )
        agent.stdin.flush()
        reply = read()
        if "error" in reply:
            raise EmulationError(f"plan {key}: {reply['error']}")
        out[key] = [RequestRecord(**r) for r in reply["records"]]
    agent.stdin.write(json.dumps({"op": "quit"}) + "\n")
    agent.stdin.flush()
    return out


def _inputs(plan: Plan) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [
        torch.randn(t.shape, generator=generator).to(getattr(torch, t.dtype))
        for t in plan.model.inputs
    ]


@contextmanager
def emulation(config: CollabConfig) -> Iterator[_Emulation]:
    """The best emulation this machine allows (or the one `config.mode` demands)."""
    from skyline.emulation import link_available, throttle_available

    with ExitStack() as stack:
        linux_ok, why = link_available()
        throttle_ok, why_throttle = throttle_available()
        if config.mode == "linux" and not (linux_ok and throttle_ok):
            raise EmulationError(
                f"linux emulation unavailable: {why or why_throttle}",
                fix="run as root, or use mode inproc",
            )
        if config.mode in ("linux", "auto") and linux_ok and throttle_ok:
            yield _Linux(stack, config.device_speed)
        else:
            yield _Inproc(config.device_speed)


def energy_estimate(summary: dict[str, Any], power: PowerModel) -> float:
    """Edge energy (J) from measured times and bytes with the node's power model (an estimate)."""
    edge_ms = summary["compute_p50_ms"].get("edge", 0.0)
    return float(
        power.active_w * edge_ms / 1e3
        + power.idle_w * max(summary["p50_ms"] - edge_ms, 0.0) / 1e3
        + power.tx_j_per_bit * 8 * summary["bytes_up_p50"]
        + power.rx_j_per_bit * 8 * summary["bytes_down_p50"]
    )


def run_collab(
    config: CollabConfig, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Measure every case; returns the results with derived metrics (see `analyze`)."""
    torch.set_num_threads(1)
    cases: list[CaseResult] = []
    with emulation(config) as emu:
        for model_name in config.models:
            graph = model_graph(model_name, config.size, config.profile_repeats)
            for link_name in config.links:
                if progress:
                    progress(f"{model_name} over {link_name}")
                topo = topology_for(link_name, emu.device_speed)
                plans, chosen = candidate_plans(graph, topo, config.planners, config.extra_cuts)
                measured = emu.run(graph, plans, topo.links[0], config)
                case = CaseResult(model_name, link_name, chosen=chosen)
                for key, plan in plans.items():
                    summary = summarize(measured[key])
                    case.rows.append(
                        {
                            "plan": key,
                            "label": plan.planner,
                            "planners": [p for p, k in chosen.items() if k == key],
                            "placement": {s.node: len(s.ops) for s in plan.stages if s.ops},
                            "predicted_ms": plan.prediction.latency_ms,
                            "predicted": plan.prediction.model_dump(),
                            "measured": summary,
                            "energy_j_estimate": energy_estimate(summary, topo.nodes[0].power),
                        }
                    )
                cases.append(case)
    return {
        "config": asdict(config),
        "mode": emu.mode,
        "device_speed_measured": emu.device_speed,
        "machine": machine_info(),
        "cases": [asdict(c) for c in cases],
        "metrics": analyze(cases),
    }


def analyze(cases: list[CaseResult]) -> dict[str, Any]:
    """Prediction error, regret vs the best measured plan, speedup vs the best single site."""
    errors: list[float] = []
    regret: dict[str, list[float]] = {}
    speedup: dict[str, list[float]] = {}
    for case in cases:
        p50 = {row["plan"]: row["measured"]["p50_ms"] for row in case.rows}
        errors += [
            abs(r["predicted_ms"] - r["measured"]["p50_ms"]) / r["measured"]["p50_ms"]
            for r in case.rows
        ]
        best = min(p50.values())
        single = [p50[k] for p in ("edge-only", "cloud-only") if (k := case.chosen.get(p)) in p50]
        for planner, key in case.chosen.items():
            if key is None:
                continue
            regret.setdefault(planner, []).append(p50[key] / best - 1)
            if single:
                speedup.setdefault(planner, []).append(min(single) / p50[key])
    return {
        "prediction_error_median": float(np.median(errors)) if errors else None,
        "prediction_error_max": float(np.max(errors)) if errors else None,
        "regret_median": {p: float(np.median(v)) for p, v in regret.items()},
        "regret_max": {p: float(np.max(v)) for p, v in regret.items()},
        "speedup_vs_best_single_site_median": {p: float(np.median(v)) for p, v in speedup.items()},
        "speedup_vs_best_single_site_max": {p: float(np.max(v)) for p, v in speedup.items()},
    }
