"""`skyline models`: the reference model zoo with sizes and compute."""

from __future__ import annotations

from typing import Annotated

import torch
import typer
from torch.utils.flop_counter import FlopCounterMode

from skyline import models
from skyline.cli._common import console, fmt_gflops, fmt_shape, new_table


def _params_and_flops(spec: models.ModelSpec, count_flops: bool) -> tuple[int, float | None]:
    """Parameter count and FLOPs of one forward pass at the default input shape.

    Built on the meta device: shapes only, so no weights are allocated and nothing is computed,
    which makes even VGG-16 instant. FLOPs are torch's FlopCounter (2 per multiply-add).
    """
    with torch.device("meta"), torch.no_grad():
        model = spec.build()
        params = sum(p.numel() for p in model.parameters())
        if not count_flops:
            return params, None
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(spec.input_shape))
    return params, float(counter.get_total_flops())


def list_models(
    flops: Annotated[
        bool, typer.Option("--flops/--no-flops", help="count GFLOPs of one forward pass")
    ] = True,
) -> None:
    """List the reference model zoo: input shape, parameters and GFLOPs at batch 1."""
    table = new_table(
        "Model zoo",
        ["name", "input shape", "params (M)", "GFLOPs", "description"],
        right={"params (M)", "GFLOPs"},
        caption="GFLOPs: torch FlopCounter, one forward pass at the input shape, "
        "2 FLOPs per multiply-add",
    )
    for name in models.names():
        spec = models.spec(name)
        params, count = _params_and_flops(spec, flops)
        table.add_row(
            name,
            fmt_shape(spec.input_shape),
            f"{params / 1e6:.2f}",
            "-" if count is None else fmt_gflops(count),
            spec.description,
        )
    console.print(table)
