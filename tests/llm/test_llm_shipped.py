"""The trained pair shipped in the package (skipped until benchmarks/llm_train.py has made it):
small enough to commit, the promised sizes, and speculative greedy output equal to the trained
target's own greedy output on held-out text of both domains."""

import pytest
import torch

from skyline.llm import SpeculativeDecoder, TargetVerifier, corpus, generate, load_pair
from skyline.llm.checkpoint import checkpoint_dir, load_checkpoint

torch.set_num_threads(1)
FILES = [checkpoint_dir() / "draft.pt", checkpoint_dir() / "target.pt"]
pytestmark = pytest.mark.skipif(
    not all(f.is_file() for f in FILES),
    reason="no trained pair shipped yet: run `python benchmarks/llm_train.py`",
)


def test_the_pair_is_small_and_sized_as_promised():
    assert sum(f.stat().st_size for f in FILES) <= 10 * 2**20
    draft, target = load_pair()
    assert 200_000 <= draft.num_parameters() <= 500_000
    assert 2_000_000 <= target.num_parameters() <= 5_000_000
    _, meta = load_checkpoint(FILES[1])
    for domain, nats in meta["held_out_nats_per_byte"].items():
        assert nats < 2.5, domain  # far below ln(256) = 5.5: the target learned the text


def test_trained_pair_greedy_speculation_equals_the_target():
    draft, target = load_pair()
    verifier = TargetVerifier(target)
    tokens = corpus.as_bytes(corpus.load("pydoc"))
    _, held = corpus.split(tokens)
    prompts = [held[s : s + 48].tolist() for s in range(0, 4000, 1000)]
    for prompt in prompts:
        out = SpeculativeDecoder(draft, verifier, k=4).generate(prompt, 32)
        assert out.tokens == generate(target, prompt, 32)
        assert out.stats.alpha > 0.3  # a trained draft agrees with its target often
