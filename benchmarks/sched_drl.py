"""DRL offloading policies (PPO, DQN via stable-baselines3) against the MILP optimum and the
heuristics. Trains the agents in `skyline/Offload-v0`, writes JSON and a PNG; the agents are
saved beside the JSON (`policies.create("ppo", model=...)` loads them). Needs the `rl` and
`plot` extras. Run alone: training and simulation use this process's one torch thread.

1. Small instances (goal from issue 6: >= 0.97 of the optimum). Scenario `batch` (built
   below): 10 cameras (400 ms a task on their CPU) in 5G cells of one 1-core edge (50 ms,
   about 78 ms with the radio) with a WAN backhaul to a cloud (80 ms, about 150 ms in all);
   Poisson arrivals, 6 tasks/s in all. The fast engine decides every tick (0.5 s, about 3
   tasks) as one batch, which is where the optimum differs from greedy (a third task on the
   edge waits 100 ms: the cloud is better) and from all-cloud.
   Agents train with miss_penalty_s = 0, so an episode's return is minus the milp objective.
   Instances are the batches the `milp` policy meets over held-out replications; each policy's
   placement of the same batch is costed by `MilpOptimum.cost`. Ratio = sum of optimum costs /
   sum of the policy's costs (1 = optimal), with per-instance quantiles.
2. Dynamic load (goal: beat the best heuristic on mean latency or deadline misses over >= 5
   seeds). Scenario `small-bursty`: the packaged `small` (20 phones sharing one Wi-Fi cell to
   an edge, a WAN to the cloud; a light task the phone can run within its deadline and a
   heavy one it cannot) with bursty load (2 tasks/s for ~2 s on, ~8 s off), so the shared
   cell is sometimes flooded; the exact engine (per-task decisions with queues as they are).
   `--scenario campus` (or any scenario) instead. Every heuristic and the agents run the same
   `--replications` seeds (same tasks);
   reported: mean and sample spread over replications, and paired differences to the best
   heuristic of each metric (the same replications, so the pairing removes the load's noise).

    python benchmarks/sched_drl.py [--steps 100000] [--batch-steps 30000] [--replications 5]
        [--out results/sched_drl.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skyline.bench import machine_info
from skyline.sched import Observation, Policy, policies
from skyline.sched.policies.optimum import MilpOptimum
from skyline.sched.train import train
from skyline.sim import Scenario, load_scenario, parse_scenario, simulate
from skyline.sim.spec import Bursty

RATIO_GOAL = 0.97
ALGORITHMS = ("ppo", "dqn")
BATCH_TICK_S = 0.5


def batch_scenario(duration_s: float) -> Scenario:
    return parse_scenario(
        {
            "name": "batch",
            "duration_s": duration_s,
            "seed": 5,
            "tick_s": BATCH_TICK_S,
            "device": [{"name": "cam", "count": 10, "preset": "rpi4", "edge": "edge"}],
            "edge": [{"name": "edge", "cores": 1, "access": "5g", "backhaul": "wan"}],
            "cloud": {"cores": 16},
            "task": [
                {
                    "name": "detect",
                    "compute_ms": {"device": 400.0, "edge": 50.0, "cloud": 80.0},
                    "input_bytes": 20_000,
                    "output_bytes": 2_000,
                    "deadline_ms": 300.0,
                }
            ],
            "workload": {"kind": "poisson", "rate_hz": 0.6},
        }
    )


class Recording(Policy):
    """Decides like `milp`, keeping every batch it was asked about (the test instances) and
    the optimum's cost of each."""

    name = "milp-recording"

    def __init__(self) -> None:
        super().__init__()
        self.milp = MilpOptimum()
        self.batches: list[Observation] = []
        self.costs: list[float] = []

    def decide(self, obs: Observation) -> np.ndarray:
        choice = self.milp.decide(obs)
        self.batches.append(obs)
        self.costs.append(self.milp.cost(obs, choice))
        return choice


def log(text: str) -> None:
    print(text, flush=True)


def train_all(
    scenario: Scenario, steps: int, out: Path, env_kwargs: dict[str, Any]
) -> dict[str, Policy]:
    trained = {}
    for algorithm in ALGORITHMS:
        start = time.process_time()
        path = out / f"{scenario.name}-{algorithm}.zip"
        trained[algorithm] = train(
            algorithm, scenario, steps=steps, path=path, env_kwargs=env_kwargs
        )
        log(
            f"trained {algorithm} on {scenario.name}: {steps} steps, "
            f"{time.process_time() - start:.0f} CPU-s -> {path}"
        )
    return trained


def versus_optimum(steps: int, replications: int, duration_s: float, out: Path) -> dict[str, Any]:
    sc = batch_scenario(duration_s)
    env_kwargs = {"engine": "fast", "tick_s": BATCH_TICK_S, "miss_penalty_s": 0.0}
    agents = train_all(sc, steps, out, env_kwargs)
    recording = Recording()
    # held out: training episodes draw replications from 2**31, these are 0..replications-1
    simulate(sc, recording, "fast", replications=replications)
    batches, milp = recording.batches, recording.milp
    optimum = np.array(recording.costs)
    contenders: dict[str, Policy] = {
        **agents,
        "greedy-min-latency": policies.create("greedy-min-latency"),
    }
    rows = {}
    for name, policy in contenders.items():
        cost = np.array([milp.cost(obs, policy.place(obs)) for obs in batches])
        per_instance = optimum / cost
        rows[name] = {
            "ratio": float(optimum.sum() / cost.sum()),
            "per_instance_mean": float(per_instance.mean()),
            "per_instance_p5": float(np.quantile(per_instance, 0.05)),
            "per_instance_min": float(per_instance.min()),
            "optimal_share": float(np.mean(np.isclose(cost, optimum, rtol=1e-9))),
            "goal_met": bool(optimum.sum() / cost.sum() >= RATIO_GOAL),
        }
        log(f"batch instances, {name}: {rows[name]}")
    simulated = {}
    for name, policy in {"milp": milp, **contenders}.items():
        result = simulate(sc, policy, "fast", replications=replications)
        simulated[name] = {"summary": result.summary(), "spread": result.spread()}
    sizes = np.array([obs.n for obs in batches])
    return {
        "scenario": sc.name,
        "engine": "fast",
        "tick_s": BATCH_TICK_S,
        "training_steps": steps,
        "instances": len(batches),
        "tasks_per_instance": {"mean": float(sizes.mean()), "max": int(sizes.max())},
        "objective": "sum of predicted latencies of the milp batch model, s",
        "policies": rows,
        "simulated": simulated,
    }


def dynamic_scenario(name: str, duration_s: float) -> Scenario:
    if name != "small-bursty":
        return load_scenario(name)
    bursty = Bursty(kind="bursty", on_rate_hz=2.0, off_rate_hz=0.0, mean_on_s=2.0, mean_off_s=8.0)
    small = load_scenario("small")
    return small.model_copy(update={"name": name, "workload": bursty, "duration_s": duration_s})


def metric_rows(results: dict[str, Any], key: str) -> dict[str, np.ndarray]:
    return {name: np.array([run[key] for run in r.runs]) for name, r in results.items()}


def dynamic_load(
    steps: int, replications: int, scenario: str, duration_s: float, out: Path
) -> dict[str, Any]:
    sc = dynamic_scenario(scenario, duration_s)
    agents = train_all(sc, steps, out, {"engine": "exact"})
    heuristics = [name for name in policies.names() if name != "milp"]
    results = {}
    for name in [*heuristics, *agents]:
        policy = agents.get(name, name)
        results[name] = simulate(sc, policy, "exact", replications=replications)
        s, d = results[name].summary(), results[name].spread()
        log(
            f"{scenario} {name:20} mean {s['mean_latency_ms']:.1f} ± {d['mean_latency_ms']:.1f} ms,"
            f" misses {s['deadline_miss_rate']:.4f} ± {d['deadline_miss_rate']:.4f}"
        )
    comparison = {}
    for key in ("mean_latency_ms", "deadline_miss_rate"):
        per_run = metric_rows(results, key)
        best = min(heuristics, key=lambda name: per_run[name].mean())
        comparison[key] = {"best_heuristic": best, "best_mean": float(per_run[best].mean())}
        for algorithm in agents:
            diff = per_run[algorithm] - per_run[best]  # < 0: the agent is better
            comparison[key][algorithm] = {
                "mean": float(per_run[algorithm].mean()),
                "paired_diff_mean": float(diff.mean()),
                "paired_diff_std": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
                "replications_better": int((diff < 0).sum()),
                "beats_best": bool(diff.mean() < 0),
            }
    return {
        "scenario": sc.name,
        "engine": "exact",
        "training_steps": steps,
        "replications": replications,
        "policies": {
            name: {
                "summary": r.summary(),
                "spread": r.spread(),
                "tier_shares": r.tier_shares(),
                "runs_mean_latency_ms": [run["mean_latency_ms"] for run in r.runs],
                "runs_deadline_miss_rate": [run["deadline_miss_rate"] for run in r.runs],
            }
            for name, r in results.items()
        },
        "versus_best_heuristic": comparison,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    opt = report["versus_optimum"]["policies"]
    names = list(opt)
    axes[0].bar(names, [opt[n]["ratio"] for n in names], color="tab:blue")
    axes[0].axhline(RATIO_GOAL, color="tab:red", linestyle="--", label=f"goal {RATIO_GOAL}")
    axes[0].set_ylim(0.5, 1.02)
    axes[0].set_ylabel("optimum cost / policy cost")
    axes[0].set_title("small instances vs milp (1 = optimal)")
    axes[0].legend()
    dyn = report["dynamic_load"]["policies"]
    names = list(dyn)
    for ax, key, label in (
        (axes[1], "mean_latency_ms", "mean latency, ms"),
        (axes[2], "deadline_miss_rate", "deadline-miss rate"),
    ):
        colors = ["tab:orange" if n in ALGORITHMS else "tab:gray" for n in names]
        ax.bar(
            names,
            [dyn[n]["summary"][key] for n in names],
            yerr=[dyn[n]["spread"][key] for n in names],
            color=colors,
            capsize=3,
        )
        ax.set_title(f"{report['dynamic_load']['scenario']}: {label} (± sd over seeds)")
        plt.setp(ax.get_xticklabels(), rotation=60, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="training steps, dynamic")
    parser.add_argument("--batch-steps", type=int, default=30_000, help="... small instances")
    parser.add_argument("--replications", type=int, default=5)
    parser.add_argument("--scenario", default="small-bursty", help="dynamic-load scenario")
    parser.add_argument("--out", type=Path, default=Path("results/sched_drl.json"))
    parser.add_argument("--quick", action="store_true", help="a few hundred steps: a smoke test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps, batch_steps, reps = args.steps, args.batch_steps, args.replications
    duration_s = 120.0
    if args.quick:
        steps, batch_steps, reps, duration_s = 300, 300, 2, 30.0
    models = args.out.parent / args.out.stem
    models.mkdir(parents=True, exist_ok=True)
    start = time.process_time()
    report = {
        "benchmark": "sched_drl",
        "machine": machine_info(),
        "config": {
            "steps": steps,
            "batch_steps": batch_steps,
            "replications": reps,
            "quick": args.quick,
        },
        "versus_optimum": versus_optimum(batch_steps, reps, duration_s, models),
        "dynamic_load": dynamic_load(steps, reps, args.scenario, duration_s, models),
        "notes": "SIMULATED with the scenarios' cost models. Agents: stable-baselines3 "
        "defaults of skyline.sched.train (MLP 64x64, gamma 0.9), one training seed (0), "
        "deterministic actions. Reward: -(predicted latency + miss_penalty_s if predicted to "
        "miss), predicted at decision time with the milp batch model; the simulator's "
        "metrics are realized latencies. Training episodes use replications drawn from "
        "2**31; evaluation uses replications 0..N-1 (held out).",
    }
    versus = report["dynamic_load"]["versus_best_heuristic"]
    report["goals"] = {
        "ratio_to_optimum": RATIO_GOAL,
        "ratio_met": {a: report["versus_optimum"]["policies"][a]["goal_met"] for a in ALGORITHMS},
        "beats_best_heuristic_on": {
            a: [metric for metric, row in versus.items() if row[a]["beats_best"]]
            for a in ALGORITHMS
        },
    }
    log(f"goals: {report['goals']}")
    report["cpu_s"] = time.process_time() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    png = args.out.with_suffix(".png")
    plot(report, png)
    log(f"wrote {args.out} and {png}")


if __name__ == "__main__":
    main()
