"""Calibration child of `CgroupCpu.measure_speed`: `python -m skyline.emulation._calibrate
SECONDS CGROUP_DIR [CPU]` prints {"outside": rate, "inside": rate} in work units per second (CPU:
pinned there when inside, as `SharedCore` wants).

A unit is a small single-thread torch matmul plus a pure-Python loop, so both kinds of edge
code (tensor kernels and interpreter overhead) are in the factor. Outside is rated per CPU-second
of this thread (a full CPU, whatever else the host runs); inside per wall-clock second after
joining the cgroup: the speed the throttled process really gets, quota waits included.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

_WARMUP_S = 0.1


def _unit(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.mm(a, b)
    total = 0
    for i in range(2000):
        total += i * i


def _rate(seconds: float, clock: Callable[[], float]) -> float:
    """Units per second of `clock`, counted over `seconds` of wall time."""
    a, b = torch.randn(96, 96), torch.randn(96, 96)
    end = time.monotonic() + _WARMUP_S
    while time.monotonic() < end:
        _unit(a, b)
    units = 0
    start, end = clock(), time.monotonic() + seconds
    while time.monotonic() < end:
        _unit(a, b)
        units += 1
    return units / (clock() - start)


def main() -> None:
    seconds, cgroup = float(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    outside = _rate(seconds, time.thread_time)
    (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    if len(sys.argv) > 3:
        os.sched_setaffinity(0, {int(sys.argv[3])})

    inside = _rate(seconds, time.monotonic)
    print(json.dumps({"outside": outside, "inside": inside}))


if __name__ == "__main__":
    main()
