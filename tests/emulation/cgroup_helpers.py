"""Shared by the cgroup CPU tests (DeviceThrottle, SharedCore)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyline.emulation import throttle_available

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
