"""DeviceThrottle: a measured slower CPU from a cgroup quota (root), removed without a trace."""

from __future__ import annotations

import os

import pytest
from cgroup_helpers import check_join_and_leave, root_only, unique_name

from skyline.emulation import DeviceThrottle, throttle_available
from skyline.errors import ConfigError, EmulationError


def test_unavailable_says_why(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ok, why = throttle_available()
    assert not ok and "root" in why
    with pytest.raises(EmulationError, match="root"), DeviceThrottle(0.5):
        pass


@pytest.mark.parametrize("kw", [{"speed": 0}, {"speed": 1.5}, {"speed": 0.5, "cpus": 0}])
def test_settings_are_checked(kw):
    with pytest.raises(ConfigError):
        DeviceThrottle(**kw)


def test_quota_is_speed_times_period_times_cpus():
    assert (DeviceThrottle(0.25).quota_us, DeviceThrottle(0.25).period_us) == (2_500, 10_000)
    assert DeviceThrottle(0.25, cpus=2).quota_us == 5_000
    slow = DeviceThrottle(0.001)  # the kernel's minimum quota is 1 ms: the period grows
    assert (slow.quota_us, slow.period_us) == (1_000, 1_000_000)


# The quota is a ceiling: other work on this 2-core host (and the test runner itself) can leave
# the throttled process less than its quota, never more. 0.15 still tells 0.25 apart from the
# next settings a bug could produce (0.5, 1.0); measured 0.17-0.19 in loaded full runs.
QUARTER_FLOOR = 0.15


@root_only
def test_quarter_speed_is_measured_as_such_and_the_cgroup_goes_away():
    with DeviceThrottle(0.25) as throttle:
        assert (throttle.path / "cpu.cfs_quota_us").read_text().strip() == "2500"
        speeds = []
        for _ in range(3):  # every trial under the cap; the best one reaches it
            speeds.append(throttle.measure_speed(1.0))
            assert speeds[-1] <= 0.32
            if speeds[-1] >= 0.2:
                break
    assert max(speeds) >= QUARTER_FLOOR, speeds
    assert not throttle.path.exists()


@root_only
def test_processes_join_and_are_moved_back_on_exit():
    check_join_and_leave(DeviceThrottle(0.5, name=unique_name()), pinned=None)


@root_only
def test_use_outside_with_is_refused():
    throttle = DeviceThrottle(0.5)
    with pytest.raises(EmulationError, match="not set up"):
        throttle.add(os.getpid())
