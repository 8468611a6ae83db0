"""`skyline optimize`: variants of a model (pruned, low-rank, int8 on ONNX Runtime or PT2E),
each saved, with its size, its measured host latency, its accuracy on Fashion-MNIST when asked,
and, on a topology, its predicted latency per node and the variant each node should run.
Planners read the variants back from optimize.json: `skyline.optimize.variants.load_variants`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from skyline import models
from skyline.bench import machine_info
from skyline.bench.stats import alternated_median_ms
from skyline.cli._common import (
    InputShape,
    ModelArg,
    Size,
    console,
    fmt_bytes,
    fmt_ms,
    new_table,
    resolve_model,
    write_text,
)
from skyline.data import fashion_mnist
from skyline.errors import ConfigError
from skyline.graph import profile
from skyline.graph.profile import single_thread
from skyline.optimize.distill import distill
from skyline.optimize.lowrank import low_rank
from skyline.optimize.ort import quantize_int8
from skyline.optimize.prune import prune_channels
from skyline.optimize.pt2e import quantize_pt2e, state_bytes
from skyline.optimize.qat import quantize_aware
from skyline.optimize.variants import Variant, pick_per_node, predicted_latency_ms
from skyline.topology import Topology, load_topology

QUANTIZERS = {
    "int8": "ONNX Runtime static QDQ",
    "pt2e": "torchao PT2E + Inductor",
    "qat": "torchao PT2E QAT + Inductor",
}
EVAL_SETS = ("fashion_mnist",)
_IMAGE = (1, 28, 28)
TRAIN_IMAGES = 10_000  # fine-tuning and QAT data: the first training images


@dataclass
class _Row:
    """One variant while it is built: how to time it, score it, and what it derives from."""

    name: str
    backend: str
    run: Callable[..., Any]  # the model's inputs -> output, no autograd (timed)
    size_bytes: int
    path: Path | None
    eval_batch: int  # rows per call when scoring accuracy (1: fixed-shape ONNX)
    model: nn.Module | None = None  # torch variants: profiled for predictions
    baseline: str | None = None  # the fp32 row on the same backend, for the speedup
    score: Callable[..., Any] | None = None  # same numerics as `run`, for accuracy batches
    measured: dict[str, float] = field(default_factory=dict)


def _eager(model: nn.Module) -> Callable[..., Any]:
    def run(*inputs: Tensor) -> Any:
        with torch.no_grad():
            return model(*inputs)

    return run


def _final(output: Any) -> Tensor:
    """The answer of a model that may return several exits: the last one."""
    return output if isinstance(output, Tensor) else output[-1]


def _accuracy(row: _Row, images: Tensor, labels: Tensor) -> float:
    right = sum(
        int((_final((row.score or row.run)(x)).argmax(-1) == y).sum())
        for x, y in zip(images.split(row.eval_batch), labels.split(row.eval_batch))
    )
    return right / len(labels)


def _check_eval(name: str, inputs: Sequence[Tensor], eval_set: str | None) -> None:
    if eval_set is None:
        return
    if eval_set not in EVAL_SETS:
        raise ConfigError(f"--eval {eval_set!r} is not a known test set", fix="use fashion_mnist")
    if len(inputs) != 1 or tuple(inputs[0].shape[1:]) != _IMAGE:
        shapes = [tuple(x.shape) for x in inputs]
        raise ConfigError(
            f"--eval fashion_mnist needs a model of one 1x28x28 image input; {name} takes {shapes}",
            fix="drop --eval, or optimize a Fashion-MNIST model (e.g. small_cnn --weights W)",
        )


def _calibration(
    inputs: Sequence[Tensor], count: int, eval_set: str | None
) -> tuple[list[tuple[Tensor, ...]], str]:
    """`count` batches shaped like `inputs`: training images when evaluating, else seeded
    random inputs (fine for speed and size, meaningless for accuracy)."""
    if eval_set is not None:
        images = fashion_mnist("train", limit=count).tensors[0]
        return [(x,) for x in images.split(1)], f"{count} Fashion-MNIST training images"
    gen = torch.Generator().manual_seed(1)
    batches = [tuple(torch.randn(x.shape, generator=gen) for x in inputs) for _ in range(count)]
    return batches, f"{count} random standard-normal inputs (no data given)"


def _child(parent: str, suffix: str) -> str:
    return suffix if parent == "fp32" else f"{parent} + {suffix}"


def _torch_variants(
    model: nn.Module,
    inputs: Sequence[Tensor],
    prune: float | None,
    lowrank: float | None,
    finetune: Callable[[nn.Module], None],
) -> Iterator[tuple[str, nn.Module]]:
    """fp32, then each requested transform applied on top of the previous variant (and
    fine-tuned: both lose accuracy first)."""
    name, current = "fp32", model
    yield name, current
    if prune is not None:
        current = prune_channels(copy.deepcopy(current), inputs, prune)
        finetune(current)
        name = f"prune {prune:g}"
        yield name, current
    if lowrank is not None:
        current = copy.deepcopy(current)
        low_rank(current, energy=lowrank)
        finetune(current)
        name = _child(name, f"lowrank {lowrank:g}")
        yield name, current


def _quantized(
    kind: str,
    parent: _Row,
    inputs: Sequence[Tensor],
    calib: list[tuple[Tensor, ...]],
    out: Path,
    train: TensorDataset | None,
    epochs: int,
) -> list[_Row]:
    """The rows of one quantizer applied to the torch variant `parent`."""
    assert parent.model is not None
    if kind == "int8":
        fp32, int8 = quantize_int8(parent.model, inputs, calib, out / _slug(parent.name))
        ort32 = f"{parent.name} (ORT fp32)"
        return [
            _Row(ort32, "onnxruntime", fp32, fp32.size_bytes, fp32.path, 1),
            _Row(
                _child(parent.name, "int8 ORT"),
                "onnxruntime",
                int8,
                int8.size_bytes,
                int8.path,
                eval_batch=1,
                baseline=ort32,
            ),
        ]
    if kind == "qat":
        assert train is not None
        images, labels = train.tensors
        batches = list(zip(images.split(64), labels.split(64)))
        q = quantize_aware(parent.model, inputs, batches, epochs=max(epochs, 1))
    else:
        q = quantize_pt2e(parent.model, inputs, calib)
    q(*inputs)  # compiles now, not inside the timing
    return [
        _Row(
            _child(parent.name, f"int8 {kind.upper()}"),
            "torch.compile inductor",
            q,
            q.size_bytes,
            None,
            eval_batch=500,
            score=_eager(q.reference),  # each batch size would compile anew
        )
    ]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c == "." else "_" for c in name).replace("__", "_")


def _predictions(
    rows: list[_Row], inputs: Sequence[Tensor], topology: Topology
) -> dict[str, dict[str, float]]:
    """Per row, predicted ms per node: torch variants from their own graph (FLOPs or host
    time); the others (ONNX Runtime, PT2E) as their torch parent times their measured host
    latency ratio to it."""
    predicted: dict[str, dict[str, float]] = {}
    parent = rows[0]
    for row in rows:
        if row.model is not None:
            graph = profile(row.model, tuple(inputs), name=row.name, repeats=3)
            predicted[row.name] = predicted_latency_ms(graph, topology)
            parent = row
        else:
            ratio = parent.measured["host_ms"] / row.measured["host_ms"]
            predicted[row.name] = predicted_latency_ms(graph, topology, speedup=ratio)
    return predicted


def optimize_command(
    model_spec: ModelArg,
    quantize: Annotated[
        list[str] | None,
        typer.Option(
            "--quantize",
            "-q",
            help="int8 (ONNX Runtime QDQ), pt2e (torchao, compiled) or qat (PT2E after "
            "quantization-aware training); repeatable",
        ),
    ] = None,
    prune: Annotated[
        float | None,
        typer.Option(help="structured channel pruning ratio in [0, 1)"),
    ] = None,
    lowrank: Annotated[
        float | None, typer.Option(help="low-rank SVD keeping this energy per layer, (0, 1]")
    ] = None,
    out: Annotated[Path, typer.Option(help="directory for the variants and optimize.json")] = Path(
        "optimized"
    ),
    weights: Annotated[
        Path | None, typer.Option(dir_okay=False, help="state_dict file (torch.save) to load")
    ] = None,
    eval_set: Annotated[
        str | None, typer.Option("--eval", help="score accuracy on this test set: fashion_mnist")
    ] = None,
    eval_limit: Annotated[
        int | None, typer.Option(min=1, help="test images to score (default all 10,000)")
    ] = None,
    calibration: Annotated[int, typer.Option(min=1, help="int8 calibration inputs")] = 128,
    finetune: Annotated[
        int,
        typer.Option(
            min=0,
            help=f"epochs on {TRAIN_IMAGES:,} --eval training images after pruning and "
            "low-rank, and of QAT",
        ),
    ] = 0,
    repeats: Annotated[int, typer.Option(min=1, help="timed runs per round (3 rounds)")] = 20,
    topology: Annotated[
        str | None,
        typer.Option("--topology", "-t", help="preset or file: predict latency per node"),
    ] = None,
    accuracy_floor: Annotated[
        float | None,
        typer.Option(help="with --topology and --eval: pick per node the fastest variant above"),
    ] = None,
    input_shape: InputShape = None,
    size: Size = None,
) -> None:
    """Make optimized variants of MODEL and compare them: size, latency, accuracy."""
    unknown = sorted(set(quantize or []) - set(QUANTIZERS))
    if unknown:
        raise ConfigError(
            f"--quantize {unknown[0]!r} is not a quantizer", fix="use int8, pt2e or qat"
        )
    if (finetune or "qat" in (quantize or [])) and eval_set is None:
        raise ConfigError(
            "--finetune and --quantize qat train on the --eval dataset, and none was given",
            fix="add --eval fashion_mnist",
        )
    if accuracy_floor is not None and (topology is None or eval_set is None):
        raise ConfigError(
            "--accuracy-floor needs measured accuracy and nodes to pick for",
            fix="add --eval fashion_mnist and --topology",
        )
    name, model, inputs = resolve_model(model_spec, input_shape, size)
    if weights is not None:
        model = models.load(model_spec, weights)
    _check_eval(name, inputs, eval_set)
    topo = None if topology is None else load_topology(topology)
    out.mkdir(parents=True, exist_ok=True)
    calib, calib_note = _calibration(inputs, calibration, eval_set)
    train = None if eval_set is None else fashion_mnist("train", limit=TRAIN_IMAGES)
    rows: list[_Row] = []
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress, single_thread():
        kinds = list(dict.fromkeys(quantize or []))
        steps = 2 + (prune is not None) + (lowrank is not None) + len(kinds) + bool(eval_set)
        bar = progress.add_task("building variants", total=steps)

        def step(text: str) -> None:
            progress.update(bar, description=text, advance=1)

        def tune(variant: nn.Module) -> None:
            if train is not None and finetune:
                distill(variant, train, None, epochs=finetune, lr=5e-4)

        for label, variant in _torch_variants(model, inputs, prune, lowrank, tune):
            step(f"{label}: saving")
            path = out / f"{_slug(label)}.pt"
            torch.save(variant.state_dict(), path)
            rows.append(
                _Row(
                    label, "torch eager", _eager(variant), state_bytes(variant), path, 500, variant
                )
            )
        parent = rows[-1]
        for kind in kinds:
            step(f"{parent.name}: {QUANTIZERS[kind]} int8")
            rows += _quantized(kind, parent, inputs, calib, out, train, finetune)
        step("timing (1 thread, median of 3 rounds)")
        ms = alternated_median_ms({r.name: r.run for r in rows}, *inputs, repeats=repeats)
        for row in rows:
            row.measured["host_ms"] = ms[row.name]
        test_n = 0
        if eval_set is not None:
            step("scoring accuracy")
            images, labels = fashion_mnist("test", limit=eval_limit).tensors
            test_n = len(labels)
            for row in rows:
                row.measured["accuracy"] = _accuracy(row, images, labels)
    predicted = {} if topo is None else _predictions(rows, inputs, topo)
    variants = [
        Variant(
            name,
            row.name,
            row.size_bytes,
            predicted.get(row.name, {}),
            row.measured.get("accuracy"),
            row.path,
        )
        for row in rows
    ]
    _show(rows, variants, topo)
    report: dict[str, Any] = {
        "model": name,
        "input_shapes": [list(x.shape) for x in inputs],
        "calibration": calib_note,
        "finetune": f"{finetune} epoch(s) on {TRAIN_IMAGES} training images" if finetune else None,
        "measured": "host_ms: median wall time over 3 alternated rounds of "
        f"{repeats} single-input calls, 1 thread, this host; accuracy: "
        + (f"{test_n} Fashion-MNIST test images" if test_n else "not measured"),
        "predicted": None
        if topo is None
        else f"predicted_latency_ms: {topo.name} cost model (FLOPs or host time per node); "
        "quantized variants divided by their measured host speedup over their fp32 parent",
        "variants": [
            {**v.to_dict(), "backend": r.backend, "host_ms": r.measured["host_ms"]}
            for v, r in zip(variants, rows)
        ],
        "machine": machine_info(),
    }
    if topo is not None and accuracy_floor is not None:
        picks = pick_per_node(variants, topo, accuracy_floor)
        report["picks"] = {
            "accuracy_floor": accuracy_floor,
            **{n: v.name for n, v in picks.items()},
        }
        for node in topo.nodes:
            choice = picks[node.name].name if node.name in picks else "none fits"
            console.print(f"{node.name}: {choice}", highlight=False)
    write_text(out / "optimize.json", json.dumps(report, indent=2))


def _show(rows: Sequence[_Row], variants: Sequence[Variant], topo: Topology | None) -> None:
    nodes = [] if topo is None else [n.name for n in topo.nodes]
    headers = ["variant", "backend", "size", "host ms", "speedup", "accuracy %"]
    headers += [f"{n} ms (pred.)" for n in nodes]
    table = new_table(
        "Variants",
        headers,
        right=headers[2:],
        caption="MEASURED: host ms (median, 1 thread), accuracy; size: ONNX file or tensor "
        "bytes; PT2E accuracy from its eager int8 graph. PREDICTED: per-node ms (cost model). "
        "speedup: ORT int8 vs ORT fp32, the others vs fp32 torch eager.",
    )
    ms = {row.name: row.measured["host_ms"] for row in rows}
    for row, variant in zip(rows, variants):
        base = ms[row.baseline or rows[0].name]
        acc = variant.accuracy
        table.add_row(
            row.name,
            row.backend,
            fmt_bytes(row.size_bytes),
            fmt_ms(ms[row.name]),
            f"{base / ms[row.name]:.2f}x",
            "-" if acc is None else f"{100 * acc:.2f}",
            *(fmt_ms(variant.latency_ms[n]) for n in nodes),
        )
    console.print(table)
