"""`FrameServer`: the lifecycle every Skyline server shares (bind, serve in this or a background
thread, stop, close), so workers only write `handle`; `answer` and `connect`, the two ends of a
request/response service on frames (PING names the service, REQUEST carries an `op`)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from skyline.errors import ConfigError, FrameError, SkylineError
from skyline.runtime.hop import HopClient
from skyline.runtime.transports import InFlightLimit, Listener, Parts, Transport, bind
from skyline.runtime.transports.curve import CurveServer
from skyline.runtime.wire import (
    Frame,
    FrameKind,
    decode_frame,
    encode_frame,
    error_frame,
    request_id_of,
)


class FrameServer(ABC):
    """Answers each request (frame parts in, frame parts out) on `threads` worker threads."""

    def __init__(
        self,
        bind_address: str,
        *,
        threads: int = 1,
        name: str = "skyline",
        curve: CurveServer | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self.threads = threads
        self.limit = None if max_in_flight is None else InFlightLimit(max_in_flight, self.refuse)
        self.listener: Listener = bind(bind_address, curve=curve)
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return self.listener.address

    @abstractmethod
    def handle(self, parts: Sequence[Any]) -> Parts:
        """The reply to one request; must answer garbage with an error frame, never raise."""

    def refuse(self, parts: Sequence[Any]) -> Parts:
        """The reply to a request over the client's in-flight limit."""
        assert self.limit is not None
        message = (
            f"too many requests in flight from this client (limit {self.limit.per_client}); "
            "wait for replies before sending more"
        )
        return encode_frame(error_frame(request_id_of(parts), message))

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()` (or KeyboardInterrupt)."""
        try:
            self.listener.serve(self.handle, self._stop, self.threads, self.limit)
        finally:
            self.close()

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Release what the server holds (subclasses add theirs)."""
        self.listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def meta_int(meta: dict[str, Any], key: str, upper: int = 2**63) -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < upper:
        raise FrameError(f"meta {key!r} must be an integer in [0, {upper}), got {value!r}")
    return value


def answer(
    parts: Sequence[Any], identity: dict[str, Any], ops: Mapping[str, Callable[[Frame], Frame]]
) -> Parts:
    """The reply of a model server to one message: PING gets PONG with `identity`, a REQUEST
    goes to `ops[meta["op"]]`. Never raises: a bad request or a bug gets an ERROR frame and
    the server keeps serving."""
    request_id = 0
    try:
        frame = decode_frame(parts)
        request_id = frame.request_id
        if frame.kind is FrameKind.PING:
            return encode_frame(Frame(FrameKind.PONG, request_id, meta=identity))
        if frame.kind is not FrameKind.REQUEST:
            raise FrameError(f"unexpected {frame.kind.name} frame")
        op = frame.meta.get("op")
        if not isinstance(op, str) or op not in ops:
            raise FrameError(f"meta 'op' must be one of {sorted(ops)}, got {op!r}")
        return encode_frame(ops[op](frame))
    except SkylineError as exc:
        return encode_frame(error_frame(request_id, f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # a bug or a hostile tensor: answer, keep serving
        return encode_frame(error_frame(request_id, f"internal {type(exc).__name__}: {exc}"))


def connect(
    peer: str | Transport,
    service: str,
    *,
    timeout_s: float,
    retries: int,
    wrap: Any,
    weights: str | None,
    serve_hint: str,
) -> tuple[HopClient, dict[str, Any]]:
    """A hop to a model server and its identity, checked (PING) to be `service` and, given
    `weights`, to hold those weights."""
    hop = HopClient(peer, timeout_s=timeout_s, retries=retries, wrap=wrap)
    identity = hop.call(Frame(FrameKind.PING, 0)).frame.meta
    where = peer if isinstance(peer, str) else peer.address
    if identity.get("service") != service:
        hop.close()
        raise ConfigError(f"{where} is not a {service} server (it says {identity})", fix=serve_hint)
    if weights is not None and identity.get("weights") != weights:
        hop.close()
        raise ConfigError(
            f"the server holds weights {identity.get('weights')!r}, expected {weights!r}",
            fix="start the server with the checkpoint paired with this edge",
        )
    return hop, identity
