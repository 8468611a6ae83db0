"""Soak: 64 concurrent edge clients against one `skyline serve cloud` process for 10 minutes,
the outcome of every request recorded (`skyline.runtime.loadtest`).

Edges are threads of this process (one EdgeWorker and ZeroMQ socket each), each sending at
`--rate` requests/s (0: back to back) to the cloud in its own process (`--ray --replicas N` to
compute on Ray actors). The cloud's RSS (the serving process, its Ray replicas, and its whole
process tree) is sampled every `--sample-s`. Pass: 0 lost requests, 0 unexplained errors, and
an RSS slope (least squares after the first fifth of the run) under
`loadtest.FLAT_MB_PER_MIN`. Writes JSON plus two PNGs (RSS and throughput over time).

    python benchmarks/soak.py [--clients 64] [--minutes 10] [--rate 5] [--ray --replicas 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.runtime.loadtest import CloudProcess, LoadConfig, check, run_load, write_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5.0, help="requests/s per client (0: max)")
    parser.add_argument("--timeout-s", type=float, default=5.0, help="edge wait per attempt")
    parser.add_argument("--ray", action="store_true", help="cloud stage on Ray actors")
    parser.add_argument("--replicas", type=int, default=1, help="with --ray: actors")
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--planner", default="cloud-only")
    parser.add_argument("--sample-s", type=float, default=2.0, help="RSS sampling period")
    parser.add_argument("--out", type=Path, default=Path("results/soak.json"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    before = machine_info()
    plan_file = args.out.with_suffix(".plan.json")
    plan = write_plan(plan_file, args.model, args.planner)
    extra = ["--ray", "--replicas", str(args.replicas)] if args.ray else []
    config = LoadConfig(
        clients=args.clients,
        duration_s=args.minutes * 60,
        rate_hz=args.rate,
        timeout_s=args.timeout_s,
        sample_s=args.sample_s,
    )
    log = Path(tempfile.gettempdir()) / "skyline-soak-cloud.log"
    with CloudProcess(plan_file, args=extra, log=log) as cloud:
        result = run_load(plan, cloud.address, config, memory=cloud.rss_mb)
    summary = result.summary()
    problems = check(result)
    bin_s = max(args.sample_s, 1.0)
    throughput = result.throughput(bin_s)
    report = {
        "benchmark": "soak",
        "method": "measured on loopback: edge threads in this process, cloud in its own process "
        f"(log {log}); RSS from /proc VmRSS; {'ray' if args.ray else 'local'} compute",
        "config": vars(args) | {"out": str(args.out), "plan": plan.key},
        "machine": before,
        "summary": summary,
        "passed": not problems and summary["memory_flat"],
        "problems": problems,
        "rss_mb": [{"t_s": t, **sample} for t, sample in result.rss],
        "throughput_per_s": {"bin_s": bin_s, **throughput},
        "machine_after": machine_info(),
    }
    args.out.write_text(json.dumps(report, indent=2, default=str))
    keys = sorted({k for _, s in result.rss for k in s})
    line_plot(
        {
            k: ([t / 60 for t, s in result.rss if k in s], [s[k] for _, s in result.rss if k in s])
            for k in keys
        },
        args.out.with_name(args.out.stem + "_rss.png"),
        title=f"Cloud RSS, {args.clients} clients (slope {summary['memory_slope_mb_per_min']:.2f} "
        "MB/min)",
        xlabel="minutes",
        ylabel="RSS (MB)",
    )
    line_plot(
        {o: ([i * bin_s / 60 for i in range(len(v))], v) for o, v in throughput.items()},
        args.out.with_name(args.out.stem + "_throughput.png"),
        title=f"Requests finished per second, {args.clients} clients",
        xlabel="minutes",
        ylabel="requests/s",
    )
    print(json.dumps({k: summary[k] for k in ("requests", "outcomes", "lost", "latency")}))
    print(f"passed: {report['passed']} {problems}; wrote {args.out} and its PNGs")


if __name__ == "__main__":
    main()
