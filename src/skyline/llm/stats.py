"""What speculative decoding measured: per-round records and the figures derived from them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def expected_tokens_per_pass(alpha: float, k: int) -> float:
    """E[tokens per target pass] = (1 - alpha^(k+1)) / (1 - alpha) when each of k draft tokens
    is accepted independently with probability alpha (Leviathan et al. 2023, eq. 1)."""
    if not 0 <= alpha <= 1 or k < 0:
        raise ValueError(f"need 0 <= alpha <= 1 and k >= 0, got alpha={alpha}, k={k}")
    return k + 1.0 if alpha == 1 else (1 - alpha ** (k + 1)) / (1 - alpha)


@dataclass(frozen=True)
class Round:
    """One draft-verify round: k drafted, `accepted` kept (then one target token). `verify_s`
    is the wall time of the verify call (link + target), `target_s` the target's own compute,
    bytes those of the request and reply on the wire (0 in process)."""

    k: int
    accepted: int
    draft_s: float
    verify_s: float
    target_s: float
    bytes_up: int = 0
    bytes_down: int = 0

    @property
    def examined(self) -> int:
        """Draft tokens the target actually judged: all accepted ones plus the first rejected."""
        return self.accepted + (self.accepted < self.k)


@dataclass
class SpecStats:
    rounds: list[Round] = field(default_factory=list)
    ttft_s: float = math.nan  # start -> first verified token known at the edge
    total_s: float = 0.0
    fallback: str | None = None  # why the draft finished alone, if it did
    local_tokens: int = 0  # tokens the draft generated alone after losing the verifier

    @property
    def passes(self) -> int:
        return len(self.rounds)

    @property
    def drafted(self) -> int:
        return sum(r.k for r in self.rounds)

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.rounds)

    @property
    def verified_tokens(self) -> int:
        return sum(r.accepted + 1 for r in self.rounds)

    @property
    def tokens(self) -> int:
        return self.verified_tokens + self.local_tokens

    @property
    def bytes_up(self) -> int:
        return sum(r.bytes_up for r in self.rounds)

    @property
    def bytes_down(self) -> int:
        return sum(r.bytes_down for r in self.rounds)

    @property
    def alpha(self) -> float:
        """Per-token acceptance rate: accepted / judged. Tokens after a rejection are never
        judged, so accepted / drafted would be biased low."""
        examined = sum(r.examined for r in self.rounds)
        return self.accepted / examined if examined else math.nan

    @property
    def tokens_per_pass(self) -> float:
        return self.verified_tokens / self.passes if self.passes else math.nan

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.total_s if self.total_s > 0 else math.nan

    @property
    def target_s_per_token(self) -> float:
        """Cloud compute per verified token."""
        verified = self.verified_tokens
        return sum(r.target_s for r in self.rounds) / verified if verified else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "passes": self.passes,  # = round trips to the verifier
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "drafted": self.drafted,
            "accepted": self.accepted,
            "tokens": self.tokens,
            "verified_tokens": self.verified_tokens,
            "local_tokens": self.local_tokens,
            "fallback": self.fallback,
            "alpha": self.alpha,
            "tokens_per_pass": self.tokens_per_pass,
            "tokens_per_s": self.tokens_per_s,
            "ttft_ms": self.ttft_s * 1e3,
            "total_ms": self.total_s * 1e3,
            "target_ms_per_token": self.target_s_per_token * 1e3,
            "rounds": [asdict(r) for r in self.rounds],
        }
