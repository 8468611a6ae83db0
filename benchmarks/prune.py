"""Structured channel pruning with fine-tuning, and what unstructured pruning does not buy.

Takes the trained early-exit CNN from benchmarks/early_exit.py (default: the wide variant,
whose compute dominates its per-call overhead), removes `--ratio` of the channels of every
layer group (torch-pruning, group L2 magnitude, classifier outputs kept), fine-tunes all exits
jointly for `--epochs` on the same training split, and measures on the 10,000 Fashion-MNIST
test images: accuracy per exit before / after pruning / after fine-tuning, parameters, FLOPs,
and single-image latency on ONNX Runtime fp32 with one thread (same backend for both, rounds
alternated). Then the same latency for 70 % global magnitude (unstructured) pruning: the
zeros stay in dense tensors, so nothing gets faster. Acceptance: >= 1.8x faster at <= 2 pt loss.

    python benchmarks/prune.py [--trained results/early_exit_wide] [--ratio 0.5] [--epochs 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from skyline import models, profile
from skyline.bench import machine_info
from skyline.bench.stats import alternated_median_ms
from skyline.data import fashion_mnist, split_holdout
from skyline.exits import evaluate, train_joint
from skyline.optimize import OrtModel, export_onnx, parameter_count, prune_channels, prune_magnitude


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trained", default="results/early_exit_wide")
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--out", default="results/prune")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine_before = machine_info()
    trained = Path(args.trained)
    info = json.loads((trained / "results.json").read_text())
    spec = info.get("model_spec", "skyline.exits:fashion_exit_net")
    base = models.load(spec, weights=trained / "model.pt")
    train, _ = split_holdout(fashion_mnist("train"), 5000, seed=info.get("seed", 0))
    test = fashion_mnist("test")
    x = test.tensors[0][:1]

    torch.set_num_threads(2)  # accuracy and fine-tuning are not timed
    acc_base = evaluate(base, test)
    pruned = prune_channels(copy.deepcopy(base), [x], args.ratio)
    acc_pruned = evaluate(pruned, test)
    t0 = time.perf_counter()
    losses = train_joint(pruned, train, epochs=args.epochs, lr=5e-4, seed=1)
    finetune_s = time.perf_counter() - t0
    acc_tuned = evaluate(pruned, test)
    sparse = copy.deepcopy(base)
    sparsity = prune_magnitude(sparse, 0.7)
    acc_sparse = evaluate(sparse, test)

    torch.set_num_threads(1)
    flops = {
        k: profile(m, (x,), repeats=1).total_flops for k, m in (("base", base), ("pruned", pruned))
    }
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {
            name: OrtModel(export_onnx(m, [x], Path(tmp) / f"{name}.onnx"), threads=1)
            for name, m in (("base", base), ("pruned", pruned), ("magnitude_70", sparse))
        }
        lat = alternated_median_ms(sessions, x, repeats=args.repeats)
        sizes = {k: s.size_bytes for k, s in sessions.items()}
    final = -1
    report: dict[str, Any] = {
        "benchmark": "prune",
        "measured": True,
        "model": spec,
        "ratio": args.ratio,
        "finetune_epochs": args.epochs,
        "finetune_seconds": finetune_s,
        "finetune_losses": losses,
        "test_accuracy_per_exit": {
            "base": acc_base,
            "pruned_before_finetune": acc_pruned,
            "pruned_finetuned": acc_tuned,
            "magnitude_70": acc_sparse,
        },
        "parameters": {"base": parameter_count(base), "pruned": parameter_count(pruned)},
        "flops": flops,
        "onnx_bytes": sizes,
        "magnitude_sparsity": sparsity,
        "latency_ms_ort_fp32_1thread": lat,
        "speedup_pruned": lat["base"] / lat["pruned"],
        "speedup_magnitude_70": lat["base"] / lat["magnitude_70"],
        "final_exit_loss_pt": 100 * (acc_base[final] - acc_tuned[final]),
        "machine": machine_before,
        "machine_after": machine_info(),
    }
    report["goals_met"] = {
        "speedup>=1.8": report["speedup_pruned"] >= 1.8,
        "loss<=2pt": report["final_exit_loss_pt"] <= 2.0,
    }
    (out / "prune.json").write_text(json.dumps(report, indent=2))
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "test_accuracy_per_exit",
                    "latency_ms_ort_fp32_1thread",
                    "speedup_pruned",
                    "speedup_magnitude_70",
                    "final_exit_loss_pt",
                    "goals_met",
                )
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
