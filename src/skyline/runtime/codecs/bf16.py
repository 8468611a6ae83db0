"""`bf16`: halve float32/float64 tensors by casting to bfloat16.

bfloat16 keeps float32's 8 exponent bits and 7 mantissa bits: relative error <= 2**-8
(round to nearest) over float32's whole normal range, so it never overflows where float32
does not (fp16 overflows past 65504, e.g. on outlier hidden-state features of language
models); float64 magnitudes beyond ~3.39e38 become +-inf. inf and NaN survive. float16/bfloat16
tensors and non-float tensors pass through unchanged (already 2 bytes, or not floats).
"""

from __future__ import annotations

from typing import Any

import torch

from skyline.runtime.codecs.base import FloatCodec, register, tensor_bytes, tensor_from_bytes


@register
class Bf16Codec(FloatCodec):
    name = "bf16"

    def applies_to(self, dtype: torch.dtype) -> bool:
        return dtype in (torch.float32, torch.float64)

    def encode_float(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        return tensor_bytes(tensor.to(torch.bfloat16)), {}

    def decode_float(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        return tensor_from_bytes(payload, torch.bfloat16, shape).to(dtype)
