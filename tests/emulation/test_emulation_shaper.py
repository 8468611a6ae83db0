"""Shaper: hand-computed times on a fake clock, queueing under threads, seeded loss, traces."""

from __future__ import annotations

import threading
import time

import pytest

from skyline.emulation import Shaper, ShaperPair
from skyline.errors import ConfigError, TopologyError
from skyline.topology import BandwidthTrace, Link

MB = 1_000_000


class FakeTime:
    """A clock that moves only when told; sleeps are recorded, not slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def shaper(fake: FakeTime, mbps: float, delay_ms: float = 0.0, **kw) -> Shaper:
    return Shaper(mbps, delay_ms, clock=fake.clock, sleep=fake.sleep, **kw)


def test_one_megabyte_at_8_mbit_with_10_ms_delay_takes_1_010_s():
    fake = FakeTime()
    assert shaper(fake, 8, 10).transmit(MB) == pytest.approx(1.010)
    assert fake.slept == [pytest.approx(1.010)]


def test_concurrent_messages_queue_and_an_idle_link_starts_afresh():
    fake = FakeTime()
    link = shaper(fake, 8, 10)
    # Both arrive at t = 0: the second waits for the first's serialization, not its delay.
    assert link.transmit(MB) == pytest.approx(1.010)
    assert link.transmit(MB) == pytest.approx(2.010)
    fake.now = 1.5  # the link is still busy until t = 2
    assert link.transmit(MB) == pytest.approx(3.0 + 0.010 - 1.5)
    fake.now = 10.0
    assert link.transmit(MB) == pytest.approx(1.010)
    assert link.transmit(0) == pytest.approx(1.010)  # an empty message waits its turn, then delay


def test_threads_get_distinct_slots():
    fake = FakeTime()
    link = shaper(fake, 8, 10)
    results: list[float] = []
    threads = [threading.Thread(target=lambda: results.append(link.transmit(MB))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == pytest.approx([k + 0.010 for k in range(1, 9)])


def test_burst_credit_is_spent_at_line_speed():
    fake = FakeTime()
    link = shaper(fake, 8, 10, burst_bytes=100_000)
    fake.now = 5.0  # idle long enough to fill the bucket
    assert link.transmit(50_000) == pytest.approx(0.010)  # within the burst: delay only
    assert link.transmit(MB) == pytest.approx(0.95 + 0.010)  # the other 50 KB of credit used


def test_losses_cost_an_rtt_and_a_resend_each():
    fake = FakeTime()
    link = shaper(fake, 8, 10, loss=0.1, mtu=1000, seed=7)
    blocked = link.transmit(MB)  # 1000 packets of exactly one mtu
    stats = link.stats()
    lost = stats["lost_packets"]
    assert stats["packets"] == 1000 + lost
    assert blocked == pytest.approx((MB + lost * 1000) * 8 / 8e6 + 0.010 + lost * 0.020)
    again = shaper(FakeTime(), 8, 10, loss=0.1, mtu=1000, seed=7)
    assert again.transmit(MB) == blocked  # seeded: reproducible


def test_loss_fraction_matches_the_setting():
    link = shaper(FakeTime(), 100, loss=0.05, seed=1)
    for _ in range(20):
        link.transmit(150_000)  # 100 packets each
    stats = link.stats()
    assert stats["lost_packets"] / stats["packets"] == pytest.approx(0.05, abs=0.01)


def test_rate_follows_the_trace_within_a_message():
    fake = FakeTime()
    trace = BandwidthTrace(times_s=[0, 1], up_mbps=[8, 16], down_mbps=[4, 4])
    up = shaper(fake, 1, 10, trace=trace)
    # 1 MB in the first second at 8 Mbit/s, the other 0.5 MB at 16 Mbit/s: 0.25 s.
    assert up.transmit(1_500_000) == pytest.approx(1.25 + 0.010)
    down = shaper(fake, 1, trace=trace, direction="down")
    assert down.transmit(MB) == pytest.approx(2.0)
    fake.now = 1.5
    assert (up.mbps, down.mbps) == (16, 4)


def test_looping_trace_wraps_around():
    fake = FakeTime()
    trace = BandwidthTrace(times_s=[0, 1], up_mbps=[8, 16], down_mbps=[1, 1], loop=True)
    link = shaper(fake, 1, trace=trace)  # period 2 s: 1 MB, 2 MB, 1 MB, 2 MB, ...
    assert link.transmit(4 * MB) == pytest.approx(3.0)
    fake.now = 4.5
    assert link.mbps == 8
    fake.now = 5.5
    assert link.mbps == 16


def test_set_rate_takes_over_from_the_trace():
    fake = FakeTime()
    trace = BandwidthTrace(times_s=[0, 1], up_mbps=[8, 16], down_mbps=[4, 4])
    link = shaper(fake, 1, trace=trace)
    link.set_rate(80)
    assert link.transmit(MB) == pytest.approx(0.1)
    fake.now = 5.0
    assert link.mbps == 80


def test_from_link_takes_each_direction():
    link = Link(a="edge", b="cloud", up_mbps=8, down_mbps=16, rtt_ms=20, loss=0.01)
    up = Shaper.from_link(link, "edge")
    down = Shaper.from_link(link, "cloud")
    assert (up.mbps, up.delay_s, up.loss, up.direction) == (8, 0.010, 0.01, "up")
    assert (down.mbps, down.direction) == (16, "down")
    with pytest.raises(TopologyError, match="not an end"):
        Shaper.from_link(link, "device")
    pair = ShaperPair.from_link(link, seed=3)
    pair.set_rate(2, 4)
    assert (pair.up.mbps, pair.down.mbps) == (2, 4)


@pytest.mark.parametrize(
    "kw",
    [{"mbps": 0}, {"mbps": 1, "delay_ms": -1}, {"mbps": 1, "loss": 1.0}, {"mbps": 1, "mtu": 0}],
)
def test_invalid_settings_are_refused(kw):
    with pytest.raises(ConfigError):
        Shaper(**kw)


def test_real_time_queueing_of_concurrent_senders():
    link = Shaper(8, 5)  # 10 KB take 10 ms
    start = threading.Barrier(4)
    done: list[float] = []

    def send() -> None:
        start.wait()
        link.transmit(10_000)
        done.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    # Finishes at 15, 25 and 35 ms; generous upper slack for a loaded machine.
    for got, want in zip(sorted(done), [0.015, 0.025, 0.035]):
        assert want - 0.002 <= got <= want + 0.015
