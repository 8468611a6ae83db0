"""`ShapedTransport`: any client transport behind an in-process emulated link."""

from __future__ import annotations

import time
from typing import Protocol

from skyline.runtime.transports.base import Parts, Transport


class _Direction(Protocol):
    def transmit(self, nbytes: int) -> float: ...


def _nbytes(parts: Parts) -> int:
    return sum(memoryview(p).nbytes for p in parts)


class ShapedTransport(Transport):
    """Blocks each request for the uplink's time and each reply for the downlink's time
    (`skyline.emulation.Shaper`: rate, delay, loss), then delegates to `inner`."""

    def __init__(self, inner: Transport, up: _Direction, down: _Direction) -> None:
        self.inner = inner
        self.address = inner.address
        self.up = up
        self.down = down

    def request(self, parts: Parts, timeout_s: float) -> Parts:
        t0 = time.monotonic()
        self.up.transmit(_nbytes(parts))
        reply = self.inner.request(parts, max(timeout_s - (time.monotonic() - t0), 1e-3))
        self.down.transmit(_nbytes(reply))
        return reply

    def close(self) -> None:
        self.inner.close()
