"""`skyline simulate`: run a scenario under one or more policies; table, plots, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from skyline.cli._common import JsonPath, console, fmt_bytes, fmt_ms, new_table, write_text
from skyline.errors import ConfigError, PlanError
from skyline.sched import policies
from skyline.sim import ENGINES, SimResult, load_scenario, scenario_names, simulate
from skyline.sim.edgesimpy import from_edgesimpy
from skyline.sim.plots import policy_plots

_ALL = "all"


def _policy_names(requested: list[str]) -> list[str]:
    """Requested policies in order, `all` expanded; unknown names fail before simulating."""
    names = list(
        dict.fromkeys(n for r in requested for n in (policies.names() if r == _ALL else [r]))
    )
    for name in names:
        policies.create(name)
    return names


def _pm(result: SimResult, key: str, scale: float = 1.0, digits: int = 1) -> str:
    mean, spread = result[key] * scale, result.spread()[key] * scale
    text = f"{mean:.{digits}f}"
    return text if len(result.runs) == 1 else f"{text} ± {spread:.{digits}f}"


def _table(results: dict[str, SimResult]) -> None:
    first = next(iter(results.values()))
    reps = len(first.runs)
    headers = [
        "policy",
        "tasks",
        "mean ms",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "deadline miss %",
        "accuracy %",
        "device J",
        "sent up",
        "device/edge/cloud %",
        "busiest server",
        "busiest link",
        "CPU s",
    ]
    table = new_table(
        f"Simulated: {first.scenario}, {first.engine} engine, {reps} replication(s)",
        headers,
        right=[*headers[1:-3], "CPU s"],
        caption="SIMULATED with the scenario's cost model, not measured. "
        + ("mean ± sample sd over replications; " if reps > 1 else "")
        + "percentiles from a log histogram (±1.2 %); device J: idle + compute + radio per "
        "device over the run; busiest server: offered load (busy core-s per core-s).",
    )
    for name, result in results.items():
        util = {
            server: sum(r["utilization"][server] for r in result.runs) / reps
            for server in result.runs[0]["utilization"]
        }
        busiest = max(util, key=lambda s: util[s], default=None)
        table.add_row(
            name,
            f"{result['tasks']:.0f}",
            _pm(result, "mean_latency_ms"),
            fmt_ms(result["p50_latency_ms"]),
            fmt_ms(result["p95_latency_ms"]),
            fmt_ms(result["p99_latency_ms"]),
            _pm(result, "deadline_miss_rate", 100),
            f"{result['mean_accuracy'] * 100:.1f}",
            _pm(result, "device_energy_j_mean", digits=2),
            fmt_bytes(result["bytes_up"]),
            " / ".join(f"{share * 100:.0f}" for share in result.tier_shares().values()),
            "-" if busiest is None else f"{busiest} {util[busiest]:.2f}",
            f"{result.runs[0]['busiest_link']} {result.runs[0]['busiest_link_utilization']:.2f}",
            f"{result.cpu_s:.2f}",
        )
    console.print(table)


def simulate_command(
    scenario: Annotated[
        str,
        typer.Argument(
            metavar="SCENARIO",
            help=f"packaged scenario ({', '.join(scenario_names())}), a .toml file, or an "
            "EdgeSimPy dataset .json",
            show_default=False,
        ),
    ],
    engine: Annotated[
        str, typer.Option("--engine", "-e", help="exact (event heap) or fast (numpy ticks)")
    ] = "exact",
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy", "-p", help="policy name or module:Class, repeatable, or 'all' (default)"
        ),
    ] = None,
    replications: Annotated[
        int | None, typer.Option(min=1, help="override the scenario's replications")
    ] = None,
    tick_ms: Annotated[
        float | None, typer.Option("--tick-ms", help="fast engine time step, ms (> 0)")
    ] = None,
    json_path: JsonPath = None,
    out: Annotated[
        Path | None, typer.Option(help="directory for PNG plots (latency CDF, misses, energy)")
    ] = None,
    records: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="per-task JSONL (one policy only, not with --ray)"),
    ] = None,
    ray: Annotated[
        bool,
        typer.Option("--ray", help="run each replication as a task on a private local Ray cluster"),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            metavar="ADDR",
            help="join this Ray cluster (ray://host:10001, auto) instead; implies --ray",
        ),
    ] = None,
) -> None:
    """Simulate offloading in SCENARIO under each policy and compare the results."""
    is_json = scenario.lower().endswith(".json")
    sc = from_edgesimpy(scenario) if is_json else load_scenario(scenario)
    for note in getattr(sc, "notes", ()):
        console.print(f"[dim]EdgeSimPy import: {note}[/dim]", highlight=False)
    ENGINES.get(engine)
    names = _policy_names(policy or [_ALL])
    if records is not None and len(names) > 1:
        raise ConfigError(
            f"--records takes one policy's tasks, but {len(names)} policies were asked for",
            fix="pass a single --policy with --records",
        )
    if tick_ms is not None and tick_ms <= 0:
        raise ConfigError(f"--tick-ms {tick_ms:g} is not positive", fix="give a step > 0")
    tick_s = None if tick_ms is None else tick_ms / 1e3
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    results: dict[str, SimResult] = {}
    failures: dict[str, PlanError] = {}
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("simulating", total=len(names))
        for i, name in enumerate(names):
            progress.update(bar, description=f"{name} ({engine})")

            def moved(fraction: float, i: int = i) -> None:
                progress.update(bar, completed=i + fraction)

            try:
                results[name] = simulate(
                    sc,
                    name,
                    engine,
                    replications=replications,
                    tick_s=tick_s,
                    records=records,
                    progress=moved,
                    ray=ray_address or ray,
                )
            except PlanError as exc:  # one policy failing does not lose the others
                if len(names) == 1:
                    raise
                failures[name] = exc
    if results:
        _table(results)
    for name, failure in failures.items():
        console.print(f"[red]{name}[/red]: no result: {failure}")
    if not results:
        raise PlanError("no policy could be simulated", fix="see the reasons above")
    if json_path is not None:
        payload = {name: r.to_dict() for name, r in results.items()}
        write_text(json_path, json.dumps(payload, indent=2))
    if out is not None:
        for png in policy_plots(results, out, f"simulate-{sc.name}-{engine}"):
            console.print(f"wrote {png}", highlight=False)
