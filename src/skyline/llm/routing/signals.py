"""What routing sees and what it is judged by, measured per prompt.

Signals come from the draft model alone (what the edge knows): its loss and confidence on the
prompt, and its confidence on its own greedy answer. Labels need the target (offline):

**Quality of an answer** is the share of its tokens the target would itself have chosen at
that position: token i counts when the target's greedy choice after prompt + answer[:i] is
answer[i] (teacher-forced greedy agreement, one target pass). The target's own greedy answer
scores 1 by definition; the draft's answer scores its greedy acceptance rate, the figure
speculative decoding lives on. The quality gap of a prompt is cloud minus edge quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from skyline.errors import ConfigError
from skyline.llm.speculative import generate
from skyline.llm.verify import CausalLM


@dataclass(frozen=True)
class Signals:
    """Per-prompt draft-model measurements (arrays of N; nats for losses, [0, 1] for
    confidences = mean max-probability, nats for entropies)."""

    prompt_loss: np.ndarray  # mean next-token loss over the prompt: hard prompts score high
    prompt_confidence: np.ndarray
    prompt_entropy: np.ndarray
    answer_confidence: np.ndarray  # over the draft's own greedy answer
    answer_entropy: np.ndarray
    prompt_length: np.ndarray

    def __post_init__(self) -> None:
        sizes = {name: np.shape(getattr(self, name)) for name in self.names()}
        n = len(self.prompt_loss)
        if n == 0 or any(shape != (n,) for shape in sizes.values()):
            raise ConfigError(
                f"signals of shapes {sizes}", fix="pass one value per prompt (N >= 1) in each"
            )

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def __len__(self) -> int:
        return len(self.prompt_loss)

    def matrix(self) -> np.ndarray:
        """N x features, in `names()` order (prompt length as its log)."""
        columns = [np.asarray(getattr(self, name), dtype=np.float64) for name in self.names()]
        columns[-1] = np.log(columns[-1])
        return np.column_stack(columns)

    def take(self, index: np.ndarray) -> Signals:
        return Signals(*(np.asarray(getattr(self, name))[index] for name in self.names()))


@dataclass(frozen=True)
class Labels:
    """Answer quality per prompt (see the module doc) at the edge and in the cloud."""

    edge_quality: np.ndarray
    cloud_quality: np.ndarray

    def __post_init__(self) -> None:
        e, c = np.shape(self.edge_quality), np.shape(self.cloud_quality)
        if len(e) != 1 or e != c or not e[0]:
            raise ConfigError(
                f"edge quality of shape {e}, cloud quality of shape {c}",
                fix="pass one quality per prompt for both",
            )

    @property
    def gap(self) -> np.ndarray:
        """What sending each prompt to the cloud gains."""
        return np.asarray(self.cloud_quality, np.float64) - np.asarray(self.edge_quality)

    def __len__(self) -> int:
        return len(self.edge_quality)

    def take(self, index: np.ndarray) -> Labels:
        return Labels(np.asarray(self.edge_quality)[index], np.asarray(self.cloud_quality)[index])


@dataclass(frozen=True)
class Measured:
    """A prompt set measured for routing: the draft's answers, its signals, and (with a
    target) the labels."""

    answers: list[list[int]]
    signals: Signals
    labels: Labels | None

    def take(self, index: np.ndarray) -> Measured:
        labels = self.labels.take(index) if self.labels is not None else None
        return Measured([self.answers[i] for i in index], self.signals.take(index), labels)


@torch.inference_mode()
def draft_signals(
    draft: CausalLM, prompt: Sequence[int], new_tokens: int
) -> tuple[list[int], dict[str, float]]:
    """The draft's greedy answer and its `Signals` fields for one prompt (>= 2 tokens: the
    loss on the prompt needs a token to predict)."""
    if len(prompt) < 2:
        raise ConfigError(
            f"a prompt of {len(prompt)} token(s) has no loss to measure", fix="pass >= 2 tokens"
        )
    answer = generate(draft, prompt, new_tokens)
    logits, _ = draft(torch.tensor([[*prompt, *answer[:-1]]]), draft.new_cache())
    logp = F.log_softmax(logits[0].float(), dim=-1)
    entropy = -(logp.exp() * logp).sum(-1)
    top = logp.max(-1).values.exp()
    p = len(prompt)
    targets = torch.tensor(prompt[1:])
    return answer, {
        "prompt_loss": float(-logp[: p - 1].gather(1, targets[:, None]).mean()),
        "prompt_confidence": float(top[: p - 1].mean()),
        "prompt_entropy": float(entropy[: p - 1].mean()),
        "answer_confidence": float(top[p - 1 :].mean()),
        "answer_entropy": float(entropy[p - 1 :].mean()),
        "prompt_length": float(p),
    }


@torch.inference_mode()
def answer_quality(target: CausalLM, prompt: Sequence[int], answer: Sequence[int]) -> float:
    """Share of `answer`'s tokens that are the target's greedy choice after the same prefix."""
    logits, _ = target(torch.tensor([[*prompt, *answer[:-1]]]), target.new_cache())
    chosen = logits[0, len(prompt) - 1 :].argmax(-1)
    return float((chosen == torch.tensor(list(answer))).float().mean())


def measure(
    draft: CausalLM,
    prompts: Sequence[Sequence[int]],
    new_tokens: int,
    target: CausalLM | None = None,
) -> Measured:
    """Signals for every prompt and, given the target, labels: the draft's answer is scored
    by `answer_quality`, the target's own greedy answer scores 1."""
    if not prompts:
        raise ConfigError("no prompts to measure", fix="pass at least one prompt")
    answers, rows = zip(*(draft_signals(draft, p, new_tokens) for p in prompts), strict=True)
    signals = Signals(*(np.array([row[name] for row in rows]) for name in Signals.names()))
    labels = None
    if target is not None:
        pairs = zip(prompts, answers, strict=True)
        edge = np.array([answer_quality(target, p, a) for p, a in pairs])
        labels = Labels(edge, np.ones_like(edge))
    return Measured(list(answers), signals, labels)
