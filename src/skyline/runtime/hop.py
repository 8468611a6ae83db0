"""`HopClient`: one hop up the path, with timeouts and bounded retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from skyline.errors import FrameError, RemoteError, TransportError
from skyline.runtime.transports import Transport, connect
from skyline.runtime.transports.curve import CurveClient
from skyline.runtime.wire import Frame, FrameKind, decode_frame, encode_frame, frame_nbytes


@dataclass
class HopReply:
    frame: Frame
    bytes_up: int
    bytes_down: int
    attempts: int


class HopClient:
    """Sends a frame to the next node and returns its reply.

    Every attempt that times out resets the channel; after `retries` more attempts the last error
    is raised so the caller can fall back. Thread-safe: each thread gets its own transport."""

    def __init__(
        self,
        peer: str | Transport,
        *,
        timeout_s: float = 5.0,
        retries: int = 2,
        wrap: Any = None,
        curve: CurveClient | None = None,
    ) -> None:
        self.peer = peer
        self._curve = curve
        self.timeout_s = timeout_s
        self.retries = retries
        self._wrap = wrap
        self._local = threading.local()

    def _transport(self) -> Transport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = (
                self.peer
                if isinstance(self.peer, Transport)
                else connect(self.peer, curve=self._curve)
            )
            if self._wrap is not None:
                transport = self._wrap(transport)
            self._local.transport = transport
        return transport

    def call(self, frame: Frame, codecs: Mapping[str, str] | None = None) -> HopReply:
        """Each attempt of a REQUEST carries `expires_unix`, the wall-clock time this client
        stops waiting for it, so a worker can skip work nobody will read."""
        sent = 0
        last: Exception | None = None
        for attempt in range(1, self.retries + 2):
            sending = frame
            if frame.kind is FrameKind.REQUEST:  # a copy: the caller's frame stays as given
                expires = {"expires_unix": time.time() + self.timeout_s}
                sending = replace(frame, meta={**frame.meta, **expires})
            parts = encode_frame(sending, codecs)
            sent += frame_nbytes(parts)
            try:
                reply_parts = self._transport().request(parts, self.timeout_s)
            except TransportError as exc:
                last = exc
                continue
            reply = decode_frame(reply_parts)
            if reply.request_id != frame.request_id:
                raise FrameError(
                    f"reply to request {reply.request_id} received for request {frame.request_id}"
                )
            if reply.kind is FrameKind.ERROR:
                raise RemoteError(f"{self._name()} answered: {reply.meta.get('error', '?')}")
            return HopReply(reply, sent, frame_nbytes(reply_parts), attempt)
        raise TransportError(
            f"{self._name()} unreachable after {self.retries + 1} attempts: {last}"
        )

    def probe(self, nbytes: int) -> tuple[float, int]:
        """Round trip of a PING padded to about `nbytes`: (seconds, bytes sent up). Measures the
        link while the current plan sends nothing."""
        pad = {"pad": torch.zeros(max(nbytes // 4, 1), dtype=torch.float32)}
        t0 = time.perf_counter()
        reply = self.call(Frame(FrameKind.PING, 0, pad))
        return time.perf_counter() - t0, reply.bytes_up

    def _name(self) -> str:
        return self.peer if isinstance(self.peer, str) else self.peer.address

    def close(self) -> None:
        transport = getattr(self._local, "transport", None)
        if transport is not None and transport is not self.peer:
            transport.close()
