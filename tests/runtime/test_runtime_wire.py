"""Wire frames: round trips over every codec, dtype and kind; a clear FrameError for each kind of
malformed input; and a fuzz test that decode_frame raises nothing else."""

import json
import math
import struct
import warnings

import pytest
import torch
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyline.errors import ConfigError, FrameError, UnknownNameError
from skyline.runtime import wire
from skyline.runtime.codecs import names
from skyline.runtime.wire import (
    DTYPES,
    MAGIC,
    Frame,
    FrameKind,
    decode_frame,
    encode_frame,
    error_frame,
    frame_nbytes,
)

LOSSLESS = ["raw", "zstd", "lz4"]


def tensors() -> dict[str, torch.Tensor]:
    """One small tensor per supported dtype, plus a 0-d, an empty and a non-contiguous one."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for name, dtype in DTYPES.items():
        if dtype == torch.bool:
            out[name] = torch.randint(0, 2, (3, 4), generator=g).bool()
        elif dtype.is_floating_point:
            out[name] = torch.randn(3, 4, generator=g).to(dtype)
        else:
            out[name] = torch.randint(-100 if dtype != torch.uint8 else 0, 100, (3, 4)).to(dtype)
    out["scalar"] = torch.tensor(2.5)
    out["empty"] = torch.zeros(0, 7)
    out["strided"] = torch.arange(40.0).reshape(5, 8).t()[::2]
    return out


def parts_as_bytes(parts) -> list[bytes]:
    return [bytes(p) for p in parts]


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", names())
@pytest.mark.parametrize("kind", list(FrameKind))
def test_round_trip_every_codec_and_kind(codec, kind):
    sent = Frame(kind, 2**64 - 1, tensors(), {"stage": 3, "times_ms": [1.5, 2.0], "note": "ü"})
    got = decode_frame(parts_as_bytes(encode_frame(sent, default_codec=codec)))
    assert got.kind is kind and got.request_id == 2**64 - 1 and got.meta == sent.meta
    assert list(got.tensors) == list(sent.tensors)
    for name, t in sent.tensors.items():
        out = got.tensors[name]
        assert out.dtype == t.dtype and out.shape == t.shape, name
        if codec in LOSSLESS or not t.dtype.is_floating_point:
            assert torch.equal(out, t), (codec, name)
        else:
            assert torch.allclose(out.float(), t.float(), atol=0.05, rtol=0.01), (codec, name)


def test_per_tensor_codecs_and_specs_on_the_wire():
    x = torch.randn(4, 3, 8, 8)
    sent = Frame(FrameKind.REQUEST, 1, {"x": x, "idx": torch.arange(4)})
    parts = encode_frame(sent, {"x": "int8-channel", "idx": "zstd:5"})
    assert b"int8-channel" in parts[0] and b"zstd:5" in parts[0]
    assert memoryview(parts[1]).nbytes == x.numel()  # one byte per value
    got = decode_frame(parts)
    assert torch.equal(got.tensors["idx"], torch.arange(4))
    assert (got.tensors["x"] - x).abs().max() < 0.05


def test_raw_payload_is_zero_copy_and_frame_nbytes_counts_everything():
    x = torch.randn(1024, 1024)  # 4 MiB
    parts = encode_frame(Frame(FrameKind.REQUEST, 9, {"x": x}))
    assert isinstance(parts[1], memoryview) and parts[1].nbytes == 4 * 2**20
    assert frame_nbytes(parts) == len(parts[0]) + 4 * 2**20
    assert len(parts[0]) < 100  # header + table + "{}"


def test_frame_with_no_tensors_and_error_frame():
    for frame in (Frame(FrameKind.PING, 0), error_frame(42, "stage 2 failed: boom")):
        parts = encode_frame(frame)
        assert len(parts) == 1
        assert decode_frame(parts) == frame
    assert error_frame(42, "x").kind is FrameKind.ERROR


def test_over_zmq_zero_copy_and_decoded_tensors_own_their_memory():
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        a.bind("inproc://wire-test")
        b.connect("inproc://wire-test")
        x = torch.randn(256, 256)
        a.send_multipart(encode_frame(Frame(FrameKind.REQUEST, 5, {"x": x}, {"k": 1})), copy=False)
        received = b.recv_multipart(copy=False)
        assert all(isinstance(p, zmq.Frame) for p in received)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = decode_frame(received)
        out = got.tensors["x"]
        del received
        assert torch.equal(out, x) and got.meta == {"k": 1}
        assert out.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
        out.add_(1)  # writable, owned
    finally:
        a.close(linger=0)
        b.close(linger=0)
        ctx.term()


def test_accepts_other_buffer_types():
    parts = encode_frame(Frame(FrameKind.REQUEST, 1, {"x": torch.ones(2, 2)}))
    mixed = [bytearray(parts[0]), memoryview(bytes(parts[1])).cast("B", (2, 8))]
    assert torch.equal(decode_frame(mixed).tensors["x"], torch.ones(2, 2))


# -- encode-side errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "codecs", "error", "match"),
    [
        (
            Frame(FrameKind.REQUEST, 1, {"c": torch.ones(2, dtype=torch.complex64)}),
            None,
            FrameError,
            "complex64",
        ),
        (Frame(FrameKind.REQUEST, 1, {"x": [1, 2]}), None, FrameError, "list"),
        (Frame(FrameKind.REQUEST, 1, meta={"bad": math.nan}), None, FrameError, "JSON"),
        (Frame(FrameKind.REQUEST, 1, meta={"bad": object()}), None, FrameError, "JSON"),
        (Frame(FrameKind.REQUEST, -1), None, FrameError, "request_id"),
        (Frame(FrameKind.REQUEST, 2**64), None, FrameError, "request_id"),
        (Frame(7, 1), None, FrameError, "kind"),
        (Frame(FrameKind.REQUEST, 1, {"x": torch.ones(1)}), {"y": "raw"}, ConfigError, "'y'"),
        (
            Frame(FrameKind.REQUEST, 1, {"x": torch.ones(1)}),
            {"x": "gzip"},
            UnknownNameError,
            "gzip",
        ),
    ],
)
def test_encode_errors(frame, codecs, error, match):
    with pytest.raises(error, match=match):
        encode_frame(frame, codecs)


# -- decode-side errors, one per kind of malformation ------------------------------------------


def valid() -> list[bytes]:
    frame = Frame(FrameKind.REQUEST, 3, {"x": torch.ones(2, 3)}, {"stage": 1})
    return parts_as_bytes(encode_frame(frame))


def header(version=1, kind=1, flags=0, table=b"\x00\x00", table_len=None) -> bytes:
    """Part 0 by hand: header + table, no meta."""
    size = len(table) if table_len is None else table_len
    return struct.pack("<4sBBHQI", MAGIC, version, kind, flags, 3, size) + table


def entry(name="x", dtype="float32", shape=(2, 3), codec="raw", params=None, payload_len=24):
    """A table row with any field value, valid or not (the encoder would refuse some)."""
    return wire._Entry(name, dtype, shape, codec, params or {}, payload_len)


def with_entry(**fields) -> list[bytes]:
    """A one-tensor message whose payload part has the length the row claims."""
    e = entry(**fields)
    return [wire._pack_head(FrameKind.REQUEST, 3, [e], {}), bytes(e.payload_len)]


def swapped_meta(meta: bytes) -> list[bytes]:
    parts = valid()
    return [parts[0][: -len(b'{"stage":1}')] + meta, parts[1]]


MALFORMED = {
    "no parts": ([], "1 to"),
    "not a buffer": (["SKYL"], "part 0 is not a contiguous byte buffer"),
    "truncated header": ([valid()[0][:10], valid()[1]], "header truncated"),
    "wrong magic": ([b"HTTP" + valid()[0][4:], valid()[1]], "bad magic"),
    "wrong version": ([header(version=2)], "version 2"),
    "wrong kind": ([header(kind=9)], "kind 9"),
    "flags": ([header(flags=1)], "flags"),
    "table past the end": ([header(table_len=500)], "runs past"),
    "truncated table": ([header(table=b"\x01")], "truncated"),
    "too many parts": ([*valid(), b"extra"], "lists 1 tensors, the message has 2"),
    "too few parts": ([valid()[0]], "lists 1 tensors, the message has 0"),
    "stray table bytes": ([header(table=b"\x00\x00zz")], "stray"),
    "bad dtype name": (with_entry(dtype="complex64"), "unsupported dtype 'complex64'"),
    "name not utf-8": ([header(table=b"\x01\x00\x02\x00\xff\xfe"), b""], "UTF-8"),
    "too many dims": ([header(table=b"\x01\x00\x01\x00x\x07\x00float32\x41"), b""], "65 dims"),
    "huge dim": (with_entry(shape=(2**63, 0), payload_len=0), "impossible shape"),
    "huge tensor": (with_entry(shape=(2**14, 2**14), payload_len=0), "would decode to"),
    "payload length mismatch": ([with_entry(payload_len=20)[0], bytes(24)], "says 20"),
    "payload size mismatch": (with_entry(shape=(2, 2), payload_len=24), "expected 16 bytes"),
    "duplicate names": (
        [wire._pack_head(1, 3, [entry(), entry()], {}), bytes(24), bytes(24)],
        "twice",
    ),
    "unknown codec": (with_entry(codec="brotli"), "unknown codec 'brotli'"),
    "module path codec": (with_entry(codec="os:system"), "unknown codec 'os'"),
    "params not JSON": (
        [with_entry()[0].replace(b"{}", b"{]", 1), bytes(24)],  # the first {} is the params
        "codec params of 'x' is not valid JSON",
    ),
    "bad int8 params": (with_entry(codec="int8", params={"scale": "big"}, payload_len=6), "scale"),
    "meta not JSON": (swapped_meta(b"{stage"), "frame meta is not valid JSON"),
    "meta NaN": (swapped_meta(b'{"a":NaN}'), "NaN is not JSON"),
    "meta not an object": (swapped_meta(b"[1, 2]"), "must be a JSON object"),
    "meta not UTF-8": (swapped_meta(b'{"\xff":1}'), "not valid JSON"),
    "meta nested deeply": (swapped_meta(b"[" * 100_000), "not valid JSON"),
    "bool payload": ([with_entry(dtype="bool", payload_len=6)[0], b"\x02" * 6], "bool"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_frames_raise_frame_error(case):
    parts, match = MALFORMED[case]
    with pytest.raises(FrameError, match=match):
        decode_frame(parts)


def test_size_limits():
    parts = valid()
    with pytest.raises(FrameError, match="exceeds the limit"):
        decode_frame(parts, max_bytes=frame_nbytes(parts) - 1)
    zeros = Frame(FrameKind.REQUEST, 1, {"z": torch.zeros(1000)})
    compressed = encode_frame(zeros, default_codec="zstd")
    assert frame_nbytes(compressed) < 200
    with pytest.raises(FrameError, match="would decode to 4000 bytes"):
        decode_frame(compressed, max_bytes=1000)  # a compression bomb stops at the table
    assert decode_frame(compressed, max_bytes=4000).tensors["z"].shape == (1000,)


def test_table_layout_matches_docs():
    """docs/wire.md promises this exact byte layout for one raw tensor."""
    head = encode_frame(Frame(FrameKind.RESPONSE, 258, {"ab": torch.zeros(2, dtype=torch.int16)}))
    expected = (
        b"SKYL\x01\x02\x00\x00" + (258).to_bytes(8, "little") + (41).to_bytes(4, "little")
        + b"\x01\x00" + b"\x02\x00ab" + b"\x05\x00int16" + b"\x01" + (2).to_bytes(8, "little")
        + b"\x03\x00raw" + b"\x02\x00\x00\x00{}" + (4).to_bytes(8, "little")
        + b"{}"
    )  # fmt: skip
    assert head[0] == expected


# -- fuzz --------------------------------------------------------------------------------------

BASES = [
    parts_as_bytes(encode_frame(f, default_codec=c))
    for f, c in [
        (Frame(FrameKind.REQUEST, 1, {"x": torch.randn(2, 3), "i": torch.arange(3)}), "raw"),
        (Frame(FrameKind.RESPONSE, 2, {"y": torch.randn(2, 3, 2)}, {"ms": [1.0]}), "int8-channel"),
        (Frame(FrameKind.REQUEST, 3, {"z": torch.zeros(16), "b": torch.ones(3).bool()}), "zstd"),
        (Frame(FrameKind.REQUEST, 4, {"w": torch.randn(5).double()}), "lz4"),
        (Frame(FrameKind.REQUEST, 5, {"h": torch.randn(4), "q": torch.randn(3)}), "int8"),
        (Frame(FrameKind.REQUEST, 6, {"s": torch.tensor(1.0)}), "fp16"),
        (error_frame(7, "boom"), "raw"),
    ]
]

index = st.integers(0, 2**16)
MUTATION = st.one_of(
    st.tuples(st.just("flip"), index, index, st.integers(0, 7)),
    st.tuples(st.just("set"), index, index, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), index, index),
    st.tuples(st.just("extend"), index, st.binary(max_size=16)),
    st.tuples(st.just("swap"), index, index),
    st.tuples(st.just("drop"), index),
    st.tuples(st.just("duplicate"), index),
)


def mutate(parts: list[bytes], mutations) -> list[bytes]:
    parts = list(parts)
    for op, i, *args in mutations:
        if not parts:
            break
        i %= len(parts)
        part = bytearray(parts[i])
        if op == "flip" and part:
            part[args[0] % len(part)] ^= 1 << args[1]
        elif op == "set" and part:
            pos = args[0] % len(part)
            part[pos : pos + len(args[1])] = args[1]
        elif op == "truncate":
            del part[args[0] % (len(part) + 1) :]
        elif op == "extend":
            part += args[0]
        elif op == "swap":
            j = args[0] % len(parts)
            parts[i], parts[j] = parts[j], parts[i]
            continue
        elif op == "drop":
            del parts[i]
            continue
        elif op == "duplicate":
            parts.insert(i, parts[i])
            continue
        parts[i] = bytes(part)
    return parts


MESSAGES = st.one_of(
    st.builds(mutate, st.sampled_from(BASES), st.lists(MUTATION, min_size=1, max_size=4)),
    st.lists(st.binary(max_size=64), max_size=4),
    st.lists(st.binary(max_size=48), min_size=1, max_size=3).map(
        lambda p: [wire._HEADER.pack(MAGIC, 1, 1, 0, 0, len(p[0])) + p[0], *p[1:]]
    ),
)


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(MESSAGES)
def test_fuzz_decode_raises_only_frame_error(parts):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torch warning would be a bug too
        try:
            frame = decode_frame(parts, max_bytes=1 << 16)
        except FrameError:
            return
    assert isinstance(frame.kind, FrameKind) and isinstance(frame.meta, dict)
    for t in frame.tensors.values():
        assert isinstance(t, torch.Tensor) and t.dtype in DTYPES.values()
    json.dumps(frame.meta)
