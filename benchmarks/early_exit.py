"""Early exits on real Fashion-MNIST: per-exit accuracy, calibration and exit thresholds.

Trains `fashion_exit_net` (exits after blocks 0 and 1, then the final classifier) jointly on the
Fashion-MNIST train set minus 5,000 held-out samples. On the held-out samples it fits one
temperature per exit and picks the exit thresholds that lose at most 1 point of accuracy against
the final exit at the lowest mean exit depth; every reported number is then measured on the full
10,000-image test set. Acceptance: temperature scaling lowers the test ECE of every exit.
Saves the weights for later latency benchmarks. Two torch threads; ~4 min on the 2-core VM.

    python benchmarks/early_exit.py [--out results/early_exit] [--epochs 12] [--width 1]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from skyline import profile
from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.data import fashion_mnist, split_holdout
from skyline.exits import (
    EarlyExitNet,
    calibrated_probs,
    choose_thresholds,
    exit_policy,
    expected_calibration_error,
    fashion_exit_net,
    fit_temperature,
    predict_logits,
    train_joint,
)

HOLDOUT = 5000
MAX_LOSS = 0.01
SPECS = {1: "skyline.exits:fashion_exit_net", 2: "skyline.exits:fashion_exit_net_wide"}


def confidences(probs: list[np.ndarray], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exits x samples: max probability, and whether the arg-max is the label."""
    return (
        np.stack([p.max(axis=1) for p in probs]),
        np.stack([p.argmax(axis=1) == labels for p in probs]),
    )


def prefix_mflops(net: EarlyExitNet) -> list[float]:
    """FLOPs (millions, per image) of running the model up to each exit, heads included."""
    example = (torch.zeros(1, 1, 28, 28),)
    return [
        profile(net.prefix(k), example, warmup=0, repeats=1).total_flops / 1e6
        for k in range(net.num_exits)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/early_exit")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=1, choices=sorted(SPECS), help="channels x")
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine_before = machine_info()

    train, calib = split_holdout(fashion_mnist("train"), HOLDOUT, seed=args.seed)
    test = fashion_mnist("test")
    net = fashion_exit_net(seed=args.seed, width=args.width)
    t0 = time.perf_counter()
    losses = train_joint(
        net,
        train,
        epochs=args.epochs,
        seed=args.seed,
        progress=lambda e, loss: print(f"epoch {e + 1}: loss {loss:.4f}", flush=True),
    )
    train_s = time.perf_counter() - t0
    torch.save(net.state_dict(), out / "model.pt")

    calib_y, test_y = calib.tensors[1].numpy(), test.tensors[1].numpy()
    calib_logits = [z.numpy() for z in predict_logits(net, calib)]
    test_logits = [z.numpy() for z in predict_logits(net, test)]
    temperatures = [fit_temperature(z, calib_y) for z in calib_logits]
    raw = [calibrated_probs(z) for z in test_logits]
    scaled = [calibrated_probs(z, t) for z, t in zip(test_logits, temperatures)]
    calib_scaled = [calibrated_probs(z, t) for z, t in zip(calib_logits, temperatures)]
    mflops = prefix_mflops(net)
    exits = [
        {
            "exit": k,
            "after_block": net.exit_blocks[k],
            "mflops_to_here": mflops[k],
            "test_accuracy": float((raw[k].argmax(axis=1) == test_y).mean()),
            "temperature": temperatures[k],
            "test_ece_before": expected_calibration_error(raw[k], test_y),
            "test_ece_after": expected_calibration_error(scaled[k], test_y),
        }
        for k in range(net.num_exits)
    ]

    thresholds = choose_thresholds(*confidences(calib_scaled, calib_y), max_loss=MAX_LOSS)
    test_conf, test_ok = confidences(scaled, test_y)
    outcome = exit_policy(test_conf, test_ok, thresholds)
    final_acc = exits[-1]["test_accuracy"]
    mean_mflops = float(np.dot(outcome.fractions, mflops))
    saved = 1 - mean_mflops / mflops[-1]

    # Trade-off curve: one shared threshold for every early exit, raw vs calibrated confidences.
    shared = np.linspace(0.5, 0.999, 40)
    series: dict[str, tuple[Sequence[float], Sequence[float]]] = {}
    for label, probs in (("raw softmax", raw), ("temperature-scaled", scaled)):
        conf, ok = confidences(probs, test_y)
        points = [exit_policy(conf, ok, [t] * (net.num_exits - 1)) for t in shared]
        series[label] = ([o.mean_depth for o in points], [100 * o.accuracy for o in points])
    series["chosen on held-out (<= 1 pt)"] = ([outcome.mean_depth], [100 * outcome.accuracy])
    plot = line_plot(
        series,
        out / "tradeoff.png",
        title="Early exits on Fashion-MNIST test (shared threshold 0.5-0.999)",
        xlabel="mean exit depth (1 = first exit, 3 = final)",
        ylabel="accuracy (%)",
    )

    report = {
        "benchmark": "early_exit",
        "measured": True,
        "machine": machine_before,
        "machine_after": machine_info(),
        "dataset": "Fashion-MNIST (IDX files of Debian dataset-fashion-mnist)",
        "train_samples": len(train),
        "calibration_samples": len(calib),
        "test_samples": len(test),
        "epochs": args.epochs,
        "seed": args.seed,
        "width": args.width,
        "model_spec": SPECS[args.width],
        "train_seconds": train_s,
        "epoch_losses": losses,
        "exits": exits,
        "policy": {
            "chosen_on": "held-out calibration split",
            "max_loss_vs_final": MAX_LOSS,
            "thresholds": list(thresholds),
            "test_accuracy": outcome.accuracy,
            "test_accuracy_loss_vs_final_points": 100 * (final_acc - outcome.accuracy),
            "test_exit_fractions": list(outcome.fractions),
            "test_mean_depth": outcome.mean_depth,
            "test_mean_mflops": mean_mflops,
            "test_mflops_saved_vs_final": saved,
            "test_loss_within_max_loss": final_acc - outcome.accuracy <= MAX_LOSS,
        },
        "acceptance": {
            "calibration_reduces_ece_on_every_exit": all(
                e["test_ece_after"] < e["test_ece_before"] for e in exits
            ),
        },
        "files": {"weights": str(out / "model.pt"), "plot": str(plot)},
    }
    (out / "results.json").write_text(json.dumps(report, indent=2))

    print(f"trained {args.epochs} epochs in {train_s:.0f} s")
    print("exit  block  MFLOPs  acc     T      ECE raw  ECE scaled")
    for e in exits:
        print(
            f"{e['exit']:4d}  {e['after_block']:5d}  {e['mflops_to_here']:6.2f}  "
            f"{100 * e['test_accuracy']:5.2f}  {e['temperature']:5.3f}  "
            f"{e['test_ece_before']:.4f}   {e['test_ece_after']:.4f}"
        )
    print(
        f"thresholds {[round(t, 4) for t in thresholds]}: test accuracy "
        f"{100 * outcome.accuracy:.2f} ({100 * (outcome.accuracy - final_acc):+.2f} pt vs final), "
        f"exit fractions {[round(f, 3) for f in outcome.fractions]}, "
        f"mean depth {outcome.mean_depth:.3f}, {100 * saved:.0f} % fewer FLOPs"
    )
    print(f"wrote {out / 'results.json'}; acceptance: {report['acceptance']}")


if __name__ == "__main__":
    main()
