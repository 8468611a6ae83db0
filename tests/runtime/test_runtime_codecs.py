"""Tensor codecs: exact round trips for lossless ones, stated error bounds for lossy ones,
hand-computed int8 parameters, measure(), and the errors a user or a peer can trigger."""

import math
import sys
import warnings

import numpy as np
import pytest
import torch

from skyline.errors import ConfigError, FrameError, RegistryError, UnknownNameError
from skyline.runtime import codecs
from skyline.runtime.codecs.base import CODECS, Codec
from skyline.runtime.wire import DTYPES

LOSSLESS = ["raw", "zstd", "lz4", "zstd:19"]
ALL = ["raw", "fp16", "bf16", "int8", "int8-channel", "zstd", "lz4"]


def sample(dtype: torch.dtype, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Random values covering the dtype; floats include -0.0, inf and NaN when there is room."""
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype.is_floating_point:
        t = torch.randn(shape, generator=g).to(dtype)
        flat = t.view(-1)
        for i, v in enumerate([-0.0, math.inf, -math.inf, math.nan][: flat.numel() // 2]):
            flat[i] = v
        return t
    info = torch.iinfo(dtype)
    return torch.randint(info.min, info.max, shape, generator=g, dtype=dtype)


def round_trip(codec: Codec, t: torch.Tensor) -> tuple[torch.Tensor, dict]:
    payload, params = codec.encode(t)
    return codec.decode(memoryview(payload), t.dtype, tuple(t.shape), params), params


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-exact equality (NaN == NaN, -0.0 != 0.0), dtype and shape included."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8)
    )


# -- lossless ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", LOSSLESS)
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_lossless_round_trip_is_bit_exact(spec, dtype):
    codec = codecs.create(spec)
    assert codec.lossless
    base = sample(dtype, (6, 10))
    cases = [
        base,
        base.t(),  # non-contiguous
        base[::2, 1::3],  # strided slice
        sample(dtype, (0, 3)),
        sample(dtype, (2, 0, 5)),
        sample(dtype, ()),  # 0-d
    ]
    for t in cases:
        out, _ = round_trip(codec, t)
        assert same_bits(out, t), (spec, dtype, t.shape)


def test_raw_encode_is_zero_copy_and_decode_owns_its_memory():
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    payload, params = codecs.create("raw").encode(t)
    assert params == {}
    assert np.frombuffer(payload, np.uint8).ctypes.data == t.data_ptr()
    received = bytearray(bytes(payload))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-writable buffer" warning from torch
        out = codecs.create("raw").decode(memoryview(received), torch.float32, (3, 4), {})
    received[:] = bytes(len(received))  # the receive buffer is reused...
    assert torch.equal(out, t)  # ...without changing the tensor
    out += 1  # and the tensor is writable


def test_raw_accepts_tensors_that_require_grad():
    t = torch.ones(3, requires_grad=True)
    out, _ = round_trip(codecs.create("raw"), t)
    assert torch.equal(out, t.detach())


# -- fp16 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fp16_relative_error_within_half_ulp_in_normal_range(dtype):
    """Round to nearest with 10 stored mantissa bits: |x' - x| <= 2**-11 |x| for
    6.1e-5 <= |x| <= 65504."""
    g = torch.Generator().manual_seed(1)
    magnitude = 10 ** (torch.rand(10_000, generator=g, dtype=torch.float64) * 8 - 4)  # 1e-4..1e4
    sign = torch.where(torch.rand(10_000, generator=g) < 0.5, -1.0, 1.0).double()
    x = (magnitude * sign).to(dtype)
    out, params = round_trip(codecs.create("fp16"), x)
    assert out.dtype == dtype and params == {}
    rel = ((out.double() - x.double()).abs() / x.double().abs()).max().item()
    assert rel <= 2**-11


def test_fp16_halves_the_payload_and_keeps_non_finite_values():
    x = torch.tensor([1.0, math.inf, -math.inf, math.nan, 1e5, -1e5])
    payload, _ = codecs.create("fp16").encode(x)
    assert memoryview(payload).nbytes == x.numel() * 2
    out, _ = round_trip(codecs.create("fp16"), x)
    assert out[0] == 1 and out[1] == math.inf and out[2] == -math.inf and out[3].isnan()
    assert out[4] == math.inf and out[5] == -math.inf  # beyond 65504: documented overflow


NON_FLOAT = [torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool]
PASSTHROUGH = [(spec, d) for spec in ["fp16", "int8", "int8-channel"] for d in NON_FLOAT] + [
    ("fp16", torch.float16),  # already 2 bytes
    ("fp16", torch.bfloat16),  # casting would lose its range
]


@pytest.mark.parametrize(("spec", "dtype"), PASSTHROUGH)
def test_lossy_codecs_pass_other_dtypes_through_exactly(spec, dtype):
    t = sample(dtype, (4, 5))
    out, params = round_trip(codecs.create(spec), t)
    assert params == {"passthrough": True}
    assert same_bits(out, t)


# -- int8 --------------------------------------------------------------------------------------


def test_int8_hand_computed_case():
    x = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    codec = codecs.create("int8")
    payload, params = codec.encode(x)
    scale = (2.0 - (-1.0)) / 255  # (max - min) / 255
    assert params["scale"] == pytest.approx(scale, rel=1e-6)
    assert params["zero_point"] == 85  # round(1 / scale)
    q = np.frombuffer(payload, np.uint8)
    assert q[0] == 0 and q[1] == 85 and q[3] == 255
    out = codec.decode(memoryview(payload), torch.float32, (4,), params)
    assert (out - x).abs().max().item() <= scale / 2 + 1e-7
    assert out[1].item() == 0.0  # zero is exact


@pytest.mark.parametrize("spec", ["int8", "int8-channel"])
@pytest.mark.parametrize("shape", [(1000,), (4, 7), (2, 3, 5, 5)])
def test_int8_error_at_most_half_a_step(spec, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2)) * 3 + 1
    out, params = round_trip(codecs.create(spec), x)
    scale = torch.tensor(params["scale"])
    if scale.ndim == 1:  # per channel, along dim 1
        scale = scale.reshape([1, -1] + [1] * (x.ndim - 2))
    assert ((out - x).abs() <= scale / 2 * (1 + 1e-5)).all()


def test_int8_channel_beats_per_tensor_on_channels_of_different_range():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 4, 6, 6, generator=g) * torch.tensor([0.01, 1.0, 10.0, 1000.0]).reshape(
        1, 4, 1, 1
    )
    per_tensor, _ = round_trip(codecs.create("int8"), x)
    per_channel, params = round_trip(codecs.create("int8-channel"), x)
    assert len(params["scale"]) == len(params["zero_point"]) == 4
    for c in range(3):  # every channel but the widest gains a lot
        err_t = (per_tensor[:, c] - x[:, c]).abs().max()
        err_c = (per_channel[:, c] - x[:, c]).abs().max()
        assert err_c < err_t / 50
    assert codecs.measure("int8-channel", x).rel_l2_error <= codecs.measure("int8", x).rel_l2_error


@pytest.mark.parametrize("spec", ["int8", "int8-channel"])
@pytest.mark.parametrize("value", [0.0, 3.5, -2.0])
def test_int8_constant_tensor_decodes_exactly(spec, value):
    x = torch.full((2, 3, 4), value)
    out, params = round_trip(codecs.create(spec), x)
    assert torch.equal(out, x)
    if value == 0.0:
        assert params["scale"] in (1.0, [1.0] * 3)  # all-zero range: scale 1, not 0


def test_int8_non_finite_values_as_documented():
    x = torch.tensor([-1.0, 0.0, 1.0, math.inf, -math.inf, math.nan])
    out, params = round_trip(codecs.create("int8"), x)
    assert params["scale"] == pytest.approx(2 / 255)  # range from finite values only
    step = params["scale"] / 2 + 1e-6
    assert out[3].item() == pytest.approx(1.0, abs=step)  # +inf -> top of the range
    assert out[4].item() == pytest.approx(-1.0, abs=step)  # -inf -> bottom of the range
    assert out[5].item() == 0.0  # NaN -> 0
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("spec", ["int8", "int8-channel", "fp16"])
@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (2, 0, 3), (3, 1)])
def test_lossy_codecs_handle_empty_and_0d(spec, shape):
    x = torch.full(shape, 0.75, dtype=torch.float64)
    out, _ = round_trip(codecs.create(spec), x)
    assert out.dtype == torch.float64 and out.shape == x.shape
    assert torch.allclose(out, x, atol=1e-2)


@pytest.mark.parametrize(
    ("spec", "shape", "params", "match"),
    [
        ("int8", (4,), {}, "scale"),
        ("int8", (4,), {"scale": -1.0, "zero_point": 0}, "invalid value -1.0"),
        ("int8", (4,), {"scale": True, "zero_point": 0}, "invalid value True"),
        ("int8", (4,), {"scale": 0.1, "zero_point": 256}, "zero_point"),
        ("int8", (4,), {"scale": 0.1, "zero_point": 1.5}, "zero_point"),
        ("int8", (4,), {"scale": [0.1], "zero_point": 0}, r"invalid value \[0.1\]"),
        ("int8-channel", (2, 2), {"scale": [0.1], "zero_point": [0, 0]}, "list of 2"),
        ("int8-channel", (2, 2), {"scale": 0.1, "zero_point": 0}, "list of 2"),
    ],
)
def test_int8_rejects_bad_params_from_the_wire(spec, shape, params, match):
    payload = memoryview(bytes(math.prod(shape)))
    with pytest.raises(FrameError, match=match):
        codecs.create(spec).decode(payload, torch.float32, shape, params)


def test_lossy_codec_refuses_a_non_float_tensor_without_passthrough():
    with pytest.raises(FrameError, match="cannot decode"):
        codecs.create("int8").decode(memoryview(bytes(4)), torch.int32, (1,), {"scale": 1.0})


# -- size checks on decode ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL)
def test_decode_names_expected_and_received_size(spec):
    codec = codecs.create(spec)
    payload, params = codec.encode(torch.ones(3, 5))
    with pytest.raises(FrameError, match=r"expected \d+ bytes.*(got|holds) \d+"):
        codec.decode(memoryview(payload), torch.float32, (4, 5), params)


def test_bool_payload_must_hold_zeros_and_ones():
    with pytest.raises(FrameError, match="bool"):
        codecs.create("raw").decode(memoryview(b"\x00\x02"), torch.bool, (2,), {})


@pytest.mark.parametrize("spec", ["zstd", "lz4"])
def test_corrupt_compressed_payload_is_a_frame_error(spec):
    codec = codecs.create(spec)
    payload, params = codec.encode(torch.zeros(1000))
    broken = bytearray(bytes(payload))
    broken[len(broken) // 2] ^= 0xFF
    with pytest.raises(FrameError):
        codec.decode(memoryview(bytes(broken[:-3])), torch.float32, (1000,), params)


# -- measure -----------------------------------------------------------------------------------


def test_measure_ratios_and_errors():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(64, 32, 8, 8, generator=g)  # 512 KiB
    relu = x.clamp(min=0)
    fp16 = codecs.measure("fp16", x, repeats=2)
    int8 = codecs.measure("int8", x, repeats=2)
    zstd = codecs.measure("zstd", relu, repeats=2)
    raw = codecs.measure(codecs.create("raw"), x, repeats=1)
    assert fp16.raw_bytes == x.numel() * 4
    assert 1.99 < fp16.ratio <= 2.0 and fp16.rel_l2_error < 2**-10
    assert 3.99 < int8.ratio <= 4.0 and 0 < int8.max_abs_error < 0.05
    assert zstd.ratio > 1.3 and zstd.max_abs_error == 0 and zstd.codec == "zstd:1"
    assert raw.encoded_bytes == raw.raw_bytes + 2  # "{}" params
    for stats in (fp16, int8, zstd, raw):
        assert stats.encode_ms >= 0 and stats.decode_ms >= 0


def test_measure_of_all_zero_tensor_has_zero_error():
    stats = codecs.measure("int8", torch.zeros(10), repeats=1)
    assert stats.max_abs_error == 0 and stats.rel_l2_error == 0


def test_measure_needs_a_repeat():
    with pytest.raises(ConfigError, match="repeats"):
        codecs.measure("raw", torch.ones(2), repeats=0)


# -- registry and specs ------------------------------------------------------------------------


def test_builtin_names():
    assert codecs.names() == ["bf16", "fp16", "int8", "int8-channel", "lz4", "raw", "zstd"]


def test_unknown_codec_lists_the_names():
    with pytest.raises(UnknownNameError) as info:
        codecs.create("brotli")
    for name in codecs.names():
        assert name in str(info.value)
    with pytest.raises(UnknownNameError, match="int8-channel"):
        codecs.create("brotli:3", load_paths=False)


def test_specs_with_arguments():
    assert codecs.create("zstd:7").spec == "zstd:7"
    assert codecs.create("zstd:-3").level == -3
    assert codecs.create("zstd").spec == "zstd:1"
    for bad in ["zstd:fast", "zstd:23", "zstd:", "zstd:1.5"]:
        with pytest.raises(ConfigError, match="zstd level"):
            codecs.create(bad)
    with pytest.raises(ConfigError, match="takes no argument"):
        codecs.create("raw:3")


def test_module_path_specs_only_when_allowed():
    assert codecs.create("skyline.runtime.codecs.raw:RawCodec").name == "raw"
    with pytest.raises(UnknownNameError):
        codecs.create("skyline.runtime.codecs.raw:RawCodec", load_paths=False)


@pytest.mark.parametrize(
    ("module", "spec"), [("zstandard", "zstd"), ("lz4.block", "lz4"), ("lz4", "lz4")]
)
def test_missing_extra_names_it(monkeypatch, module, spec):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    if module == "lz4":
        monkeypatch.setitem(sys.modules, "lz4.block", None)
    with pytest.raises(ConfigError, match=r"pip install 'skyline\[compress\]'"):
        codecs.create(spec)


def test_register_and_check_plugins(monkeypatch):
    monkeypatch.setattr(CODECS, "_items", dict(CODECS._items))  # keep the global registry clean

    @codecs.register
    class Negate(codecs.FloatCodec):
        name = "negate"

        def encode_float(self, tensor):
            return codecs.create("raw").encode(-tensor)

        def decode_float(self, payload, dtype, shape, params):
            return -codecs.create("raw").decode(payload, dtype, shape, params)

    assert "negate" in codecs.names()
    out, _ = round_trip(codecs.create("negate"), torch.tensor([1.0, -2.0]))
    assert torch.equal(out, torch.tensor([1.0, -2.0]))
    with pytest.raises(RegistryError, match="already registered"):
        codecs.register(type("Other", (Negate,), {}))

    class Abstract(Codec):
        name = "abstract"
        lossless = True

    class NoName(codecs.FloatCodec):
        encode_float = decode_float = Negate.encode_float

    for bad, match in [(int, "not a Codec"), (Abstract, "does not implement"), (NoName, "name")]:
        with pytest.raises(RegistryError, match=match):
            codecs.check_codec(bad)
