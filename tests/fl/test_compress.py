import numpy as np
import pytest

from skyline.errors import ConfigError, UnknownNameError
from skyline.fl import create_codec, payload_bytes


def arrays(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(64, 100)).astype(np.float32), rng.normal(size=64).astype(np.float32)]


def test_identity_is_exact() -> None:
    codec = create_codec("none")
    x = arrays()
    assert all(np.array_equal(a, b) for a, b in zip(codec.decode(codec.encode(x), x), x))


def test_int8_error_is_at_most_half_a_step_and_size_is_a_quarter() -> None:
    codec = create_codec("int8")
    x = arrays()
    enc = codec.encode(x)
    for a, b in zip(codec.decode(enc, x), x):
        step = np.abs(b).max() / 127
        assert np.abs(a - b).max() <= step / 2 + 1e-7
    assert payload_bytes(x) / payload_bytes(enc) == pytest.approx(4, rel=0.01)


def test_int8_hand_case() -> None:
    codec = create_codec("int8")
    q, scale = codec.encode([np.array([-2.0, 1.0, 0.5], dtype=np.float32)])
    assert scale[0] == pytest.approx(2 / 127)
    assert q.tolist() == [-127, 64, 32]  # 63.5 and 31.75 round to nearest


def test_topk_keeps_the_largest_entries() -> None:
    codec = create_codec("topk:0.5")
    x = [np.array([[0.1, -5.0], [3.0, 0.2]], dtype=np.float32)]
    out = codec.decode(codec.encode(x), x)[0]
    assert out.tolist() == [[0.0, -5.0], [3.0, 0.0]]


def test_topk_error_feedback_loses_nothing_over_rounds() -> None:
    """sum of what was sent + what is still carried == sum of the true updates."""
    codec = create_codec("topk:0.05")
    residual = None
    sent = [np.zeros_like(a) for a in arrays()]
    total = [np.zeros_like(a) for a in arrays()]
    for r in range(5):
        update = arrays(r)
        encoded, residual = codec.compress(update, residual)
        sent = [s + d for s, d in zip(sent, codec.decode(encoded, update))]
        total = [t + u for t, u in zip(total, update)]
    assert residual is not None
    for s, c, t in zip(sent, residual, total):
        np.testing.assert_allclose(s + c, t, rtol=1e-5, atol=1e-5)


def test_topk_ten_percent_is_five_times_smaller() -> None:
    x = arrays()
    enc = create_codec("topk:0.1").encode(x)
    assert payload_bytes(x) / payload_bytes(enc) == pytest.approx(5, rel=0.02)


@pytest.mark.parametrize(
    ("spec", "error"),
    [("gzip", UnknownNameError), ("topk:2", ConfigError), ("topk:x", ConfigError)],
)
def test_bad_codec_specs(spec: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        create_codec(spec)


def test_decode_with_the_wrong_codec_is_explained() -> None:
    x = arrays()
    with pytest.raises(ConfigError, match="decode with the codec"):
        create_codec("int8").decode(x, x)
