"""`int8` and `int8-channel`: affine 8-bit quantization, 4x smaller than float32.

x ~ (q - zero_point) * scale with q in uint8 [0, 255]. The range [lo, hi] always includes 0, so
zeros (ReLU outputs, padding) decode exactly and a constant tensor decodes exactly; an all-zero
range uses scale 1. Values in the range come back within scale / 2.

`int8-channel` keeps one (scale, zero_point) per index of dim 1 (channels of NCHW, features of
NC), for activations whose channels differ in range by orders of magnitude; tensors with fewer
than two dims are quantized per tensor.

Non-finite values cannot be represented: the range is taken over finite values only (one inf
must not wreck the precision of everything else); +inf saturates to code 255 and decodes near
the top of that range (within scale / 2), -inf to code 0 near its bottom, NaN decodes as 0.
Non-float tensors pass through raw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from skyline.errors import FrameError
from skyline.runtime.codecs.base import FloatCodec, register, tensor_bytes, tensor_from_bytes

QMAX = 255


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 keeps its precision; everything else is quantized in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


@register
class Int8Codec(FloatCodec):
    name = "int8"
    per_channel = False

    def _groups(self, shape: tuple[int, ...]) -> tuple[int | None, list[int]]:
        """(channels, broadcast shape of the params); channels is None per tensor."""
        if not self.per_channel or len(shape) < 2:
            return None, []
        view = [1] * len(shape)
        view[1] = shape[1]
        return shape[1], view

    def encode_float(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        work = tensor.to(_work_dtype(tensor.dtype))
        channels, view = self._groups(tuple(work.shape))
        lo, hi = _range(work, channels)
        if not (lo.isfinite().all() and hi.isfinite().all()):  # rare: pay for the cleanup only then
            lo, hi = _range(work.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0), channels)
            work = work.nan_to_num(nan=0.0, posinf=math.inf, neginf=-math.inf)  # clamp takes inf
        scale = hi / QMAX - lo / QMAX  # not (hi - lo) / QMAX: that overflows near the dtype max
        scale = torch.where(scale >= torch.finfo(work.dtype).tiny, scale, 1.0)
        zero_point = torch.round(-lo / scale).clamp(0, QMAX)
        q = (work / scale.reshape(view)).round_().add_(zero_point.reshape(view)).clamp_(0, QMAX)
        payload = tensor_bytes(q.to(torch.uint8))
        zp = zero_point.to(torch.int64)
        if channels is not None:
            return payload, {"scale": scale.tolist(), "zero_point": zp.tolist()}
        return payload, {"scale": scale.item(), "zero_point": zp.item()}

    def decode_float(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        channels, view = self._groups(shape)
        work = _work_dtype(dtype)
        scale = torch.tensor(_numbers(params, "scale", channels, _is_scale), dtype=work)
        zero_point = torch.tensor(
            _numbers(params, "zero_point", channels, _is_zero_point), dtype=work
        )
        q = tensor_from_bytes(payload, torch.uint8, shape).to(work)
        return q.sub_(zero_point.reshape(view)).mul_(scale.reshape(view)).to(dtype)


@register
class Int8ChannelCodec(Int8Codec):
    name = "int8-channel"
    per_channel = True


def _range(work: torch.Tensor, channels: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (along dim 1) or per-tensor [lo, hi], widened to include 0."""
    if work.numel() == 0:
        zeros = torch.zeros(1 if channels is None else channels, dtype=work.dtype)
        return zeros, zeros
    dims = (
        [d for d in range(work.ndim) if d != 1] if channels is not None else list(range(work.ndim))
    )
    lo, hi = work.amin(dim=dims).clamp(max=0), work.amax(dim=dims).clamp(min=0)
    return lo.reshape(-1), hi.reshape(-1)


def _is_scale(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < math.inf


def _is_zero_point(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= QMAX


def _numbers(
    params: dict[str, Any], key: str, count: int | None, valid: Callable[[Any], bool]
) -> list[float]:
    """A wire param checked by `valid`: one number (count None) or a list of `count`."""
    value = params.get(key)
    values = [value] if count is None else value
    if not isinstance(values, list) or (count is not None and len(values) != count):
        expected = "a number" if count is None else f"a list of {count} numbers"
        raise FrameError(f"int8 param {key!r} should be {expected}, got {_short(value)}")
    for v in values:
        if not valid(v):
            raise FrameError(f"int8 param {key!r} holds an invalid value {_short(v)}")
    return values


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
