"""`DeviceThrottle`: a really slower "edge" CPU, by a cgroup v1 CPU quota (root); `CgroupCpu`,
the base it shares with `shared_core.SharedCore`.

Processes inside get `speed * cpus` of a CPU per scheduling period (CFS bandwidth control), so an
edge worker started with `popen()` computes at a fraction of this host's speed, with the bursty
timing of a quota (runs for `speed` of each 10 ms period, then waits; a short period keeps a
request of a few ms from finishing inside one burst of quota and looking unthrottled).
`measure_speed()` reports the factor actually obtained, which is what a cost model must use
rather than the requested one.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from skyline.emulation._guard import Guarded
from skyline.errors import ConfigError, EmulationError

CPU_ROOT = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 10_000
_MIN_QUOTA_US = 1_000  # the kernel refuses smaller quotas
_ids = itertools.count()


def throttle_available() -> tuple[bool, str]:
    """(True, "") when DeviceThrottle can run here, else (False, why and what to do)."""
    if os.geteuid() != 0:
        return False, "DeviceThrottle needs root to create cgroups"
    if not (CPU_ROOT / "cpu.cfs_quota_us").exists():
        return False, (
            f"no cgroup v1 cpu controller with CFS quota at {CPU_ROOT} "
            "(cgroup v2-only hosts are not supported)"
        )
    if not os.access(CPU_ROOT, os.W_OK):
        return False, f"{CPU_ROOT} is read-only (mount the cgroup writable)"
    return True, ""


def write_knob(path: Path, value: int | str) -> None:
    try:
        path.write_text(str(value))
    except OSError as exc:
        raise EmulationError(
            f"cannot write {value} to {path}: {exc.strerror}",
            fix="run as root with the cgroup v1 cpu controller mounted writable",
        ) from exc


def remove_cgroup(path: Path) -> None:
    """Move the tasks still inside back to the parent cgroup, then remove the directory."""
    procs = path / "cgroup.procs"
    for _ in range(100):  # tasks may fork while being moved; the directory must end up empty
        try:
            pids = procs.read_text().split()
        except FileNotFoundError:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                (path.parent / "cgroup.procs").write_text(pid)
        try:
            path.rmdir()
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise EmulationError(
                    f"cannot remove cgroup {path}: {exc.strerror}", fix=f"rmdir {path} as root"
                ) from exc
        time.sleep(0.01)
    raise EmulationError(
        f"cgroup {path} keeps getting new tasks and cannot be removed",
        fix=f"stop the processes listed in {procs}, then rmdir {path}",
    )


class CgroupCpu(Guarded):
    """A cgroup of the cpu controller that slows the processes inside to `speed` of a CPU; the
    subclass decides how (`DeviceThrottle`: a quota, `SharedCore`: weights against a filler).
    Processes join with `popen` or `add`, pinned to `cpu` when one is set."""

    speed: float
    path: Path
    cpu: int | None = None

    def _procs(self) -> Path:
        """The cgroup's process list; fails clearly outside `with`."""
        if not self.active:
            raise EmulationError(
                f"the {type(self).__name__} is not set up", fix="use it inside `with`"
            )
        return self.path / "cgroup.procs"

    def add(self, pid: int) -> None:
        """Move a running process (all its threads) into the cgroup (and onto `cpu`)."""
        try:
            self._procs().write_text(str(pid))
            if self.cpu is not None:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with contextlib.suppress(ProcessLookupError):  # thread exited meanwhile
                        os.sched_setaffinity(int(tid), {self.cpu})
        except ProcessLookupError:
            raise EmulationError(
                f"no process {pid}", fix="pass the pid of a running process"
            ) from None
        except OSError as exc:
            raise EmulationError(
                f"cannot move pid {pid} into {self.path}: {exc.strerror}", fix="run as root"
            ) from exc

    def popen(self, args: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start a process already inside the cgroup (it joins before exec, so no unthrottled
        start-up); keyword arguments go to subprocess.Popen (a given preexec_fn runs after)."""
        procs, cpu = str(self._procs()), self.cpu
        user_preexec: Callable[[], object] | None = kw.pop("preexec_fn", None)

        def join_cgroup() -> None:
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
            if user_preexec is not None:
                user_preexec()

        return subprocess.Popen(args, preexec_fn=join_cgroup, **kw)

    def measure_speed(self, seconds: float = 1.0) -> float:
        """Measured speed of one thread inside, relative to one uncontended CPU of this host.

        One child process runs the calibration workload (`skyline.emulation._calibrate`) for
        `seconds` outside, rated per CPU-second (what one CPU of this host does, however loaded
        the host is), then joins the cgroup (and `cpu`) and runs it again for `seconds`, rated
        per wall-clock second (what the slowed process really gets). Returns inside / outside.
        """
        self._procs()
        cmd = [sys.executable, "-m", "skyline.emulation._calibrate", str(seconds), str(self.path)]
        if self.cpu is not None:
            cmd.append(str(self.cpu))
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EmulationError(
                f"calibration failed ({done.returncode}): {' '.join(cmd)}: {done.stderr.strip()}",
                fix="check that torch imports in this environment",
            )
        rates = json.loads(done.stdout)
        return float(rates["inside"] / rates["outside"])


def cgroup_path(label: str) -> Path:
    return CPU_ROOT / f"skyline-{label}"


def new_cgroup(path: Path) -> None:
    """Create the cpu cgroup `path`; a clear error when it cannot be made."""
    ok, why = throttle_available()
    if not ok:
        raise EmulationError(
            f"cannot throttle the CPU: {why}",
            fix="run as root, or use the runtime's calibrated slowdown mode",
        )
    try:
        path.mkdir()
    except FileExistsError:
        raise EmulationError(
            f"cgroup {path} already exists (in use, or left by a crashed run)",
            fix=f"pass another name, or rmdir {path} if no run uses it",
        ) from None


def check_speed(speed: float) -> None:
    if not 0 < speed <= 1:
        raise ConfigError(
            f"speed {speed} is outside (0, 1]", fix="pass the fraction of one CPU, e.g. 0.25"
        )


class DeviceThrottle(CgroupCpu):
    """A cgroup that gives its processes `speed` of a CPU (times `cpus` CPUs in all).

    With cpus > 1 the quota is shared: a single thread may use up to min(1, speed * cpus) of a
    CPU, so a one-thread worker measures that, not `speed`. Use as a context manager; the cgroup
    is removed on exit (and, as a safety net, at interpreter exit).
    """

    def __init__(self, speed: float, *, cpus: float = 1.0, name: str | None = None) -> None:
        check_speed(speed)
        if cpus <= 0:
            raise ConfigError(f"cpus {cpus} is not positive", fix="pass cpus > 0, e.g. 1")
        self.speed = speed
        self.cpus = cpus
        self.path = cgroup_path(name if name is not None else f"{os.getpid()}-{next(_ids)}")
        # the kernel wants quota >= 1 ms: very slow devices get a longer period instead
        self.period_us = max(PERIOD_US, math.ceil(_MIN_QUOTA_US / (speed * cpus)))
        self.quota_us = max(_MIN_QUOTA_US, round(speed * self.period_us * cpus))

    def __enter__(self) -> DeviceThrottle:
        new_cgroup(self.path)
        self._guarded_setup(remove_cgroup, (self.path,), self._write_quota)
        return self

    def _write_quota(self) -> None:
        write_knob(self.path / "cpu.cfs_period_us", self.period_us)
        write_knob(self.path / "cpu.cfs_quota_us", self.quota_us)
