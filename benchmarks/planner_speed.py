"""How long planning takes: ResNet-50 (measured profile) and synthetic DAGs of 1k and 5k ops.

Goals (issue 2): ResNet-50 <= 50 ms, 5k-op DAG <= 1 s. Writes JSON; run alone (2-core machine).

    python benchmarks/planner_speed.py [--out results/planner_speed.json] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from skyline import models, planners, profile, topology_preset
from skyline.bench import machine_info
from skyline.graph import ModelGraph, random_dag

PLANNERS = ("neurosurgeon", "dads", "tiered")


def time_planner(name: str, graph: ModelGraph, repeats: int) -> dict[str, float]:
    topo = topology_preset("device-edge-cloud")
    planner = planners.create(name)
    planner.plan(graph, topo)  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        planner.plan(graph, topo)
        times.append(time.perf_counter() - t0)
    return {"median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/planner_speed.json")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = models.spec("resnet50")
    graphs = {
        "resnet50": profile(spec.build(), spec.example_inputs(), warmup=1, repeats=3),
        "dag-1k": random_dag(1000, seed=0),
        "dag-5k": random_dag(5000, seed=0),
    }
    results = []
    for gname, graph in graphs.items():
        for pname in PLANNERS:
            row = {"graph": gname, "ops": graph.num_ops, "planner": pname}
            row.update(time_planner(pname, graph, args.repeats))
            results.append(row)
            print(f"{gname:9s} {graph.num_ops:5d} ops  {pname:12s} {row['median_ms']:9.2f} ms")
    goals = {"resnet50": 50.0, "dag-5k": 1000.0}  # ms, every planner
    report = {
        "benchmark": "planner_speed",
        "measured": True,
        "machine": machine_info(),
        "repeats": args.repeats,
        "topology": "device-edge-cloud (3 nodes; tiered solves 2 cuts)",
        "goals_ms": goals,
        "results": results,
        "goals_met": {
            "resnet50": all(
                r["median_ms"] <= goals["resnet50_ms"] for r in results if r["graph"] == "resnet50"
            ),
            "dag5k": all(
                r["median_ms"] <= goals["dag5k_ms"] for r in results if r["graph"] == "dag-5k"
            ),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}; goals met: {report['goals_met']}")


if __name__ == "__main__":
    main()
