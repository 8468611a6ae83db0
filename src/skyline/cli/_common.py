"""Pieces every `skyline` command shares: model resolution, options, consoles, tables, units."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.table import Table
from torch import nn

from skyline import models
from skyline._registry import load_object
from skyline.errors import ConfigError
from skyline.graph import ModelGraph, profile

console = Console()
err_console = Console(stderr=True)

_SHAPE_FIX = (
    "pass --input-shape with positive sizes, batch first, e.g. --input-shape 1,3,224,224 "
    "(separate several inputs with ';')"
)

COST_MODEL_NOTE = (
    "Op time = FLOPs / node GFLOP/s + per-op overhead, or time measured on this host / node "
    "speed; tensor time = bytes / bandwidth, plus one RTT per link used."
)

# Options shared by the commands that profile a model.
ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="zoo model name (see `skyline models`) or 'package.module:attr' naming an "
        "nn.Module instance, subclass or zero-argument factory",
        show_default=False,
    ),
]
TopologyOpt = Annotated[
    str, typer.Option("--topology", "-t", help="topology preset or .toml/.yaml file")
]
InputShape = Annotated[
    str | None,
    typer.Option(
        "--input-shape",
        help="input shape, batch first, e.g. 1,3,224,224 (';' between several inputs)",
    ),
]
Size = Annotated[
    int | None,
    typer.Option("--size", min=1, help="height and width of a zoo image model's input"),
]
Repeats = Annotated[
    int, typer.Option("--repeats", min=1, help="timed runs per op (the median is kept)")
]
JsonPath = Annotated[
    Path | None, typer.Option("--json", dir_okay=False, help="also write the result as JSON")
]


def parse_shapes(text: str) -> list[tuple[int, ...]]:
    """`"1,3,224,224"` -> `[(1, 3, 224, 224)]`; `';'` separates the shapes of several inputs."""
    try:
        shapes = [tuple(int(d) for d in part.split(",")) for part in text.split(";")]
    except ValueError:
        shapes = []
    if not shapes or any(min(shape) < 1 for shape in shapes):
        raise ConfigError(f"--input-shape {text!r} is not a shape", fix=_SHAPE_FIX)
    return shapes


def _random_inputs(shapes: Sequence[tuple[int, ...]]) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.randn(shape, generator=generator) for shape in shapes)


def _declared_inputs(spec: str, sources: Sequence[object]) -> tuple[torch.Tensor, ...]:
    """Inputs from the first source with an `example_inputs()` method or `input_shape`."""
    for source in sources:
        make = getattr(source, "example_inputs", None)
        if callable(make):
            made = make()
            return made if isinstance(made, tuple) else (made,)
        shape = getattr(source, "input_shape", None)
        if shape is not None:
            return _random_inputs([tuple(shape)])
    raise ConfigError(
        f"cannot tell what input {spec!r} takes: it has no example_inputs() or input_shape",
        fix=_SHAPE_FIX,
    )


def resolve_model(
    spec: str, input_shape: str | None, size: int | None
) -> tuple[str, nn.Module, tuple[torch.Tensor, ...]]:
    """(name, model in eval mode, example inputs) for a zoo name or a `module:attr` path.

    Inputs are seeded standard-normal tensors of `input_shape` when given; otherwise a zoo
    model's own (with `size` as image height and width), or the object's `example_inputs()` /
    `input_shape`.
    """
    if input_shape is not None and size is not None:
        raise ConfigError("--input-shape and --size both set the input", fix="give only one")
    obj = load_object(spec) if ":" in spec else models.spec(spec)
    if isinstance(obj, models.ModelSpec):
        inputs = (
            _random_inputs(parse_shapes(input_shape))
            if input_shape is not None
            else obj.example_inputs(size=size)
        )
        return obj.name, obj.build(), inputs
    if size is not None:
        raise ConfigError(
            f"--size applies to zoo image models, not to {spec!r}",
            fix="give the whole shape instead, e.g. --input-shape 1,3,64,64",
        )
    model = models.instantiate(spec, obj).eval()
    if input_shape is not None:
        return spec, model, _random_inputs(parse_shapes(input_shape))
    return spec, model, _declared_inputs(spec, [model, obj])


def profile_model(spec: str, input_shape: str | None, size: int | None, repeats: int) -> ModelGraph:
    """Resolve and profile a model (one torch thread), showing progress on stderr."""
    name, model, inputs = resolve_model(spec, input_shape, size)
    with err_console.status(f"profiling {name} ({repeats} timed runs per op)..."):
        return profile(model, inputs, name=name, repeats=repeats)


def write_text(path: Path, text: str) -> None:
    """Write a result file and say so."""
    try:
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}", fix="check the folder exists and is writable"
        ) from exc
    console.print(f"wrote {path}", highlight=False)


# -- formatting ----------------------------------------------------------------------------------
def fmt_ms(ms: float) -> str:
    """Milliseconds with precision that suits the magnitude."""
    if ms == 0 or not math.isfinite(ms):
        return f"{ms:g}"
    return f"{ms:,.1f}" if ms >= 100 else f"{ms:.2f}" if ms >= 1 else f"{ms:.3f}"


def fmt_bytes(nbytes: float) -> str:
    """Bytes in binary units (KiB = 1024 B); `inf` for a value that cannot be sent."""
    if not math.isfinite(nbytes):
        return "inf"
    for unit in ("B", "KiB", "MiB"):
        if abs(nbytes) < 1024:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} GiB"


def fmt_gflops(flops: float) -> str:
    return f"{flops / 1e9:.3f}"


def fmt_shape(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape))


def new_table(
    title: str,
    headers: Sequence[str],
    *,
    right: Collection[str] = (),
    caption: str | None = None,
) -> Table:
    """A table whose first column (the row's name) never wraps; `right` columns are numbers."""
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for i, header in enumerate(headers):
        table.add_column(
            header,
            justify="right" if header in right else "left",
            no_wrap=i == 0,
            style="bold" if i == 0 else None,
        )
    return table


def key_values(rows: Mapping[str, str]) -> Table:
    """A borderless two-column summary, `key: value` per line."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in rows.items():
        grid.add_row(key, value)
    return grid
