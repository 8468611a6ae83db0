"""Serving overhead: Skyline's ZeroMQ ingress -> Ray actors vs a Ray Serve HTTP deployment of
the same stage, side by side on one local Ray cluster.

Each edge request carries a 400 KB float32 tensor (ResNet-18's activation after layer2). Two
stages: `light` (one 1x1 conv: serving dominates) and `resnet_tail` (ResNet-18 layer3 onward).
For each stage and replica count, in alternating rounds:
  * skyline: `skyline serve cloud --ray --address <cluster> --replicas R` in its own process
    (ingress), clients send Skyline frames over tcp (one DEALER per client thread);
  * ray-serve: a Serve deployment (R replicas, 1 CPU each) computing the same split stage behind
    Serve's HTTP proxy, clients POST the raw tensor bytes (one keep-alive connection per thread).
Closed-loop clients in this process: requests/s at `--clients` concurrent clients, and with one
client the median latency and the share of it spent outside the model (1 - stage compute /
latency). Both stages are computed with one torch thread per replica.

    python benchmarks/serving.py [--quick] [--seconds 10] [--clients 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])

import serving_models  # noqa: E402

from skyline._ray import ensure_ray  # noqa: E402
from skyline.bench import machine_info  # noqa: E402
from skyline.graph import profile  # noqa: E402
from skyline.plan import Plan, Problem  # noqa: E402
from skyline.runtime.hop import HopClient  # noqa: E402
from skyline.runtime.stages import runners_for  # noqa: E402
from skyline.runtime.wire import Frame, FrameKind  # noqa: E402
from skyline.topology import topology_preset  # noqa: E402

SYSTEMS = ["skyline", "ray-serve", "skyline-batched"]
STAGES = {"light": "serving_models:light_stage", "resnet_tail": "serving_models:resnet18"}


def make_plan(stage: str) -> Plan:
    """The plan the edge and both servers follow: the 400 KB tensor goes up, the rest of the
    stage runs on the cloud."""
    spec = STAGES[stage]
    attr = spec.partition(":")[2]
    model = getattr(serving_models, attr)()
    shape = serving_models.CUT_SHAPE if stage == "light" else (1, 3, 224, 224)
    graph = profile(model, (torch.zeros(shape),), warmup=0, repeats=1)
    problem = Problem(graph, topology_preset("device-edge-cloud"), path=["edge", "cloud"])
    order = [op.name for op in graph.ops]
    first_cloud = 0 if stage == "light" else order.index("relu_8") + 1
    labels = (np.arange(graph.num_ops) >= first_cloud).astype(np.int64)
    plan = problem.to_plan(labels, f"serving-{stage}")
    (cut,) = [c for c in plan.cuts if c.direction == "up"]
    assert [t.shape for t in cut.tensors] == [list(serving_models.CUT_SHAPE)], cut
    return plan.model_copy(update={"model": plan.model.model_copy(update={"name": spec})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_loop(
    call: Callable[[], float], clients: int, seconds: float, warmup_s: float = 2.0
) -> dict[str, Any]:
    """`clients` threads calling `call` back to back; requests/s and latency over `seconds`
    after `warmup_s`. `call` returns the stage's compute ms."""
    start = time.perf_counter() + warmup_s
    end = start + seconds
    lat: list[float] = []
    comp: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def loop() -> None:
        while (t0 := time.perf_counter()) < end:
            try:
                ms = call()
            except Exception as exc:  # recorded, never hidden
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            t1 = time.perf_counter()
            if t0 >= start and t1 <= end:
                with lock:
                    lat.append((t1 - t0) * 1e3)
                    comp.append(ms)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p50 = float(np.median(lat)) if lat else float("nan")
    compute_ms = float(np.median(comp)) if comp else float("nan")
    return {
        "clients": clients,
        "requests": len(lat),
        "rps": len(lat) / seconds,
        "p50_ms": p50,
        "p95_ms": float(np.percentile(lat, 95)) if lat else float("nan"),
        "compute_p50_ms": compute_ms,
        "outside_model_share": 1 - compute_ms / p50 if lat else float("nan"),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
    }


# -- Skyline ---------------------------------------------------------------------------------


def skyline_client(address: str, plan: Plan, x: torch.Tensor) -> Callable[[], float]:
    local = threading.local()
    (cut,) = [c for c in plan.cuts if c.direction == "up"]
    name = cut.tensors[0].name

    def call() -> float:
        hop = getattr(local, "hop", None)
        if hop is None:
            hop = local.hop = HopClient(address, timeout_s=60, retries=0)
        reply = hop.call(Frame(FrameKind.REQUEST, 1, {name: x}, {"plan": plan.key}))
        return float(reply.frame.meta["compute_ms"]["cloud"])

    return call


def measure_skyline(
    plan_file: Path,
    plan: Plan,
    replicas: int,
    cluster: str,
    args: argparse.Namespace,
    max_batch: int = 1,
) -> dict[str, Any]:
    address = f"tcp://127.0.0.1:{free_port()}"
    ingress = subprocess.Popen(
        [sys.executable, "-m", "skyline", "serve", "cloud", "--plan", str(plan_file),
         "--model", plan.model.name, "--bind", address, "--ray", "--address", cluster,
         "--replicas", str(replicas), "--threads", str(4 * replicas + args.clients),
         "--max-batch", str(max_batch)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        try:
            HopClient(address, timeout_s=120, retries=0).call(Frame(FrameKind.PING, 0))
        except Exception:
            ingress.kill()
            failure = ingress.communicate()[1][-3000:]
            raise RuntimeError(f"the ingress did not start: {failure}") from None
        x = torch.randn(serving_models.CUT_SHAPE)
        return run_loads(skyline_client(address, plan, x), args)
    finally:
        ingress.send_signal(signal.SIGINT)
        try:
            ingress.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            ingress.kill()


# -- Ray Serve --------------------------------------------------------------------------------


def serve_app(plan: Plan, replicas: int) -> Any:
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import Response

    @serve.deployment(num_replicas=replicas, ray_actor_options={"num_cpus": 1})
    class Stage:
        def __init__(self, plan_json: str) -> None:
            from skyline import models

            torch.set_num_threads(1)
            staged = Plan.from_json(plan_json)
            self.runner = runners_for(staged, models.load(staged.model.name))[staged.key]
            (cut,) = [c for c in staged.cuts if c.direction == "up"]
            self.name = cut.tensors[0].name

        async def __call__(self, request: Request) -> Response:
            body = await request.body()
            x = torch.frombuffer(bytearray(body), dtype=torch.float32)
            outputs, ms = self.runner.compute(
                "cloud", {self.name: x.view(*serving_models.CUT_SHAPE)}
            )
            (out,) = outputs.values()
            return Response(out.numpy().tobytes(), headers={"x-compute-ms": f"{ms:.6f}"})

    return Stage.bind(plan.to_json())


def serve_client(port: int, x: torch.Tensor) -> Callable[[], float]:
    local = threading.local()
    body = x.numpy().tobytes()
    headers = {"Content-Type": "application/octet-stream"}

    def call() -> float:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/stage", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        torch.frombuffer(bytearray(data), dtype=torch.float32)
        return float(response.getheader("x-compute-ms", "nan"))

    return call


def measure_serve(plan: Plan, replicas: int, port: int, args: argparse.Namespace) -> dict[str, Any]:
    from ray import serve

    serve.run(serve_app(plan, replicas), name="stage", route_prefix="/stage")
    try:
        x = torch.randn(serving_models.CUT_SHAPE)
        return run_loads(serve_client(port, x), args)
    finally:
        serve.delete("stage")


def run_loads(call: Callable[[], float], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "loaded": closed_loop(call, args.clients, args.seconds),
        "single": closed_loop(call, 1, args.seconds / 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--stages", default="light,resnet_tail")
    parser.add_argument("--out", type=Path, default=Path("results/serving.json"))
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.replicas, args.stages = 3.0, 1, "1", "light"
    torch.set_num_threads(1)
    before = machine_info()
    ray = ensure_ray(num_cpus=os.cpu_count())
    cluster = ray.get_runtime_context().gcs_address
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    results: list[dict[str, Any]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for stage in args.stages.split(","):
        plan = make_plan(stage)
        plan_file = args.out.with_name(f"serving_plan_{stage}.json")
        plan.save(plan_file)
        for replicas in (int(r) for r in args.replicas.split(",")):
            for rnd in range(args.rounds):
                order = SYSTEMS if rnd % 2 == 0 else SYSTEMS[::-1]
                for system in order:
                    print(f"{stage} x{replicas} round {rnd + 1}: {system} ...", flush=True)
                    measured = (
                        measure_serve(plan, replicas, port, args)
                        if system == "ray-serve"
                        else measure_skyline(
                            plan_file,
                            plan,
                            replicas,
                            cluster,
                            args,
                            max_batch=args.clients if system == "skyline-batched" else 1,
                        )
                    )
                    row = {"stage": stage, "replicas": replicas, "round": rnd, "system": system}
                    results.append({**row, **measured})
                    loaded, single = measured["loaded"], measured["single"]
                    print(
                        f"  {loaded['rps']:.1f} req/s at {args.clients} clients "
                        f"(errors {loaded['errors']}); 1 client p50 {single['p50_ms']:.2f} ms, "
                        f"{single['outside_model_share']:.0%} outside the model",
                        flush=True,
                    )
    serve.shutdown()
    summary = summarize(results)
    for line in summary["lines"]:
        print(line)
    report = {
        "benchmark": "serving",
        "measured": "real processes on one local Ray cluster, loopback tcp/http",
        "settings": {k: str(v) for k, v in vars(args).items()},
        "machine_before": before,
        "machine_after": machine_info(),
        "summary": summary["table"],
        "runs": results,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds per (stage, replicas, system), and Skyline's ratio to Ray Serve."""
    table: list[dict[str, Any]] = []
    lines = []
    keys = sorted({(r["stage"], r["replicas"]) for r in results})
    for stage, replicas in keys:
        row: dict[str, Any] = {"stage": stage, "replicas": replicas}
        for system in SYSTEMS:
            mine = [
                r
                for r in results
                if (r["stage"], r["replicas"], r["system"]) == (stage, replicas, system)
            ]
            row[system] = {
                "rps": float(np.median([r["loaded"]["rps"] for r in mine])),
                "loaded_p50_ms": float(np.median([r["loaded"]["p50_ms"] for r in mine])),
                "single_p50_ms": float(np.median([r["single"]["p50_ms"] for r in mine])),
                "compute_p50_ms": float(np.median([r["single"]["compute_p50_ms"] for r in mine])),
                "outside_model_share": float(
                    np.median([r["single"]["outside_model_share"] for r in mine])
                ),
                "errors": sum(r["loaded"]["errors"] + r["single"]["errors"] for r in mine),
            }
        row["rps_ratio"] = row["skyline"]["rps"] / row["ray-serve"]["rps"]
        row["batched_rps_ratio"] = row["skyline-batched"]["rps"] / row["ray-serve"]["rps"]
        table.append(row)
        sky, srv = row["skyline"], row["ray-serve"]
        lines.append(
            f"{stage} x{replicas}: skyline {sky['rps']:.1f} req/s vs ray-serve {srv['rps']:.1f} "
            f"({row['rps_ratio']:.2f}x; batched {row['skyline-batched']['rps']:.1f}, "
            f"{row['batched_rps_ratio']:.2f}x); 1-client p50 {sky['single_p50_ms']:.2f} vs "
            f"{srv['single_p50_ms']:.2f} ms, outside the model {sky['outside_model_share']:.0%} "
            f"vs {srv['outside_model_share']:.0%}"
        )
    return {"table": table, "lines": lines}


if __name__ == "__main__":
    main()
