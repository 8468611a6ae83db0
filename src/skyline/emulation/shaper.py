"""In-process link emulation: a `Shaper` per direction, usable with any transport and without root.

A sender calls `transmit(nbytes)` for each message; the call blocks for as long as the message
would take on the emulated link. The link is one FIFO pipe per direction shared by every thread
(a token bucket in virtual-time form), so concurrent senders queue behind each other exactly as
on a real link, and the times are computed, not slept-and-hoped: with a fake clock they can be
checked against hand-computed values.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, pairwise, repeat
from typing import Any, Literal

from skyline.emulation.trace import trace_steps
from skyline.errors import ConfigError
from skyline.topology.spec import BandwidthTrace, Link


def _check_rate(mbps: float) -> None:
    if not mbps > 0:
        raise ConfigError(f"link rate {mbps} Mbit/s is not positive", fix="pass a rate > 0")


class Shaper:
    """One direction of a link, emulated in-process: token bucket rate + one-way delay + loss.

    A message of n bytes waits for the messages queued before it, is serialized at the rate in
    force (following `trace` when given, else the rate set last), then arrives `delay_ms` later.

    Loss is TCP-like: the message is cut into `mtu`-byte packets; each packet is lost with
    probability `loss` (seeded RNG, retransmissions can be lost again). Every lost transmission
    costs one RTT (= 2 * delay, the time to notice the loss and resend) and its bytes are sent
    again, taking link time. On average a message therefore takes 1 / (1 - loss) times its
    loss-free serialization time, as `Link.transfer_s` predicts, plus the RTT penalties.

    `burst_bytes` is credit an idle link accumulates and spends at line speed (like tbf's burst);
    the default, none, is a plain serial link: n bytes always take n * 8 / rate.
    """

    def __init__(
        self,
        mbps: float,
        delay_ms: float = 0.0,
        loss: float = 0.0,
        *,
        mtu: int = 1500,
        burst_bytes: int | None = None,
        seed: int | None = None,
        trace: BandwidthTrace | None = None,
        direction: Literal["up", "down"] = "up",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _check_rate(mbps)
        if delay_ms < 0:
            raise ConfigError(f"delay {delay_ms} ms is negative", fix="pass a delay >= 0")
        if not 0 <= loss < 1:
            raise ConfigError(f"loss {loss} is outside [0, 1)", fix="pass a fraction such as 0.01")
        if mtu <= 0 or (burst_bytes is not None and burst_bytes < 0):
            raise ConfigError(
                f"mtu {mtu} / burst_bytes {burst_bytes} invalid",
                fix="pass mtu > 0 and burst_bytes >= 0",
            )
        if direction not in ("up", "down"):
            raise ConfigError(f"direction {direction!r} unknown", fix="pass 'up' or 'down'")
        self.delay_s = delay_ms / 1e3
        self.loss = loss
        self.mtu = mtu
        self.burst_bytes = burst_bytes or 0
        self.direction = direction
        self._bps = mbps * 1e6
        self._trace = trace
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._t0 = clock()
        self._free_at = self._t0  # when the link finishes serializing what is queued
        self._stats = {"messages": 0, "bytes": 0, "packets": 0, "lost_packets": 0}

    @classmethod
    def from_link(cls, link: Link, src: str, **kw: Any) -> Shaper:
        """The direction of `link` leaving `src`: its rate (and trace), RTT / 2 and loss."""
        mbps = link.mbps(src)  # also checks that src is an end of the link
        direction: Literal["up", "down"] = "up" if src == link.a else "down"
        return cls(mbps, link.rtt_ms / 2, link.loss, trace=link.trace, direction=direction, **kw)

    @property
    def mbps(self) -> float:
        """The rate in force now."""
        with self._lock:
            return self._rate_at(self._clock()) / 1e6

    def set_rate(self, mbps: float) -> None:
        """Fix the rate from now on (this stops following a trace); queued messages keep theirs."""
        _check_rate(mbps)
        with self._lock:
            self._bps = mbps * 1e6
            self._trace = None

    def stats(self) -> dict[str, int]:
        """Messages, bytes, packet transmissions and lost transmissions so far."""
        with self._lock:
            return dict(self._stats)

    def transmit(self, nbytes: int) -> float:
        """Block for as long as nbytes take on this direction; return the seconds blocked.

        The returned time is the one computed on arrival (queueing + serialization + delay +
        loss penalties); the sleep that follows matches it up to the sleep's accuracy.
        """
        if nbytes < 0:
            raise ConfigError(f"cannot transmit {nbytes} bytes", fix="pass a size >= 0")
        with self._lock:
            now = self._clock()
            lost, lost_bytes = self._draw_losses(nbytes)
            credit_s = self.burst_bytes * 8 / self._rate_at(now)
            start = max(self._free_at, now - credit_s)
            self._free_at = self._serialized(start, (nbytes + lost_bytes) * 8)
            arrival = max(self._free_at, now) + self.delay_s * (1 + 2 * lost)
            self._stats["messages"] += 1
            self._stats["bytes"] += nbytes
            self._stats["packets"] += math.ceil(nbytes / self.mtu) + lost
            self._stats["lost_packets"] += lost
        remaining = arrival - self._clock()
        if remaining > 0:
            self._sleep(remaining)
        return arrival - now

    def _draw_losses(self, nbytes: int) -> tuple[int, int]:
        """Lost transmissions and their bytes for a message of nbytes."""
        if self.loss == 0:
            return 0, 0
        full, rest = divmod(nbytes, self.mtu)
        lost = lost_bytes = 0
        for size in chain(repeat(self.mtu, full), [rest] if rest else []):
            while self._rng.random() < self.loss:
                lost += 1
                lost_bytes += size
        return lost, lost_bytes

    def _rate_at(self, t: float) -> float:
        if self._trace is None:
            return self._bps
        _, up, down = next(trace_steps(self._trace, t - self._t0))
        return self._own(up, down) * 1e6

    def _own(self, up_mbps: float, down_mbps: float) -> float:
        return up_mbps if self.direction == "up" else down_mbps

    def _serialized(self, start: float, bits: float) -> float:
        """When `bits` starting at `start` are through, the rate changing along the trace."""
        if self._trace is None or bits == 0:
            return start + bits / self._rate_at(start)
        end_of_trace = [(math.inf, 0.0, 0.0)]
        t = start
        steps = chain(trace_steps(self._trace, start - self._t0), end_of_trace)
        for (_, up, down), (next_s, _, _) in pairwise(steps):
            bps = self._own(up, down) * 1e6
            step_end = self._t0 + next_s
            if bits <= bps * (step_end - t):
                return t + bits / bps
            bits -= bps * (step_end - t)
            t = step_end
        raise AssertionError("unreachable: the last step lasts forever")


@dataclass(frozen=True)
class ShaperPair:
    """Both directions of a link: `up` (a -> b) and `down` (b -> a); a `TraceReplayer` target."""

    up: Shaper
    down: Shaper

    @classmethod
    def from_link(cls, link: Link, *, seed: int | None = None, **kw: Any) -> ShaperPair:
        """Shapers for both directions; the down direction draws losses from seed + 1."""
        return cls(
            Shaper.from_link(link, link.a, seed=seed, **kw),
            Shaper.from_link(link, link.b, seed=None if seed is None else seed + 1, **kw),
        )

    def set_rate(self, up_mbps: float, down_mbps: float) -> None:
        self.up.set_rate(up_mbps)
        self.down.set_rate(down_mbps)
