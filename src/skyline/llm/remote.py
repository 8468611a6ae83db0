"""Verification across a link, on the runtime's binary frames and transports.

`CloudVerifier` serves a target model: REQUEST frames with meta `op` "verify" (tensors
`context`, `draft`, optionally `draft_probs`; meta `session`, `position`, `temperature`,
`seed`) are answered with RESPONSE meta `accepted`, `token`, `compute_ms`; `op` "end" frees a
session; PING is answered with PONG meta naming the model (vocabulary, max_len, weights digest).
Garbage gets an ERROR frame and the server keeps serving. `RemoteVerifier` is the edge's end:
the same `Verifier` as the in-process one, so `SpeculativeDecoder` does not know the difference.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Sequence
from typing import Any

from skyline.errors import FrameError, RemoteError, TransportError
from skyline.llm.model import DecoderLM
from skyline.llm.verify import TargetVerifier, Verdict, Verifier, VerifyRequest
from skyline.runtime.server import FrameServer, answer, connect, meta_int
from skyline.runtime.stages import weights_digest
from skyline.runtime.transports import Parts, Transport
from skyline.runtime.wire import Frame, FrameKind

SERVICE = "skyline.llm.verifier/v1"
MAX_SESSION_CHARS = 128


def session_of(meta: dict[str, Any]) -> str:
    session = meta.get("session")
    if not isinstance(session, str) or not 0 < len(session) <= MAX_SESSION_CHARS:
        raise FrameError(f"meta 'session' must be a string of 1..{MAX_SESSION_CHARS} characters")
    return session


def parse_request(frame: Frame) -> VerifyRequest:
    """A verify request from a frame; anything missing or mistyped is a `FrameError` (token
    ranges and shapes are checked by the verifier)."""
    meta = frame.meta
    session = session_of(meta)
    temperature = meta.get("temperature")
    if (
        not isinstance(temperature, int | float)
        or isinstance(temperature, bool)
        or not math.isfinite(temperature)
    ):
        raise FrameError(f"meta 'temperature' must be a finite number, got {temperature!r}")
    missing = [name for name in ("context", "draft") if name not in frame.tensors]
    if missing:
        raise FrameError(f"a verify request needs tensors {missing}")
    return VerifyRequest(
        session,
        meta_int(meta, "position"),
        frame.tensors["context"],
        frame.tensors["draft"],
        frame.tensors.get("draft_probs"),
        float(temperature),
        meta_int(meta, "seed"),
    )


class CloudVerifier(FrameServer):
    """Serves verification for `model` on `bind_address` (port 0 picks a free port) with one
    KV cache per session (at most `max_sessions`, least recently used evicted)."""

    def __init__(
        self,
        model: DecoderLM,
        *,
        bind_address: str = "tcp://127.0.0.1:0",
        max_sessions: int = 64,
        threads: int = 1,
    ) -> None:
        self.verifier = TargetVerifier(model, max_sessions=max_sessions)
        self.identity = {
            "service": SERVICE,
            "vocab_size": model.config.vocab_size,
            "max_len": model.config.max_len,
            "weights": weights_digest(model),
        }
        super().__init__(bind_address, threads=threads, name="skyline-llm-verifier")

    def handle(self, parts: Sequence[Any]) -> Parts:
        """Answer one message; never raises."""
        return answer(parts, self.identity, {"verify": self._verify, "end": self._end})

    def _verify(self, frame: Frame) -> Frame:
        verdict = self.verifier.verify(parse_request(frame))
        meta = {
            "accepted": verdict.accepted,
            "token": verdict.token,
            "compute_ms": verdict.compute_s * 1e3,
        }
        return Frame(FrameKind.RESPONSE, frame.request_id, meta=meta)

    def _end(self, frame: Frame) -> Frame:
        self.verifier.end_session(session_of(frame.meta))
        return Frame(FrameKind.RESPONSE, frame.request_id)


class RemoteVerifier(Verifier):
    """A `CloudVerifier` across the link. Checks on connect that the server is one (PING) and,
    given `weights`, that it holds those target weights. Timeouts are retried (`retries`):
    requests are idempotent, because the server truncates the session to `position` first.
    `wrap` wraps the transport (e.g. `ShapedTransport` for an in-process emulated link)."""

    def __init__(
        self,
        peer: str | Transport,
        *,
        timeout_s: float = 5.0,
        retries: int = 2,
        wrap: Any = None,
        weights: str | None = None,
    ) -> None:
        self.hop, self.identity = connect(
            peer,
            SERVICE,
            timeout_s=timeout_s,
            retries=retries,
            wrap=wrap,
            weights=weights,
            serve_hint="point the edge at a process started with `skyline llm serve`",
        )
        self._ids = itertools.count(1)
        self.vocab_size = meta_int(self.identity, "vocab_size")
        self.max_len = meta_int(self.identity, "max_len")

    def verify(self, request: VerifyRequest) -> Verdict:
        tensors = {"context": request.context, "draft": request.draft}
        if request.draft_probs is not None:
            tensors["draft_probs"] = request.draft_probs.float()
        meta = {
            "op": "verify",
            "session": request.session,
            "position": request.position,
            "temperature": request.temperature,
            "seed": request.seed,
        }
        reply = self.hop.call(Frame(FrameKind.REQUEST, next(self._ids), tensors, meta))
        got = reply.frame.meta
        accepted = meta_int(got, "accepted", request.draft.numel() + 1)
        token = meta_int(got, "token", self.vocab_size)
        compute_ms = got.get("compute_ms")
        if not isinstance(compute_ms, int | float) or not compute_ms >= 0:
            raise FrameError(f"reply meta 'compute_ms' is {compute_ms!r}")
        return Verdict(accepted, token, compute_ms / 1e3, reply.bytes_up, reply.bytes_down)

    def end_session(self, session: str) -> None:
        """Best effort: a server that is gone has no session left to free."""
        end = Frame(FrameKind.REQUEST, next(self._ids), meta={"op": "end", "session": session})
        with contextlib.suppress(TransportError, RemoteError, FrameError):
            self.hop.call(end)

    def close(self) -> None:
        self.hop.close()
