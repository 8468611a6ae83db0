"""`skyline sweep`: how plans and predicted latency change with one link's bandwidth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from skyline.bench.plots import line_plot
from skyline.cli._common import (
    COST_MODEL_NOTE,
    InputShape,
    ModelArg,
    Repeats,
    Size,
    TopologyOpt,
    console,
    fmt_ms,
    new_table,
    profile_model,
    write_text,
)
from skyline.cli.plan import planner_names
from skyline.errors import ConfigError
from skyline.plan import Objective, SweepPoint, bandwidth_sweep
from skyline.topology import load_topology

_DEFAULT_PLANNERS = ["device-only", "cloud-only", "neurosurgeon", "dads", "tiered"]


def _parse_mbps(text: str | None) -> list[float]:
    if text is None:
        return [float(x) for x in np.geomspace(0.5, 500, 10).round(2)]
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise ConfigError(
            f"--mbps {text!r} is not a list of bandwidths", fix="e.g. --mbps 1,5,20,100"
        )
    return values


def _placement(point: SweepPoint) -> str:
    return " ".join(f"{node}:{n}" for node, n in point.placement.items()) or "-"


def sweep_command(
    model: ModelArg,
    topology: TopologyOpt = "device-edge-cloud",
    link: Annotated[
        str | None, typer.Option(help="link to vary as A-B (default: the path's first hop)")
    ] = None,
    mbps: Annotated[
        str | None, typer.Option(help="uplink bandwidths, Mbit/s, comma-separated")
    ] = None,
    planner: Annotated[
        list[str] | None, typer.Option("--planner", "-p", help="planners to compare (repeatable)")
    ] = None,
    objective: Annotated[str, typer.Option(help="'latency', 'energy' or 'weighted:W'")] = "latency",
    input_shape: InputShape = None,
    size: Size = None,
    repeats: Repeats = 10,
    out: Annotated[Path, typer.Option(help="directory for the JSON and PNG results")] = Path(
        "results"
    ),
) -> None:
    """Re-plan MODEL across bandwidths of one link; table, JSON and PNG of PREDICTED latency."""
    topo = load_topology(topology)
    path = [n.name for n in topo.path()]
    ends = tuple(link.split("-", 1)) if link else (path[0], path[1] if len(path) > 1 else path[0])
    topo.link(*ends)  # clear error for an unknown link
    names = planner_names(planner or _DEFAULT_PLANNERS)
    bandwidths = _parse_mbps(mbps)
    graph = profile_model(model, input_shape, size, repeats)
    points = bandwidth_sweep(
        graph, topo, (ends[0], ends[1]), bandwidths, names, objective=Objective.parse(objective)
    )
    table = new_table(
        f"{graph.name} on {topo.name}: PREDICTED latency (ms) vs {ends[0]}-{ends[1]} uplink",
        ["Mbit/s", *names, f"best placement ({names[-1]})"],
        right={"Mbit/s", *names},
        caption=f"PREDICTED, not measured. {COST_MODEL_NOTE}",
    )
    for bw in bandwidths:
        row = [p for p in points if p.mbps == bw]
        cells = [fmt_ms(p.latency_ms) if p.latency_ms is not None else "-" for p in row]
        table.add_row(f"{bw:g}", *cells, _placement(row[-1]))
    console.print(table)
    stem = out / f"sweep-{graph.name}"
    write_text(stem.with_suffix(".json"), json.dumps([p.to_dict() for p in points], indent=2))
    series = {
        name: (
            [p.mbps for p in points if p.planner == name and p.latency_ms is not None],
            [p.latency_ms for p in points if p.planner == name and p.latency_ms is not None],
        )
        for name in names
    }
    png = line_plot(
        series,  # type: ignore[arg-type]
        stem.with_suffix(".png"),
        title=f"{graph.name}: predicted latency vs {ends[0]}-{ends[1]} bandwidth",
        xlabel="uplink bandwidth (Mbit/s)",
        ylabel="predicted latency (ms)",
        logx=True,
        logy=True,
    )
    console.print(f"wrote {png}")
