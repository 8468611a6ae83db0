"""Layer split: the raw split is the unsplit model exactly (every split point, both position
kinds, prefill and cached steps, in process and across the wire); lossy codecs are measured by
top-1 agreement and bytes, and the cheapest codec above a floor is chosen; the bf16 codec."""

import math
import uuid

import pytest
import torch

from skyline.errors import ConfigError, RemoteError
from skyline.llm import LMConfig
from skyline.llm.layer_split import (
    CloudLayers,
    CodecAgreement,
    LocalTail,
    RemoteTail,
    SplitLM,
    SplitServer,
    choose_codec,
    codec_agreement,
    teacher_forced_logits,
)
from skyline.llm.speculative import generate
from skyline.runtime import codecs
from skyline.runtime.wire import Frame, FrameKind, decode_frame, encode_frame

torch.set_num_threads(1)
D = 32


def config(positions="rotary", n_layers=3):
    return LMConfig(d_model=D, n_layers=n_layers, n_heads=2, max_len=64, positions=positions)


@pytest.fixture(scope="module")
def model(make_scrambled):
    return make_scrambled(config(), seed=7)


def prompts(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (2 + i % 7,), generator=g).tolist() for i in range(n)]


@pytest.mark.parametrize("positions", ["rotary", "learned"])
def test_raw_split_gives_the_unsplit_logits_exactly_at_every_split(make_scrambled, positions):
    model = make_scrambled(config(positions), seed=3)
    prompt, tokens = [5, 200, 17, 99], [1, 2, 3, 250, 7]
    want = teacher_forced_logits(model, prompt, tokens)
    for layers in range(model.config.n_layers + 1):
        got = teacher_forced_logits(SplitLM(model, layers), prompt, tokens)
        assert torch.equal(got, want), layers


def test_raw_split_decodes_the_unsplit_greedy_output(model):
    split = SplitLM(model, 1)
    for prompt in prompts(4):
        assert generate(split, prompt, 12) == generate(model, prompt, 12)


def test_both_sides_keep_caches_for_their_own_blocks(model):
    cloud = CloudLayers(model, 2)
    split = SplitLM(model, 2, tail=LocalTail(cloud))
    cache = split.new_cache()
    assert cache.keys.shape[0] == 2  # edge: blocks 0, 1
    split(torch.tensor([[1, 2, 3]]), cache)
    split(torch.tensor([[4]]), cache)
    assert cache.length == 4 and split.rows_up == 4
    assert cloud.sessions == [cache.session]
    cloud_cache = cloud._caches.at(cache.session, 4)
    assert cloud_cache.keys.shape[0] == 1 and cloud_cache.length == 4  # cloud: block 2
    assert split.bytes_up == 4 * D * 4 + 2 * 2  # four float32 rows, "{}" params per message
    assert split.bytes_down == 4 * 256 * 4
    split.end(cache)
    assert cloud.sessions == []


def test_a_retried_cloud_request_gives_the_same_logits(model):
    cloud = CloudLayers(model, 1)
    hidden = torch.randn(3, D, generator=torch.Generator().manual_seed(0))
    first = cloud.run("s", 0, hidden)
    cloud.run("s", 3, hidden[:1])
    assert torch.equal(cloud.run("s", 0, hidden), first)  # truncated back to 0 first
    with pytest.raises(ConfigError, match="unknown here"):
        cloud.run("t", 2, hidden)
    with pytest.raises(ConfigError, match="exceed max_len"):
        cloud.run("s", 63, hidden)
    with pytest.raises(ConfigError, match="expected"):
        cloud.run("s", 0, torch.zeros(2, D + 1))


def test_bad_splits_and_caches_are_refused(model):
    with pytest.raises(ConfigError, match=r"0\.\.3"):
        SplitLM(model, 4)
    with pytest.raises(ConfigError, match="same layer"):
        SplitLM(model, 1, tail=LocalTail(CloudLayers(model, 2)))
    split = SplitLM(model, 1)
    with pytest.raises(ConfigError, match="one sequence per cache"):
        split.new_cache(batch=2)
    with pytest.raises(ConfigError, match="own cache"):
        split(torch.tensor([[1]]), model.new_cache())


def test_codec_agreement_raw_is_exact_and_lossy_codecs_are_measured(model):
    ps = prompts(3, seed=1)
    measured = codec_agreement(model, 1, ["raw", "bf16", "fp16", "int8"], ps, 6)
    results = {r.codec: r for r in measured}
    raw = results["raw"]
    assert raw.top1_agreement == 1.0 and raw.max_logit_error == 0.0 and raw.steps == 18
    assert raw.bytes_per_row > 4 * D  # the params "{}" of each message on top
    for name in ["bf16", "fp16"]:
        assert results[name].max_logit_error > 0
        assert results[name].top1_agreement >= 0.9
        assert 2 * D < results[name].bytes_per_row < raw.bytes_per_row / 1.9
    # one byte a feature plus scale and zero point as JSON: at d_model 32 more than fp16 sends
    assert D + 20 < results["int8"].bytes_per_row < D + 50
    assert results["fp16"].max_logit_error < results["bf16"].max_logit_error  # 3 more bits
    cheapest = min(r.bytes_per_row for r in results.values())
    assert choose_codec(list(results.values()), floor=0.0).bytes_per_row == cheapest
    assert choose_codec(list(results.values()), floor=1.0).bytes_per_row <= raw.bytes_per_row


def test_choose_codec_takes_the_fewest_bytes_above_the_floor():
    def r(codec, agreement, nbytes):
        return CodecAgreement(codec, 1, 100, agreement, nbytes, 0.0)

    results = [r("raw", 1.0, 514), r("bf16", 0.99, 258), r("fp16", 0.995, 258), r("int8", 0.9, 180)]
    assert choose_codec(results, floor=0.99).codec == "fp16"  # bf16's bytes, more agreement
    assert choose_codec(results, floor=0.999).codec == "raw"
    assert choose_codec(results, floor=0.5).codec == "int8"
    with pytest.raises(ConfigError, match=r"best 0\.9000"):
        choose_codec(results[3:], floor=0.95)


def test_split_across_the_wire_matches_in_process(model):
    address = f"inproc://split-{uuid.uuid4().hex}"
    with SplitServer(model, 2, bind_address=address) as server:
        for codec in ["raw", "bf16"]:
            tail = RemoteTail(server.address, 2)
            remote = SplitLM(model, 2, tail=tail, codec=codec)
            local = SplitLM(model, 2, codec=codec)
            prompt = [3, 1, 4, 1, 5]
            got = teacher_forced_logits(remote, prompt, [9, 2, 6])
            assert torch.equal(got, teacher_forced_logits(local, prompt, [9, 2, 6]))
            if codec == "raw":
                assert generate(remote, prompt, 10) == generate(model, prompt, 10)
            tail.close()
        with pytest.raises(ConfigError, match="same layer"):
            RemoteTail(server.address, 1)
        bad = Frame(FrameKind.REQUEST, 5, {}, {"op": "forward", "session": "s", "position": 0})
        reply = decode_frame(server.handle(encode_frame(bad)))
        assert reply.kind is FrameKind.ERROR and "hidden" in reply.meta["error"]
        tail = RemoteTail(server.address, 2)
        with pytest.raises(RemoteError, match="unknown here"):
            tail.forward("nope", 3, torch.zeros(1, D), codecs.create("raw"))
        tail.close()


def test_bf16_codec_keeps_float32_range_at_8_bits_of_precision():
    g = torch.Generator().manual_seed(1)
    x = 10 ** (torch.rand(10_000, generator=g, dtype=torch.float64) * 60 - 30)  # 1e-30..1e30
    x = x * torch.where(torch.rand(10_000, generator=g) < 0.5, -1.0, 1.0).double()
    bf16 = codecs.create("bf16")
    for dtype in (torch.float32, torch.float64):
        payload, params = bf16.encode(x.to(dtype))
        assert memoryview(payload).nbytes == 2 * x.numel() and params == {}
        out = bf16.decode(memoryview(payload), dtype, tuple(x.shape), params)
        assert out.dtype == dtype
        assert ((out.double() - x) / x).abs().max().item() <= 2**-8
    big = torch.tensor([1e5, -3e38, math.inf, math.nan])
    out = bf16.decode(memoryview(bf16.encode(big)[0]), torch.float32, (4,), {})
    assert out[0] == pytest.approx(1e5, rel=2**-8) and out[1] == pytest.approx(-3e38, rel=2**-8)
    assert out[2] == math.inf and out[3].isnan()  # where fp16 gives inf for 1e5
    half = torch.tensor([1.5, 2.5], dtype=torch.float16)
    payload, params = bf16.encode(half)
    assert params == {"passthrough": True}
