"""Replay a `BandwidthTrace` onto a live link: the rates change over wall-clock time.

`TraceReplayer` drives any target with `set_rate(up_mbps, down_mbps)` — a `ShaperPair` or a
`LinuxLink` — from a background thread, and records when each rate was applied so a measured run
can be set beside the trace it was meant to follow.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from skyline.errors import ConfigError, EmulationError
from skyline.topology.spec import BandwidthTrace


class RateTarget(Protocol):
    """Anything whose two directions can be re-rated live."""

    def set_rate(self, up_mbps: float, down_mbps: float) -> None: ...


def trace_steps(trace: BandwidthTrace, from_s: float = 0.0) -> Iterator[tuple[float, float, float]]:
    """(start_s, up_mbps, down_mbps) of every step from the one in force at `from_s` on.

    Endless for a looping trace (its period is `BandwidthTrace`'s: the last sample lasts as long
    as the one before it); otherwise the last step lasts forever and the iterator ends.
    """
    times = trace.times_s
    offset = 0.0
    period = None
    if trace.loop:
        period = times[-1] + (times[-1] - times[-2] if len(times) > 1 else 1.0)
        laps, from_s = divmod(from_s, period)
        offset = laps * period
    first = max(bisect.bisect_right(times, from_s) - 1, 0)
    while True:
        for i in range(first, len(times)):
            yield offset + times[i], trace.up_mbps[i], trace.down_mbps[i]
        if period is None:
            return
        offset += period
        first = 0


@dataclass(frozen=True)
class AppliedRate:
    """One rate change as it happened: trace time, wall time since start(), and the rates."""

    trace_s: float
    applied_s: float
    up_mbps: float
    down_mbps: float


class TraceReplayer:
    """Applies a trace's (up, down) rates to `target` at the trace's times, `speedup` times faster.

    Use as a context manager (or start()/stop()). `applied` lists every change made, with the
    lateness visible as `applied_s - trace_s / speedup`. An error raised by the target stops the
    replay and is raised again from stop().
    """

    def __init__(
        self,
        trace: BandwidthTrace,
        target: RateTarget,
        *,
        speedup: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speedup <= 0:
            raise ConfigError(f"speedup {speedup} is not positive", fix="pass a speedup > 0")
        self.trace = trace
        self.target = target
        self.speedup = speedup
        self.applied: list[AppliedRate] = []
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> TraceReplayer:
        if self._thread is not None:
            raise EmulationError("this TraceReplayer was already started", fix="create a new one")
        self._thread = threading.Thread(target=self._run, name="skyline-trace", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop replaying (the last rate stays applied); re-raise a target's error."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise EmulationError(
                f"trace replay failed while setting a rate: {self._error}",
                fix="check that the target link is still set up",
            ) from self._error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        t0 = self._clock()
        for trace_s, up, down in trace_steps(self.trace):
            wait = t0 + trace_s / self.speedup - self._clock()
            if self._stop.wait(max(wait, 0.0)):
                return
            try:
                self.target.set_rate(up, down)
            except Exception as exc:  # surfaced by stop()
                self._error = exc
                return
            self.applied.append(AppliedRate(trace_s, self._clock() - t0, up, down))

    def __enter__(self) -> TraceReplayer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
