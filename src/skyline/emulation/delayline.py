"""Delay line between two TUN devices: the delay and loss half of a `LinuxLink` (tbf does rate).

It runs as its own process so packet timing never waits for the caller's GIL, and it imports
only the standard library (it is started as a script, `python -I delayline.py`, not through the
`skyline` package, which imports torch) so it is up in milliseconds.

Each packet read from one TUN is dropped with probability `loss` (seeded) or held for the one-way
delay and written to the other TUN. All packets of a direction wait the same time, so a FIFO per
direction stays ordered by due time; `select` gives microsecond timeouts (epoll only has ms).

Control on stdin: a line `stats` is answered by one JSON line on stdout; end of input (the owner
closed the pipe, or died) ends the relay, which closes the TUNs and so removes the devices.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import select
import signal
import sys
import time
from collections import deque

_MAX_PACKET = 65536


class _Direction:
    """Packets from `src` waiting to be written to `dst`, and what happened to them so far."""

    def __init__(self, src: int, dst: int) -> None:
        self.src = src
        self.dst = dst
        self.queue: deque[tuple[float, bytes]] = deque()
        self.counts = {"packets": 0, "bytes": 0, "dropped": 0, "write_errors": 0}

    def receive(self, due: float, rng: random.Random, loss: float) -> None:
        """Read every packet waiting on src (the fd is non-blocking)."""
        while True:
            try:
                packet = os.read(self.src, _MAX_PACKET)
            except BlockingIOError:
                return
            if loss and rng.random() < loss:
                self.counts["dropped"] += 1
            else:
                self.queue.append((due, packet))

    def flush(self, now: float) -> None:
        """Write every packet whose delay is over."""
        while self.queue and self.queue[0][0] <= now:
            packet = self.queue.popleft()[1]
            try:
                os.write(self.dst, packet)
            except OSError:  # device going down during teardown, or a packet the kernel refuses
                self.counts["write_errors"] += 1
                continue
            self.counts["packets"] += 1
            self.counts["bytes"] += len(packet)


def relay(fd_a: int, fd_b: int, delay_s: float, loss: float, seed: int | None) -> None:
    """Move packets a -> b ("up") and b -> a ("down") until stdin ends."""
    rng = random.Random(seed)
    up, down = _Direction(fd_a, fd_b), _Direction(fd_b, fd_a)
    by_fd = {fd_a: up, fd_b: down}
    control = sys.stdin.fileno()
    watched = [control, fd_a, fd_b]
    os.write(sys.stdout.fileno(), b"ready\n")
    while True:
        due = [d.queue[0][0] for d in (up, down) if d.queue]
        timeout = max(min(due) - time.monotonic(), 0.0) if due else None
        readable, _, _ = select.select(watched, [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            if fd != control:
                by_fd[fd].receive(now + delay_s, rng, loss)
                continue
            commands = os.read(control, 4096)
            if not commands:
                return
            for _ in commands.split():  # "stats" is the only command
                report = {"up": up.counts, "down": down.counts}
                os.write(sys.stdout.fileno(), json.dumps(report).encode() + b"\n")
        for d in (up, down):
            d.flush(time.monotonic())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="TUN-to-TUN delay line (started by LinuxLink)")
    parser.add_argument("fd_a", type=int, help="TUN fd of side a (inherited)")
    parser.add_argument("fd_b", type=int, help="TUN fd of side b (inherited)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay")
    parser.add_argument("--loss", type=float, default=0.0, help="drop probability per packet")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    # The owner decides when the link ends (it closes stdin); Ctrl-C in its terminal must not
    # cut the link while the owner is still tearing down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(PermissionError):  # timing matters more than fairness here
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    relay(args.fd_a, args.fd_b, args.delay_ms / 1e3, args.loss, args.seed)


if __name__ == "__main__":
    main()
