"""Summaries of measured requests, with units in the names."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
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
