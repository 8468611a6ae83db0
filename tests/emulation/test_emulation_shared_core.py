"""SharedCore: a measured slower CPU from cgroup weights against a filler (root), pinned to one
CPU, and removed without a trace: no cgroup, no filler left."""

from __future__ import annotations

import os

import pytest
from cgroup_helpers import allowed_cpus, check_join_and_leave, root_only, unique_name

from skyline.emulation import SharedCore
from skyline.errors import ConfigError, EmulationError


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"speed": 0}, "speed 0"), ({"speed": 1}, "speed 1"), ({"speed": 0.5, "cpu": 4096}, "cpu")],
)
def test_settings_are_checked(kw, field):
    with pytest.raises(ConfigError, match=field):
        SharedCore(**kw)


def test_weights_split_the_core_and_the_last_cpu_is_the_default():
    core = SharedCore(0.3)
    assert core.shares == (3_000, 7_000)
    assert core.cpu == max(os.sched_getaffinity(0))
    assert SharedCore(0.0001).shares == (2, 9_999)  # the kernel's minimum weight is 2


# Weights are not a ceiling either way: other work on that CPU (the test runner) takes a share
# from both sides, so the edge can measure below 0.3; it cannot get much above it while the
# filler runs. Measured 0.29-0.31 on a quiet host.
@root_only
def test_a_third_of_the_core_is_measured_as_such_and_everything_goes_away():
    with SharedCore(0.3) as core:
        filler_dir = core.filler_path
        (filler,) = (filler_dir / "cgroup.procs").read_text().split()
        assert allowed_cpus(int(filler)) == str(core.cpu)
        speeds = []
        for _ in range(3):
            speeds.append(core.measure_speed(1.0))
            assert speeds[-1] <= 0.38
            if speeds[-1] >= 0.25:
                break
    assert max(speeds) >= 0.15, speeds
    assert not core.path.exists() and not filler_dir.exists()
    assert not os.path.exists(f"/proc/{filler}")  # killed and reaped


@root_only
def test_processes_join_pinned_and_are_moved_back_on_exit():
    check_join_and_leave(SharedCore(0.5, cpu=0, name=unique_name()), pinned="0")


@root_only
def test_use_outside_with_is_refused():
    with pytest.raises(EmulationError, match="SharedCore is not set up"):
        SharedCore(0.5).add(os.getpid())
