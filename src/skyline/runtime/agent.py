"""A long-lived origin process driven by JSON lines on stdin (used by benchmarks and the demo).

Starting a process costs seconds (torch import, model build, capture), so the driver starts one
agent per emulated link and asks it to run every candidate plan:

    -> {"op": "run", "plan": KEY, "requests": 10, "warmup": 2}
    <- {"plan": KEY, "records": [...]}            (or {"error": "..."})
    -> {"op": "run", "plan": KEY, "duration_s": 30}          (back to back for 30 s)
    -> {"op": "run", "plan": "adaptive", "duration_s": 30}   (needs --adaptive CONFIG)
    <- {"plan": ..., "records": [...], "switches": [...]}
    -> {"op": "quit"}

CONFIG (JSON) holds what the driver used to make the candidate plans, so both sides make the
same ones: {"graph": ModelGraph.to_dict(), "topology": ..., "hop": [a, b], "planner": "dads",
"hysteresis": 0.1, "grid_mbps": [...]}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import torch

from skyline import models
from skyline.errors import SkylineError, TransportError
from skyline.plan import load_plans
from skyline.runtime.adapt import AdaptiveEdgeWorker
from skyline.runtime.edge import EdgeWorker
from skyline.runtime.stages import captured_graph


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
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    plans = {p.key: p for p in load_plans(args.plans)}
    first = next(iter(plans.values()))
    graph = captured_graph(first, models.load(args.model or first.model.name))
    generator = torch.Generator().manual_seed(0)
    inputs = [
        torch.randn(t.shape, generator=generator).to(getattr(torch, t.dtype))
        for t in first.model.inputs
    ]
    workers: dict[str, EdgeWorker] = {}
    _emit({"ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "quit":
            break
        key = command.get("plan", "")
        try:
            worker = workers.get(key)
            if worker is None:
                worker = EdgeWorker(
                    plans[key],
                    graph,
                    cloud=args.cloud,
                    timeout_s=args.timeout_s,
                    retries=args.retries,
                )
                _handshake(worker, args.ready_timeout_s)
                workers[key] = worker
            for _ in range(int(command.get("warmup", 1))):
                worker.infer(*inputs)
            worker.records.clear()
            for _ in range(int(command.get("requests", 10))):
                worker.infer(*inputs)
            _emit({"plan": key, "records": [r.to_dict() for r in worker.records]})
        except (SkylineError, KeyError) as exc:
            _emit({"plan": key, "error": f"{type(exc).__name__}: {exc}"})
    for worker in workers.values():
        worker.close()


if __name__ == "__main__":
    main()
