"""Compose the optimizations into variants of one trained model and keep the Pareto front.

Variants of the trained `fashion_exit_net_wide` (benchmarks/early_exit.py --width 2): fp32;
static int8 (ONNX Runtime QDQ); 25 % and 50 % structured channel pruning, fine-tuned; 50 %
pruned + int8; low-rank (SVD keeping 80 % of each layer's energy), fine-tuned. For each:
final-exit accuracy on the 10,000 Fashion-MNIST test images, ONNX file size, measured
single-image latency on this host (ORT, one thread, alternated rounds) and, for the fp32
variants, the cost model's predicted latency on a Raspberry-Pi-4-class node (`rpi4` preset,
FLOPs-based: labelled predicted). Output: table, Pareto front on (measured latency, accuracy,
size), plot, JSON.

    python benchmarks/optimize_pareto.py [--trained results/early_exit_wide] [--epochs 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from skyline import models, profile
from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.bench.stats import alternated_median_ms
from skyline.data import fashion_mnist, split_holdout
from skyline.exits import train_joint
from skyline.graph import CostModel
from skyline.optimize import (
    OrtModel,
    export_onnx,
    low_rank,
    pareto_front,
    prune_channels,
    quantize_int8,
)
from skyline.topology import Node, Tier, Topology, node_preset


def ort_accuracy(model: OrtModel, images: torch.Tensor, labels: torch.Tensor) -> float:
    right = 0
    for x, y in zip(images.split(1), labels.tolist()):
        out = model(x)
        final = out[-1] if isinstance(out, list) else out
        right += int(final.argmax().item() == y)
    return right / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trained", default="results/early_exit_wide")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--out", default="results/optimize_pareto")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine_before = machine_info()
    trained = Path(args.trained)
    info = json.loads((trained / "results.json").read_text())
    base = models.load(info["model_spec"], weights=trained / "model.pt")
    train, _ = split_holdout(fashion_mnist("train"), 5000, seed=info.get("seed", 0))
    test_x, test_y = fashion_mnist("test").tensors
    x = test_x[:1]
    torch.set_num_threads(2)  # fine-tuning is not timed

    def tuned(model: nn.Module) -> nn.Module:
        train_joint(model, train, epochs=args.epochs, lr=5e-4, seed=1)
        return model

    torch_variants: dict[str, nn.Module] = {"fp32": base}
    for ratio in (0.25, 0.5):
        pruned = prune_channels(copy.deepcopy(base), [x], ratio)
        torch_variants[f"pruned {int(ratio * 100)} %"] = tuned(pruned)
    factored = copy.deepcopy(base)
    low_rank(factored, energy=0.8)
    torch_variants["low-rank 0.8"] = tuned(factored)

    torch.set_num_threads(1)
    rpi = node_preset("rpi4")
    topo = Topology(nodes=[Node(name="rpi4", tier=Tier.DEVICE, gflops=rpi.gflops)], links=[])
    cost = CostModel(topo)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sessions: dict[str, OrtModel] = {}
        for name, model in torch_variants.items():
            graph = profile(model, (x,), repeats=5)
            sessions[name] = OrtModel(export_onnx(model, [x], Path(tmp) / f"{len(sessions)}.onnx"))
            rows[name] = {
                "parameters": sum(p.numel() for p in model.parameters()),
                "mflops": graph.total_flops / 1e6,
                "predicted_rpi4_ms": 1e3 * float(cost.op_times_s(graph, "rpi4").sum()),
            }
        calib = list(train.tensors[0][:256].split(1))
        for name in ("fp32", "pruned 50 %"):
            _, q = quantize_int8(torch_variants[name], [x], calib, Path(tmp) / f"q{len(rows)}")
            label = "int8" if name == "fp32" else "pruned 50 % + int8"
            sessions[label] = q
            rows[label] = {"parameters": rows[name]["parameters"], "mflops": rows[name]["mflops"]}
        for name, session in sessions.items():
            rows[name]["test_accuracy"] = ort_accuracy(session, test_x, test_y)
            rows[name]["onnx_bytes"] = session.size_bytes
            print(f"{name:20s} accuracy {100 * rows[name]['test_accuracy']:.2f} %", flush=True)
        latency = alternated_median_ms(dict(sessions), x, repeats=args.repeats)
    for name, ms in latency.items():
        rows[name]["measured_host_ms"] = ms
    names = list(rows)
    points = [
        {
            "ms": rows[n]["measured_host_ms"],
            "bytes": rows[n]["onnx_bytes"],
            "acc": rows[n]["test_accuracy"],
        }
        for n in names
    ]
    front = [names[i] for i in pareto_front(points, minimize=["ms", "bytes"], maximize=["acc"])]
    front_2d = [names[i] for i in pareto_front(points, minimize=["ms"], maximize=["acc"])]
    report = {
        "benchmark": "optimize_pareto",
        "measured": "accuracy and host latency measured; rpi4 latency predicted (FLOPs model)",
        "model": info["model_spec"],
        "finetune_epochs": args.epochs,
        "variants": rows,
        "pareto_latency_size_accuracy": front,
        "pareto_latency_accuracy": front_2d,
        "machine": machine_before,
        "machine_after": machine_info(),
    }
    (out / "pareto.json").write_text(json.dumps(report, indent=2))
    on_front = sorted(front_2d, key=lambda n: rows[n]["measured_host_ms"])
    line_plot(
        {
            **{n: ([rows[n]["measured_host_ms"]], [100 * rows[n]["test_accuracy"]]) for n in names},
            "Pareto front (latency, accuracy)": (
                [rows[n]["measured_host_ms"] for n in on_front],
                [100 * rows[n]["test_accuracy"] for n in on_front],
            ),
        },
        out / "pareto.png",
        title=f"{info['model_spec'].split(':')[1]} variants (measured, ORT 1 thread)",
        xlabel="host latency (ms)",
        ylabel="test accuracy, final exit (%)",
    )
    for n in names:
        r = rows[n]
        print(
            f"{n:20s} {r['measured_host_ms']:.3f} ms  {r['onnx_bytes'] / 1e3:8.1f} kB  "
            f"{100 * r['test_accuracy']:.2f} %  {'front' if n in front else ''}"
        )


if __name__ == "__main__":
    main()
