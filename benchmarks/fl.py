"""Federated learning on Flower (issue 7 acceptance). Every run is real Flower simulation with
the Ray backend (one CPU per client actor), Fashion-MNIST from disk, Dirichlet(0.5) label skew
over 20 clients behind 4 edges, the `mlp` task model (784-64-10, 203 KB of float32 weights),
one local epoch per round. Bytes are the real array payloads of the messages; comm seconds and
device radio energy are predicted from the topology links (Wi-Fi access, WAN backhaul, phone
radios), not emulated.

1. Hierarchy: flat FedAvg (every device talks to the cloud through its edge) for --rounds
   rounds vs HierFAVG with --edge-rounds edge rounds per cloud round. Target = flat's final
   accuracy; reported: edge-cloud bytes each needs to first reach it, and the ratio
   (goal >= 5x fewer for hierarchical).
2. Compression (flat): int8 both ways, and top-k 10 % (error feedback) up + int8 down, vs
   float32: total bytes ratio (goal >= 4x) and final accuracy loss (goal <= 1 pt).
3. Byzantine (flat): 20 % of clients attack (sign flip x4, scaled x10); FedAvg vs trimmed
   mean (beta 0.2); goal: robust within 3 pt of clean, FedAvg falls > 20 pt.
4. Privacy: DP-SGD in clients (Opacus, z = 1.0, C = 1.0, delta 1e-5), and server-side
   fixed clipping at the cloud (Flower's wrapper + RDP accountant, z = 1.0, C = 0.5,
   delta 1e-3): epsilon per round and accuracy.
5. Dropout (flat): 30 % of clients fail each round + 5 % straggle past the round deadline:
   every round must complete.

    python benchmarks/fl.py [--rounds 30] [--edge-rounds 5] [--out results/fl.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.fl import DPSGD, Dropout, FLConfig, ServerDP, Task, run

console = Console()


def first_reaching(history: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    return next((r for r in history if r["accuracy"] >= target), None)


def execute(name: str, config: FLConfig, runs: dict[str, Any]) -> list[dict[str, Any]]:
    console.print(f"[bold]{name}[/]: {config.mode}, {config.rounds} rounds")
    start = time.perf_counter()
    result = run(
        config,
        on_round=lambda r: console.print(
            f"  round {r.round:3d}  acc {r.accuracy:.4f}"
            f"  edge-cloud {r.edge_cloud_bytes / 1e6:8.2f} MB"
            f"  fail {r.failures}" + (f"  eps {r.epsilon:.2f}" if r.epsilon is not None else "")
        ),
    )
    runs[name] = {**result.as_dict(), "wall_s": time.perf_counter() - start}
    return runs[name]["history"]


def total_bytes(history: list[dict[str, Any]]) -> int:
    last = history[-1]
    return int(last["edge_cloud_bytes"] + last["device_edge_bytes"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--edge-rounds", type=int, default=5)
    ap.add_argument("--out", default="results/fl.json")
    ap.add_argument("--quick", action="store_true", help="6 clients, 2 edges, 3 rounds")
    args = ap.parse_args()
    clients, edges, rounds = (6, 2, 3) if args.quick else (20, 4, args.rounds)
    task = Task(clients=clients)
    base = FLConfig(task=task, mode="flat", edges=edges, rounds=rounds)
    runs: dict[str, Any] = {}
    t0 = time.perf_counter()

    flat = execute("flat-fedavg", base, runs)
    cloud_rounds = max(1, -(-rounds // args.edge_rounds))
    hier = execute(
        "hier-fedavg",
        replace(base, mode="hier", rounds=cloud_rounds, edge_rounds=args.edge_rounds),
        runs,
    )
    target = flat[-1]["accuracy"]
    flat_hit, hier_hit = first_reaching(flat, target), first_reaching(hier, target)
    hierarchy = {
        "target_accuracy": target,
        "flat_edge_cloud_bytes": flat_hit["edge_cloud_bytes"] if flat_hit else None,
        "hier_edge_cloud_bytes": hier_hit["edge_cloud_bytes"] if hier_hit else None,
        "hier_reached": hier_hit is not None,
        "hier_best_accuracy": max(r["accuracy"] for r in hier),
    }
    if flat_hit and hier_hit:
        hierarchy["ratio"] = flat_hit["edge_cloud_bytes"] / hier_hit["edge_cloud_bytes"]
    hierarchy["goal_met"] = bool(hierarchy.get("ratio", 0) >= 5)

    compression: dict[str, Any] = {}
    for name, up, down in (("int8", "int8", "int8"), ("topk0.1+int8", "topk:0.1", "int8")):
        hist = execute(f"flat-{name}", replace(base, up_codec=up, down_codec=down), runs)
        ratio = total_bytes(flat) / total_bytes(hist)
        loss_pt = 100 * (flat[-1]["accuracy"] - hist[-1]["accuracy"])
        compression[name] = {
            "bytes_ratio": ratio,
            "accuracy": hist[-1]["accuracy"],
            "accuracy_loss_pt": loss_pt,
            "goal_met": ratio >= 4 and loss_pt <= 1,
        }

    byzantine: dict[str, Any] = {}
    for attack in ("sign_flip:4", "scaled:10"):
        attacked = replace(base, byzantine=0.2, attack=attack)
        plain = execute(f"flat-fedavg-{attack}", attacked, runs)
        robust = execute(
            f"flat-trimmedavg-{attack}",
            replace(attacked, strategy="trimmedavg", malicious=round(0.2 * clients)),
            runs,
        )
        fall = 100 * (flat[-1]["accuracy"] - plain[-1]["accuracy"])
        gap = 100 * (flat[-1]["accuracy"] - robust[-1]["accuracy"])
        byzantine[attack] = {
            "fedavg_accuracy": plain[-1]["accuracy"],
            "robust_accuracy": robust[-1]["accuracy"],
            "fedavg_fall_pt": fall,
            "robust_gap_pt": gap,
            "goal_met": fall > 20 and gap <= 3,
        }

    privacy = {}
    for name, cfg in (
        ("dp-sgd", replace(base, dp=DPSGD(noise_multiplier=1.0, max_grad_norm=1.0))),
        ("server-dp", replace(base, server_dp=ServerDP(noise_multiplier=1.0, clipping_norm=0.5))),
    ):
        hist = execute(f"flat-{name}", cfg, runs)
        privacy[name] = {
            "accuracy": hist[-1]["accuracy"],
            "epsilon_per_round": [r["epsilon"] for r in hist],
        }

    drop = execute(
        "flat-dropout0.3",
        replace(
            base, dropout=Dropout(rate=0.3, straggle=0.05, straggle_s=4.0), round_timeout_s=3.0
        ),
        runs,
    )
    dropout = {
        "rounds_completed": len(drop),
        "rounds": rounds,
        "failures_per_round": [r["failures"] for r in drop],
        "accuracy": drop[-1]["accuracy"],
        "goal_met": len(drop) == rounds,
    }

    results = {
        "benchmark": "fl",
        "machine": machine_info(),
        "setup": {
            "clients": clients,
            "edges": edges,
            "rounds": rounds,
            "edge_rounds": args.edge_rounds,
            "task": task.as_dict(),
        },
        "hierarchy": hierarchy,
        "compression": compression,
        "byzantine": byzantine,
        "privacy": privacy,
        "dropout": dropout,
        "runs": runs,
        "total_s": time.perf_counter() - t0,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    line_plot(
        {
            name: (
                [r["edge_cloud_bytes"] / 1e6 for r in runs[name]["history"]],
                [r["accuracy"] for r in runs[name]["history"]],
            )
            for name in ("flat-fedavg", "hier-fedavg")
        },
        out.with_name(out.stem + "_hierarchy.png"),
        title="Flat vs hierarchical FedAvg (Fashion-MNIST, Dir 0.5)",
        xlabel="edge-cloud MB (cumulative)",
        ylabel="test accuracy",
        logx=True,
    )
    line_plot(
        {
            name: (list(range(1, len(v["history"]) + 1)), [r["accuracy"] for r in v["history"]])
            for name, v in runs.items()
            if v["config"]["mode"] == "flat"
        },
        out.with_name(out.stem + "_rounds.png"),
        title="Flat FL variants",
        xlabel="round",
        ylabel="test accuracy",
    )
    table = Table(title=f"FL benchmark ({clients} clients, {edges} edges)")
    for col in ("check", "figure", "goal met"):
        table.add_column(col)
    table.add_row(
        "hierarchy",
        f"{hierarchy.get('ratio', float('nan')):.1f}x fewer edge-cloud bytes",
        str(hierarchy["goal_met"]),
    )
    for name, c in compression.items():
        table.add_row(
            f"compress {name}",
            f"{c['bytes_ratio']:.3f}x, loss {c['accuracy_loss_pt']:+.2f} pt",
            str(c["goal_met"]),
        )
    for name, b in byzantine.items():
        table.add_row(
            f"byzantine {name}",
            f"fall: fedavg {b['fedavg_fall_pt']:+.1f} pt, trimmed {b['robust_gap_pt']:+.1f} pt",
            str(b["goal_met"]),
        )
    for name, p in privacy.items():
        eps = p["epsilon_per_round"][-1]
        table.add_row(
            name, f"acc {p['accuracy']:.4f}, eps {eps if eps is None else round(eps, 2)}", "-"
        )
    table.add_row(
        "dropout 30%", f"{dropout['rounds_completed']}/{rounds} rounds", str(dropout["goal_met"])
    )
    console.print(table)
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
