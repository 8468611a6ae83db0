"""`skyline fl run`: one federated run (flat or hierarchical) on Flower's Ray simulation, with a
progress bar, a per-round table, JSON and a PNG of accuracy against edge-cloud traffic."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from skyline.cli._common import JsonPath, console, fmt_bytes, new_table, write_text
from skyline.errors import ConfigError

fl_app = typer.Typer(help="Federated learning across device, edge and cloud (on Flower).")


@fl_app.command("run")
def run_command(
    mode: Annotated[
        str, typer.Option(help="flat (devices -> cloud) or hier (-> edges -> cloud)")
    ] = "hier",
    clients: Annotated[int, typer.Option(min=1, help="devices, one Flower node each")] = 20,
    edges: Annotated[int, typer.Option(min=1, help="edge aggregators")] = 4,
    rounds: Annotated[int, typer.Option(min=1, help="cloud rounds")] = 10,
    edge_rounds: Annotated[int, typer.Option(min=1, help="edge rounds per cloud round (hier)")] = 5,
    dataset: Annotated[str, typer.Option(help="fashion_mnist or digits")] = "fashion_mnist",
    model: Annotated[str, typer.Option(help="mlp or cnn")] = "mlp",
    partition: Annotated[
        str, typer.Option(help="dirichlet, shards, quantity or iid")
    ] = "dirichlet",
    alpha: Annotated[float, typer.Option(help="Dirichlet concentration (label skew)")] = 0.5,
    strategy: Annotated[str, typer.Option(help="strategy aggregating devices")] = "fedavg",
    cloud_strategy: Annotated[str, typer.Option(help="strategy aggregating edges")] = "fedavg",
    malicious: Annotated[
        int, typer.Option(min=0, help="Byzantine updates robust strategies assume")
    ] = 0,
    byzantine: Annotated[float, typer.Option(help="fraction of clients that attack")] = 0.0,
    attack: Annotated[
        str, typer.Option(help="random, sign_flip:S, scaled:S or label_flip")
    ] = "sign_flip:4",
    up_codec: Annotated[str, typer.Option(help="none, int8 or topk:F for updates")] = "none",
    down_codec: Annotated[str, typer.Option(help="none or int8 for models sent down")] = "none",
    dropout: Annotated[float, typer.Option(help="chance a client fails a round")] = 0.0,
    dp_noise: Annotated[
        float | None, typer.Option(help="DP-SGD noise multiplier in clients")
    ] = None,
    server_dp_noise: Annotated[
        float | None, typer.Option(help="server-side DP noise multiplier")
    ] = None,
    deploy: Annotated[
        bool,
        typer.Option(
            "--deploy",
            help="hier only: run as separate processes on Flower's deployment runtime "
            "(SuperLinks, SuperNodes) instead of the Ray simulation",
        ),
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="--deploy: keep every process's log here")
    ] = None,
    secagg: Annotated[
        bool, typer.Option("--secagg", help="Flower's SecAgg+ (flat FedAvg only)")
    ] = False,
    seed: Annotated[int, typer.Option(help="data split and model seed")] = 0,
    json_path: JsonPath = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", dir_okay=False, help="PNG of accuracy vs traffic")
    ] = None,
) -> None:
    """Train across simulated devices on Flower's Ray backend; bytes are the real payloads,
    seconds and joules are predicted from the topology's links."""
    from skyline.fl import DPSGD, Dropout, FLConfig, FLResult, ServerDP, Task, run, run_secagg

    if mode not in ("flat", "hier"):
        raise ConfigError(f"--mode {mode!r} is unknown", fix="use --mode flat or --mode hier")
    config = FLConfig(
        task=Task(
            dataset=dataset,
            model=model,
            clients=clients,
            partition=partition,
            alpha=alpha,
            seed=seed,
        ),
        mode=mode,
        edges=edges,
        rounds=rounds,
        edge_rounds=edge_rounds if mode == "hier" else 1,
        strategy=strategy,
        cloud_strategy=cloud_strategy,
        malicious=malicious,
        byzantine=byzantine,
        attack=attack,
        up_codec=up_codec,
        down_codec=down_codec,
        dropout=Dropout(rate=dropout, seed=seed),
        dp=DPSGD(noise_multiplier=dp_noise) if dp_noise is not None else None,
        server_dp=ServerDP(noise_multiplier=server_dp_noise)
        if server_dp_noise is not None
        else None,
    )
    if secagg and deploy:
        raise ConfigError("--secagg runs on the simulation", fix="drop --deploy or --secagg")
    runner: Callable[..., FLResult]
    if secagg:
        from skyline.fl import SecAggFL

        SecAggFL(config)  # every check before Ray starts
        runner = run_secagg
    elif deploy:
        from skyline.fl.deploy import deploy as deploy_run

        runner = functools.partial(deploy_run, workdir=workdir)
    else:
        config.orchestrator()
        runner = run
    with Progress(
        TextColumn("[bold]FL[/] round"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("starting processes" if deploy else "starting Ray", total=rounds)
        result = runner(
            config,
            on_round=lambda r: progress.update(
                bar, advance=1, description=f"accuracy {r.accuracy:.3f}"
            ),
        )
    table = new_table(
        f"FL {mode}: {clients} clients, {edges} edges, {strategy}/{cloud_strategy}",
        [
            "round",
            "accuracy %",
            "edge-cloud",
            "device-edge",
            "comm s",
            "device J",
            "failed",
            "epsilon",
        ],
        right=[
            "accuracy %",
            "edge-cloud",
            "device-edge",
            "comm s",
            "device J",
            "failed",
            "epsilon",
        ],
        caption="accuracy MEASURED on the test split; bytes are the real message payloads "
        "(cumulative); comm s (per round) and device radio J (cumulative) PREDICTED from "
        "the topology links.",
    )
    for r in result.history:
        table.add_row(
            str(r.round),
            f"{100 * r.accuracy:.2f}",
            fmt_bytes(r.edge_cloud_bytes),
            fmt_bytes(r.device_edge_bytes),
            f"{r.comm_s:.2f}",
            f"{r.device_energy_j:.1f}",
            str(r.failures),
            "-" if r.epsilon is None else f"{r.epsilon:.2f}",
        )
    console.print(table)
    if json_path is not None:
        write_text(json_path, json.dumps(result.as_dict(), indent=2))
    if plot is not None:
        from skyline.bench.plots import line_plot

        hist = result.history
        path = line_plot(
            {mode: ([r.edge_cloud_bytes / 1e6 for r in hist], [r.accuracy for r in hist])},
            plot,
            title=f"FL {mode}",
            xlabel="edge-cloud MB (cumulative)",
            ylabel="test accuracy",
        )
        console.print(f"wrote {path}")
