"""How steady is an emulated edge? The same NAS archs timed again and again on the two slower
CPUs Skyline can make: `DeviceThrottle` (cgroup quota) and `SharedCore` (one CPU shared with a
busy filler by weights), alternated, each trial a fresh device.

Per trial: batch-1 latency of `--archs` random archs (one torch thread, pinned to `--cpu`,
median of alternated rounds, as `benchmarks/nas.py` times them), divided by the same archs on
the unthrottled host measured once at the start; the trial's slowdown is the median of those
ratios. A steady device gives the same slowdown every trial (1 / speed, plus what time slicing
itself costs). JSON to `--out`/edge_steadiness.json.

    python benchmarks/edge_steadiness.py [--trials 6] [--speed 0.3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from skyline.bench import machine_info
from skyline.emulation import CgroupCpu, DeviceThrottle, SharedCore
from skyline.emulation.throttle import throttle_available
from skyline.optimize.nas_latency import measure_latency_ms
from skyline.optimize.nas_space import SearchSpace


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=6, help="trials per device kind")
    parser.add_argument("--speed", type=float, default=0.3)
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--round-s", type=float, default=0.2)
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    ok, why = throttle_available()
    if not ok:
        raise SystemExit(f"needs cgroups: {why}")
    console = Console()
    machine_before, started = machine_info(), time.perf_counter()
    space = SearchSpace()
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(args.archs)]
    timing = {"repeats": args.repeats, "round_s": args.round_s, "cpu": args.cpu}
    host = measure_latency_ms(archs, space, **timing)
    kinds = {
        "quota": lambda: DeviceThrottle(args.speed),
        "shared-core": lambda: SharedCore(args.speed, cpu=args.cpu),
    }
    trials: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    with Progress(transient=True) as bar:
        task = bar.add_task("trials", total=args.trials * len(kinds))
        for _ in range(args.trials):
            for kind, make in kinds.items():  # alternated: host drift hits both kinds alike
                device: CgroupCpu
                with make() as device:
                    speed = device.measure_speed(0.5)
                    ms = measure_latency_ms(archs, space, throttle=device, **timing)
                slowdown = statistics.median(m / h for m, h in zip(ms, host))
                trials[kind].append({"measured_speed": speed, "slowdown": slowdown})
                bar.advance(task)
    summary = {}
    table = Table(title=f"emulated edge at {args.speed} of a CPU: slowdown vs host per trial")
    for column in ("device", "slowdown per trial", "max / min", "measured speed"):
        table.add_column(column)
    for kind, rows in trials.items():
        slow = [r["slowdown"] for r in rows]
        summary[kind] = {
            "slowdown_median": statistics.median(slow),
            "slowdown_max_over_min": max(slow) / min(slow),
            "measured_speed_median": statistics.median(r["measured_speed"] for r in rows),
        }
        table.add_row(
            kind,
            " ".join(f"{s:.2f}" for s in slow),
            f"{summary[kind]['slowdown_max_over_min']:.2f}",
            f"{summary[kind]['measured_speed_median']:.3f}",
        )
    console.print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "edge_steadiness",
        "measured": "batch-1 latency ratios edge / host, medians over archs; one fresh device "
        "per trial, kinds alternated",
        "args": vars(args),
        "host_ms": host,
        "trials": trials,
        "summary": summary,
        "total_seconds": time.perf_counter() - started,
        "machine": machine_before,
        "machine_after": machine_info(),
    }
    path = out / "edge_steadiness.json"
    path.write_text(json.dumps(report, indent=2))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
