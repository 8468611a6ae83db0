"""`inproc://name`: in-memory queues between threads of one process (unit tests, no sockets)."""

from __future__ import annotations

import itertools
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skyline.errors import ConfigError, TransportError
from skyline.runtime.transports.base import (
    TRANSPORTS,
    Handler,
    InFlightLimit,
    Listener,
    Parts,
    Transport,
    TransportKind,
)

_Mailbox = queue.Queue[tuple[int, Parts, "queue.Queue[tuple[int, Parts]]"]]
_listeners: dict[str, _Mailbox] = {}
_lock = threading.Lock()
_ids = itertools.count(1)


class InprocTransport(Transport):
    def __init__(self, address: str) -> None:
        self.address = address
        self._replies: queue.Queue[tuple[int, Parts]] = queue.Queue()

    def request(self, parts: Parts, timeout_s: float) -> Parts:
        with _lock:
            mailbox = _listeners.get(self.address)
        if mailbox is None:
            raise TransportError(f"nothing listens on {self.address}")
        ticket = next(_ids)
        # copy like a socket would: the peer must not see later mutations of our buffers
        mailbox.put((ticket, [bytes(p) for p in parts], self._replies))
        try:
            while True:
                got, reply = self._replies.get(timeout=timeout_s)
                if got == ticket:
                    return reply
        except queue.Empty:
            raise TransportError(f"no reply from {self.address} within {timeout_s:.3g} s") from None

    def close(self) -> None:
        pass


class InprocListener(Listener):
    def __init__(self, address: str) -> None:
        with _lock:
            if address in _listeners:
                raise ConfigError(f"{address} is already bound", fix="use another inproc:// name")
            self._mailbox: _Mailbox = queue.Queue()
            _listeners[address] = self._mailbox
        self.address = address

    def serve(
        self,
        handler: Handler,
        stop: threading.Event,
        threads: int = 1,
        limit: InFlightLimit | None = None,
    ) -> None:
        def work(ticket: int, parts: Parts, reply_to: queue.Queue[tuple[int, Parts]]) -> None:
            try:
                reply_to.put((ticket, [bytes(p) for p in handler(parts)]))
            finally:
                if limit is not None:
                    limit.release(id(reply_to))

        with ThreadPoolExecutor(max_workers=threads) as pool:
            while not stop.is_set():
                try:
                    ticket, parts, reply_to = self._mailbox.get(timeout=0.05)
                except queue.Empty:
                    continue
                if limit is not None and not limit.admit(id(reply_to)):  # a client = a transport
                    reply_to.put((ticket, [bytes(p) for p in limit.refuse(parts)]))
                    continue
                pool.submit(work, ticket, parts, reply_to)

    def close(self) -> None:
        with _lock:
            _listeners.pop(self.address, None)


class Inproc(TransportKind):
    name = "inproc"
    schemes = ("inproc",)

    def connect(self, address: str, **options: Any) -> Transport:
        _no_curve(options)
        return InprocTransport(address)

    def bind(self, address: str, **options: Any) -> Listener:
        _no_curve(options)
        return InprocListener(address)


def _no_curve(options: dict[str, Any]) -> None:
    if options.get("curve") is not None:
        raise ConfigError(
            "CURVE secures network links; inproc:// never leaves the process",
            fix="use a tcp:// or ipc:// address with curve=, or drop curve",
        )


TRANSPORTS.register(Inproc.name, Inproc())
