"""Verification across a link: the remote output equals the target's own output (inproc and
tcp loopback), retries are idempotent, garbage gets an error frame and the server keeps
serving, and a lost server leaves the draft to finish."""

import itertools
import uuid

import pytest
import torch

from skyline.emulation import Shaper
from skyline.errors import ConfigError, RemoteError, TransportError
from skyline.llm import LMConfig
from skyline.llm.adaptive import AdaptiveK
from skyline.llm.remote import CloudVerifier, RemoteVerifier
from skyline.llm.speculative import SpeculativeDecoder, generate
from skyline.llm.verify import TargetVerifier, VerifyRequest
from skyline.runtime import ShapedTransport, weights_digest
from skyline.runtime.transports import Transport, connect
from skyline.runtime.wire import Frame, FrameKind, decode_frame, encode_frame

torch.set_num_threads(1)
VOCAB = 8


@pytest.fixture(scope="module")
def models(make_scrambled, make_noisy_copy):
    config = LMConfig(
        vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=2, max_len=96, tie_embeddings=False
    )
    target = make_scrambled(config, seed=31)
    return make_noisy_copy(target, seed=32, scale=0.5), target


@pytest.fixture
def server(models):
    with CloudVerifier(models[1], bind_address=f"inproc://llm-{uuid.uuid4().hex}") as cloud:
        yield cloud


def prompts(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, VOCAB, (1 + i % 9,), generator=g).tolist() for i in range(n)]


def test_remote_greedy_output_equals_the_targets_greedy_output(models, server):
    draft, target = models
    remote = RemoteVerifier(server.address, weights=weights_digest(target))
    for i, prompt in enumerate(prompts(8)):
        k = AdaptiveK(k_max=6) if i % 3 == 0 else i % 5  # k = 0 included: plain streaming
        out = SpeculativeDecoder(draft, remote, k=k).generate(prompt, 30)
        assert out.tokens == generate(target, prompt, 30), f"prompt {i}"
        stats = out.stats
        assert stats.fallback is None and stats.tokens == 30
        assert all(r.bytes_up > 0 and r.bytes_down > 0 for r in stats.rounds)
        assert stats.target_s_per_token > 0
    assert server.verifier.sessions == []  # every session was ended
    remote.close()


def test_remote_sampling_equals_in_process_sampling(models, server):
    """Same seeds, same tokens: the draft distributions cross the wire exactly."""
    draft, target = models
    remote = RemoteVerifier(server.address)
    local = TargetVerifier(target)
    for seed, prompt in enumerate(prompts(5, seed=1)):
        a = SpeculativeDecoder(draft, remote, k=3, temperature=0.8, seed=seed)
        b = SpeculativeDecoder(draft, local, k=3, temperature=0.8, seed=seed)
        assert a.generate(prompt, 25).tokens == b.generate(prompt, 25).tokens


def test_tcp_loopback_end_to_end(models):
    draft, target = models
    with CloudVerifier(target, bind_address="tcp://127.0.0.1:0") as cloud:
        assert cloud.address.startswith("tcp://127.0.0.1:")
        remote = RemoteVerifier(cloud.address, timeout_s=5)
        prompt = [3, 1, 4, 1, 5]
        out = SpeculativeDecoder(draft, remote, k=4).generate(prompt, 40)
        assert out.tokens == generate(target, prompt, 40)
        remote.close()


def test_an_emulated_link_costs_a_round_trip_per_pass(models, server):
    draft, target = models
    up, down = Shaper(100.0, 5.0), Shaper(100.0, 5.0)  # 10 ms RTT
    remote = RemoteVerifier(server.address, wrap=lambda t: ShapedTransport(t, up, down))
    out = SpeculativeDecoder(draft, remote, k=4).generate([1, 2, 3], 20)
    assert out.tokens == generate(target, [1, 2, 3], 20)
    assert all(r.verify_s >= 0.010 for r in out.stats.rounds)
    assert out.stats.ttft_s >= 0.010


class _LosesFirstReply(Transport):
    """Delivers every request but drops the first reply, as a lossy link would."""

    def __init__(self, inner):
        self.inner = inner
        self.address = inner.address
        self.dropped = 0

    def request(self, parts, timeout_s):
        reply = self.inner.request(parts, timeout_s)
        frame = decode_frame(parts)
        if frame.meta.get("op") == "verify" and not self.dropped:
            self.dropped += 1
            raise TransportError("reply lost")
        return reply

    def close(self):
        self.inner.close()


def test_a_retried_request_is_idempotent(models, server):
    draft, target = models
    transport = _LosesFirstReply(connect(server.address))
    remote = RemoteVerifier(transport, retries=1)
    out = SpeculativeDecoder(draft, remote, k=4).generate([2, 7], 30)
    assert transport.dropped == 1  # the server verified that round twice
    assert out.tokens == generate(target, [2, 7], 30)


def _ask(server, frame_or_parts):
    parts = frame_or_parts
    if isinstance(frame_or_parts, Frame):
        parts = encode_frame(frame_or_parts)
    return decode_frame(server.handle(parts))


def test_garbage_gets_an_error_frame_and_the_server_keeps_serving(models, server):
    t = torch.tensor
    ids = itertools.count(10)
    verify = {"op": "verify", "session": "s", "position": 0, "temperature": 0, "seed": 0}
    tensors = {"context": t([1, 2]), "draft": t([3])}
    bad = {
        "bad magic": [b"NOPE" + bytes(40)],
        "header truncated": [b"garbage"],
        "unexpected RESPONSE": Frame(FrameKind.RESPONSE, 1),
        "'op' must be": Frame(FrameKind.REQUEST, 1, tensors, {**verify, "op": "train"}),
        "'session' must be": Frame(FrameKind.REQUEST, 1, tensors, {**verify, "session": 5}),
        "'position' must be": Frame(FrameKind.REQUEST, 1, tensors, {**verify, "position": -1}),
        "'temperature' must": Frame(FrameKind.REQUEST, 1, tensors, {**verify, "temperature": "x"}),
        "needs tensors ['draft']": Frame(FrameKind.REQUEST, 1, {"context": t([1])}, verify),
        "outside 0..7": Frame(FrameKind.REQUEST, 1, {**tensors, "draft": t([9])}, verify),
        "unknown here": Frame(
            FrameKind.REQUEST, 1, tensors, {**verify, "session": "new", "position": 4}
        ),
        "assumes 40 cached": Frame(FrameKind.REQUEST, 1, tensors, {**verify, "position": 40}),
        "1-d int64": Frame(FrameKind.REQUEST, 1, {**tensors, "draft": t([[1.5]])}, verify),
        "exceeds max_len": Frame(FrameKind.REQUEST, 1, {**tensors, "context": t([1] * 97)}, verify),
    }
    for message, request in bad.items():
        reply = _ask(server, request)
        assert reply.kind is FrameKind.ERROR, message
        assert message in reply.meta["error"], reply.meta["error"]
        good = _ask(server, Frame(FrameKind.REQUEST, next(ids), tensors, verify))
        assert good.kind is FrameKind.RESPONSE and 0 <= good.meta["accepted"] <= 1


def test_remote_errors_reach_the_client_and_are_not_a_fallback(server, make_scrambled):
    remote = RemoteVerifier(server.address)
    with pytest.raises(RemoteError, match="exceeds max_len 96"):
        remote.verify(VerifyRequest("x", 0, torch.tensor([1] * 95), torch.tensor([1, 2])))
    # a draft that allows longer sequences than the served target: refused before any round
    long_draft = make_scrambled(
        LMConfig(vocab_size=VOCAB, d_model=16, n_layers=1, n_heads=2, max_len=200), seed=1
    )
    assert remote.max_len == 96
    with pytest.raises(ConfigError, match="exceed max_len 96"):
        SpeculativeDecoder(long_draft, remote, k=2).generate([1] * 90, 20)


def test_the_handshake_refuses_another_service_or_other_weights(models, server):
    _, target = models
    with pytest.raises(ConfigError, match="expected 'nope'"):
        RemoteVerifier(server.address, weights="nope")

    class Pong(Transport):
        address = "inproc://not-a-verifier"

        def request(self, parts, timeout_s):
            frame = decode_frame(parts)
            return encode_frame(Frame(FrameKind.PONG, frame.request_id, meta={"node": "cloud"}))

        def close(self):
            pass

    with pytest.raises(ConfigError, match=r"is not a skyline\.llm\.verifier/v1 server"):
        RemoteVerifier(Pong())
    assert RemoteVerifier(server.address).identity["weights"] == weights_digest(target)


def test_a_lost_server_leaves_the_draft_to_finish(models):
    draft, target = models
    cloud = CloudVerifier(target, bind_address=f"inproc://llm-{uuid.uuid4().hex}").start()
    remote = RemoteVerifier(cloud.address, timeout_s=0.2, retries=0)

    class StopsAfterTwo(AdaptiveK):
        rounds = 0

        def observe(self, round_):
            super().observe(round_)
            self.rounds += 1
            if self.rounds == 2:
                cloud.stop()

    out = SpeculativeDecoder(draft, remote, k=StopsAfterTwo(k_init=3)).generate([5, 5], 30)
    assert len(out.tokens) == 30 and out.stats.passes == 2
    assert "nothing listens" in out.stats.fallback
    verified = out.tokens[: out.stats.verified_tokens]
    assert verified == generate(target, [5, 5], 30)[: len(verified)]
