"""Adaptive vs static plans on a step-changing bandwidth trace (e.g. 50 -> 2 -> 20 Mbit/s).

An edge process (network namespace, cgroup-throttled CPU) sends requests back to back for the
whole trace while the driver replays the trace onto the emulated link; the same is done once per
candidate static plan and once with the AdaptiveEdgeWorker. Reports mean latency per strategy,
the adaptive gain over the best static plan (goal >= 20 %) and requests lost (goal 0). Root only.

    python benchmarks/adaptive_trace.py [--model resnet50] [--phase-s 15] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skyline.bench.collab import agent_call, model_graph, node_processes
from skyline.bench.machine import machine_info
from skyline.bench.plots import line_plot
from skyline.emulation import DeviceThrottle, LinuxLink, TraceReplayer
from skyline.runtime.adapt import Replanner
from skyline.topology import BandwidthTrace, Link, Node, Tier, Topology, node_preset


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--rates", default="50,2,20", help="Mbit/s of each phase")
    parser.add_argument("--phase-s", type=float, default=30.0)
    parser.add_argument("--rtt-ms", type=float, default=10.0)
    parser.add_argument("--device-speed", type=float, default=0.25)
    parser.add_argument("--interval-s", type=float, default=0.25, help="one request per interval")
    parser.add_argument("--out", default="results/adaptive")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    trace = BandwidthTrace(
        times_s=[i * args.phase_s for i in range(len(rates))], up_mbps=rates, down_mbps=rates
    )
    duration = args.phase_s * len(rates)
    graph = model_graph(args.model, args.size, repeats=10)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with DeviceThrottle(args.device_speed) as throttle, tempfile.TemporaryDirectory() as tmp:
        speed = throttle.measure_speed()
        topo = Topology(
            nodes=[
                Node(name="edge", tier=Tier.EDGE, speed=speed, power=node_preset("rpi4").power),
                Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
            ],
            links=[
                Link(a="edge", b="cloud", up_mbps=rates[0], down_mbps=rates[0], rtt_ms=args.rtt_ms)
            ],
        )
        grid = sorted({*np.geomspace(0.5, 200, 16).tolist(), *rates})
        replanner = Replanner(graph, topo, ("edge", "cloud"), grid_mbps=grid, hysteresis=0.1)
        plans_path, config_path = Path(tmp) / "plans.json", Path(tmp) / "adaptive.json"
        plans_path.write_text(
            json.dumps([json.loads(p.to_json()) for p in replanner.plans.values()])
        )
        config_path.write_text(
            json.dumps(
                {
                    "graph": graph.to_dict(),
                    "topology": topo.model_dump(mode="json"),
                    "hop": ["edge", "cloud"],
                    "planner": "dads",
                    "grid_mbps": grid,
                    "hysteresis": 0.1,
                }
            )
        )
        with LinuxLink(rates[0], rates[0], args.rtt_ms) as net:
            processes = node_processes(
                net,
                plans_path,
                args.model,
                agent_args=("--adaptive", str(config_path), "--timeout-s", "10", "--retries", "1"),
            )
            with processes as (_cloud, agent):
                assert agent.stdout is not None
                ready = json.loads(agent.stdout.readline())
                throttle.add(int(ready["pid"]))
                results = {}
                for key in ["adaptive", *replanner.plans]:
                    net.set_rate(rates[0], rates[0])
                    agent_call(
                        agent, {"op": "run", "plan": key, "requests": 3, "warmup": 0}
                    )  # connect
                    with TraceReplayer(trace, net):
                        reply = agent_call(
                            agent,
                            {
                                "op": "run",
                                "plan": key,
                                "duration_s": duration,
                                "warmup": 0,
                                "interval_s": args.interval_s,
                            },
                        )
                    records = reply["records"]
                    assert isinstance(records, list)
                    lat = [r["latency_ms"] for r in records]
                    start = records[0]["started_s"]
                    results[key] = {
                        "label": "adaptive" if key == "adaptive" else replanner.plans[key].planner,
                        "placement": None
                        if key == "adaptive"
                        else {s.node: len(s.ops) for s in replanner.plans[key].stages if s.ops},
                        "requests": len(records),
                        "mean_ms": float(np.mean(lat)),
                        "p50_ms": float(np.median(lat)),
                        "lost": sum(r["outcome"] == "error" for r in records),
                        "fallbacks": sum(r["outcome"] == "fallback" for r in records),
                        "switches": reply.get("switches", []),
                        "series": [[r["started_s"] - start, r["latency_ms"]] for r in records],
                    }
                    print(
                        f"{key:12s} mean {results[key]['mean_ms']:8.2f} ms, {len(records)} requests"
                    )
    static = {k: v for k, v in results.items() if k != "adaptive"}
    best_key = min(static, key=lambda k: static[k]["mean_ms"])
    gain = 1 - results["adaptive"]["mean_ms"] / static[best_key]["mean_ms"]
    report = {
        "benchmark": "adaptive_trace",
        "measured": True,
        "mode": "linux (netns + tbf + TUN delay line, cgroup CPU quota)",
        "model": args.model,
        "size": args.size,
        "trace": {"rates_mbps": rates, "phase_s": args.phase_s, "rtt_ms": args.rtt_ms},
        "device_speed_measured": speed,
        "machine": machine_info(),
        "strategies": results,
        "best_static": best_key,
        "adaptive_gain_vs_best_static": gain,
        "requests_lost_adaptive": results["adaptive"]["lost"],
        "goals_met": {"gain>=20%": gain >= 0.2, "lost==0": results["adaptive"]["lost"] == 0},
    }
    (out_dir / "adaptive_trace.json").write_text(json.dumps(report, indent=2))
    series: dict[str, tuple[Sequence[float], Sequence[float]]] = {
        (v["label"] if k == "adaptive" else f"static {k[:6]} {v['placement']}"): (
            [p[0] for p in v["series"]],
            [p[1] for p in v["series"]],
        )
        for k, v in results.items()
    }
    line_plot(
        series,
        out_dir / "adaptive_trace.png",
        title=f"{args.model}: latency over the trace {rates} Mbit/s",
        xlabel="time (s)",
        ylabel="latency (ms)",
        logy=True,
    )
    print(
        json.dumps(
            {k: report[k] for k in ("best_static", "adaptive_gain_vs_best_static", "goals_met")}
        )
    )


if __name__ == "__main__":
    main()
