"""Scenario documents for the simulator tests (the TOML shape, as dicts)."""

from __future__ import annotations

import copy
from typing import Any

# one device pinned to one edge (1 core), a cloud behind the edge's backhaul; numbers chosen so
# every time below is a round figure: access 8 Mbit/s up = 1e6 B/s, 80 Mbit/s down = 1e7 B/s,
# RTT 10 ms (5 ms each way); backhaul 80 Mbit/s both ways = 1e7 B/s, RTT 20 ms.
BASE: dict[str, Any] = {
    "name": "hand",
    "duration_s": 10.0,
    "device": [
        {
            "name": "d",
            "count": 1,
            "gflops": 10.0,
            "power": {"idle_w": 1.0, "active_w": 3.0, "tx_j_per_bit": 1e-7, "rx_j_per_bit": 1e-8},
            "edge": "e",
        }
    ],
    "edge": [
        {
            "name": "e",
            "cores": 1,
            "gflops": 1000.0,
            "access": {"up_mbps": 8.0, "down_mbps": 80.0, "rtt_ms": 10.0},
            "backhaul": {"up_mbps": 80.0, "down_mbps": 80.0, "rtt_ms": 20.0},
        }
    ],
    "cloud": {"cores": 4, "gflops": 10000.0},
    "task": [
        {
            "name": "t",
            "compute_ms": {"device": 300.0, "edge": 20.0, "cloud": 10.0},
            "input_bytes": 100_000,
            "output_bytes": 10_000,
            "deadline_ms": 150.0,
        }
    ],
    "workload": {"kind": "trace", "times_s": [1.0]},
}


def doc(**changes: Any) -> dict[str, Any]:
    """A deep copy of BASE with top-level keys replaced."""
    out = copy.deepcopy(BASE)
    out.update(copy.deepcopy(changes))
    return out
