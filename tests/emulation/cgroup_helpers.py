"""Shared by the cgroup CPU tests (DeviceThrottle, SharedCore)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from skyline.emulation import CgroupCpu, throttle_available
from skyline.errors import EmulationError

OK, WHY = throttle_available()


def root_only(test):
    """Marked `root` (CI runs as root) and skipped, with the reason, where it cannot run."""
    return pytest.mark.root(pytest.mark.skipif(not OK, reason=WHY)(test))


def cpu_cgroup(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path
    raise AssertionError("no cpu controller line")


def allowed_cpus(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no Cpus_allowed_list line")


def check_join_and_leave(device: CgroupCpu, pinned: str | None) -> None:
    """A started and an added process are inside `device` (and on CPU `pinned`), an unknown pid
    is refused, and both are back in the root cgroup once it is torn down."""
    sleeper = subprocess.Popen(["sleep", "30"])
    procs = [sleeper]
    try:
        with device:
            child = device.popen(["sleep", "30"])
            procs.append(child)
            device.add(sleeper.pid)
            inside = f"/{device.path.name}"
            assert cpu_cgroup(child.pid) == cpu_cgroup(sleeper.pid) == inside
            if pinned is not None:
                assert allowed_cpus(child.pid) == allowed_cpus(sleeper.pid) == pinned
            with pytest.raises(EmulationError, match="no process"):
                device.add(2**22 + 1)
        assert not device.path.exists()
        assert cpu_cgroup(child.pid) == cpu_cgroup(sleeper.pid) == "/"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def unique_name() -> str:
    return f"test{os.getpid()}"
