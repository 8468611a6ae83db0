"""`lz4`: lossless LZ4 block compression of the raw bytes — less ratio than zstd, much faster.

Blocks carry no size: the decoder knows it from dtype and shape, so it never allocates more.
"""

from __future__ import annotations

from typing import Any

import torch

from skyline.errors import FrameError
from skyline.runtime.codecs.base import (
    Codec,
    nbytes,
    register,
    require,
    tensor_bytes,
    tensor_from_bytes,
)


@register
class Lz4Codec(Codec):
    name = "lz4"
    lossless = True

    def __init__(self, arg: str | None = None) -> None:
        super().__init__(arg)
        self._block = require("lz4.block", "compress", self.name)

    def encode(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        return self._block.compress(tensor_bytes(tensor), store_size=False), {}

    def decode(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        expected = nbytes(dtype, shape)
        try:
            raw = self._block.decompress(payload, uncompressed_size=expected)
        except self._block.LZ4BlockError as exc:
            raise FrameError(f"lz4 payload is corrupt: {exc}") from exc
        return tensor_from_bytes(memoryview(raw), dtype, shape)
