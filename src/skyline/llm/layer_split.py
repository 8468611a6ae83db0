"""Layer split: the first `layers` blocks of a model run on the edge, the other blocks and the
output head in the cloud. Each forward sends the new tokens' hidden states [T, d_model] up in
a wire codec and brings their logits down (float32).

Both sides keep KV caches for their own blocks: the edge one per sequence (`SplitCache`), the
cloud one per session (`SessionCaches`, truncated to the request's position first, so a
retried request is idempotent). With the lossless `raw` codec the split runs the same ops on
the same values as the unsplit model: identical logits. A lossy codec perturbs the hidden
states; `codec_agreement` measures how often the top-1 token survives it and `choose_codec`
takes the cheapest codec whose agreement clears a floor.

`LocalTail` runs the cloud half in this process (encoding and decoding the hidden states as
the wire would); `SplitServer` + `RemoteTail` run it behind the runtime's frames and
transports, like the speculative verifier in `remote.py`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from skyline.errors import ConfigError, FrameError, RemoteError, TransportError
from skyline.llm.model import DecoderLM, KVCache, LMConfig
from skyline.llm.remote import session_of
from skyline.llm.sessions import SessionCaches
from skyline.llm.speculative import generate
from skyline.llm.verify import CausalLM
from skyline.runtime.codecs import Codec, create
from skyline.runtime.server import FrameServer, answer, connect, meta_int
from skyline.runtime.stages import weights_digest
from skyline.runtime.transports import Parts, Transport
from skyline.runtime.wire import Frame, FrameKind

SERVICE = "skyline.llm.split/v1"
DEFAULT_CODECS = ("raw", "bf16", "fp16", "int8")  # what the benchmark measures


def check_layers(config: LMConfig, layers: int) -> None:
    if not 0 <= layers <= config.n_layers:
        raise ConfigError(
            f"split after {layers} layers of a {config.n_layers}-layer model",
            fix=f"pass layers in 0..{config.n_layers} (the edge's share of the blocks)",
        )


class CloudLayers:
    """Blocks `layers`.. and the output head of `model`, one KV cache per session (at most
    `max_sessions`, least recently used evicted). Thread-safe: one request at a time."""

    def __init__(self, model: DecoderLM, layers: int, *, max_sessions: int = 64) -> None:
        check_layers(model.config, layers)
        self.model = model
        self.layers = layers
        n = model.config.n_layers - layers

        def new_cache() -> KVCache:
            return KVCache(model.config, dtype=model.embed.weight.dtype, layers=n)

        self._caches = SessionCaches(new_cache, max_sessions, owner="cloud")
        self._lock = threading.Lock()

    def run(self, session: str, position: int, hidden: Tensor) -> Tensor:
        """Logits [T, vocab] for hidden states [T, d_model] at positions position...; the
        session's cache first forgets everything from `position` on."""
        config = self.model.config
        if hidden.dim() != 2 or hidden.shape[0] < 1 or hidden.shape[1] != config.d_model:
            raise ConfigError(
                f"hidden states of shape {list(hidden.shape)}, expected [T >= 1, {config.d_model}]",
                fix="send one d_model row per new token",
            )
        if not hidden.is_floating_point():
            raise ConfigError(f"hidden states of dtype {hidden.dtype}", fix="send float rows")
        if position + hidden.shape[0] > config.max_len:
            raise ConfigError(
                f"positions up to {position + hidden.shape[0]} exceed max_len {config.max_len}",
                fix="shorten the sequence",
            )
        with self._lock, torch.inference_mode():
            cache = self._caches.at(session, position)
            x = hidden.to(self.model.embed.weight.dtype)[None]
            x = self.model.run_blocks(x, self.layers, config.n_layers, cache)
            cache.advance(hidden.shape[0])
            return self.model.logits(x)[0].float()

    def end(self, session: str) -> None:
        with self._lock:
            self._caches.end(session)

    @property
    def sessions(self) -> list[str]:
        with self._lock:
            return self._caches.names()


@dataclass(frozen=True)
class TailReply:
    logits: Tensor  # [T, vocab] float32
    bytes_up: int
    bytes_down: int


class Tail(ABC):
    """The cloud half as the edge sees it: in this process or across a link."""

    layers: int  # blocks the edge runs before handing over

    @abstractmethod
    def forward(self, session: str, position: int, hidden: Tensor, codec: Codec) -> TailReply:
        """Logits for `hidden` [T, d_model], sent up encoded by `codec`."""

    @abstractmethod
    def end_session(self, session: str) -> None:
        """Free the session's cloud cache (unknown sessions are ignored)."""

    def close(self) -> None:  # noqa: B027 - an in-process tail holds no connection
        """Release connections."""


class LocalTail(Tail):
    """`CloudLayers` in this process. The hidden states go through `codec.encode` and
    `codec.decode` exactly as on the wire; bytes up are the payload plus its params as JSON,
    bytes down the float32 logits (no frame headers: there is no frame)."""

    def __init__(self, cloud: CloudLayers) -> None:
        self.cloud = cloud
        self.layers = cloud.layers

    def forward(self, session: str, position: int, hidden: Tensor, codec: Codec) -> TailReply:
        payload, params = codec.encode(hidden)
        received = codec.decode(memoryview(payload), hidden.dtype, tuple(hidden.shape), params)
        logits = self.cloud.run(session, position, received)
        up = memoryview(payload).nbytes + len(json.dumps(params))
        return TailReply(logits, up, logits.numel() * logits.element_size())

    def end_session(self, session: str) -> None:
        self.cloud.end(session)


class SplitCache(KVCache):
    """The edge's cache (its blocks only), naming the cloud session that holds the rest."""

    def __init__(self, config: LMConfig, layers: int, dtype: torch.dtype) -> None:
        super().__init__(config, dtype=dtype, layers=layers)
        self.session = uuid.uuid4().hex


class SplitLM:
    """A `CausalLM` whose first `tail.layers` blocks run here and the rest behind `tail`, so
    `generate()` (and `SpeculativeDecoder`, as draft or as target) decode with it unchanged.
    Without a tail the cloud half of `model` runs in process (`LocalTail`). One sequence per
    cache: the cloud keeps one session per cache (`end` frees it; else the cloud's LRU does).
    `bytes_up`, `bytes_down` and `rows_up` (hidden-state rows sent) count all traffic since
    construction."""

    def __init__(
        self,
        model: DecoderLM,
        layers: int,
        *,
        tail: Tail | None = None,
        codec: str | Codec = "raw",
    ) -> None:
        check_layers(model.config, layers)
        if tail is not None and tail.layers != layers:
            raise ConfigError(
                f"the cloud half starts after {tail.layers} layers, the edge runs {layers}",
                fix="split both sides at the same layer",
            )
        self.model = model
        self.config = model.config
        self.layers = layers
        self.tail = tail if tail is not None else LocalTail(CloudLayers(model, layers))
        self.codec = create(codec) if isinstance(codec, str) else codec
        self.bytes_up = self.bytes_down = self.rows_up = 0

    def new_cache(self, batch: int = 1) -> SplitCache:
        if batch != 1:
            raise ConfigError(
                f"a layer split decodes one sequence per cache, got batch {batch}",
                fix="use one cache (one cloud session) per sequence",
            )
        return SplitCache(self.config, self.layers, self.model.embed.weight.dtype)

    def __call__(self, tokens: Tensor, cache: KVCache) -> tuple[Tensor, KVCache]:
        if not isinstance(cache, SplitCache) or tokens.shape[0] != 1:
            raise ConfigError(
                "a layer split needs one sequence and its own cache",
                fix="pass tokens of shape [1, T] and a cache from SplitLM.new_cache()",
            )
        position = cache.length
        with torch.inference_mode():
            x = self.model.embed_tokens(tokens, position)
            x = self.model.run_blocks(x, 0, self.layers, cache)
        cache.advance(tokens.shape[1])
        reply = self.tail.forward(cache.session, position, x[0], self.codec)
        self.bytes_up += reply.bytes_up
        self.bytes_down += reply.bytes_down
        self.rows_up += tokens.shape[1]
        return reply.logits[None], cache

    def end(self, cache: SplitCache) -> None:
        """Free the sequence's cloud cache."""
        self.tail.end_session(cache.session)


# -- across the link ---------------------------------------------------------------------------


class SplitServer(FrameServer):
    """Serves the cloud half of `model` (blocks `layers`.. and the head). REQUEST meta `op`
    "forward" (tensor `hidden` [T, d_model] in any registered codec; meta `session`,
    `position`) is answered with tensor `logits` [T, vocab]; `op` "end" frees a session; PING
    gets PONG naming the split (layers, d_model, vocabulary, max_len, weights digest)."""

    def __init__(
        self,
        model: DecoderLM,
        layers: int,
        *,
        bind_address: str = "tcp://127.0.0.1:0",
        max_sessions: int = 64,
        threads: int = 1,
    ) -> None:
        self.cloud = CloudLayers(model, layers, max_sessions=max_sessions)
        self.identity = {
            "service": SERVICE,
            "layers": layers,
            "d_model": model.config.d_model,
            "vocab_size": model.config.vocab_size,
            "max_len": model.config.max_len,
            "weights": weights_digest(model),
        }
        super().__init__(bind_address, threads=threads, name="skyline-llm-split")

    def handle(self, parts: Sequence[Any]) -> Parts:
        """Answer one message; never raises."""
        return answer(parts, self.identity, {"forward": self._forward, "end": self._end})

    def _forward(self, frame: Frame) -> Frame:
        hidden = frame.tensors.get("hidden")
        if hidden is None:
            raise FrameError("a forward request needs tensor 'hidden'")
        logits = self.cloud.run(session_of(frame.meta), meta_int(frame.meta, "position"), hidden)
        return Frame(FrameKind.RESPONSE, frame.request_id, {"logits": logits})

    def _end(self, frame: Frame) -> Frame:
        self.cloud.end(session_of(frame.meta))
        return Frame(FrameKind.RESPONSE, frame.request_id)


class RemoteTail(Tail):
    """A `SplitServer` across the link; bytes are whole frames as sent and received. Checks on
    connect that the server is one, split at the edge's layer (`layers`) and, given `weights`,
    that it holds those weights. Timeouts are retried (requests are idempotent)."""

    def __init__(
        self,
        peer: str | Transport,
        layers: int,
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
            serve_hint="point the edge at a SplitServer",
        )
        self.layers = meta_int(self.identity, "layers")
        if self.layers != layers:
            self.hop.close()
            raise ConfigError(
                f"the server runs the blocks after layer {self.layers}, the edge after {layers}",
                fix="split both sides at the same layer",
            )
        self.vocab_size = meta_int(self.identity, "vocab_size")
        self._ids = itertools.count(1)

    def forward(self, session: str, position: int, hidden: Tensor, codec: Codec) -> TailReply:
        meta = {"op": "forward", "session": session, "position": position}
        frame = Frame(FrameKind.REQUEST, next(self._ids), {"hidden": hidden}, meta)
        reply = self.hop.call(frame, {"hidden": codec.spec})
        logits = reply.frame.tensors.get("logits")
        expected = (hidden.shape[0], self.vocab_size)
        if logits is None or tuple(logits.shape) != expected or not logits.is_floating_point():
            got = None if logits is None else list(logits.shape)
            raise FrameError(f"reply tensor 'logits' is {got}, expected {list(expected)}")
        return TailReply(logits, reply.bytes_up, reply.bytes_down)

    def end_session(self, session: str) -> None:
        """Best effort: a server that is gone has no session left to free."""
        end = Frame(FrameKind.REQUEST, next(self._ids), meta={"op": "end", "session": session})
        with contextlib.suppress(TransportError, RemoteError, FrameError):
            self.hop.call(end)

    def close(self) -> None:
        self.hop.close()


# -- which codec -------------------------------------------------------------------------------


@torch.inference_mode()
def teacher_forced_logits(
    model: CausalLM,
    prompt: Sequence[int],
    tokens: Sequence[int],
    *,
    cache: KVCache | None = None,
) -> Tensor:
    """Logits [len(tokens), vocab] predicting each of `tokens` after `prompt`, computed as
    decoding does: the prompt in one pass, then one token per pass (on `cache` if given)."""
    cache = model.new_cache() if cache is None else cache
    logits, _ = model(torch.tensor([list(prompt)]), cache)
    rows = [logits[0, -1]]
    for token in tokens[:-1]:
        logits, _ = model(torch.tensor([[token]]), cache)
        rows.append(logits[0, -1])
    return torch.stack(rows)


@dataclass(frozen=True)
class CodecAgreement:
    """One codec at one split, measured against the unsplit model on the same token streams
    (the unsplit model's greedy continuations, teacher-forced). `top1_agreement`: share of
    decoding steps where the split's top-1 token is the unsplit model's; `bytes_per_row`:
    bytes up per hidden-state row sent (payload plus codec params, prompts included);
    `max_logit_error`: largest absolute logit difference."""

    codec: str
    layers: int
    steps: int
    top1_agreement: float
    bytes_per_row: float
    max_logit_error: float


def codec_agreement(
    model: DecoderLM,
    layers: int,
    codecs: Sequence[str | Codec],
    prompts: Sequence[Sequence[int]],
    new_tokens: int,
) -> list[CodecAgreement]:
    """Decode `new_tokens` greedily after each prompt with the unsplit model, then feed the
    same tokens through the split (KV caches on both sides) once per codec and compare top-1
    per step. The unsplit references are computed once for all codecs."""
    if not prompts or new_tokens < 1 or not codecs:
        raise ConfigError("need prompts, codecs and at least one new token", fix="pass them")
    references = []
    for prompt in prompts:
        tokens = generate(model, prompt, new_tokens)
        references.append((prompt, tokens, teacher_forced_logits(model, prompt, tokens)))
    results = []
    for codec in codecs:
        split = SplitLM(model, layers, codec=codec)
        agree = steps = 0
        max_error = 0.0
        for prompt, tokens, want in references:
            cache = split.new_cache()
            got = teacher_forced_logits(split, prompt, tokens, cache=cache)
            split.end(cache)
            agree += int((got.argmax(-1) == want.argmax(-1)).sum())
            steps += len(tokens)
            max_error = max(max_error, float((got - want).abs().max()))
        per_row = split.bytes_up / split.rows_up
        results.append(
            CodecAgreement(split.codec.spec, layers, steps, agree / steps, per_row, max_error)
        )
    return results


def choose_codec(results: Sequence[CodecAgreement], floor: float = 0.99) -> CodecAgreement:
    """The codec sending the fewest bytes among those whose top-1 agreement is >= `floor`
    (ties: the higher agreement, then the earlier one)."""
    fit = [r for r in results if r.top1_agreement >= floor]
    if not fit:
        best = max((r.top1_agreement for r in results), default=float("nan"))
        raise ConfigError(
            f"no codec reaches top-1 agreement {floor} (best {best:.4f})",
            fix="lower the floor, or measure 'raw' too (it agrees exactly)",
        )
    return min(fit, key=lambda r: (r.bytes_per_row, -r.top1_agreement))
