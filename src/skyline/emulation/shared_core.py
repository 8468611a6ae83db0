"""`SharedCore`: a slower "edge" CPU that never idles: `speed` of one dedicated CPU, the rest
taken by a busy filler process, split by cgroup CPU weights instead of capped by a quota (root).

Why beside `DeviceThrottle`: a quota leaves the CPU idle for (1 - speed) of every period, and on
a virtual machine what the hypervisor does with an idle vCPU makes the throttled process's speed
drift. Measured on a 2-core KVM guest at 0.3 of a CPU (`benchmarks/edge_steadiness.py`): NAS
nets ran 4.0-6.6x slower than the host from one trial to the next under a quota, 3.9-4.3x
shared with a filler. The price: the CPU is taken whole (anything else running there takes a
share from both sides, so pin other work elsewhere), and the edge's time comes in scheduler
slices (a few ms) rather than per 10 ms period. Use it where a steady device matters more than
a strict cap: timing a latency table, a benchmark's edge.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

from skyline.emulation.throttle import (
    CgroupCpu,
    cgroup_path,
    check_speed,
    new_cgroup,
    remove_cgroup,
    write_knob,
)
from skyline.errors import ConfigError

WEIGHT = 10_000  # edge + filler cpu.shares; the kernel allows 2..262144 each
FILLER = ("sh", "-c", "while :; do :; done")  # busy, tiny cache footprint
_ids = itertools.count()


def _teardown(fillers: list[subprocess.Popen[bytes]], paths: list[Path]) -> None:
    for filler in fillers:
        filler.kill()
        filler.wait()
    for path in paths:
        remove_cgroup(path)


class SharedCore(CgroupCpu):
    """Processes inside get `speed` of CPU `cpu` (they are pinned there), the filler the rest.

    Use as a context manager; the filler is stopped and both cgroups removed on exit (and, as a
    safety net, at interpreter exit). `measure_speed()` reports the share actually obtained.
    """

    cpu: int

    def __init__(self, speed: float, *, cpu: int | None = None, name: str | None = None) -> None:
        check_speed(speed)
        if speed == 1:
            raise ConfigError(
                "speed 1 leaves the filler no share", fix="run unthrottled for a full CPU"
            )
        allowed = os.sched_getaffinity(0)
        self.cpu = max(allowed) if cpu is None else cpu
        if self.cpu not in allowed:
            raise ConfigError(
                f"cpu {cpu} is not one this process may use ({sorted(allowed)})",
                fix=f"pass one of {sorted(allowed)}",
            )
        self.speed = speed
        label = name if name is not None else f"core-{os.getpid()}-{next(_ids)}"
        self.path, self.filler_path = cgroup_path(label), cgroup_path(f"{label}-filler")
        self.shares = max(2, round(WEIGHT * speed)), max(2, round(WEIGHT * (1 - speed)))

    def __enter__(self) -> SharedCore:
        fillers: list[subprocess.Popen[bytes]] = []
        paths: list[Path] = []  # those made so far, for the teardown
        procs, cpu = self.filler_path / "cgroup.procs", self.cpu

        def join() -> None:
            procs.write_text(str(os.getpid()))
            os.sched_setaffinity(0, {cpu})

        def setup() -> None:
            for path, shares in zip((self.path, self.filler_path), self.shares, strict=True):
                new_cgroup(path)
                paths.append(path)
                write_knob(path / "cpu.shares", shares)
            fillers.append(subprocess.Popen(FILLER, preexec_fn=join))

        self._guarded_setup(_teardown, (fillers, paths), setup)
        return self
