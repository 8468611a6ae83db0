"""The target side of speculative decoding: score k draft tokens in one pass, keep the longest
acceptable prefix, add one token of the target's own.

A `Verifier` holds one KV cache per session. A request says how many of the session's tokens
the client believes the verifier holds (`position`) and sends the committed tokens after them
plus the draft; the verifier first truncates its cache to `position`, and draws its sampling
randomness from (seed, position), so a retried request (its reply lost on the link) gets the
same answer instead of corrupting the session.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from skyline.errors import ConfigError
from skyline.llm.model import KVCache, LMConfig
from skyline.llm.sessions import SessionCaches


class CausalLM(Protocol):
    """What decoding needs of a model (`DecoderLM` is one)."""

    config: LMConfig

    def new_cache(self, batch: int = 1) -> KVCache: ...

    def __call__(self, tokens: Tensor, cache: KVCache) -> tuple[Tensor, KVCache]: ...


def probabilities(logits: Tensor, temperature: float) -> Tensor:
    """Sampling distribution softmax(logits / T) (float32, last dimension)."""
    return torch.softmax(logits.float() / temperature, dim=-1)


def sample(probs: Tensor, generator: torch.Generator) -> int:
    return int(torch.multinomial(probs, 1, generator=generator))


def accept_greedy(target_logits: Tensor, draft: Tensor) -> tuple[int, int]:
    """(accepted, next token) for greedy decoding. `target_logits` [k+1, V]: row i predicts
    the token after draft[i-1]. Accept while the target's argmax equals the draft; the token
    is the target's argmax where they first differ (or after the last draft token)."""
    choice = target_logits.argmax(-1)
    k = draft.numel()
    matches = (choice[:k] == draft).int()
    accepted = int(matches.cumprod(0).sum()) if k else 0
    return accepted, int(choice[accepted])


def accept_sampled(
    p: Tensor, q: Tensor, draft: Tensor, generator: torch.Generator
) -> tuple[int, int]:
    """Leviathan/Chen rejection sampling: keep draft token i with probability
    min(1, p_i(d) / q_i(d)); at the first rejection draw from norm(max(0, p_i - q_i)); when all
    k are kept draw a bonus token from p_k. The result is distributed exactly as sampling
    from the target. `p` [k+1, V] target, `q` [k, V] draft distributions."""
    for i, token in enumerate(draft.tolist()):
        ratio = p[i, token] / q[i, token]
        if float(torch.rand((), generator=generator)) < float(ratio):
            continue
        residual = (p[i] - q[i]).clamp_min(0)
        # all-zero only when p == q up to rounding, where a rejection has probability ~0
        return i, sample(residual if float(residual.sum()) > 0 else p[i], generator)
    return draft.numel(), sample(p[-1], generator)


@dataclass(frozen=True)
class VerifyRequest:
    """One round: the verifier holds `position` tokens of `session`; `context` are the
    committed tokens after them (at least one: the last token generated), `draft` the k
    proposed tokens, `draft_probs` [k, V] their draft distributions (sampling only)."""

    session: str
    position: int
    context: Tensor
    draft: Tensor
    draft_probs: Tensor | None = None
    temperature: float = 0.0
    seed: int = 0  # with position, seeds this round's acceptance draws (sampling)


@dataclass(frozen=True)
class Verdict:
    """The first `accepted` draft tokens stand, followed by `token`. `compute_s` is the
    verifier's own compute time (no transport); bytes are those on the wire, if any."""

    accepted: int
    token: int
    compute_s: float
    bytes_up: int = 0
    bytes_down: int = 0


class Verifier(ABC):
    """Verifies drafts against a target model, in this process or across a link."""

    vocab_size: int
    max_len: int  # the target's: longest sequence it can verify

    @abstractmethod
    def verify(self, request: VerifyRequest) -> Verdict: ...

    @abstractmethod
    def end_session(self, session: str) -> None:
        """Free a session's cache (unknown sessions are ignored)."""

    def close(self) -> None:  # noqa: B027 - an in-process verifier holds no connection
        """Release connections."""


class TargetVerifier(Verifier):
    """Runs the target in this process. Keeps at most `max_sessions` caches, evicting the
    least recently used; a request continuing an evicted session is refused with an error
    that says to restart it from position 0. Thread-safe (one request at a time)."""

    def __init__(self, model: CausalLM, *, max_sessions: int = 64) -> None:
        self.model = model
        self.vocab_size = model.config.vocab_size
        self.max_len = model.config.max_len
        self._caches = SessionCaches(model.new_cache, max_sessions, owner="verifier")
        self._lock = threading.Lock()

    def verify(self, request: VerifyRequest) -> Verdict:
        self._check(request)
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            cache = self._caches.at(request.session, request.position)
            context = request.context
            logits, _ = self.model(torch.cat((context, request.draft))[None], cache)
            rows = logits[0, context.numel() - 1 :]
            if request.temperature == 0:
                accepted, token = accept_greedy(rows, request.draft)
            else:
                assert request.draft_probs is not None  # _check
                p = probabilities(rows, request.temperature)
                # positions grow every round: one fresh stream per round, the same on a retry
                generator = torch.Generator().manual_seed(
                    (request.seed * 1_000_003 + request.position) % 2**63
                )
                accepted, token = accept_sampled(
                    p, request.draft_probs.float(), request.draft, generator
                )
            cache.truncate(request.position + context.numel() + accepted)
            return Verdict(accepted, token, time.perf_counter() - t0)

    def _check(self, request: VerifyRequest) -> None:
        """Everything about a request that can be wrong before touching a session."""
        if request.context.numel() < 1:
            raise ConfigError(
                "a verify request needs at least one context token (the last one generated)",
                fix="send the committed tokens the verifier does not hold yet",
            )
        if request.position < 0:
            raise ConfigError(f"position {request.position} is negative", fix="pass >= 0")
        for name, tokens in (("context", request.context), ("draft", request.draft)):
            if tokens.dtype != torch.int64 or tokens.dim() != 1:
                raise ConfigError(
                    f"{name} must be a 1-d int64 tensor, got {tokens.dtype} {list(tokens.shape)}",
                    fix="send token ids as a flat int64 tensor",
                )
            if tokens.numel() and not 0 <= int(tokens.min()) <= int(tokens.max()) < self.vocab_size:
                raise ConfigError(
                    f"{name} holds token ids outside 0..{self.vocab_size - 1}",
                    fix="use the tokenizer the target was trained with",
                )
        if request.temperature < 0:
            raise ConfigError(f"temperature {request.temperature} < 0", fix="pass >= 0")
        if request.temperature > 0:
            shape = (request.draft.numel(), self.vocab_size)
            q = request.draft_probs
            if q is None or tuple(q.shape) != shape:
                got = None if q is None else list(q.shape)
                raise ConfigError(
                    f"sampling needs the draft's distributions of shape {list(shape)}, got {got}",
                    fix="send draft_probs (one row per draft token), or use temperature 0",
                )
            drafted = q.gather(1, request.draft[:, None])
            if not bool(torch.isfinite(q).all()) or bool((drafted <= 0).any()):
                raise ConfigError(
                    "draft_probs must be finite and positive at every drafted token",
                    fix="send the distributions the draft tokens were sampled from",
                )

    def end_session(self, session: str) -> None:
        with self._lock:
            self._caches.end(session)

    @property
    def sessions(self) -> list[str]:
        with self._lock:
            return self._caches.names()
