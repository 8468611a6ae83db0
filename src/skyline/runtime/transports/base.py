"""Transports: a client `Transport` sends a request and waits for its reply; a `Listener` serves
many clients concurrently through a handler. Implementations are chosen by address scheme."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from skyline._registry import Registry
from skyline.errors import ConfigError

Parts = list[Any]  # bytes or buffer-protocol objects (zmq frames, memoryviews)
Handler = Callable[[Sequence[Any]], Parts]


class Transport(ABC):
    """Client end of a request/reply channel to one peer. Not thread-safe: one caller at a time."""

    address: str

    @abstractmethod
    def request(self, parts: Parts, timeout_s: float) -> Parts:
        """Send `parts`, return the reply; raise TransportError on timeout (then the channel is
        reset, so a late reply to this request can never be taken for the next one's)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InFlightLimit:
    """At most `per_client` requests of one client between arrival and reply; a request over
    the limit is answered at once with `refuse(parts)`, so one client pipelining requests
    cannot queue work ahead of everyone else. Thread-safe."""

    def __init__(self, per_client: int, refuse: Handler) -> None:
        if per_client < 1:
            raise ConfigError(
                f"in-flight limit {per_client} < 1", fix="allow at least one request per client"
            )
        self.per_client = per_client
        self.refuse = refuse
        self._counts: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def admit(self, client: Hashable) -> bool:
        with self._lock:
            n = self._counts.get(client, 0)
            if n >= self.per_client:
                return False
            self._counts[client] = n + 1
            return True

    def release(self, client: Hashable) -> None:
        with self._lock:
            n = self._counts.pop(client) - 1
            if n:
                self._counts[client] = n


class Listener(ABC):
    """Server end: calls `handler(parts) -> reply parts` for every request, `threads` at a time,
    admitting each client's requests through `limit` when given.

    The handler must not raise (a worker turns every failure into an error reply)."""

    address: str

    @abstractmethod
    def serve(
        self,
        handler: Handler,
        stop: threading.Event,
        threads: int = 1,
        limit: InFlightLimit | None = None,
    ) -> None:
        """Serve until `stop` is set."""

    @abstractmethod
    def close(self) -> None: ...


class TransportKind(ABC):
    """A family of transports, selected by the scheme of an address (`tcp://`, `inproc://`)."""

    name: str
    schemes: tuple[str, ...]

    @abstractmethod
    def connect(self, address: str, **options: Any) -> Transport: ...

    @abstractmethod
    def bind(self, address: str, **options: Any) -> Listener: ...


TRANSPORTS: Registry[TransportKind] = Registry("transport")


def _kind(address: str) -> TransportKind:
    scheme = address.partition("://")[0]
    for name in TRANSPORTS.names():
        kind = TRANSPORTS.get(name)
        if scheme in kind.schemes:
            return kind
    known = sorted(s for n in TRANSPORTS.names() for s in TRANSPORTS.get(n).schemes)
    raise ConfigError(
        f"address {address!r} has no known transport scheme",
        fix=f"write it as SCHEME://..., with SCHEME one of {', '.join(known)}",
    )


def connect(address: str, **options: Any) -> Transport:
    """A client transport to `address` (e.g. tcp://10.0.0.2:5555 or inproc://cloud)."""
    return _kind(address).connect(address, **options)


def bind(address: str, **options: Any) -> Listener:
    """A listener on `address` (tcp://*:5555 picks all interfaces; port 0 picks a free port)."""
    return _kind(address).bind(address, **options)
