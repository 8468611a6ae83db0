"""Hardware-aware NAS on Fashion-MNIST: latency predictors per device, NSGA-II vs random search.

1. Measure batch-1 latency (one torch thread, median over alternated rounds) of `--archs`
   random archs of the MobileNet-like space (`skyline.optimize.nas_space`; half of them drawn
   from the memory-feasible part the search explores, where the smallest archs live) and of
   every distinct block of the space alone (a lookup table), all in the same rounds of one
   child, on the host and on an emulated edge: the same child at `--edge-speed` of CPU
   `--cpu`, shared with a busy filler (`SharedCore`, default) or under a cgroup quota
   (`DeviceThrottle`, `--edge-mode quota`); skipped, and said so, where cgroups are
   unavailable. Per device, calibrate the lookup-table predictor and fit the feature
   regression on 70 % of the archs; report each one's median absolute percentage error on the
   held-out 30 % (acceptance: <= 10 %).
2. Search accuracy vs predicted edge latency (host when there is no edge) under a memory
   limit (parameter bytes, peak activation bytes), NSGA-II and random search at the same
   number of trials through the same evaluation: accuracy on 2,000 held-out training images
   after `--epochs` of Adam on `--train-size` images (seeded; a ranking proxy, not
   converged accuracy). Archs over the memory limit are not trained.
3. Hypervolume of each front in (predicted latency ms, error) against an explicit reference
   point (the largest arch's predicted latency, error 0.9 = chance), whether each front
   dominates the hand-designed baseline, and the front archs measured on the target device
   beside their predicted latency, with the held-out archs re-measured in the same child (how
   far the device moved since step 1). JSON to `--out`/nas.json, fronts plot to nas.png.

    python benchmarks/nas.py [--quick] [--trials 50] [--edge-speed 0.3] [--edge-mode quota]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress

from skyline.bench import machine_info
from skyline.data import fashion_mnist, split_holdout
from skyline.emulation import CgroupCpu, DeviceThrottle, SharedCore
from skyline.emulation.throttle import throttle_available
from skyline.optimize.nas import (
    Candidate,
    MemoryLimit,
    dominating,
    evaluate,
    front,
    front_hypervolume,
    search,
    train_accuracy,
)
from skyline.optimize.nas_latency import LatencyPredictor, measure_parts_ms, median_ape
from skyline.optimize.nas_lut import LookupTablePredictor
from skyline.optimize.nas_space import Arch, SearchSpace

QUICK = {
    "archs": 20,
    "repeats": 3,
    "round_s": 0.03,
    "trials": 6,
    "train_size": 800,
    "val_size": 500,
}
REFERENCE_ERROR = 0.9  # chance level on 10 classes


def measure(
    archs: list[Arch],
    space: SearchSpace,
    args: argparse.Namespace,
    label: str,
    device: CgroupCpu | None,
    *,
    table: bool = False,
) -> tuple[list[float], tuple[list[float], float]]:
    """Each arch's measured ms and, with `table`, every block's and the tail's (same rounds)."""
    blocks = space.blocks() if table else []
    with Progress(transient=True) as bar:
        task = bar.add_task(
            f"measuring {label} ({len(archs)} archs, {len(blocks)} blocks)", total=args.repeats
        )
        blocks_ms, tail_ms, archs_ms = measure_parts_ms(
            space,
            blocks,
            archs,
            throttle=device,
            repeats=args.repeats,
            round_s=args.round_s,
            cpu=args.cpu,
            on_round=lambda _: bar.advance(task),
        )
    return archs_ms, (blocks_ms, tail_ms)


@contextmanager
def on_device(
    name: str, args: argparse.Namespace, speeds: list[float]
) -> Iterator[CgroupCpu | None]:
    """None for the host; the emulated edge set up for the block (its measured speed appended
    to `speeds`), slowed by a filler sharing CPU `--cpu` or by a quota."""
    if name == "host":
        yield None
        return
    edge: CgroupCpu = (
        DeviceThrottle(args.edge_speed)
        if args.edge_mode == "quota"
        else SharedCore(args.edge_speed, cpu=args.cpu)
    )
    with edge:
        speeds.append(edge.measure_speed(0.5))
        yield edge


def predictor_archs(
    space: SearchSpace, memory: MemoryLimit, count: int, rng: random.Random
) -> list[Arch]:
    """Archs to time for the predictors: half from the whole space, half from the part the
    memory limit leaves to the search (smaller, faster archs a uniform sample rarely reaches;
    fitted on the whole space alone, the predictor extrapolates on exactly the archs the search
    ends up choosing)."""

    anywhere = [space.sample(rng) for _ in range(count - count // 2)]
    feasible: list[Arch] = []
    while len(feasible) < count // 2:
        arch = space.sample(rng)
        if memory.fits(space, arch):
            feasible.append(arch)
    mixed = [a for pair in zip(anywhere, feasible) for a in pair] + anywhere[len(feasible) :]
    return list(dict.fromkeys(mixed))  # interleaved, so fit and held-out sets get both kinds


Predictor = LatencyPredictor | LookupTablePredictor


def fit_device(
    device: str,
    archs: list[Arch],
    ms: list[float],
    space: SearchSpace,
    n_fit: int,
    parts: tuple[list[float], float],
) -> tuple[dict[str, Predictor], dict[str, Any]]:
    """Both predictors of one device (feature regression fitted, lookup table calibrated on the
    same `n_fit` archs) and their errors on the rest."""
    table = LookupTablePredictor.from_measurements(device, space, space.blocks(), *parts)
    predictors: dict[str, Predictor] = {
        "lut": table.calibrate(archs[:n_fit], ms[:n_fit]),
        "features": LatencyPredictor.fit(device, space, archs[:n_fit], ms[:n_fit]),
    }
    report: dict[str, Any] = {
        "fit_archs": n_fit,
        "heldout_archs": len(archs) - n_fit,
        "measured_ms_min_median_max": [min(ms), sorted(ms)[len(ms) // 2], max(ms)],
        "lut_blocks": len(table.table_ms),
        "lut_uncalibrated_heldout_median_ape": median_ape(
            [table.table_sum_ms(a) for a in archs[n_fit:]], ms[n_fit:]
        ),
    }
    for kind, pred in predictors.items():
        held = [pred.predict_ms(a) for a in archs[n_fit:]]
        fitted = [pred.predict_ms(a) for a in archs[:n_fit]]
        report[kind] = {
            "fit_median_ape": median_ape(fitted, ms[:n_fit]),
            "heldout_median_ape": median_ape(held, ms[n_fit:]),
            "heldout_median_ape_le_10pct": median_ape(held, ms[n_fit:]) <= 0.10,
            "heldout_max_ape": max(abs(p - m) / m for p, m in zip(held, ms[n_fit:])),
        }
    report["lut"]["scale"] = predictors["lut"].scale  # type: ignore[union-attr]
    report["features"]["coef_ms"] = predictors["features"].coef  # type: ignore[union-attr]
    return predictors, report


def plot(runs: dict[str, list[Candidate]], baseline: Candidate, path: Path, device: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for (name, cands), color in zip(runs.items(), ("tab:blue", "tab:orange")):
        ok = [c for c in cands if c.feasible]
        ax.scatter(
            [c.latency_ms for c in ok],
            [100 * (c.accuracy or 0) for c in ok],
            s=12,
            alpha=0.4,
            color=color,
        )
        f = front(cands)
        ax.step(
            [c.latency_ms for c in f],
            [100 * (c.accuracy or 0) for c in f],
            where="post",
            marker="o",
            color=color,
            label=f"{name} front",
        )
    ax.scatter(
        [baseline.latency_ms],
        [100 * (baseline.accuracy or 0)],
        marker="*",
        s=160,
        color="black",
        label="hand-designed baseline",
    )
    ax.set(
        title="NAS on Fashion-MNIST: fronts (dots: all feasible trials)",
        xlabel=f"predicted {device} latency (ms, batch 1)",
        ylabel="validation accuracy, short training (%)",
    )
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (< 2 minutes)")
    parser.add_argument("--archs", type=int, default=100, help="measured archs per device")
    parser.add_argument("--repeats", type=int, default=5, help="timing rounds per arch")
    parser.add_argument("--round-s", type=float, default=0.2, help="wall seconds per round")
    parser.add_argument(
        "--cpu", type=int, default=(os.cpu_count() or 1) - 1, help="CPU the timed child runs on"
    )
    parser.add_argument("--edge-speed", type=float, default=0.3, help="edge CPU fraction")
    parser.add_argument(
        "--edge-mode",
        choices=["shared-core", "quota"],
        default="shared-core",
        help="how the edge is slowed: CPU --cpu shared with a filler, or a cgroup quota",
    )
    parser.add_argument("--trials", type=int, default=50, help="trials per sampler")
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--param-kb", type=float, default=800, help="memory limit, parameters")
    parser.add_argument("--act-kb", type=float, default=160, help="memory limit, activations")
    parser.add_argument(
        "--predictor", choices=["lut", "features"], default="lut", help="latency the search uses"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    machine_before = machine_info()
    started = time.perf_counter()
    space = SearchSpace()
    baseline_arch = space.baseline()
    rng = random.Random(args.seed)
    memory = MemoryLimit(param_bytes=1e3 * args.param_kb, activation_bytes=1e3 * args.act_kb)
    archs = predictor_archs(space, memory, args.archs, rng)
    n_fit = round(0.7 * len(archs))

    # 1. measured latencies and per-device predictors: each device's table and archs in the
    # same rounds of one child, so a drift of the device's speed hits both alike
    ok, why = throttle_available()
    if not ok:
        console.print(f"[yellow]no emulated edge: {why}")
    edge_speeds: list[float] = []
    timed = [*archs, baseline_arch]  # the baseline last: measured, not fitted on
    measured: dict[str, dict[Arch, float]] = {}
    predictors: dict[str, dict[str, Predictor]] = {}
    predictor_report: dict[str, Any] = {}
    for device in ("host", "edge") if ok else ("host",):
        with on_device(device, args, edge_speeds) as slowed:
            ms, parts = measure(timed, space, args, device, slowed, table=True)
        measured[device] = dict(zip(timed, ms))
        predictors[device], predictor_report[device] = fit_device(
            device, archs, ms[:-1], space, n_fit, parts
        )
        predictor_report[device]["baseline_measured_ms"] = ms[-1]
        for kind, pred in predictors[device].items():
            predictor_report[device][kind]["baseline_predicted_ms"] = pred.predict_ms(baseline_arch)
            pred.save(out / f"nas_latency_{device}_{kind}.json")
            err = predictor_report[device][kind]["heldout_median_ape"]
            console.print(f"{device} {kind}: held-out median abs. error {100 * err:.1f} %")
    target = "edge" if "edge" in predictors else "host"
    latency = predictors[target][args.predictor].predict_ms

    # 2. search, both samplers, through one cached evaluation
    torch.set_num_threads(2)  # training is not timed
    rest, val = split_holdout(fashion_mnist("train"), args.val_size, seed=args.seed)
    train = torch.utils.data.TensorDataset(*(t[: args.train_size] for t in rest.tensors))
    trained: dict[Arch, float] = {}

    def accuracy(arch: Arch) -> float:
        if arch not in trained:
            trained[arch] = train_accuracy(
                arch, space, train, val, epochs=args.epochs, seed=args.seed
            )
        return trained[arch]

    baseline = evaluate(baseline_arch, space, accuracy, latency, memory)
    runs: dict[str, list[Candidate]] = {}
    seconds: dict[str, float] = {}
    new: dict[str, int] = {}
    for sampler in ("nsga2", "random"):
        t0, before = time.perf_counter(), len(trained)
        with Progress(transient=True) as bar:
            task = bar.add_task(f"{sampler} search", total=args.trials)
            runs[sampler] = search(
                space,
                accuracy,
                latency,
                trials=args.trials,
                sampler=sampler,
                memory=memory,
                seed=args.seed,
                on_trial=lambda _, t=task: bar.advance(t),  # type: ignore[misc]
            )
        seconds[sampler], new[sampler] = time.perf_counter() - t0, len(trained) - before

    # 3. hypervolume, dominance, front archs measured on the target device
    reference_ms = latency(space.largest())
    fronts = {s: front(c) for s, c in runs.items()}
    heldout = archs[n_fit:]  # re-measured beside the front: how far the device moved since 1.
    to_measure = list(dict.fromkeys([*(c.arch for f in fronts.values() for c in f), *heldout]))
    with on_device(target, args, edge_speeds) as slowed:
        check_ms = dict(zip(to_measure, measure(to_measure, space, args, "front", slowed)[0]))
    predict = predictors[target][args.predictor].predict_ms
    front_check = {
        "device_drift": statistics.median(check_ms[a] / measured[target][a] for a in heldout),
        "heldout_median_ape_remeasured": median_ape(
            [predict(a) for a in heldout], [check_ms[a] for a in heldout]
        ),
    }
    search_report = {}
    for s, cands in runs.items():
        beat = dominating(cands, baseline)
        search_report[s] = {
            "trials": len(cands),
            "feasible_trials": sum(c.feasible for c in cands),
            "distinct_archs": len({c.arch for c in cands}),
            "seconds": seconds[s],
            "newly_trained_archs": new[s],
            "hypervolume_ms_x_error": front_hypervolume(cands, reference_ms, REFERENCE_ERROR),
            "dominates_baseline": bool(beat),
            "points_dominating_baseline": len(beat),
            "front": [c.to_dict() | {f"measured_{target}_ms": check_ms[c.arch]} for c in fronts[s]],
            "trials_all": [c.to_dict() for c in cands],
        }
        console.print(
            f"{s}: hypervolume {search_report[s]['hypervolume_ms_x_error']:.3f}, front of "
            f"{len(fronts[s])}, dominates baseline at {len(beat)} point(s)"
        )
    front_pred = [c.latency_ms for f in fronts.values() for c in f]
    front_meas = [check_ms[c.arch] for f in fronts.values() for c in f]
    report = {
        "benchmark": "nas",
        "measured": (
            "latencies measured (batch 1, one torch thread, median of alternated rounds of "
            f"back-to-back calls) on the host and on the emulated edge ({args.edge_mode}); search "
            f"latencies predicted by the {target} {args.predictor} predictor; accuracy "
            "measured on "
            f"{args.val_size} held-out train images after {args.epochs} epoch(s) on "
            f"{args.train_size} (a ranking proxy); one training per distinct arch, shared by "
            "both searches (random runs second), so `seconds` counts only newly trained archs"
        ),
        "quick": args.quick,
        "args": vars(args),
        "space": space.to_dict(),
        "edge": {
            "mode": args.edge_mode,
            "requested_speed": args.edge_speed,
            "measured_speed_per_phase": edge_speeds,
        }
        if ok
        else {"skipped": why},
        "predictors": predictor_report,
        "target_device": target,
        "memory_limit": {
            "param_bytes": memory.param_bytes,
            "activation_bytes": memory.activation_bytes,
        },
        "hypervolume_reference": {"latency_ms": reference_ms, "error": REFERENCE_ERROR},
        "baseline": baseline.to_dict(),
        "search": search_report,
        "front_predictor_median_ape": median_ape(front_pred, front_meas),
        "front_check": front_check,
        "total_seconds": time.perf_counter() - started,
        "machine": machine_before,
        "machine_after": machine_info(),
    }
    (out / "nas.json").write_text(json.dumps(report, indent=2))
    plot(runs, baseline, out / "nas.png", target)
    console.print(
        f"wrote {out / 'nas.json'} and {out / 'nas.png'} in {report['total_seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
