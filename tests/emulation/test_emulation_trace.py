"""Trace stepping agrees with BandwidthTrace.at; TraceReplayer applies and records the schedule."""

from __future__ import annotations

import time

import pytest

from skyline.emulation import Shaper, ShaperPair, TraceReplayer
from skyline.emulation.trace import trace_steps
from skyline.errors import ConfigError, EmulationError
from skyline.topology import BandwidthTrace

TRACE = BandwidthTrace(times_s=[0, 0.5, 2], up_mbps=[10, 20, 5], down_mbps=[1, 2, 3])


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def set_rate(self, up_mbps: float, down_mbps: float) -> None:
        self.calls.append((up_mbps, down_mbps))


@pytest.mark.parametrize("loop", [False, True])
def test_steps_agree_with_trace_at(loop):
    trace = TRACE.model_copy(update={"loop": loop})
    for t in [0, 0.1, 0.5, 1.99, 2, 3.4, 3.5, 3.6, 7.25, 20.0]:
        start, up, down = next(trace_steps(trace, t))
        assert (up, down) == trace.at(t)
        assert start <= t


def test_steps_of_a_looping_trace_continue_past_the_period():
    trace = TRACE.model_copy(update={"loop": True})  # period 3.5 s
    steps = trace_steps(trace, 3.0)
    assert [next(steps)[0] for _ in range(4)] == [2.0, 3.5, 4.0, 5.5]
    assert [s[0] for s in trace_steps(TRACE, 1.0)] == [0.5, 2.0]


def test_replayer_applies_every_step_in_order():
    target = Recorder()
    with TraceReplayer(TRACE, target, speedup=20) as replay:
        deadline = time.monotonic() + 5
        while len(target.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert target.calls == [(10, 1), (20, 2), (5, 3)]
    assert [a.trace_s for a in replay.applied] == [0, 0.5, 2]
    for applied in replay.applied:  # 2 s of trace in 0.1 s; late by a few ms at most
        assert applied.trace_s / 20 - 0.001 <= applied.applied_s <= applied.trace_s / 20 + 0.05


def test_looping_replay_runs_until_stopped_and_drives_shapers():
    pair = ShaperPair(Shaper(1), Shaper(1))
    replay = TraceReplayer(TRACE.model_copy(update={"loop": True}), pair, speedup=50).start()
    time.sleep(0.3)  # 15 s of trace: four laps
    assert replay.running
    replay.stop()
    assert not replay.running
    assert len(replay.applied) >= 9
    last = replay.applied[-1]
    assert (pair.up.mbps, pair.down.mbps) == (last.up_mbps, last.down_mbps)


def test_target_errors_surface_on_stop():
    class Broken:
        def set_rate(self, up_mbps: float, down_mbps: float) -> None:
            raise OSError("link gone")

    replay = TraceReplayer(TRACE, Broken()).start()
    time.sleep(0.05)
    with pytest.raises(EmulationError, match="link gone"):
        replay.stop()


def test_replayer_refuses_bad_use():
    with pytest.raises(ConfigError):
        TraceReplayer(TRACE, Recorder(), speedup=0)
    replay = TraceReplayer(TRACE, Recorder()).start()
    with pytest.raises(EmulationError, match="already started"):
        replay.start()
    replay.stop()
