"""Edge-cloud cascade on real Fashion-MNIST: accuracy vs share sent to the cloud, per policy.

Trains `edge_cnn` and `cloud_cnn` on the Fashion-MNIST train set minus 5,000 held-out samples;
the `learned` policy is fitted on the edge model's outputs for those held-out samples (never on
the test set). For every hard-example policy it sweeps the share of the 10,000 test images sent
to the cloud and reports the share of the edge-to-cloud accuracy gap recovered at 30 % sent
(acceptance: >= 70 % for the best deployable policy; random ~30 %). It also checks a deployable
setting: the threshold that sends 30 % of the held-out samples, applied to the test set.
Two torch threads; ~7 min on the 2-core VM.

    python benchmarks/cascade.py [--out results/cascade] [--edge-epochs 8] [--cloud-epochs 6]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from skyline import cascade, profile
from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.data import fashion_mnist, split_holdout
from skyline.exits import predict_logits, train_joint

HOLDOUT = 5000
SHARE = 0.3
FRACTIONS = np.linspace(0.0, 1.0, 51).tolist()


def trained(model: nn.Module, train: TensorDataset, epochs: int, seed: int, name: str) -> float:
    """Train in place; the wall time in seconds."""
    t0 = time.perf_counter()
    train_joint(
        model,
        train,
        epochs=epochs,
        seed=seed,
        progress=lambda e, loss: print(f"{name} epoch {e + 1}: loss {loss:.4f}", flush=True),
    )
    return time.perf_counter() - t0


def probs(model: nn.Module, ds: TensorDataset) -> np.ndarray:
    return torch.softmax(predict_logits(model, ds)[0], dim=1).double().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/cascade")
    parser.add_argument("--edge-epochs", type=int, default=8)
    parser.add_argument("--cloud-epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    machine_before = machine_info()

    train, held = split_holdout(fashion_mnist("train"), HOLDOUT, seed=args.seed)
    test = fashion_mnist("test")
    edge, cloud = cascade.edge_cnn(seed=args.seed), cascade.cloud_cnn(seed=args.seed)
    models: dict[str, dict[str, Any]] = {}
    for name, model, epochs in (
        ("edge", edge, args.edge_epochs),
        ("cloud", cloud, args.cloud_epochs),
    ):
        seconds = trained(model, train, epochs, args.seed, name)
        graph = profile(model, (torch.zeros(1, 1, 28, 28),), warmup=0, repeats=1)
        models[name] = {
            "epochs": epochs,
            "train_seconds": seconds,
            "mflops": graph.total_flops / 1e6,
            "parameters": sum(p.numel() for p in model.parameters()),
        }

    held_y, test_y = held.tensors[1].numpy(), test.tensors[1].numpy()
    held_edge = probs(edge, held)
    edge_p, cloud_p = probs(edge, test), probs(cloud, test)
    edge_acc = float((edge_p.argmax(1) == test_y).mean())
    cloud_acc = float((cloud_p.argmax(1) == test_y).mean())
    models["edge"]["test_accuracy"], models["cloud"]["test_accuracy"] = edge_acc, cloud_acc

    policies: dict[str, dict[str, Any]] = {}
    series: dict[str, tuple[Sequence[float], Sequence[float]]] = {}
    for name in cascade.names():
        policy = cascade.create(name).fit(held_edge, held_y)
        curve = cascade.sweep(policy, edge_p, cloud_p, test_y, FRACTIONS)
        ((_, acc_at),) = cascade.sweep(policy, edge_p, cloud_p, test_y, [SHARE])
        row: dict[str, Any] = {
            "description": policy.description,
            "curve": [{"fraction_sent": f, "accuracy": a} for f, a in curve],
            "accuracy_at_30pct": acc_at,
            "gap_recovered_at_30pct": cascade.gap_recovered(acc_at, edge_acc, cloud_acc),
        }
        if not policy.needs_truth:
            # Deployable: a threshold fixed on held-out scores, then applied to the test set.
            threshold = cascade.threshold_for_share(policy.score(held_edge), SHARE)
            sent = policy.score(edge_p) >= threshold
            answer = np.where(sent, cloud_p.argmax(1), edge_p.argmax(1))
            accuracy = float((answer == test_y).mean())
            row["held_out_threshold_for_30pct"] = {
                "threshold": threshold,
                "test_fraction_sent": float(sent.mean()),
                "test_accuracy": accuracy,
                "gap_recovered": cascade.gap_recovered(accuracy, edge_acc, cloud_acc),
            }
        policies[name] = row
        series[name] = ([100 * f for f, _ in curve], [100 * a for _, a in curve])
    plot = line_plot(
        series,
        out / "curves.png",
        title=f"Fashion-MNIST cascade: edge {100 * edge_acc:.1f} %, cloud {100 * cloud_acc:.1f} %",
        xlabel="test samples sent to the cloud (%)",
        ylabel="cascade accuracy (%)",
    )

    deployable = {n: r for n, r in policies.items() if n not in ("oracle", "random")}
    best = max(deployable, key=lambda n: deployable[n]["gap_recovered_at_30pct"])
    report = {
        "benchmark": "cascade",
        "measured": True,
        "machine": machine_before,
        "machine_after": machine_info(),
        "dataset": "Fashion-MNIST (IDX files of Debian dataset-fashion-mnist)",
        "train_samples": len(train),
        "held_out_samples": len(held),
        "test_samples": len(test),
        "seed": args.seed,
        "models": models,
        "policies": policies,
        "best_deployable_policy": best,
        "acceptance": {
            "best_deployable_gap_recovered_at_30pct_ge_0.7": (
                policies[best]["gap_recovered_at_30pct"] >= 0.7
            ),
            "random_gap_recovered_at_30pct": policies["random"]["gap_recovered_at_30pct"],
        },
        "files": {"plot": str(plot)},
    }
    (out / "results.json").write_text(json.dumps(report, indent=2))

    for name, info in models.items():
        print(
            f"{name:5s} {info['parameters']:7d} params {info['mflops']:6.2f} MFLOPs "
            f"{100 * info['test_accuracy']:.2f} % ({info['epochs']} epochs, "
            f"{info['train_seconds']:.0f} s)"
        )
    print("policy     acc@30%  gap@30%  | held-out threshold on test: sent  acc    gap")
    for name, row in policies.items():
        line = (
            f"{name:9s}  {100 * row['accuracy_at_30pct']:6.2f}  "
            f"{100 * row['gap_recovered_at_30pct']:6.1f} %"
        )
        if "held_out_threshold_for_30pct" in row:
            d = row["held_out_threshold_for_30pct"]
            line += (
                f"  |  {100 * d['test_fraction_sent']:5.1f} %  {100 * d['test_accuracy']:5.2f}  "
                f"{100 * d['gap_recovered']:5.1f} %"
            )
        print(line)
    print(f"wrote {out / 'results.json'}; best deployable: {best}; {report['acceptance']}")


if __name__ == "__main__":
    main()
