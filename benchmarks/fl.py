"""Federated learning on Flower (issue 7 acceptance). Every run is real Flower simulation with
the Ray backend (one CPU per client actor), Fashion-MNIST from disk, Dirichlet(0.5) label skew
over 20 clients behind 4 edges, the `mlp` task model (784-64-10, 203 KB of float32 weights),
one local epoch per round. Bytes are the real array payloads of the messages (SecAgg+: the
protobuf size of every protocol message); comm seconds and device radio energy are predicted
from the topology links (Wi-Fi access, WAN backhaul, phone radios), not emulated.

Parts (--parts, default all; a subset updates those sections of an existing --out file):
  hierarchy    flat FedAvg for --rounds rounds vs HierFAVG with --edge-rounds edge rounds per
               cloud round. Target = flat's final accuracy; reported: edge-cloud bytes each
               needs to first reach it and the ratio (goal >= 5x fewer for hierarchical).
  compression  flat: int8 both ways, and top-k 10 % (error feedback) up + int8 down, vs
               float32: total bytes ratio (goal >= 4x) and final accuracy loss (goal <= 1 pt).
  byzantine    flat: 20 % of clients attack (sign flip x4, scaled x10); FedAvg vs trimmed
               mean (beta 0.225 = 4 of 20 cut per tail); goal: robust within 3 pt of clean,
               FedAvg falls > 20 pt.
  privacy      DP-SGD in clients (Opacus, z = 1.0, C = 1.0, delta 1e-5), and server-side
               fixed clipping at the cloud (Flower's wrapper + RDP accountant, z = 1.0,
               C = 0.5, delta 1e-3): epsilon per round and accuracy.
  dropout      flat: 30 % of clients fail each round and 5 % straggle 15 s past a 10 s round
               deadline (4 client actors per CPU, so a sleeping straggler does not stall the
               others): every round must complete and aggregate updates.
  secagg       flat FedAvg under Flower's SecAgg+ (uniform client weights) vs plain FedAvg
               with uniform weights: accuracy and the protocol's bytes per round.

    python benchmarks/fl.py [--parts hierarchy,compression,...] [--rounds 30]
        [--edge-rounds 5] [--out results/fl.json] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.fl import DPSGD, Dropout, FLConfig, FLResult, ServerDP, Task, run, run_secagg

console = Console()
PARTS = ("hierarchy", "compression", "byzantine", "privacy", "dropout", "secagg")


@dataclass
class Bench:
    base: FLConfig
    edge_rounds: int
    runs: dict[str, Any]

    def execute(
        self, name: str, config: FLConfig, runner: Callable[..., FLResult] = run
    ) -> list[dict[str, Any]]:
        console.print(f"[bold]{name}[/]: {config.mode}, {config.rounds} rounds")
        start = time.perf_counter()
        result = runner(
            config,
            on_round=lambda r: console.print(
                f"  round {r.round:3d}  acc {r.accuracy:.4f}"
                f"  edge-cloud {r.edge_cloud_bytes / 1e6:8.2f} MB  fail {r.failures}"
                + (f"  eps {r.epsilon:.2f}" if r.epsilon is not None else "")
            ),
        )
        self.runs[name] = {**result.as_dict(), "wall_s": time.perf_counter() - start}
        return self.runs[name]["history"]

    def clean(self) -> list[dict[str, Any]]:
        """Flat FedAvg, run once and shared by the parts that compare against it."""
        if "flat-fedavg" not in self.runs:
            self.execute("flat-fedavg", self.base)
        return self.runs["flat-fedavg"]["history"]


def first_reaching(history: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    return next((r for r in history if r["accuracy"] >= target), None)


def total_bytes(history: list[dict[str, Any]]) -> int:
    return int(history[-1]["edge_cloud_bytes"] + history[-1]["device_edge_bytes"])


def hierarchy(b: Bench) -> dict[str, Any]:
    flat = b.clean()
    cloud_rounds = max(1, -(-b.base.rounds // b.edge_rounds))
    config = replace(b.base, mode="hier", rounds=cloud_rounds, edge_rounds=b.edge_rounds)
    hier = b.execute("hier-fedavg", config)
    target = flat[-1]["accuracy"]
    flat_hit, hier_hit = first_reaching(flat, target), first_reaching(hier, target)
    out: dict[str, Any] = {
        "target_accuracy": target,
        "flat_edge_cloud_bytes": flat_hit["edge_cloud_bytes"] if flat_hit else None,
        "hier_edge_cloud_bytes": hier_hit["edge_cloud_bytes"] if hier_hit else None,
        "hier_reached": hier_hit is not None,
        "hier_final_accuracy": hier[-1]["accuracy"],
    }
    if flat_hit and hier_hit:
        out["ratio"] = flat_hit["edge_cloud_bytes"] / hier_hit["edge_cloud_bytes"]
    out["goal_met"] = bool(out.get("ratio", 0) >= 5)
    return out


def compression(b: Bench) -> dict[str, Any]:
    flat, out = b.clean(), {}
    for name, up, down in (("int8", "int8", "int8"), ("topk0.1+int8", "topk:0.1", "int8")):
        hist = b.execute(f"flat-{name}", replace(b.base, up_codec=up, down_codec=down))
        ratio = total_bytes(flat) / total_bytes(hist)
        loss_pt = 100 * (flat[-1]["accuracy"] - hist[-1]["accuracy"])
        out[name] = {
            "bytes_ratio": ratio,
            "accuracy": hist[-1]["accuracy"],
            "accuracy_loss_pt": loss_pt,
            "goal_met": ratio >= 4 and loss_pt <= 1,
        }
    return out


def byzantine(b: Bench) -> dict[str, Any]:
    flat, out = b.clean(), {}
    for attack in ("sign_flip:4", "scaled:10"):
        attacked = replace(b.base, byzantine=0.2, attack=attack)
        plain = b.execute(f"flat-fedavg-{attack}", attacked)
        malicious = round(0.2 * b.base.task.clients)
        robust_config = replace(attacked, strategy="trimmedavg", malicious=malicious)
        robust = b.execute(f"flat-trimmedavg-{attack}", robust_config)
        fall = 100 * (flat[-1]["accuracy"] - plain[-1]["accuracy"])
        gap = 100 * (flat[-1]["accuracy"] - robust[-1]["accuracy"])
        out[attack] = {
            "byzantine_clients": b.runs[f"flat-fedavg-{attack}"]["byzantine"],
            "fedavg_accuracy": plain[-1]["accuracy"],
            "robust_accuracy": robust[-1]["accuracy"],
            "fedavg_fall_pt": fall,
            "robust_gap_pt": gap,
            "goal_met": fall > 20 and gap <= 3,
        }
    return out


def privacy(b: Bench) -> dict[str, Any]:
    out = {}
    for name, config in (
        ("dp-sgd", replace(b.base, dp=DPSGD(noise_multiplier=1.0, max_grad_norm=1.0))),
        ("server-dp", replace(b.base, server_dp=ServerDP(noise_multiplier=1.0, clipping_norm=0.5))),
    ):
        hist = b.execute(f"flat-{name}", config)
        out[name] = {
            "accuracy": hist[-1]["accuracy"],
            "epsilon_per_round": [r["epsilon"] for r in hist],
            "config": b.runs[f"flat-{name}"]["config"]["dp" if name == "dp-sgd" else "server_dp"],
        }
    return out


def dropout(b: Bench) -> dict[str, Any]:
    spec = Dropout(rate=0.3, straggle=0.05, straggle_s=15.0)
    config = replace(b.base, dropout=spec, round_timeout_s=10.0)
    # 4 client actors per CPU: a sleeping straggler must not stall the other simulated devices
    hist = b.execute("flat-dropout0.3", config, functools.partial(run, client_cpus=0.25))
    return {
        "rounds_completed": len(hist),
        "rounds": b.base.rounds,
        "failures_per_round": [r["failures"] for r in hist],
        "updates_per_round": [r["replies"] for r in hist],
        "accuracy": hist[-1]["accuracy"],
        "goal_met": len(hist) == b.base.rounds and min(r["replies"] for r in hist) > 0,
    }


def secagg(b: Bench) -> dict[str, Any]:
    rounds = min(b.base.rounds, 10)
    secure = b.execute("flat-secagg", replace(b.base, rounds=rounds), run_secagg)
    plain = b.clean()
    plain_per_round = plain[0]["edge_cloud_bytes"]  # float32 down + up for every client
    per_round = secure[-1]["edge_cloud_bytes"] / rounds
    return {
        "rounds": rounds,
        "accuracy": secure[-1]["accuracy"],
        "plain_fedavg_accuracy_same_round": plain[rounds - 1]["accuracy"],
        "secagg_bytes_per_round": per_round,
        "plain_fedavg_payload_bytes_per_round": plain_per_round,
        "overhead": per_round / plain_per_round,
    }


def table(results: dict[str, Any], clients: int, edges: int) -> Table:
    t = Table(title=f"FL benchmark ({clients} clients, {edges} edges)")
    for col in ("check", "figure", "goal met"):
        t.add_column(col)
    if "hierarchy" in results:
        h = results["hierarchy"]
        t.add_row(
            "hierarchy",
            f"{h.get('ratio', float('nan')):.1f}x fewer edge-cloud bytes",
            str(h["goal_met"]),
        )
    for name, c in results.get("compression", {}).items():
        t.add_row(
            f"compress {name}",
            f"{c['bytes_ratio']:.3f}x, loss {c['accuracy_loss_pt']:+.2f} pt",
            str(c["goal_met"]),
        )
    for name, x in results.get("byzantine", {}).items():
        t.add_row(
            f"byzantine {name}",
            f"fall: fedavg {x['fedavg_fall_pt']:+.1f} pt, trimmed {x['robust_gap_pt']:+.1f} pt",
            str(x["goal_met"]),
        )
    for name, p in results.get("privacy", {}).items():
        t.add_row(name, f"acc {p['accuracy']:.4f}, eps {p['epsilon_per_round'][-1]:.2f}", "-")
    if "dropout" in results:
        d = results["dropout"]
        t.add_row(
            "dropout 30%",
            f"{d['rounds_completed']}/{d['rounds']} rounds, "
            f"min {min(d['updates_per_round'])} updates/round",
            str(d["goal_met"]),
        )
    if "secagg" in results:
        s = results["secagg"]
        over = s["overhead"]
        t.add_row(
            "SecAgg+",
            f"acc {s['accuracy']:.4f}, "
            + (f"{over:.2f}x plain bytes" if over else "bytes measured"),
            "-",
        )
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--edge-rounds", type=int, default=5)
    ap.add_argument("--out", default="results/fl.json")
    ap.add_argument("--quick", action="store_true", help="6 clients, 2 edges, 3 rounds")
    args = ap.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    clients, edges, rounds = (6, 2, 3) if args.quick else (20, 4, args.rounds)
    task = Task(clients=clients)
    bench = Bench(
        FLConfig(task=task, mode="flat", edges=edges, rounds=rounds), args.edge_rounds, {}
    )
    out = Path(args.out)
    results: dict[str, Any] = (
        json.loads(out.read_text()) if out.exists() and len(parts) < len(PARTS) else {}
    )
    results.update(
        {
            "benchmark": "fl",
            "setup": {
                "clients": clients,
                "edges": edges,
                "rounds": rounds,
                "edge_rounds": args.edge_rounds,
                "task": task.as_dict(),
            },
        }
    )
    for part in parts:
        start = time.perf_counter()
        results[part] = globals()[part](bench)
        results[part]["machine"] = machine_info()
        results[part]["seconds"] = time.perf_counter() - start
    results.setdefault("runs", {}).update(bench.runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    runs = results["runs"]
    if {"flat-fedavg", "hier-fedavg"} <= set(runs):
        line_plot(
            {
                n: (
                    [r["edge_cloud_bytes"] / 1e6 for r in runs[n]["history"]],
                    [r["accuracy"] for r in runs[n]["history"]],
                )
                for n in ("flat-fedavg", "hier-fedavg")
            },
            out.with_name(out.stem + "_hierarchy.png"),
            title="Flat vs hierarchical FedAvg (Fashion-MNIST, Dir 0.5)",
            xlabel="edge-cloud MB (cumulative)",
            ylabel="test accuracy",
            logx=True,
        )
    line_plot(
        {
            n: (list(range(1, len(v["history"]) + 1)), [r["accuracy"] for r in v["history"]])
            for n, v in runs.items()
            if v["config"]["mode"] == "flat"
        },
        out.with_name(out.stem + "_rounds.png"),
        title="Flat FL variants",
        xlabel="round",
        ylabel="test accuracy",
    )
    console.print(table(results, clients, edges))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
