"""PyTorch-native int8 (torchao PT2E + X86InductorQuantizer + torch.compile) vs fp32, one thread.

Part 1: ResNet-18 (zoo, seeded random weights: speed does not depend on them), single-image
median latency of fp32 eager, fp32 compiled and int8 PT2E compiled, alternated in rounds, all
compiled with Inductor freezing on; then (full run only) the same two compiled models again
without freezing, after a dynamo reset, to show what freezing is worth. Part 2 (if the trained
early-exit net of benchmarks/early_exit.py exists): final-exit accuracy on Fashion-MNIST test
images of fp32, post-training PT2E int8 (calibrated on 256 training images) and QAT int8 (one
epoch of fake-quant fine-tuning on 5,000 training images), on the int8 reference graph.

    python benchmarks/quantize_pt2e.py [--quick] [--trained results/early_exit]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from skyline import models
from skyline.bench import machine_info
from skyline.bench.stats import alternated_median_ms
from skyline.data import fashion_mnist
from skyline.optimize.pt2e import Pt2eModel, enable_freezing, quantize_pt2e, state_bytes
from skyline.optimize.qat import quantize_aware


def no_grad(fn: Any) -> Any:
    def run(x: torch.Tensor) -> Any:
        with torch.no_grad():
            return fn(x)

    return run


def compiled(model: nn.Module) -> Any:
    return no_grad(torch.compile(model))


def timings(
    fns: dict[str, Any], x: torch.Tensor, repeats: int, reference: torch.Tensor
) -> dict[str, Any]:
    """Compile each (first call, timed apart), then alternated medians and errors vs fp32."""
    errors = {}
    for name, fn in fns.items():
        out = fn(x)
        errors[f"{name}_rel_l2_error_vs_fp32"] = float((out - reference).norm() / reference.norm())
    ms = alternated_median_ms(fns, x, repeats=repeats)
    return {**{f"{k}_ms": v for k, v in ms.items()}, **errors}


def final_accuracy(model: Any, images: torch.Tensor, labels: torch.Tensor) -> float:
    right = 0
    with torch.no_grad():
        for x, y in zip(images.split(500), labels.split(500)):
            out = model(x)
            right += int(((out if isinstance(out, torch.Tensor) else out[-1]).argmax(1) == y).sum())
    return right / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="64x64 input, few repeats, subsets")
    parser.add_argument("--trained", default="results/early_exit")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default="results/quantize_pt2e")
    args = parser.parse_args()
    torch.set_num_threads(1)
    size, repeats = (64, 5) if args.quick else (224, args.repeats)
    report: dict[str, Any] = {
        "benchmark": "quantize_pt2e",
        "quick": args.quick,
        "measured": f"median ms of 3 alternated rounds x {repeats} single-image calls after "
        "warm-up, 1 torch thread; compile time excluded",
        "backend": "torchao PT2E, X86InductorQuantizer default (static, per-channel int8 "
        "weights, uint8 activations), torch.compile Inductor",
        "machine": machine_info(),
    }
    gen = torch.Generator().manual_seed(0)
    resnet = models.create("resnet18")
    x = torch.randn(1, 3, size, size, generator=gen)
    calib = [torch.randn(1, 3, size, size, generator=gen) for _ in range(16)]
    with torch.no_grad():
        ref = resnet(x)
    int8 = quantize_pt2e(resnet, [x], calib, compile=False)
    sizes = {"fp32_bytes": state_bytes(resnet), "int8_bytes": int8.size_bytes}
    if not args.quick:  # before freezing is switched on for good
        plain = {"fp32_compiled": compiled(resnet), "int8_pt2e": compiled(int8.reference)}
        report["resnet18_without_freezing"] = timings(plain, x, repeats, ref)
        torch._dynamo.reset()
    enable_freezing()
    fns = {
        "fp32_eager": no_grad(resnet),
        "fp32_compiled": compiled(resnet),
        "int8_pt2e": Pt2eModel(int8.reference, compiled=True),
    }
    r = {"input": [1, 3, size, size], **sizes, **timings(fns, x, repeats, ref)}
    r["speedup_int8_vs_fp32_eager"] = r["fp32_eager_ms"] / r["int8_pt2e_ms"]
    r["speedup_int8_vs_fp32_compiled"] = r["fp32_compiled_ms"] / r["int8_pt2e_ms"]
    report["resnet18"] = r
    print("resnet18", json.dumps(r), flush=True)

    trained = Path(args.trained)
    if (trained / "results.json").is_file():
        info = json.loads((trained / "results.json").read_text())
        spec = info.get("model_spec", "skyline.exits:fashion_exit_net")
        net = models.load(spec, weights=trained / "model.pt")
        train_x, train_y = fashion_mnist("train").tensors
        test_x, test_y = fashion_mnist("test", limit=1000 if args.quick else None).tensors
        n_train = 1000 if args.quick else 5000
        ptq = quantize_pt2e(net, [test_x[:1]], train_x[:256].split(32), compile=False)
        batches = list(zip(train_x[:n_train].split(64), train_y[:n_train].split(64)))
        qat = quantize_aware(
            models.load(spec, weights=trained / "model.pt"),
            [test_x[:1]],
            batches,
            epochs=1,
            lr=1e-4,
            compile=False,
        )
        report["trained_cnn"] = {
            "model": spec,
            "test_images": len(test_y),
            "qat_train_images": n_train,
            "accuracy_fp32": final_accuracy(net.eval(), test_x, test_y),
            "accuracy_int8_ptq": final_accuracy(ptq, test_x, test_y),
            "accuracy_int8_qat": final_accuracy(qat, test_x, test_y),
        }
        print("trained", json.dumps(report["trained_cnn"]), flush=True)
    report["machine_after"] = machine_info()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("quantize_pt2e.quick.json" if args.quick else "quantize_pt2e.json")
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
