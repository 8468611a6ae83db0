"""Static int8 on ONNX Runtime vs fp32 on the same backend, one thread.

Part 1: ResNet-18 (zoo, 224x224, seeded random weights: speed and size do not depend on the
weights), median latency over `--repeats` single-image runs, file sizes. Part 2: a trained CNN
(the early-exit network trained by benchmarks/early_exit.py, all three exits exported) on the
10,000 Fashion-MNIST test images, calibrated on 256 training images: accuracy of every exit
in fp32 and int8, and its speedup. Acceptance: >= 3x faster, ~4x smaller, <= 0.5 pt loss.

    python benchmarks/quantize.py [--trained results/early_exit] [--out results/quantize]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from skyline import models
from skyline.bench import machine_info
from skyline.bench.stats import alternated_median_ms
from skyline.data import fashion_mnist
from skyline.optimize import OrtModel, quantize_int8


def pair(fp32: OrtModel, int8: OrtModel, x: torch.Tensor, repeats: int) -> dict[str, Any]:
    """Alternate the two sessions in rounds so machine drift hits both alike."""
    ms = alternated_median_ms({"fp32": fp32, "int8": int8}, x, repeats=repeats)
    f, i = ms["fp32"], ms["int8"]
    return {
        "fp32_ms": f,
        "int8_ms": i,
        "speedup": f / i,
        "fp32_bytes": fp32.size_bytes,
        "int8_bytes": int8.size_bytes,
        "size_ratio": fp32.size_bytes / int8.size_bytes,
    }


def accuracies(model: OrtModel, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    right: list[int] = []
    for x, y in zip(images.split(1), labels.tolist()):
        outs = model(x)
        outs = outs if isinstance(outs, list) else [outs]
        if not right:
            right = [0] * len(outs)
        for k, o in enumerate(outs):
            right[k] += int(o.argmax().item() == y)
    return [r / len(labels) for r in right]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trained", default="results/early_exit")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default="results/quantize")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "quantize",
        "measured": True,
        "backend": "onnxruntime CPUExecutionProvider, 1 intra-op thread, QDQ static int8 "
        "(per-channel weights, uint8 activations, min-max calibration)",
        "machine": machine_info(),
    }
    gen = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        resnet = models.create("resnet18")
        x = torch.randn(1, 3, 224, 224, generator=gen)
        calib = [torch.randn(1, 3, 224, 224, generator=gen) for _ in range(16)]
        fp32, int8 = quantize_int8(resnet, [x], calib, Path(tmp) / "resnet18")
        with torch.no_grad():
            ref = resnet(x)
        report["resnet18"] = {
            **pair(fp32, int8, x, args.repeats),
            "int8_rel_l2_error_vs_torch": float((int8(x) - ref).norm() / ref.norm()),
        }
        print("resnet18", json.dumps(report["resnet18"]))

        trained = Path(args.trained)
        info = json.loads((trained / "results.json").read_text())
        net = models.load(
            info.get("model_spec", "skyline.exits:fashion_exit_net"), weights=trained / "model.pt"
        )
        train_x = fashion_mnist("train").tensors[0]
        test_x, test_y = fashion_mnist("test").tensors
        calib = list(train_x[:256].split(1))
        fp32, int8 = quantize_int8(net, [test_x[:1]], calib, Path(tmp) / "exitnet")
        acc32, acc8 = accuracies(fp32, test_x, test_y), accuracies(int8, test_x, test_y)
        report["trained_cnn"] = {
            "model": info.get("model_spec"),
            **pair(fp32, int8, test_x[:1], args.repeats),
            "test_accuracy_fp32": acc32,
            "test_accuracy_int8": acc8,
            "loss_pt_per_exit": [100 * (a - b) for a, b in zip(acc32, acc8)],
        }
        print("trained", json.dumps(report["trained_cnn"]))
    r, t = report["resnet18"], report["trained_cnn"]
    report["machine_after"] = machine_info()
    report["goals_met"] = {
        "resnet18_speedup>=3": r["speedup"] >= 3,
        "resnet18_size_ratio>=3.5": r["size_ratio"] >= 3.5,
        "trained_final_exit_loss<=0.5pt": t["loss_pt_per_exit"][-1] <= 0.5,
    }
    (out / "quantize.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report["goals_met"]))


if __name__ == "__main__":
    main()
