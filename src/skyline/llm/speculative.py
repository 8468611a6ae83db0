"""Speculative decoding: a small draft model proposes k tokens, a `Verifier` (the target, here
or across a link) checks them in one pass. Greedy output equals the target's greedy output;
sampled output is distributed as the target's samples (rejection sampling in the verifier).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from skyline.errors import ConfigError, TransportError
from skyline.llm.adaptive import FixedK, KPolicy
from skyline.llm.model import KVCache
from skyline.llm.stats import Round, SpecStats
from skyline.llm.verify import CausalLM, Verifier, VerifyRequest, probabilities, sample


@dataclass
class Generation:
    tokens: list[int]  # generated tokens only (the prompt excluded)
    stats: SpecStats = field(default_factory=SpecStats)


def _check_length(limit: int, prompt: Sequence[int], max_new_tokens: int) -> None:
    if not prompt:
        raise ConfigError("the prompt is empty", fix="pass at least one token")
    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens = {max_new_tokens}", fix="generate at least 1 token")
    if len(prompt) + max_new_tokens > limit:
        raise ConfigError(
            f"prompt ({len(prompt)}) + max_new_tokens ({max_new_tokens}) exceed max_len {limit}",
            fix=f"generate at most {max(limit - len(prompt), 0)} tokens after this prompt",
        )


def _next(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> int:
    if temperature == 0:
        return int(logits.argmax())
    return sample(probabilities(logits, temperature), generator)


@torch.inference_mode()
def generate(
    model: CausalLM,
    prompt: Sequence[int],
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    seed: int = 0,
) -> list[int]:
    """Plain autoregressive decoding with a KV cache: the reference speculative decoding must
    reproduce (greedy) or match in distribution (sampling)."""
    _check_length(model.config.max_len, prompt, max_new_tokens)
    generator = torch.Generator().manual_seed(seed)
    cache = model.new_cache()
    logits, _ = model(torch.tensor([list(prompt)]), cache)
    out: list[int] = []
    while True:
        out.append(_next(logits[0, -1], temperature, generator))
        if len(out) == max_new_tokens:
            return out
        logits, _ = model(torch.tensor([[out[-1]]]), cache)


class SpeculativeDecoder:
    """Drafts with `draft` on this side, verifies with `verifier`.

    `k` is a draft length or a `KPolicy` (e.g. `AdaptiveK`); draft and target must share the
    tokenizer (checked through the vocabulary size). `seed` fixes the draft's sampler, which
    also seeds the verifier's acceptance draws. With `fallback`, a verifier that
    cannot be reached (TransportError) does not fail the request: the draft finishes it alone
    and the stats say so."""

    def __init__(
        self,
        draft: CausalLM,
        verifier: Verifier,
        *,
        k: int | KPolicy = 4,
        temperature: float = 0.0,
        seed: int = 0,
        fallback: bool = True,
    ) -> None:
        if draft.config.vocab_size != verifier.vocab_size:
            raise ConfigError(
                f"draft vocabulary ({draft.config.vocab_size}) differs from the target's "
                f"({verifier.vocab_size})",
                fix="pair models trained with the same tokenizer",
            )
        if temperature < 0:
            raise ConfigError(f"temperature {temperature} < 0", fix="0 is greedy; pass >= 0")
        self.draft = draft
        self.verifier = verifier
        self.policy = FixedK(k) if isinstance(k, int) else k
        self.temperature = temperature
        self.seed = seed
        self.fallback = fallback

    @torch.inference_mode()
    def generate(
        self, prompt: Sequence[int], max_new_tokens: int, *, session: str | None = None
    ) -> Generation:
        """Generate exactly `max_new_tokens` tokens after `prompt` (k is capped so no round
        overshoots). The verifier session is ended afterwards."""
        _check_length(min(self.draft.config.max_len, self.verifier.max_len), prompt, max_new_tokens)
        session = session or uuid.uuid4().hex
        generator = torch.Generator().manual_seed(self.seed)
        # the verifier's acceptance draws must not replay the draft's own random stream
        verifier_seed = int(torch.randint(2**62, (), generator=generator))
        seq = list(prompt)
        held = 0  # tokens of seq the verifier caches
        cache = self.draft.new_cache()  # covers seq[:cache.length], always < len(seq)
        stats = SpecStats()
        t_start = time.perf_counter()
        try:
            while len(seq) - len(prompt) < max_new_tokens:
                remaining = max_new_tokens - (len(seq) - len(prompt))
                k = min(self.policy.choose(), remaining - 1)
                t0 = time.perf_counter()
                draft, q = self._propose(seq, cache, k, generator)
                t1 = time.perf_counter()
                request = VerifyRequest(
                    session,
                    held,
                    torch.tensor(seq[held:]),
                    torch.tensor(draft, dtype=torch.int64),
                    q,
                    self.temperature,
                    verifier_seed,
                )
                try:
                    verdict = self.verifier.verify(request)
                except TransportError as exc:
                    if not self.fallback:
                        raise
                    # the cloud is lost: the draft finishes alone (its own distribution)
                    stats.fallback = str(exc)
                    rest, _ = self._propose(seq + draft, cache, remaining - k, generator)
                    stats.local_tokens = remaining
                    seq += draft + rest
                    break
                t2 = time.perf_counter()
                n = verdict.accepted
                held = len(seq) + n
                cache.truncate(min(cache.length, held))  # drafts past the first rejection go
                seq += [*draft[:n], verdict.token]
                if not stats.rounds:
                    stats.ttft_s = t2 - t_start
                round_ = Round(
                    k,
                    n,
                    t1 - t0,
                    t2 - t1,
                    verdict.compute_s,
                    verdict.bytes_up,
                    verdict.bytes_down,
                )
                stats.rounds.append(round_)
                self.policy.observe(round_)
        finally:
            if stats.fallback is None:  # a lost verifier holds no session worth freeing
                self.verifier.end_session(session)
        stats.total_s = time.perf_counter() - t_start
        return Generation(seq[len(prompt) :], stats)

    def _propose(
        self, seq: list[int], cache: KVCache, k: int, generator: torch.Generator
    ) -> tuple[list[int], torch.Tensor | None]:
        """k draft tokens continuing `seq`, and their distributions [k, V] when sampling. The
        cache catches up on the committed tokens it lacks, then takes k - 1 draft tokens."""
        sampling = self.temperature > 0
        tokens: list[int] = []
        rows: list[torch.Tensor] = []
        if k:
            logits, _ = self.draft(torch.tensor([seq[cache.length :]]), cache)
            while True:
                if sampling:
                    rows.append(probabilities(logits[0, -1], self.temperature))
                    tokens.append(sample(rows[-1], generator))
                else:
                    tokens.append(int(logits[0, -1].argmax()))
                if len(tokens) == k:
                    break
                logits, _ = self.draft(torch.tensor([[tokens[-1]]]), cache)
        if not sampling:
            return tokens, None
        vocab = self.draft.config.vocab_size
        return tokens, torch.stack(rows) if rows else torch.zeros(0, vocab)
