"""`skyline serve cloud|edge`: run a plan for real, one process per node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import torch
import typer

from skyline import models
from skyline.bench.stats import summarize
from skyline.cli._common import (
    JsonPath,
    console,
    fmt_bytes,
    fmt_ms,
    key_values,
    new_table,
    write_text,
)
from skyline.errors import ConfigError
from skyline.plan import Plan, load_plans
from skyline.runtime import CloudWorker, EdgeWorker
from skyline.runtime.raypool import RayOptions
from skyline.runtime.transports.curve import CurveClient, CurveServer

serve_app = typer.Typer(help="Run a plan's stages for real over the network.", no_args_is_help=True)

PlanPath = Annotated[
    Path,
    typer.Option("--plan", help="plan JSON (one plan, a list, or `skyline plan --json` output)"),
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="zoo name or module:attr (default: the model the plan names)"),
]
Slowdown = Annotated[
    float,
    typer.Option(
        help="sleep after each stage so it takes this many times longer (labelled "
        "emulation when no cgroup throttle is available)",
        min=1.0,
    ),
]
Codec = Annotated[str | None, typer.Option(help="codec for every cut tensor (default: the plan's)")]
Weights = Annotated[
    Path | None, typer.Option(help="state_dict file (torch.save) with the trained weights")
]


def _model(plans: list[Plan], spec: str | None, weights: Path | None) -> torch.nn.Module:
    return models.load(spec or plans[0].model.name, weights=weights)


CurveSecret = Annotated[
    Path | None,
    typer.Option(
        help="this node's CURVE secret key (NAME.key_secret, `skyline keys`): encrypt "
        "and authenticate the link"
    ),
]


def _curve_server(secret: Path | None, allow: Path | None) -> CurveServer | None:
    if (secret is None) != (allow is None):
        raise ConfigError(
            "--curve-secret and --allow go together", fix="pass both (or neither) to serve cloud"
        )
    return CurveServer(secret, allow) if secret is not None and allow is not None else None


def _curve_client(secret: Path | None, server: Path | None) -> CurveClient | None:
    if (secret is None) != (server is None):
        raise ConfigError(
            "--curve-secret and --server-key go together", fix="pass both (or neither)"
        )
    return CurveClient(secret, server) if secret is not None and server is not None else None


@serve_app.command("cloud")
def serve_cloud(
    plan: PlanPath,
    model: ModelOpt = None,
    node: Annotated[
        str | None, typer.Option(help="path node to serve (default: the one after the origin)")
    ] = None,
    bind: Annotated[str, typer.Option(help="address to listen on")] = "tcp://0.0.0.0:5555",
    upstream: Annotated[
        str | None, typer.Option(help="next node's address, when the plan continues above")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="requests handled at once (default 1; with --ray or batching, enough to fill "
            "every replica's batches)",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus /metrics on this port")
    ] = None,
    slowdown: Slowdown = 1.0,
    codec: Codec = None,
    weights: Weights = None,
    curve_secret: CurveSecret = None,
    allow: Annotated[
        Path | None,
        typer.Option(
            help="with --curve-secret: folder of the edges' public keys (NAME.key) to admit"
        ),
    ] = None,
    ray: Annotated[
        bool, typer.Option("--ray", help="compute the stage on a pool of Ray actors")
    ] = False,
    replicas: Annotated[int, typer.Option(min=1, help="with --ray: actors in the pool")] = 1,
    address: Annotated[
        str | None,
        typer.Option(
            help="with --ray: join this cluster (ray://host:10001) instead of a local one"
        ),
    ] = None,
    max_batch: Annotated[
        int, typer.Option(min=1, help="merge up to this many concurrent requests per call")
    ] = 1,
    batch_wait_ms: Annotated[
        float, typer.Option(min=0, help="wait at most this long for a batch to fill")
    ] = 2.0,
    max_in_flight: Annotated[
        int | None,
        typer.Option(min=1, help="refuse a client's requests beyond this many at once"),
    ] = None,
) -> None:
    """Serve one node's stages (default: the node after the origin) to any number of edges."""
    plans = load_plans(plan)
    torch.set_num_threads(1)
    pool = RayOptions(replicas=replicas, address=address) if ray or address else None
    slots = pool.replicas * pool.pipeline if pool else 1
    worker = CloudWorker(
        plans,
        _model(plans, model, weights),
        node=node,
        bind_address=bind,
        upstream=upstream,
        threads=threads or (2 * slots * max_batch if pool or max_batch > 1 else 1),
        slowdown=slowdown,
        codec=codec,
        metrics_port=metrics_port,
        curve=_curve_server(curve_secret, allow),
        ray=pool,
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        max_in_flight=max_in_flight,
    )
    console.print(
        key_values(
            {
                "serving": f"node {worker.node}, plans {', '.join(worker.runners)}",
                "compute": ", ".join(f"{k} {v}" for k, v in worker.stages.describe().items()),
                "address": worker.address,
                "metrics": f"http://127.0.0.1:{worker.metrics_port}/metrics"
                if worker.metrics_port
                else "off",
            }
        )
    )
    try:
        worker.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")


@serve_app.command("edge")
def serve_edge(
    plan: PlanPath,
    cloud: Annotated[str | None, typer.Option(help="next node's address")] = None,
    model: ModelOpt = None,
    requests: Annotated[int, typer.Option(min=1, help="measured requests")] = 20,
    warmup: Annotated[int, typer.Option(min=0, help="unmeasured requests first")] = 2,
    timeout_s: Annotated[float, typer.Option(help="seconds to wait for each reply")] = 10.0,
    retries: Annotated[int, typer.Option(min=0, help="retries before falling back locally")] = 2,
    cooldown_s: Annotated[
        float,
        typer.Option(
            min=0, help="after the cloud fails to answer, run locally this long before retrying"
        ),
    ] = 0.0,
    slowdown: Slowdown = 1.0,
    codec: Codec = None,
    weights: Weights = None,
    json_path: JsonPath = None,
    curve_secret: CurveSecret = None,
    server_key: Annotated[
        Path | None, typer.Option(help="with --curve-secret: the cloud's public key (NAME.key)")
    ] = None,
) -> None:
    """Run requests through a plan from its origin node and compare measured with predicted."""
    plans = load_plans(plan)
    if len(plans) != 1:
        raise ConfigError(
            f"{plan} holds {len(plans)} plans; the edge runs one", fix="pass one plan"
        )
    (the_plan,) = plans
    torch.set_num_threads(1)
    worker = EdgeWorker(
        the_plan,
        _model(plans, model, weights),
        cloud=cloud,
        timeout_s=timeout_s,
        retries=retries,
        cooldown_s=cooldown_s,
        slowdown=slowdown,
        codec=codec,
        curve=_curve_client(curve_secret, server_key),
    )
    generator = torch.Generator().manual_seed(0)
    inputs = [
        torch.randn(t.shape, generator=generator).to(getattr(torch, t.dtype))
        for t in the_plan.model.inputs
    ]
    with worker:
        worker.handshake()
        for _ in range(warmup):
            worker.infer(*inputs)
        worker.records.clear()
        for _ in range(requests):
            worker.infer(*inputs)
    stats = summarize(worker.records)
    pred = the_plan.prediction
    table = new_table(
        f"{the_plan.model.name} via {the_plan.planner}: measured vs PREDICTED",
        ["", "measured p50", "measured p95", "predicted"],
        right={"measured p50", "measured p95", "predicted"},
    )
    table.add_row(
        "latency ms", fmt_ms(stats["p50_ms"]), fmt_ms(stats["p95_ms"]), fmt_ms(pred.latency_ms)
    )
    for node, ms in stats["compute_p50_ms"].items():
        table.add_row(f"{node} compute ms", fmt_ms(ms), "", fmt_ms(pred.compute_ms.get(node, 0.0)))
    table.add_row(
        "bytes up", fmt_bytes(stats["bytes_up_p50"]), "", fmt_bytes(sum(pred.bytes_up.values()))
    )
    table.add_row(
        "bytes down",
        fmt_bytes(stats["bytes_down_p50"]),
        "",
        fmt_bytes(sum(pred.bytes_down.values())),
    )
    console.print(table)
    console.print(f"outcomes: {stats['outcomes']}")
    if json_path is not None:
        payload = {
            "plan": the_plan.key,
            "summary": stats,
            "records": [r.to_dict() for r in worker.records],
        }
        write_text(json_path, json.dumps(payload, indent=2))
