"""Summaries of measured requests, with units in the names."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from skyline.runtime.records import RequestRecord


def summarize(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """p50/p95/mean latency, median bytes and compute per node, and outcome counts."""
    if not records:
        return {"n": 0}
    lat = np.array([r.latency_ms for r in records])
    nodes = sorted({n for r in records for n in r.compute_ms})
    return {
        "n": len(records),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "mean_ms": float(lat.mean()),
        "compute_p50_ms": {
            n: float(np.median([r.compute_ms.get(n, 0.0) for r in records])) for n in nodes
        },
        "bytes_up_p50": float(np.median([r.bytes_up for r in records])),
        "bytes_down_p50": float(np.median([r.bytes_down for r in records])),
        "outcomes": dict(Counter(r.outcome for r in records)),
    }


def alternated_median_ms(
    fns: dict[str, Callable[..., Any]], *args: Any, repeats: int, rounds: int = 3, warmup: int = 5
) -> dict[str, float]:
    """Median wall time (ms) of each `fn(*args)`: per round, each function in turn gets `warmup`
    unmeasured then `repeats` measured calls, so drift in machine load hits all alike; the
    result is the median over rounds of the per-round medians."""
    per: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(warmup):
                fn(*args)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn(*args)
                times.append(time.perf_counter() - t0)
            per[name].append(statistics.median(times) * 1e3)
    return {name: statistics.median(v) for name, v in per.items()}
