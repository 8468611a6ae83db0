"""`raw`: the tensor's own bytes — zero-copy on encode, the baseline every codec is compared to."""

from __future__ import annotations

from typing import Any

import torch

from skyline.runtime.codecs.base import Codec, register, tensor_bytes, tensor_from_bytes


@register
class RawCodec(Codec):
    name = "raw"
    lossless = True

    def encode(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        return tensor_bytes(tensor), {}

    def decode(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        return tensor_from_bytes(payload, dtype, shape)
