"""A long-lived origin process driven by JSON lines on stdin (used by benchmarks and the demo).

Starting a process costs seconds (torch import, model build, capture), so the driver starts one
agent per emulated link and asks it to run every candidate plan:

    -> {"op": "run", "plan": KEY, "requests": 10, "warmup": 2}
    <- {"plan": KEY, "records": [...]}            (or {"error": "..."})
    -> {"op": "run", "plan": KEY, "duration_s": 30}          (back to back for 30 s)
    -> {"op": "run", "plan": KEY, "duration_s": 30, "interval_s": 0.2}   (one per 200 ms)
    -> {"op": "run", "plan": "adaptive", "duration_s": 30}   (needs --adaptive CONFIG)
    -> {"op": "run", "plan": KEY, "requests": 500, "exits": [{"value": "linear",
        "temperature": 1.2, "threshold": 0.7}, ...]}   (early exits at the origin, in order)
    <- {"plan": ..., "records": [...], "switches": [...]}
    -> {"op": "quit"}

CONFIG (JSON) holds what the driver used to make the candidate plans, so both sides make the
same ones: {"graph": ModelGraph.to_dict(), "topology": ..., "hop": [a, b], "planner": "dads",
"hysteresis": 0.1, "grid_mbps": [...]}.

Inputs are one fixed random tensor per model input, or with `--inputs FILE.npy` (a stack of
samples for a one-input model) sample i of the file for measured request i (cycling), so
data-dependent behaviour such as early exits is measured on real data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skyline import models
from skyline.errors import ConfigError, SkylineError, TransportError
from skyline.exits.runtime import ConfidentExit
from skyline.graph import ModelGraph
from skyline.plan import Plan, load_plans
from skyline.runtime.adapt import AdaptiveEdgeWorker, Replanner
from skyline.runtime.edge import EdgeWorker
from skyline.runtime.stages import captured_graph
from skyline.topology import Topology


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _handshake(worker: EdgeWorker | AdaptiveEdgeWorker, deadline_s: float) -> None:
    """The cloud process may still be starting: retry until `deadline_s`."""
    start = time.monotonic()
    while True:
        try:
            worker.handshake()
            return
        except TransportError:
            if time.monotonic() - start > deadline_s:
                raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m skyline.runtime.agent", description=__doc__)
    parser.add_argument("--plans", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--cloud", default=None)
    parser.add_argument("--timeout-s", type=float, default=30.0)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--ready-timeout-s", type=float, default=120.0)
    parser.add_argument("--adaptive", default=None, help="JSON config for adaptive runs")
    parser.add_argument("--weights", default=None, help="state_dict file for the model")
    parser.add_argument("--inputs", default=None, help=".npy stack of input samples")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    plans = {p.key: p for p in load_plans(args.plans)}
    first = next(iter(plans.values()))
    graph = captured_graph(first, models.load(args.model or first.model.name, weights=args.weights))
    feed = _Feed(first, args.inputs)
    options: dict[str, Any] = {
        "cloud": args.cloud,
        "timeout_s": args.timeout_s,
        "retries": args.retries,
    }
    workers: dict[str, EdgeWorker | AdaptiveEdgeWorker] = {}
    _emit({"ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "quit":
            break
        key = command.get("plan", "")
        exits = command.get("exits", [])
        try:
            worker = workers.get(key + json.dumps(exits))
            if worker is None:
                worker = (
                    _adaptive(args.adaptive, graph, options)
                    if key == "adaptive"
                    else EdgeWorker(
                        plans[key], graph, exits=[ConfidentExit(**e) for e in exits], **options
                    )
                )
                _handshake(worker, args.ready_timeout_s)
                workers[key + json.dumps(exits)] = worker
            _emit({"plan": key, **_run(worker, feed, command)})
        except (SkylineError, KeyError, TypeError) as exc:
            _emit({"plan": key, "error": f"{type(exc).__name__}: {exc}"})
    for worker in workers.values():
        worker.close()


def _adaptive(
    config_path: str | None, graph: ModelGraph, options: dict[str, Any]
) -> AdaptiveEdgeWorker:
    if config_path is None:
        raise ConfigError("adaptive runs need --adaptive CONFIG", fix="start the agent with it")
    config = json.loads(Path(config_path).read_text())
    replanner = Replanner(
        ModelGraph.from_dict(config["graph"]),
        Topology.model_validate(config["topology"]),
        (config["hop"][0], config["hop"][1]),
        planner=config.get("planner", "dads"),
        grid_mbps=config.get("grid_mbps"),
        hysteresis=config.get("hysteresis", 0.1),
    )
    return AdaptiveEdgeWorker(replanner, graph, **options)


class _Feed:
    """The inputs of each request: a fixed random tensor per model input, or the samples of
    an .npy file in order (restarting at the first sample for each run)."""

    def __init__(self, plan: Plan, path: str | None) -> None:
        self.samples: torch.Tensor | None = None
        if path is not None:
            if len(plan.model.inputs) != 1:
                raise ConfigError(
                    f"--inputs feeds one-input models; {plan.model.name} takes "
                    f"{len(plan.model.inputs)}",
                    fix="drop --inputs",
                )
            self.samples = torch.from_numpy(np.load(path))
        generator = torch.Generator().manual_seed(0)
        self.fixed = [
            torch.randn(t.shape, generator=generator).to(getattr(torch, t.dtype))
            for t in plan.model.inputs
        ]
        self.index = 0

    def restart(self) -> None:
        self.index = 0

    def next(self) -> list[torch.Tensor]:
        if self.samples is None:
            return self.fixed
        i, self.index = self.index, self.index + 1
        return [self.samples[i % len(self.samples)].unsqueeze(0)]


def _run(
    worker: EdgeWorker | AdaptiveEdgeWorker, feed: _Feed, command: dict[str, Any]
) -> dict[str, Any]:
    """Warm-up requests, then `requests` of them or as many as fit in `duration_s`."""
    for _ in range(int(command.get("warmup", 1))):
        worker.infer(*feed.next())
    feed.restart()
    worker.records.clear()
    if isinstance(worker, AdaptiveEdgeWorker):
        worker.switches.clear()
    duration = command.get("duration_s")
    interval = float(command.get("interval_s", 0.0))
    if duration is not None:
        start = time.monotonic()
        end = start + float(duration)
        while time.monotonic() < end:
            worker.infer(*feed.next())
            if interval:  # a fixed cadence, like a camera: the next frame is not sent early
                slots = int((time.monotonic() - start) / interval) + 1
                time.sleep(max(0.0, start + slots * interval - time.monotonic()))
    else:
        for _ in range(int(command.get("requests", 10))):
            worker.infer(*feed.next())
    out: dict[str, Any] = {"records": [r.to_dict() for r in worker.records]}
    if isinstance(worker, AdaptiveEdgeWorker):
        out["switches"] = [asdict(sw) for sw in worker.switches]
    return out


if __name__ == "__main__":
    main()
