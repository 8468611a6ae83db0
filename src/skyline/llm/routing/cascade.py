"""Routing one prompt live: the draft answers at the edge, a router scores the prompt on the
draft's own signals, and a score at or above the threshold escalates it to the cloud."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skyline.errors import ConfigError
from skyline.llm.routing.base import Router
from skyline.llm.routing.signals import Signals, draft_signals
from skyline.llm.speculative import generate
from skyline.llm.verify import CausalLM


@dataclass(frozen=True)
class RoutedAnswer:
    tokens: list[int]
    escalated: bool
    score: float


class Cascade:
    """Edge draft + cloud model (the target, or a `SplitLM` of it) behind a router and a
    threshold (e.g. `threshold_for_share` on held-out prompts). The draft always answers
    first: its answer is the fallback and carries the signals the router reads."""

    def __init__(self, draft: CausalLM, cloud: CausalLM, router: Router, threshold: float) -> None:
        if router.needs_labels:
            raise ConfigError(
                f"router {router.name!r} needs labels, which a live prompt does not have",
                fix="route with a deployable router (edge-confidence, draft-loss, learned)",
            )
        self.draft, self.cloud, self.router, self.threshold = draft, cloud, router, threshold

    def answer(self, prompt: Sequence[int], new_tokens: int) -> RoutedAnswer:
        tokens, row = draft_signals(self.draft, prompt, new_tokens)
        signals = Signals(**{name: np.array([value]) for name, value in row.items()})
        score = float(self.router.score(signals)[0])
        if score < self.threshold:
            return RoutedAnswer(tokens, False, score)
        return RoutedAnswer(generate(self.cloud, prompt, new_tokens), True, score)
