"""The decoder and its KV cache: cached decoding equals the full pass, chunks equal steps,
truncation forgets exactly the dropped positions; seeded, causal, validated."""

import pytest
import torch

from skyline.errors import ConfigError
from skyline.llm import ByteTokenizer, DecoderLM, LMConfig

torch.set_num_threads(1)

VARIANTS = [
    LMConfig(d_model=32, n_layers=2, n_heads=4, max_len=64),
    LMConfig(d_model=32, n_layers=3, n_heads=2, max_len=64, positions="learned"),
    LMConfig(vocab_size=11, d_model=24, n_layers=2, n_heads=3, max_len=64, tie_embeddings=False),
]
TOL = {"atol": 1e-5, "rtol": 1e-5}


@pytest.fixture(params=VARIANTS, ids=["rotary", "learned", "untied-small-vocab"])
def model(request):
    return DecoderLM(request.param, seed=3).eval()


def tokens(model, length, batch=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.config.vocab_size, (batch, length), generator=g)


@torch.inference_mode()
def test_incremental_decoding_equals_full_pass(model):
    x = tokens(model, 40, batch=2)
    full, none = model(x)
    assert none is None and full.shape == (2, 40, model.config.vocab_size)
    cache = model.new_cache(batch=2)
    steps = []
    for i in range(x.shape[1]):
        logits, cache = model(x[:, i : i + 1], cache)
        steps.append(logits)
    assert cache.length == 40
    torch.testing.assert_close(torch.cat(steps, 1), full, **TOL)


@torch.inference_mode()
def test_k_tokens_at_once_equal_k_single_steps(model):
    x = tokens(model, 50, seed=1)
    prefix = 13
    for k in (1, 2, 5, 9):
        chunk_cache = model.new_cache()
        model(x[:, :prefix], chunk_cache)
        chunked, _ = model(x[:, prefix : prefix + k], chunk_cache)
        step_cache = model.new_cache()
        model(x[:, :prefix], step_cache)
        steps = [model(x[:, i : i + 1], step_cache)[0] for i in range(prefix, prefix + k)]
        torch.testing.assert_close(chunked, torch.cat(steps, 1), **TOL)
        assert chunk_cache.length == step_cache.length == prefix + k


@torch.inference_mode()
def test_truncation_forgets_rejected_tokens(model):
    x = tokens(model, 30, seed=2)
    rejected = tokens(model, 6, seed=9)
    cache = model.new_cache()
    model(x[:, :20], cache)
    model(rejected, cache)  # draft tokens the verifier turns down
    cache.truncate(20)
    assert cache.length == 20
    after, _ = model(x[:, 20:], cache)
    full, _ = model(x)
    torch.testing.assert_close(after, full[:, 20:], **TOL)
    cache.truncate(0)
    again, _ = model(x[:, :5], cache)
    torch.testing.assert_close(again, full[:, :5], **TOL)


@torch.inference_mode()
def test_causal_future_tokens_do_not_change_the_past(model):
    x = tokens(model, 20, seed=4)
    y = x.clone()
    y[0, 12:] = (y[0, 12:] + 1) % model.config.vocab_size
    a, _ = model(x)
    b, _ = model(y)
    torch.testing.assert_close(a[:, :12], b[:, :12], **TOL)
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_float64_model_and_cache():
    model = DecoderLM(VARIANTS[0], seed=0).double().eval()
    cache = model.new_cache()
    assert cache.keys.dtype == torch.float64
    with torch.inference_mode():
        logits, _ = model(torch.tensor([[1, 2, 3]]), cache)
    assert logits.dtype == torch.float64


def test_seeded_construction_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = DecoderLM(VARIANTS[0], seed=7)
    after = torch.rand(3)
    torch.testing.assert_close(after, expected, rtol=0, atol=0)
    b = DecoderLM(VARIANTS[0], seed=7)
    c = DecoderLM(VARIANTS[0], seed=8)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.embed.weight, c.embed.weight)


def test_tied_embeddings_share_one_tensor():
    untied_config = VARIANTS[2]
    tied_config = LMConfig(**{**untied_config.to_dict(), "tie_embeddings": True})
    tied, untied = DecoderLM(tied_config), DecoderLM(untied_config)
    assert tied.head.weight is tied.embed.weight
    assert untied.head.weight is not untied.embed.weight
    assert untied.num_parameters() - tied.num_parameters() == 11 * 24  # one vocab x d matrix


def test_too_long_and_bad_truncation_are_config_errors():
    model = DecoderLM(LMConfig(d_model=16, n_layers=1, n_heads=2, max_len=8))
    cache = model.new_cache()
    with torch.inference_mode():
        model(torch.zeros(1, 6, dtype=torch.long), cache)
        with pytest.raises(ConfigError, match="exceeds max_len 8"):
            model(torch.zeros(1, 3, dtype=torch.long), cache)
    assert cache.length == 6  # the refused call left the cache alone
    with pytest.raises(ConfigError, match="cannot truncate a cache of 6 positions to 7"):
        cache.truncate(7)
    with pytest.raises(ConfigError):
        cache.truncate(-1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"d_model": 30, "n_heads": 4}, "not divisible"),
        ({"d_model": 12, "n_heads": 4}, "even head size"),
        ({"positions": "alibi"}, "positions"),
        ({"n_layers": 0}, "n_layers"),
        ({"d_ff": -1}, "d_ff"),
    ],
)
def test_bad_configs_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LMConfig(**kwargs)


def test_config_round_trips_through_a_dict():
    config = VARIANTS[1]
    assert LMConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown LMConfig fields"):
        LMConfig.from_dict({**config.to_dict(), "dropout": 0.1})


def test_byte_tokenizer_round_trips_any_text():
    tok = ByteTokenizer()
    text = "To be, or not to be — ça va? 🙂"
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert len(ids) == len(text.encode("utf-8"))
    assert tok.decode(ids) == text
    assert tok.decode(ids[:-1]).endswith("\ufffd")  # a cut multi-byte character
    with pytest.raises(ConfigError, match="not bytes"):
        tok.decode([65, 300])
