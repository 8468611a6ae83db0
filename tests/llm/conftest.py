"""Model factories for decoding tests: untrained models whose outputs really vary, and a
context-free model whose acceptance is i.i.d."""

import pytest
import torch

from skyline.llm import DecoderLM, KVCache, LMConfig

torch.set_num_threads(1)


def scrambled(config: LMConfig, seed: int, gain: float = 2.0) -> DecoderLM:
    """Random weights of unit-ish fan-in gain: at the default 0.02 init every untrained model
    just repeats its input, so a draft would agree with any target trivially."""
    model = DecoderLM(config, seed=seed).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * gain / p.shape[1] ** 0.5)
    return model


def noisy_copy(model: DecoderLM, seed: int, scale: float) -> DecoderLM:
    """The same architecture and weights plus noise: a draft that mostly agrees."""
    copy = DecoderLM(model.config).eval()
    copy.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in copy.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale * p.std())
    return copy


class Unigram:
    """Ignores the context: the same next-token logits everywhere. Speculative acceptance is
    then i.i.d. with alpha = sum(min(p, q)), the case the tokens-per-pass formula describes."""

    def __init__(self, logits: torch.Tensor, max_len: int = 50_000) -> None:
        self.logits = logits
        self.config = LMConfig(
            vocab_size=logits.numel(), d_model=2, n_layers=1, n_heads=1, max_len=max_len
        )

    def new_cache(self, batch: int = 1) -> KVCache:
        return KVCache(self.config, batch)

    def __call__(self, tokens: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        cache.advance(tokens.shape[1])
        return self.logits.expand(*tokens.shape, -1), cache


@pytest.fixture(scope="session")
def make_scrambled():
    return scrambled


@pytest.fixture(scope="session")
def make_noisy_copy():
    return noisy_copy


@pytest.fixture(scope="session")
def unigram():
    return Unigram
