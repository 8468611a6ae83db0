"""Early exits on a throttled edge over a slow link, measured on real processes.

Needs the weights and temperatures written by `benchmarks/early_exit.py`. On the held-out split
that benchmark calibrated on, `exit_evidence` records every exit's calibrated confidence and the
final answers with each lossy codec at every cut; `edgent` then picks, for the link, the cut,
codec and exit thresholds with the lowest predicted mean latency at <= `--max-loss` accuracy
loss vs the final exit (minus `--margin`, a safety margin against held-out optimism), and the
best no-exit plan under the same rule. Both, plus the single-site plans, run as an edge agent
(cgroup-throttled, network namespace) and a cloud worker over a Linux emulated link on the
first `--requests` Fashion-MNIST test images in order. Test accuracy is computed for every
plan on all 10,000 test images with the same exit rule and codec, and the runtime's exit
decision is checked request by request against that prediction. Root only.

Acceptance: mean latency with exits >= 2x lower than the best measured no-exit plan, at
<= 1 pt test accuracy loss.

    python benchmarks/early_exit.py              # once: trains, writes results/early_exit/
    python benchmarks/early_exit_latency.py [--link 3g] [--device-speed 0.25]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skyline import models
from skyline.bench import machine_info
from skyline.bench.collab import agent_call, node_processes
from skyline.bench.plots import scatter_plot
from skyline.data import fashion_mnist, split_holdout
from skyline.emulation import DeviceThrottle, LinuxLink
from skyline.exits import EdgentChoice, ExitEvidence, edgent, exit_evidence
from skyline.graph import profile
from skyline.plan import Problem, measure_codec_costs
from skyline.topology import Node, Tier, Topology, link_preset, node_preset

CODECS = ("raw", "fp16", "int8", "zstd")
HOLDOUT = 5000


def single_site(problem: Problem, evidence: ExitEvidence, cut: int, label: str) -> EdgentChoice:
    """A no-exit plan at a fixed cut (edge-only: all ops; cloud-only: none) for comparison."""
    labels = (np.arange(problem.graph.num_ops) >= cut).astype(np.int64)
    codec = problem.codec.codec if problem.codec else "raw"
    return EdgentChoice(
        plan=problem.to_plan(labels, label),
        exits=(),
        codec=codec,
        cut=cut,
        exit_fractions=(0.0,) * (len(problem.graph.outputs) - 1),
        latency_ms=problem.evaluate(labels).latency_s * 1e3,
        accuracy=float(evidence.final_correct(cut, codec).mean()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trained", default="results/early_exit")
    parser.add_argument("--link", default="3g", help="link preset between edge and cloud")
    parser.add_argument("--device-speed", type=float, default=0.25)
    parser.add_argument("--max-loss", type=float, default=0.01)
    parser.add_argument("--margin", type=float, default=0.003)
    parser.add_argument("--requests", type=int, default=1000, help="test images per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="results/early_exit_latency")
    args = parser.parse_args()
    trained = Path(args.trained)
    weights = trained / "model.pt"
    if not weights.is_file():
        raise SystemExit(f"{weights} is missing: run python benchmarks/early_exit.py first")
    training = json.loads((trained / "results.json").read_text())
    temperatures = [e["temperature"] for e in training["exits"]]
    spec = training.get("model_spec", "skyline.exits:fashion_exit_net")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine_before = machine_info()

    model = models.load(spec, weights=weights)
    _, calib = split_holdout(fashion_mnist("train"), HOLDOUT, seed=0)
    test = fashion_mnist("test")
    (test_x, test_y), (calib_x, calib_y) = test.tensors, calib.tensors
    torch.set_num_threads(1)
    example = (test_x[:1],)
    graph = profile(model, example, name=spec, repeats=30)
    costs = measure_codec_costs(graph, example, CODECS, repeats=20)
    torch.set_num_threads(2)  # evidence is not timed
    print("held-out evidence (every cut x lossy codec)...", flush=True)
    evidence = exit_evidence(model, graph, calib_x, calib_y, temperatures, codecs=CODECS)
    torch.set_num_threads(1)

    with DeviceThrottle(args.device_speed) as throttle, tempfile.TemporaryDirectory() as tmp:
        speed = throttle.measure_speed()
        link = link_preset(args.link, "edge", "cloud")
        topo = Topology(
            nodes=[
                Node(name="edge", tier=Tier.EDGE, speed=speed, power=node_preset("rpi4").power),
                Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
            ],
            links=[link],
        )
        planning = {c: (None if c == "raw" else costs[c]) for c in CODECS}
        budget = args.max_loss - args.margin
        choices = {
            "edgent (exits)": edgent(graph, topo, evidence, planning, max_loss=budget),
            "edgent (no exits)": edgent(
                graph, topo, evidence, planning, max_loss=budget, exits=False
            ),
        }
        edge_only = Problem(graph, topo)
        choices["edge-only"] = single_site(edge_only, evidence, graph.num_ops, "edge-only")
        best_cloud = min(
            (Problem(graph, topo, codec=planning[c]) for c in CODECS),
            key=lambda p: p.evaluate(np.ones(graph.num_ops, dtype=np.int64)).latency_s,
        )
        choices["cloud-only"] = single_site(best_cloud, evidence, 0, "cloud-only")
        seen: set[tuple[str, tuple[Any, ...]]] = set()
        for name in list(choices):  # the same plan and exits twice would only be measured twice
            key = (choices[name].plan.key, choices[name].exits)
            if key in seen:
                print(f"{name} is the same plan as one above; measured once")
                del choices[name]
            seen.add(key)

        # test accuracy of every choice on all test images, with its own cut and codec
        rows: dict[str, dict[str, Any]] = {}
        test_inputs = Path(tmp) / "test.npy"
        np.save(test_inputs, test_x[: args.requests].numpy())
        plans_path = Path(tmp) / "plans.json"
        plans_path.write_text(json.dumps([json.loads(c.plan.to_json()) for c in choices.values()]))
        for name, choice in choices.items():
            torch.set_num_threads(2)
            on_test = exit_evidence(
                model,
                graph,
                test_x,
                test_y,
                temperatures,
                codecs=(choice.codec,),
                cuts=[choice.cut],
            )
            torch.set_num_threads(1)
            where, accuracy = choice.outcome(on_test)
            rows[name] = {
                "choice": choice.summary(),
                "placement": {s.node: len(s.ops) for s in choice.plan.stages if s.ops},
                "test_accuracy": accuracy,
                "test_exit_fractions": [float((where == e).mean()) for e in range(3)],
                "predicted_mean_ms": choice.latency_ms,
                "expected_where": where[: args.requests].tolist(),
            }
            print(
                f"{name:18s} cut {choice.cut:2d} codec {choice.codec:5s} "
                f"test acc {100 * accuracy:.2f} %, predicted {choice.latency_ms:.2f} ms"
            )

        with LinuxLink.from_link(link) as net:
            processes = node_processes(
                net,
                plans_path,
                spec,
                weights=weights,
                agent_args=("--inputs", str(test_inputs), "--timeout-s", "10"),
            )
            with processes as (_cloud, agent):
                assert agent.stdout is not None
                ready = json.loads(agent.stdout.readline())
                throttle.add(int(ready["pid"]))
                records: dict[str, list[dict[str, Any]]] = {name: [] for name in choices}
                round_means: dict[str, list[float]] = {name: [] for name in choices}
                for _ in range(args.rounds):  # round-robin: drift in load hits every plan alike
                    for name, choice in choices.items():
                        slow = choice.latency_ms > 20 * choices["edgent (exits)"].latency_ms
                        exits = [
                            {"value": v, "temperature": t_, "threshold": t}
                            for _, v, t, t_ in choice.exits
                        ]
                        reply = agent_call(
                            agent,
                            {
                                "op": "run",
                                "plan": choice.plan.key,
                                "requests": min(args.requests, 100) if slow else args.requests,
                                "warmup": 5,
                                "exits": exits,
                            },
                        )
                        records[name] += reply["records"]
                        round_means[name].append(
                            float(np.mean([r["latency_ms"] for r in reply["records"]]))
                        )
                for name in choices:
                    lat = np.array([r["latency_ms"] for r in records[name]])
                    expected = rows[name].pop("expected_where")
                    n = len(records[name]) // args.rounds
                    got_exit = [r["outcome"] == "exit" for r in records[name]]
                    mismatch = sum(g != (expected[i % n] < 2) for i, g in enumerate(got_exit))
                    rows[name].update(
                        {
                            "requests": len(lat),
                            "mean_ms": float(lat.mean()),
                            "round_means_ms": round_means[name],
                            "p50_ms": float(np.median(lat)),
                            "p95_ms": float(np.percentile(lat, 95)),
                            "outcomes": {
                                o: sum(r["outcome"] == o for r in records[name])
                                for o in ("exit", "local", "remote", "fallback", "error")
                            },
                            "exit_decisions_differing_from_prediction": mismatch,
                        }
                    )
                    print(
                        f"{name:18s} measured mean {lat.mean():7.2f} ms "
                        f"(rounds {[round(m, 2) for m in round_means[name]]}, "
                        f"p50 {np.median(lat):.2f})"
                    )

    no_exit = {k: v for k, v in rows.items() if k != "edgent (exits)"}
    best = min(no_exit, key=lambda k: no_exit[k]["mean_ms"])
    exits_row = rows["edgent (exits)"]
    speedup = no_exit[best]["mean_ms"] / exits_row["mean_ms"]
    final_acc = float(evidence.correct[-1].mean())
    loss_pt = 100 * (no_exit[best]["test_accuracy"] - exits_row["test_accuracy"])
    report = {
        "benchmark": "early_exit_latency",
        "measured": True,
        "mode": "linux (netns + tbf + TUN delay line, cgroup CPU quota)",
        "model": spec,
        "weights": str(weights),
        "link": link.model_dump(mode="json"),
        "device_speed_requested": args.device_speed,
        "device_speed_measured": speed,
        "max_loss": args.max_loss,
        "margin": args.margin,
        "heldout_final_accuracy": final_acc,
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "codecs": {
            c: {"ratio_input": graph.value_bytes[0] / costs[c].wire_bytes[graph.value_names[0]]}
            for c in CODECS
        },
        "machine": machine_before,
        "machine_after": machine_info(),
        "plans": rows,
        "best_no_exit": best,
        "speedup_vs_best_no_exit": speedup,
        "test_accuracy_loss_pt_vs_best_no_exit": loss_pt,
        "goals_met": {"speedup>=2": speedup >= 2, "loss<=1pt": loss_pt <= 1.0},
    }
    (out / "early_exit_latency.json").write_text(json.dumps(report, indent=2))
    scatter_plot(
        [v["predicted_mean_ms"] for v in rows.values()],
        [v["mean_ms"] for v in rows.values()],
        out / "early_exit_latency.png",
        title=f"{spec.split(':')[1]}, edge speed {speed:.2f}, {args.link}: mean latency per plan",
        xlabel="predicted mean latency (ms)",
        ylabel="measured mean latency (ms)",
    )
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "best_no_exit",
                    "speedup_vs_best_no_exit",
                    "test_accuracy_loss_pt_vs_best_no_exit",
                    "goals_met",
                )
            }
        )
    )


if __name__ == "__main__":
    main()
