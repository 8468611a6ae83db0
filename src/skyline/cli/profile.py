"""`skyline profile`: capture a model and measure every op on this host."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from skyline.bench import machine_info
from skyline.cli._common import (
    InputShape,
    JsonPath,
    ModelArg,
    Repeats,
    Size,
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


def measured_on(repeats: int) -> dict[str, Any]:
    """Where and under what load the op times were measured (taken just after measuring)."""
    return {**machine_info(), "torch_threads": 1, "repeats": repeats, "statistic": "median"}


def profile_command(
    model: ModelArg,
    input_shape: InputShape = None,
    size: Size = None,
    repeats: Repeats = 10,
    json_path: JsonPath = None,
    top: Annotated[
        int, typer.Option("--top", min=1, help="how many of the slowest ops to list")
    ] = 15,
) -> None:
    """Capture MODEL into a graph and measure every op: FLOPs, bytes and host time."""
    graph = profile_model(model, input_shape, size, repeats)
    host = measured_on(repeats)
    total_ms = graph.total_host_time_s * 1e3
    load = ", ".join(f"{x:.2f}" for x in host["load_average_1_5_15_min"])
    console.print(
        key_values(
            {
                "model": graph.name,
                "inputs": ", ".join(
                    f"{v.name} {fmt_shape(v.shape)} {v.dtype}" for v in graph.inputs
                ),
                "capture": graph.method,
                "ops": str(graph.num_ops),
                "GFLOPs": fmt_gflops(graph.total_flops),
                "params": fmt_bytes(graph.memory_bytes(range(graph.num_ops))),
                "host time": f"{fmt_ms(total_ms)} ms (sum of per-op medians)",
                "measured on": f"{host['cpu']}, 1 torch thread, {repeats} runs, load {load}",
            }
        )
    )
    slowest = sorted(graph.ops, key=lambda op: op.host_time_s, reverse=True)[:top]
    table = new_table(
        f"Slowest {len(slowest)} of {graph.num_ops} ops (MEASURED on this host)",
        ["op", "kind", "GFLOPs", "output", "host ms", "% time"],
        right={"GFLOPs", "output", "host ms", "% time"},
    )
    for op in slowest:
        table.add_row(
            op.name,
            op.kind,
            fmt_gflops(op.flops),
            fmt_bytes(op.out_bytes),
            fmt_ms(op.host_time_s * 1e3),
            f"{100 * op.host_time_s / graph.total_host_time_s:.1f}",
        )
    console.print(table)
    if json_path is not None:
        write_text(json_path, json.dumps({**graph.to_dict(), "measured_on": host}, indent=2))
