"""Knowledge distillation: cloud teacher -> edge student, against the same student alone.

Teacher: the trained `fashion_exit_net_wide` from benchmarks/early_exit.py (final exit). Student:
`edge_cnn` (~26 k parameters). For each of `--seeds` seeds the student is trained twice from the
same initialization and data order, once on labels alone (alpha = 0) and once distilled
(temperature T, alpha), for `--epochs` on the Fashion-MNIST train split the teacher was trained
on; test accuracy on all 10,000 test images. Reports mean, standard deviation and the paired
per-seed differences with a paired t-test: claim only what survives the spread.

    python benchmarks/distill.py [--seeds 5] [--epochs 8] [--temperature 4] [--alpha 0.7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from scipy import stats

from skyline import models
from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.cascade import edge_cnn
from skyline.data import fashion_mnist, split_holdout
from skyline.exits import evaluate
from skyline.optimize import distill, teacher_logits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trained", default="results/early_exit_wide")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.7)
    parser.add_argument("--out", default="results/distill")
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine_before = machine_info()
    trained = Path(args.trained)
    info = json.loads((trained / "results.json").read_text())
    teacher = models.load(info["model_spec"], weights=trained / "model.pt")
    train, _ = split_holdout(fashion_mnist("train"), 5000, seed=info.get("seed", 0))
    test = fashion_mnist("test")
    soft = teacher_logits(teacher, train.tensors[0])
    teacher_acc = evaluate(teacher, test)[-1]
    runs: dict[str, list[float]] = {"alone": [], "distilled": []}
    curves: dict[str, list[list[float]]] = {"alone": [], "distilled": []}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for name, targets in (("alone", None), ("distilled", soft)):
            student = edge_cnn(seed=seed)
            losses = distill(
                student,
                train,
                targets,
                epochs=args.epochs,
                temperature=args.temperature,
                alpha=args.alpha,
                seed=seed,
            )
            runs[name].append(evaluate(student, test)[-1])
            curves[name].append(losses)
            print(f"seed {seed} {name:9s} test accuracy {100 * runs[name][-1]:.2f} %", flush=True)
    diffs = [d - a for d, a in zip(runs["distilled"], runs["alone"])]
    test_result = stats.ttest_rel(runs["distilled"], runs["alone"]) if args.seeds > 1 else None
    summary = {
        name: {
            "mean": statistics.mean(v),
            "std": statistics.stdev(v) if len(v) > 1 else 0.0,
            "per_seed": v,
        }
        for name, v in runs.items()
    }
    report = {
        "benchmark": "distill",
        "measured": True,
        "teacher": info["model_spec"],
        "teacher_test_accuracy": teacher_acc,
        "student": "skyline.cascade:edge_cnn",
        "student_parameters": sum(p.numel() for p in edge_cnn().parameters()),
        "epochs": args.epochs,
        "temperature": args.temperature,
        "alpha": args.alpha,
        "seeds": args.seeds,
        "seconds": time.perf_counter() - t0,
        "test_accuracy": summary,
        "paired_difference_pt": {
            "mean": 100 * statistics.mean(diffs),
            "std": 100 * statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
            "per_seed": [100 * d for d in diffs],
            "paired_t_p_value": float(test_result.pvalue) if test_result is not None else None,
        },
        "machine": machine_before,
        "machine_after": machine_info(),
    }
    (out / "distill.json").write_text(json.dumps(report, indent=2))
    line_plot(
        {
            f"{name} (seed {s})": (list(range(1, args.epochs + 1)), c)
            for name, cs in curves.items()
            for s, c in enumerate(cs)
        },
        out / "losses.png",
        title="edge_cnn training loss: labels alone vs distilled",
        xlabel="epoch",
        ylabel="training loss (distilled: KD objective)",
    )
    print(json.dumps({"test_accuracy": summary, "paired": report["paired_difference_pt"]}))


if __name__ == "__main__":
    main()
