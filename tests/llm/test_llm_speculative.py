"""Speculative decoding: greedy output is the target's greedy output token for token; sampled
output is distributed as the target's samples (chi-square); tokens per pass follow the formula
when acceptance is i.i.d.; adaptive k reacts to acceptance and round-trip cost."""

import math

import pytest
import torch
from scipy.stats import chisquare

from skyline.errors import ConfigError, TransportError
from skyline.llm import LMConfig
from skyline.llm.adaptive import AdaptiveK, FixedK, best_k
from skyline.llm.speculative import SpeculativeDecoder, generate
from skyline.llm.stats import Round, SpecStats, expected_tokens_per_pass
from skyline.llm.verify import TargetVerifier, accept_greedy, accept_sampled

torch.set_num_threads(1)


def small(vocab, d_model, n_layers, **kw):
    heads = 2 if d_model < 48 else 4
    return LMConfig(
        vocab_size=vocab, d_model=d_model, n_layers=n_layers, n_heads=heads, max_len=96, **kw
    )


def random_prompts(vocab, n, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 24, (n,), generator=g).tolist()
    return [torch.randint(0, vocab, (m,), generator=g).tolist() for m in lengths]


@pytest.fixture(scope="module")
def pairs(make_scrambled, make_noisy_copy):
    """(draft, target, alpha range) of two sizes: independent small-vocab models (some
    agreement), independent byte models (almost none) and a noisy copy (mostly agrees)."""
    scrambled, noisy_copy = make_scrambled, make_noisy_copy
    target8 = scrambled(small(8, 64, 3, tie_embeddings=False), seed=2)
    target256 = scrambled(small(256, 64, 3, positions="learned"), seed=4)
    return {
        "vocab8": (scrambled(small(8, 32, 1, tie_embeddings=False), seed=1), target8, (0.1, 0.6)),
        "bytes": (scrambled(small(256, 32, 1), seed=3), target256, (0.0, 0.2)),
        "noisy-copy": (noisy_copy(target8, seed=5, scale=0.1), target8, (0.6, 0.999)),
    }


@pytest.mark.parametrize("pair", ["vocab8", "bytes", "noisy-copy"])
def test_greedy_speculative_output_is_the_targets_greedy_output(pairs, pair):
    draft, target, (lo, hi) = pairs[pair]
    verifier = TargetVerifier(target)
    alphas = []
    for i, prompt in enumerate(random_prompts(target.config.vocab_size, 16, seed=len(pair))):
        n = 1 + (7 * i) % 48
        reference = generate(target, prompt, n)
        k = AdaptiveK(k_max=8) if i % 4 == 0 else 1 + i % 6
        out = SpeculativeDecoder(draft, verifier, k=k).generate(prompt, n)
        assert out.tokens == reference, f"prompt {i}"
        assert out.stats.tokens == n
        alphas.append(out.stats.alpha)
    mean_alpha = sum(a for a in alphas if not math.isnan(a)) / len(alphas)
    assert lo <= mean_alpha <= hi  # the pair really exercises accepts and rejections
    assert verifier.sessions == []  # every session was ended


def test_draft_equal_to_target_accepts_everything(pairs):
    _, target, _ = pairs["vocab8"]
    for prompt in random_prompts(8, 5, seed=11):
        out = SpeculativeDecoder(target, TargetVerifier(target), k=5).generate(prompt, 30)
        assert out.tokens == generate(target, prompt, 30)
        assert out.stats.alpha == 1.0
        assert [r.accepted for r in out.stats.rounds] == [r.k for r in out.stats.rounds]
        assert out.stats.passes == 5  # 5 rounds of 5 + 1 tokens
        assert out.stats.tokens_per_pass == 6.0


def test_k_zero_is_one_target_token_per_round(pairs):
    draft, target, _ = pairs["vocab8"]
    out = SpeculativeDecoder(draft, TargetVerifier(target), k=0).generate([1, 2, 3], 12)
    assert out.tokens == generate(target, [1, 2, 3], 12)
    assert out.stats.passes == 12 and out.stats.drafted == 0 and math.isnan(out.stats.alpha)


def test_accept_greedy_hand_cases():
    logits = torch.eye(5)[[2, 4, 1, 3]]  # target argmax per row: 2, 4, 1, 3
    assert accept_greedy(logits, torch.tensor([2, 4, 1])) == (3, 3)  # all kept + bonus
    assert accept_greedy(logits, torch.tensor([2, 0, 1])) == (1, 4)  # correction at 1
    assert accept_greedy(logits, torch.tensor([0, 4, 1])) == (0, 2)
    assert accept_greedy(logits[:1], torch.tensor([], dtype=torch.long)) == (0, 2)


def _chi_square_p(samples, probs):
    observed = torch.bincount(torch.tensor(samples), minlength=probs.numel()).double()
    expected = probs.double() / probs.double().sum() * len(samples)
    keep = expected > 0
    assert observed[~keep].sum() == 0  # never a token of probability zero
    return chisquare(observed[keep].numpy(), expected[keep].numpy()).pvalue


def test_rejection_sampling_first_token_has_the_targets_distribution():
    g = torch.Generator().manual_seed(0)
    k, vocab = 3, 5
    p = torch.softmax(torch.randn(k + 1, vocab, generator=g) * 1.5, -1)
    q = torch.softmax(torch.randn(k, vocab, generator=g) * 1.5, -1)
    q[:, 0] = 0  # the draft never proposes token 0: only the residual can produce it
    q = q / q.sum(-1, keepdim=True)
    firsts, accepted_counts = [], []
    for _ in range(6000):
        draft = torch.stack([torch.multinomial(q[i], 1, generator=g)[0] for i in range(k)])
        n, token = accept_sampled(p, q, draft, g)
        firsts.append(int(draft[0]) if n > 0 else token)
        accepted_counts.append(n)
    assert _chi_square_p(firsts, p[0]) > 1e-3
    assert _chi_square_p(firsts, q[0] + 1e-9) < 1e-6  # the test can tell q from p
    assert set(accepted_counts) == set(range(k + 1))  # every branch was taken


def _target_joint(target, prompt, temperature):
    """Exact probability of every pair of first two tokens under the target's sampling."""
    vocab = target.config.vocab_size
    with torch.inference_mode():
        seqs = torch.tensor([[*prompt, a, b] for a in range(vocab) for b in range(vocab)])
        logits, _ = target(seqs)
    p = torch.softmax(logits.double() / temperature, -1)
    n = len(prompt)
    first = p[:, n - 1, :].gather(1, seqs[:, n : n + 1])[:, 0]
    second = p[:, n, :].gather(1, seqs[:, n + 1 : n + 2])[:, 0]
    return first * second


def test_sampled_speculative_output_matches_the_targets_distribution(
    make_scrambled, make_noisy_copy
):
    vocab, temperature = 4, 0.9
    target = make_scrambled(small(vocab, 16, 1, tie_embeddings=False), seed=22, gain=1.0)
    draft = make_noisy_copy(target, seed=7, scale=0.8)
    prompt = [1, 3, 0, 2]
    verifier = TargetVerifier(target)
    pairs, alphas = [], []
    for seed in range(1000):
        decoder = SpeculativeDecoder(draft, verifier, k=3, temperature=temperature, seed=seed)
        out = decoder.generate(prompt, 4)  # the first round drafts 3 tokens
        pairs.append(out.tokens[0] * vocab + out.tokens[1])
        alphas.append(out.stats.alpha)
    assert _chi_square_p(pairs, _target_joint(target, prompt, temperature)) > 1e-3
    assert 0.3 < sum(alphas) / len(alphas) < 0.95  # rejections happen
    # the same test refuses the draft's own distribution: it can fail
    assert _chi_square_p(pairs, _target_joint(draft, prompt, temperature)) < 1e-6


def test_tokens_per_pass_follow_the_formula_when_acceptance_is_iid(unigram):
    g = torch.Generator().manual_seed(3)
    target = unigram(torch.randn(6, generator=g))
    draft = unigram(torch.randn(6, generator=g))
    alpha = float(
        torch.minimum(torch.softmax(target.logits, 0), torch.softmax(draft.logits, 0)).sum()
    )
    assert 0.3 < alpha < 0.9
    k = 4
    decoder = SpeculativeDecoder(draft, TargetVerifier(target), k=k, temperature=1.0, seed=1)
    stats = decoder.generate([0], 6000).stats
    assert stats.alpha == pytest.approx(alpha, abs=0.03)
    rounds = [r for r in stats.rounds if r.k == k]  # the last round may be capped
    measured = sum(r.accepted + 1 for r in rounds) / len(rounds)
    assert measured == pytest.approx(expected_tokens_per_pass(alpha, k), rel=0.05)
    # the same holds with alpha estimated from the run itself
    assert measured == pytest.approx(expected_tokens_per_pass(stats.alpha, k), rel=0.05)


def test_expected_tokens_per_pass_hand_values():
    assert expected_tokens_per_pass(0.0, 5) == 1.0
    assert expected_tokens_per_pass(1.0, 5) == 6.0
    assert expected_tokens_per_pass(0.5, 2) == pytest.approx(1 + 0.5 + 0.25)
    with pytest.raises(ValueError):
        expected_tokens_per_pass(1.5, 2)


def test_stats_hand_computed():
    stats = SpecStats(
        [Round(4, 4, 0.01, 0.02, 0.005), Round(4, 1, 0.01, 0.02, 0.005), Round(2, 0, 0, 0.02, 0)],
        ttft_s=0.03,
        total_s=0.1,
    )
    assert stats.passes == 3 and stats.drafted == 10 and stats.accepted == 5
    assert stats.tokens == 8 and stats.tokens_per_pass == pytest.approx(8 / 3)
    assert stats.alpha == pytest.approx(5 / (4 + 2 + 1))  # rounds judged 4, 2 and 1 tokens
    assert stats.tokens_per_s == pytest.approx(80.0)
    assert stats.target_s_per_token == pytest.approx(0.01 / 8)
    d = stats.to_dict()
    assert d["ttft_ms"] == pytest.approx(30.0) and len(d["rounds"]) == 3


def test_best_k_hand_cases():
    # alpha = 0.5, round 1 s, drafting 0.1 s/token: k=1 -> 1.5/1.1 = 1.364,
    # k=2 -> 1.75/1.2 = 1.458 (best), k=3 -> 1.875/1.3 = 1.442
    assert best_k(0.5, 1.0, 0.1, k_max=8) == 2
    # drafting at 0.05 s/token: k=3 -> 1.875/1.15 = 1.630 beats k=2 (1.591) and k=4 (1.614)
    assert best_k(0.5, 1.0, 0.05, k_max=8) == 3
    assert best_k(0.99, 0.05, 0.001, k_max=8) == 8  # long round trip, draft agrees: draft a lot
    assert best_k(0.05, 0.01, 0.01, k_max=8) == 1  # draft rarely right: draft the minimum
    assert best_k(0.05, 0.01, 0.01, k_max=8, k_min=0) == 0


def test_adaptive_k_follows_acceptance():
    policy = AdaptiveK(k_max=10, k_init=4)
    assert policy.choose() == 4  # nothing observed yet
    for _ in range(30):
        policy.observe(Round(4, 4, draft_s=0.004, verify_s=0.02, target_s=0.01))
    assert policy.alpha > 0.9 and policy.choose() == 10
    for _ in range(30):
        policy.observe(Round(4, 0, draft_s=0.004, verify_s=0.02, target_s=0.01))
    assert policy.alpha < 0.25 and policy.choose() == 1  # the Beta(1, 1) prior keeps it > 0
    with pytest.raises(ConfigError):
        AdaptiveK(k_max=2, k_init=4)
    with pytest.raises(ConfigError):
        FixedK(-1)


def test_adaptive_k_drafts_more_over_a_slower_link(pairs):
    draft, target, _ = pairs["noisy-copy"]
    ks = {}
    for round_s in (0.001, 0.2):
        policy = AdaptiveK(k_max=12)
        for _ in range(10):
            policy.observe(Round(4, 3, draft_s=0.004, verify_s=round_s, target_s=0.0))
        ks[round_s] = policy.choose()
    assert ks[0.2] > ks[0.001]
    out = SpeculativeDecoder(draft, TargetVerifier(target), k=AdaptiveK()).generate([1, 2], 40)
    assert out.tokens == generate(target, [1, 2], 40)
    assert len({r.k for r in out.stats.rounds}) > 1  # k changed during the run


class _LostAfter(TargetVerifier):
    """A verifier whose link dies after `calls` rounds."""

    def __init__(self, model, calls):
        super().__init__(model)
        self.calls = calls

    def verify(self, request):
        if self.calls == 0:
            raise TransportError("cloud unreachable")
        self.calls -= 1
        return super().verify(request)


@pytest.mark.parametrize("calls", [0, 3])
def test_a_lost_verifier_leaves_the_draft_to_finish(pairs, calls):
    draft, target, _ = pairs["vocab8"]
    prompt = [1, 2, 3]
    out = SpeculativeDecoder(draft, _LostAfter(target, calls), k=3).generate(prompt, 20)
    stats = out.stats
    assert len(out.tokens) == 20 and stats.fallback == "cloud unreachable"
    assert stats.passes == calls and stats.tokens == 20
    assert stats.local_tokens == 20 - stats.verified_tokens
    verified = out.tokens[: stats.verified_tokens]
    assert verified == generate(target, prompt, 20)[: len(verified)]
    rest = generate(draft, prompt + verified, stats.local_tokens)
    assert out.tokens[len(verified) :] == rest
    with pytest.raises(TransportError):
        SpeculativeDecoder(draft, _LostAfter(target, 1), fallback=False).generate(prompt, 20)


def test_decoder_refuses_bad_setups(pairs, unigram):
    draft, target, _ = pairs["vocab8"]
    verifier = TargetVerifier(target)
    with pytest.raises(ConfigError, match="vocabulary"):
        SpeculativeDecoder(unigram(torch.zeros(5)), verifier)
    with pytest.raises(ConfigError, match="temperature"):
        SpeculativeDecoder(draft, verifier, temperature=-1)
    decoder = SpeculativeDecoder(draft, verifier)
    with pytest.raises(ConfigError, match="empty"):
        decoder.generate([], 3)
    with pytest.raises(ConfigError, match="exceed max_len 96"):
        decoder.generate([1] * 90, 7)


def test_verifier_refuses_bad_requests_and_keeps_sessions_consistent(pairs):
    from skyline.llm.verify import VerifyRequest

    _, target, _ = pairs["vocab8"]
    verifier = TargetVerifier(target, max_sessions=2)
    t = torch.tensor
    ok = verifier.verify(VerifyRequest("a", 0, t([1, 2, 3]), t([4, 5])))
    # a retried request (reply lost) gives the same verdict: the cache is truncated first
    again = verifier.verify(VerifyRequest("a", 0, t([1, 2, 3]), t([4, 5])))
    assert (ok.accepted, ok.token) == (again.accepted, again.token)
    q = torch.full((2, 8), 1 / 8)
    verdicts = set()
    for seed in range(20):  # and so does sampling: its draws come from (seed, position)
        request = VerifyRequest("s", 0, t([1, 2, 3]), t([4, 5]), q, 1.0, seed=seed)
        first, retry = verifier.verify(request), verifier.verify(request)
        assert (first.accepted, first.token) == (retry.accepted, retry.token)
        verdicts.add((first.accepted, first.token))
    assert len(verdicts) > 1  # while different seeds draw differently
    verifier.end_session("s")
    bad = {
        "at least one context token": VerifyRequest("a", 0, t([], dtype=torch.long), t([1])),
        "the verifier holds": VerifyRequest("a", 9, t([1]), t([1])),
        "unknown here": VerifyRequest("zzz", 4, t([1]), t([1])),
        "outside 0..7": VerifyRequest("a", 0, t([1, 8]), t([1])),
        "1-d int64": VerifyRequest("a", 0, t([1.0]), t([1])),
        "draft's distributions": VerifyRequest("a", 0, t([1]), t([1]), temperature=1.0),
        "positive at every drafted": VerifyRequest(
            "a", 0, t([1]), t([1]), torch.zeros(1, 8), temperature=1.0
        ),
    }
    for message, request in bad.items():
        with pytest.raises(ConfigError, match=message):
            verifier.verify(request)
    verifier.verify(VerifyRequest("b", 0, t([1]), t([2])))
    verifier.verify(VerifyRequest("c", 0, t([1]), t([2])))  # evicts "a", the least recent
    assert verifier.sessions == ["b", "c"]
    with pytest.raises(ConfigError, match="unknown here"):
        verifier.verify(VerifyRequest("a", 3, t([1]), t([1])))
    verifier.end_session("b")
    verifier.end_session("never")
    assert verifier.sessions == ["c"]
