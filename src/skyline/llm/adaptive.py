"""How many tokens to draft per round: fixed, or chosen from the observed acceptance rate and
the measured cost of a round trip against the cost of drafting one token."""

from __future__ import annotations

from abc import ABC, abstractmethod

from skyline.errors import ConfigError
from skyline.llm.stats import Round, expected_tokens_per_pass


def best_k(alpha: float, round_s: float, draft_token_s: float, k_max: int, k_min: int = 1) -> int:
    """The k in k_min..k_max that maximizes expected tokens per second,
    E[tokens/pass](alpha, k) / (round_s + k * draft_token_s): a long round trip pays for
    drafting more, a low alpha does not."""
    return max(
        range(k_min, k_max + 1),
        key=lambda k: expected_tokens_per_pass(alpha, k) / (round_s + k * draft_token_s),
    )


class KPolicy(ABC):
    """Chooses the draft length before each round and learns from its outcome."""

    @abstractmethod
    def choose(self) -> int: ...

    def observe(self, round_: Round) -> None:  # noqa: B027 - a fixed policy learns nothing
        """Called after every round."""


class FixedK(KPolicy):
    """Always k (k = 0: no draft, one target token per round trip, the streaming baseline)."""

    def __init__(self, k: int) -> None:
        if k < 0:
            raise ConfigError(f"k = {k} is negative", fix="draft k >= 0 tokens per round")
        self.k = k

    def choose(self) -> int:
        return self.k


class AdaptiveK(KPolicy):
    """`best_k` on running estimates: alpha from exponentially decayed counts of accepted and
    judged draft tokens (a Beta(1, 1) prior keeps it off 0 and 1), round trip and per-token
    draft time as exponential moving averages. k stays >= k_min so alpha keeps being
    observed."""

    def __init__(
        self, k_max: int = 16, *, k_init: int = 4, k_min: int = 1, decay: float = 0.9
    ) -> None:
        if not 1 <= k_min <= k_init <= k_max:
            raise ConfigError(
                f"need 1 <= k_min <= k_init <= k_max, got {k_min}, {k_init}, {k_max}",
                fix="pick bounds in that order",
            )
        if not 0 < decay < 1:
            raise ConfigError(f"decay {decay} is not in (0, 1)", fix="e.g. decay=0.9")
        self.k_min, self.k_init, self.k_max, self.decay = k_min, k_init, k_max, decay
        self._accepted = 0.0
        self._examined = 0.0
        self._round_s: float | None = None
        self._draft_token_s: float | None = None

    @property
    def alpha(self) -> float:
        return (self._accepted + 1) / (self._examined + 2)

    def choose(self) -> int:
        if self._round_s is None or self._draft_token_s is None:
            return self.k_init
        return best_k(self.alpha, self._round_s, self._draft_token_s, self.k_max, self.k_min)

    def observe(self, round_: Round) -> None:
        d = self.decay
        self._accepted = d * self._accepted + round_.accepted
        self._examined = d * self._examined + round_.examined
        self._round_s = self._ema(self._round_s, round_.verify_s)
        if round_.k:
            self._draft_token_s = self._ema(self._draft_token_s, round_.draft_s / round_.k)

    def _ema(self, old: float | None, new: float) -> float:
        return new if old is None else self.decay * old + (1 - self.decay) * new
