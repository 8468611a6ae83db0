"""`fp16`: halve float32/float64 tensors by casting to float16.

Error: round-to-nearest, so relative error <= 2**-11 for magnitudes in fp16's normal range
[6.1e-5, 65504]; smaller magnitudes lose relative precision (absolute error <= 2**-25) and
larger ones become +-inf. inf and NaN survive. float16/bfloat16 tensors and non-float tensors
pass through unchanged (already 2 bytes, or not floats).
"""

from __future__ import annotations

from typing import Any

import torch

from skyline.runtime.codecs.base import FloatCodec, register, tensor_bytes, tensor_from_bytes


@register
class Fp16Codec(FloatCodec):
    name = "fp16"

    def applies_to(self, dtype: torch.dtype) -> bool:
        return dtype in (torch.float32, torch.float64)

    def encode_float(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        return tensor_bytes(tensor.to(torch.float16)), {}

    def decode_float(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        return tensor_from_bytes(payload, torch.float16, shape).to(dtype)
