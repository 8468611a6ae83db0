"""`skyline plan`: profile a model once, run one or more planners, compare their predictions."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer

from skyline.cli._common import (
    COST_MODEL_NOTE,
    InputShape,
    JsonPath,
    ModelArg,
    Repeats,
    Size,
    TopologyOpt,
    console,
    fmt_bytes,
    fmt_gflops,
    fmt_ms,
    fmt_shape,
    key_values,
    new_table,
    profile_model,
    write_text,
)
from skyline.errors import ConfigError, PlanError
from skyline.graph import ModelGraph
from skyline.plan import Constraints, Objective, Plan, Planner, planners
from skyline.topology import load_topology

_ALL = "all"


def planner_names(requested: list[str]) -> list[str]:
    """Requested planner names in order, `all` expanded; unknown names fail before profiling."""
    names = list(
        dict.fromkeys(n for r in requested for n in (planners.names() if r == _ALL else [r]))
    )
    for name in names:
        planners.create(name)
    return names


def _planners(requested: list[str]) -> dict[str, Planner]:
    return {name: planners.create(name) for name in planner_names(requested)}


def _placement(plan: Plan) -> str:
    return " | ".join(f"{s.node}:{len(s.ops)}" for s in plan.stages if s.ops)


def _comparison(
    results: dict[str, Plan | PlanError], path: list[str], objective: Objective
) -> None:
    plans = [p for p in results.values() if isinstance(p, Plan)]
    best = min((p.prediction.objective for p in plans), default=math.nan)
    cost_models = sorted({p.prediction.cost_model for p in plans})
    headers = [
        "planner",
        "placement (node:ops)",
        "latency ms",
        *(f"{node} ms" for node in path),
        "transfer+RTT ms",
        "device J",
        "sent up",
    ]
    table = new_table(
        "Plans: PREDICTED costs of one request",
        headers,
        right=headers[2:],
        caption=" ".join(["PREDICTED by the", *cost_models, "cost model, not measured."])
        + f" * (green): lowest {objective.kind} objective."
        " '<node> ms': compute there. 'sent up': all uplink hops.",
    )
    failures = []
    for name, result in results.items():
        if isinstance(result, PlanError):
            failures.append(f"[red]{name}[/red]: {result}")
            table.add_row(name, "no plan (see below)", *["-"] * (len(headers) - 2), style="red")
            continue
        pred = result.prediction
        is_best = math.isclose(pred.objective, best, rel_tol=1e-9)
        table.add_row(
            f"{name} *" if is_best else name,
            _placement(result),
            fmt_ms(pred.latency_ms),
            *(fmt_ms(pred.compute_ms[n]) if n in pred.compute_ms else "-" for n in path),
            fmt_ms(sum(pred.transfer_ms.values()) + pred.rtt_ms),
            f"{pred.device_energy_j:.3f}",
            fmt_bytes(sum(pred.bytes_up.values())),
            style="bold green" if is_best else None,
        )
    console.print(table)
    for line in failures:
        console.print(line)


def _op_table(graph: ModelGraph, plans: dict[str, Plan]) -> None:
    placements = {name: plan.placement() for name, plan in plans.items()}
    table = new_table(
        "Where each op runs",
        ["op", "kind", "output", *placements],
        right={"output"},
    )
    for op in graph.ops:
        table.add_row(
            op.name,
            op.kind,
            fmt_bytes(op.out_bytes),
            *(placement[op.name] for placement in placements.values()),
        )
    console.print(table)


def plan_command(
    model: ModelArg,
    topology: TopologyOpt = "device-edge-cloud",
    planner: Annotated[
        list[str] | None,
        typer.Option(
            "--planner",
            "-p",
            help="planner name or module:Class, repeatable, or 'all' (default: dads)",
        ),
    ] = None,
    objective: Annotated[
        str, typer.Option(help="'latency', 'energy' or 'weighted:W' (W = latency weight)")
    ] = "latency",
    deadline_ms: Annotated[
        float | None, typer.Option("--deadline-ms", help="latency limit per request, ms (> 0)")
    ] = None,
    input_shape: InputShape = None,
    size: Size = None,
    repeats: Repeats = 10,
    json_path: JsonPath = None,
    show_ops: Annotated[bool, typer.Option("--show-ops", help="list every op's node")] = False,
) -> None:
    """Decide where each op of MODEL runs on a topology, and compare planners' predictions."""
    topo = load_topology(topology)
    chosen = _planners(planner or ["dads"])
    goal = Objective.parse(objective)
    if deadline_ms is not None and deadline_ms <= 0:
        raise ConfigError(f"--deadline-ms {deadline_ms:g} is not positive", fix="give a limit > 0")
    limits = Constraints(deadline_ms=deadline_ms)
    graph = profile_model(model, input_shape, size, repeats)
    results: dict[str, Plan | PlanError] = {}
    for name, instance in chosen.items():
        try:
            results[name] = instance.plan(graph, topo, objective=goal, constraints=limits)
        except PlanError as exc:
            if len(chosen) == 1:
                raise
            results[name] = exc
    path = [node.name for node in topo.path()]
    console.print(
        key_values(
            {
                "model": f"{graph.name}: {graph.num_ops} ops, {fmt_gflops(graph.total_flops)} "
                f"GFLOPs, input {', '.join(fmt_shape(v.shape) for v in graph.inputs)}, "
                f"captured by {graph.method}",
                "topology": f"{topo.name}, path {' -> '.join(path)}",
                "objective": objective
                + ("" if deadline_ms is None else f", deadline {deadline_ms:g} ms"),
                "cost model": f"{COST_MODEL_NOTE} (host: 1 torch thread, median of {repeats})",
            }
        )
    )
    _comparison(results, path, goal)
    plans = {name: r for name, r in results.items() if isinstance(r, Plan)}
    if show_ops and plans:
        _op_table(graph, plans)
    if not plans:
        raise PlanError("no planner found a plan", fix="see the reasons in the table above")
    if json_path is not None:
        text = (
            next(iter(plans.values())).to_json()
            if len(chosen) == 1
            else json.dumps({name: json.loads(p.to_json()) for name, p in plans.items()}, indent=2)
        )
        write_text(json_path, text)
