"""Incremental learning under drift, on real processes: detect, upload, fine-tune, hot-swap.

A SmallCNN trained on clean Fashion-MNIST (cached under `--cache`) serves a stream of test
images in an edge process (`EdgeWorker`, edge-only plan) at a fixed rate. From request
`--clean` on, the stream is drifted (every image rotated by `--degrees`, plus Gaussian pixel
noise of std `--noise`). The edge's `DriftMonitor`, calibrated on held-out clean training
images, fires; the edge keeps the least confident `--capacity` of the next `--pool` requests
and uploads them, labelled by an oracle (here: their true labels; in deployment an annotator),
over the runtime's ZeroMQ frames to a cloud process (`AdaptationServer`), which fine-tunes the
current model on them plus a replay set of clean training images and sends back version 1
(state dict, version, digest). The edge swaps to it between requests while the stream goes on.

Accuracy is measured offline on held-out test images (never streamed, never fine-tuned on):
clean accuracy, drifted accuracy before adaptation, drifted accuracy after it, recovery =
(after - drifted) / (clean - drifted). Acceptance: recovery >= 0.8 and no request lost.

    python benchmarks/drift.py [--quick] [--degrees 35] [--noise 0.0] [--out results]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.data import fashion_mnist
from skyline.data.fashion_mnist import MEAN, STD
from skyline.exits.train import evaluate, predict_logits
from skyline.graph import profile
from skyline.models.small_cnn import small_cnn
from skyline.optimize.distill import distill
from skyline.optimize.drift import DriftMonitor, confidences, image_features
from skyline.optimize.incremental import (
    AdaptationServer,
    IncrementalEdge,
    IncrementalTrainer,
    RemoteAdapter,
)
from skyline.plan import planners
from skyline.runtime import EdgeWorker
from skyline.runtime.stages import weights_digest
from skyline.topology import Link, Node, Tier, Topology

STREAM_POOL = 6000  # test images 0..5999 are streamed (and may be fine-tuned on)
CALIBRATION = slice(50_000, 55_000)  # clean training images the model never trained on
ROLLING = 200  # requests per point of the rolling stream accuracy


def drifted(images: torch.Tensor, degrees: float, noise: float, seed: int) -> torch.Tensor:
    """Rotate standardized images by `degrees` (black corners, as a tilted camera) and add
    Gaussian pixel noise of std `noise` (pixels in [0, 1], clipped), then standardize again."""
    pixels = images * STD + MEAN
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])
    grid = F.affine_grid(theta.expand(len(images), 2, 3), list(images.shape), align_corners=False)
    pixels = F.grid_sample(pixels, grid, align_corners=False)
    if noise:
        g = torch.Generator().manual_seed(seed)
        pixels = (pixels + noise * torch.randn(pixels.shape, generator=g)).clamp(0, 1)
    return (pixels - MEAN) / STD


def clean_model(config: dict[str, Any], cache: Path) -> Path:
    """Train (or reuse) the clean SmallCNN: `train` samples, `epochs` epochs."""
    key = hashlib.sha256(json.dumps([config["train"], config["epochs"]]).encode()).hexdigest()
    path = cache / f"clean-{config['train']}x{config['epochs']}-{key[:8]}.pt"
    if not path.is_file():
        print(f"training the clean model ({config['train']} images x {config['epochs']} epochs)")
        x, y = fashion_mnist("train").tensors
        model = small_cnn()
        subset = TensorDataset(x[: config["train"]], y[: config["train"]])
        distill(model, subset, None, epochs=config["epochs"])
        cache.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    return path


def load_model(path: str | Path) -> torch.nn.Module:
    model = small_cnn()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


# -- the cloud process --------------------------------------------------------------------------


def cloud(work: Path) -> None:
    torch.set_num_threads(1)
    config = json.loads((work / "config.json").read_text())
    x, y = fashion_mnist("train").tensors
    replay = TensorDataset(x[: config["replay"]], y[: config["replay"]])  # seen in training
    trainer = IncrementalTrainer(
        load_model(config["weights"]),
        replay,
        epochs=config["finetune_epochs"],
        lr=config["finetune_lr"],
    )
    server = AdaptationServer(trainer)
    print(json.dumps({"address": server.address}), flush=True)
    server.serve_forever()


# -- the edge process ---------------------------------------------------------------------------


def edge(work: Path, address: str) -> None:
    torch.set_num_threads(1)
    config = json.loads((work / "config.json").read_text())
    model = load_model(config["weights"])
    test_x, test_y = fashion_mnist("test").tensors
    pool_x, pool_y = test_x[:STREAM_POOL], test_y[:STREAM_POOL]
    pool_drifted = drifted(pool_x, config["degrees"], config["noise"], seed=1)
    calib = fashion_mnist("train").tensors[0][CALIBRATION]
    monitor = DriftMonitor(
        image_features(calib),
        confidences(predict_logits(model, TensorDataset(calib))[0]),
        window=config["window"],
        false_alarm=config["false_alarm"],
        horizon=config["horizon"],
    )
    topology = Topology(
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=1.0),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[Link(a="edge", b="cloud", up_mbps=100, down_mbps=100, rtt_ms=1)],
    )
    graph = profile(model, (pool_x[:1],), warmup=0, repeats=1)
    plan = planners.create("edge-only").plan(graph, topology)
    adapter = RemoteAdapter(address)
    worker = EdgeWorker(plan, model)
    incremental = IncrementalEdge(
        worker,
        model,
        monitor,
        adapter,
        lambda keys: pool_y[[k % STREAM_POOL for k in keys]],
        pool=config["pool"],
        capacity=config["capacity"],
    )
    rows: dict[str, list[Any]] = {"correct": [], "version": [], "latency_ms": []}
    lost: list[str] = []
    interval, start = 1.0 / config["rate"], time.monotonic()
    stop_at = config["max_requests"]
    i = 0
    while i < stop_at:
        j = i % STREAM_POOL
        x = (pool_drifted if i >= config["clean"] else pool_x)[j : j + 1]
        try:
            logits = incremental.infer(x, i)
            rows["correct"].append(int(logits.argmax()) == int(pool_y[j]))
            rows["version"].append(worker.records[-1].model_version)
            rows["latency_ms"].append(worker.records[-1].latency_ms)
        except Exception as exc:  # counted as lost, reported
            lost.append(f"{i}: {type(exc).__name__}: {exc}")
        i += 1
        if stop_at == config["max_requests"] and any(
            e["event"] in ("swap", "error") for e in incremental.events
        ):
            stop_at = i + config["after"]
        time.sleep(max(0.0, start + i * interval - time.monotonic()))  # fixed cadence
    elapsed = time.monotonic() - start
    incremental.wait(600)  # a swap after the stream still counts for the held-out accuracy
    adapter.close()
    torch.save(incremental.served.state_dict(), work / "served.pt")
    result = {
        "sent": i,
        "answered": len(rows["correct"]),
        "lost": lost,
        "records": len(worker.records),
        "record_errors": sum(r.error is not None for r in worker.records),
        "elapsed_s": elapsed,
        "events": incremental.events,
        "thresholds": monitor.thresholds,
        **rows,
    }
    (work / "edge.json").write_text(json.dumps(result))


# -- the driver ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller everything, < 2 minutes")
    parser.add_argument("--degrees", type=float, default=35.0)
    parser.add_argument("--noise", type=float, default=0.0, help="pixel noise std, pixels 0..1")
    parser.add_argument("--rate", type=float, default=250.0, help="requests per second")
    parser.add_argument("--out", default="results")
    parser.add_argument("--cache", default="results/drift_cache")
    parser.add_argument("--role", choices=["edge", "cloud"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--cloud", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "cloud":
        return cloud(Path(args.work))
    if args.role == "edge":
        return edge(Path(args.work), args.cloud)
    quick = args.quick
    config: dict[str, Any] = {
        "train": 8000 if quick else 20_000,
        "epochs": 2 if quick else 3,
        "degrees": args.degrees,
        "noise": args.noise,
        "rate": args.rate,
        "clean": 600 if quick else 1000,
        "pool": 1500 if quick else 3000,
        "capacity": 750 if quick else 1500,
        "after": 1000 if quick else 2000,
        "max_requests": 20_000 if quick else 60_000,
        "replay": 1000 if quick else 2000,
        "finetune_epochs": 5,
        "finetune_lr": 1e-3,
        "window": 200,
        "false_alarm": 0.01,
        "horizon": 10_000,
    }
    torch.set_num_threads(2)  # training and evaluation are not timed
    config["weights"] = str(clean_model(config, Path(args.cache)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "config.json").write_text(json.dumps(config))
        me = [sys.executable, str(Path(__file__).resolve()), "--work", tmp]
        cloud_proc = subprocess.Popen([*me, "--role", "cloud"], stdout=subprocess.PIPE, text=True)
        try:
            assert cloud_proc.stdout is not None
            address = json.loads(cloud_proc.stdout.readline())["address"]
            print(f"cloud at {address}; streaming at {args.rate:.0f} requests/s")
            subprocess.run([*me, "--role", "edge", "--cloud", address], check=True)
        finally:
            cloud_proc.kill()
            cloud_proc.wait()
        result = json.loads((work / "edge.json").read_text())
        served = torch.load(work / "served.pt", weights_only=True)
    report = analyze(config, result, served, machine)
    (out / "drift.json").write_text(json.dumps(report, indent=2))
    plot(report, result, out / "drift.png")
    print(json.dumps({k: report[k] for k in ("accuracy", "stream", "goals_met")}, indent=2))


def analyze(
    config: dict[str, Any], result: dict[str, Any], served: dict[str, torch.Tensor], machine: Any
) -> dict[str, Any]:
    clean = load_model(config["weights"])
    adapted = small_cnn()
    adapted.load_state_dict(served)
    adapted.eval()
    swaps = [e for e in result["events"] if e["event"] == "swap"]
    if swaps and weights_digest(adapted) != swaps[-1]["digest"]:
        raise SystemExit("the edge's final weights do not match the version it swapped to")
    test_x, test_y = fashion_mnist("test").tensors
    held_x, held_y = test_x[STREAM_POOL:], test_y[STREAM_POOL:]
    held_drifted = TensorDataset(drifted(held_x, config["degrees"], config["noise"], 2), held_y)
    acc = {
        "clean": evaluate(clean, TensorDataset(held_x, held_y))[0],
        "drifted_before": evaluate(clean, held_drifted)[0],
        "drifted_after": evaluate(adapted, held_drifted)[0],
        "clean_after": evaluate(adapted, TensorDataset(held_x, held_y))[0],
    }
    lost_to_drift = acc["clean"] - acc["drifted_before"]
    recovery = (acc["drifted_after"] - acc["drifted_before"]) / lost_to_drift
    alarm = next((e for e in result["events"] if e["event"] == "alarm"), None)
    versions = np.array(result["version"])
    first_new = int(np.argmax(versions > 0)) if (versions > 0).any() else None
    correct = np.array(result["correct"], dtype=float)
    onset = config["clean"]
    phases = {
        "clean": correct[:onset],
        "drifted_before_swap": correct[onset:first_new],
        "after_swap": correct[first_new:] if first_new is not None else correct[:0],
    }
    upload = next((e for e in result["events"] if e["event"] == "upload"), None)
    stream = {
        "requests_sent": result["sent"],
        "requests_answered": result["answered"],
        "requests_lost": len(result["lost"]),
        "lost": result["lost"][:10],
        "records_with_error": result["record_errors"],
        "drift_onset_request": onset,
        "alarm": alarm,
        "false_alarm": alarm is not None and alarm["requests"] <= onset,
        "detection_delay_samples": alarm["requests"] - onset if alarm else None,
        "upload_request": upload["requests"] if upload else None,
        "first_request_on_new_version": first_new,
        "upload_to_swap_s": swaps[0]["time_s"] - upload["time_s"] if swaps and upload else None,
        "versions_served": {str(v): int((versions == v).sum()) for v in np.unique(versions)},
        "versions_monotone": bool((np.diff(versions) >= 0).all()),
        "rate_requested_per_s": config["rate"],
        "rate_achieved_per_s": result["sent"] / result["elapsed_s"],
        "latency_ms_median": float(np.median(result["latency_ms"])),
        "accuracy_by_phase": {k: float(v.mean()) if len(v) else None for k, v in phases.items()},
        "thresholds": result["thresholds"],
        "events": result["events"],
    }
    return {
        "benchmark": "drift",
        "measured": True,
        "mode": "two local processes (edge, cloud) over ZeroMQ on loopback, one torch thread each",
        "labels": "oracle: the true labels of the uploaded samples (in deployment, an annotator)",
        "config": config,
        "accuracy": {**acc, "recovery": recovery},
        "stream": stream,
        "machine": machine,
        "goals_met": {
            "recovery>=0.8": recovery >= 0.8,
            "no_request_lost": not result["lost"] and result["answered"] == result["sent"],
        },
    }


def plot(report: dict[str, Any], result: dict[str, Any], path: Path) -> None:
    correct = np.array(result["correct"], dtype=float)
    ends = np.arange(ROLLING, len(correct) + 1, ROLLING // 4)
    rolling = [float(correct[e - ROLLING : e].mean()) for e in ends]
    stream = report["stream"]
    marks = {
        "drift onset": stream["drift_onset_request"],
        "drift detected": stream["alarm"]["requests"] if stream["alarm"] else None,
        "hard examples uploaded": stream["upload_request"],
        "model v1 serving": stream["first_request_on_new_version"],
    }
    series = {f"rolling accuracy ({ROLLING} requests)": (ends.tolist(), rolling)}
    series.update({name: ([x, x], [0.0, 1.0]) for name, x in marks.items() if x is not None})
    line_plot(
        series,
        path,
        title=f"SmallCNN on Fashion-MNIST, drift: rotation {report['config']['degrees']:g} deg"
        f" + noise {report['config']['noise']:g}",
        xlabel="request",
        ylabel="accuracy",
    )


if __name__ == "__main__":
    main()
