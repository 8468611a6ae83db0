"""`zstd`: lossless Zstandard compression of the raw bytes ("zstd:N" picks level N, default 1).

Pays off on activations with many zeros (after ReLU) or repeated values; costs CPU on both
ends, so the planner weighs it against link bandwidth with `measure()`.
"""

from __future__ import annotations

from typing import Any

import torch

from skyline.errors import ConfigError, FrameError
from skyline.runtime.codecs.base import (
    Codec,
    nbytes,
    register,
    require,
    tensor_bytes,
    tensor_from_bytes,
)


@register
class ZstdCodec(Codec):
    name = "zstd"
    lossless = True

    def __init__(self, arg: str | None = None) -> None:
        self._zstd = require("zstandard", "compress", self.name)
        level = "1" if arg is None else arg
        if not level.lstrip("-").isdecimal() or not -7 <= int(level) <= 22:
            raise ConfigError(
                f"zstd level {arg!r} is not an integer in -7..22", fix="e.g. 'zstd:3'"
            )
        self.level = int(level)

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.level}"

    def encode(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        return self._zstd.ZstdCompressor(level=self.level).compress(tensor_bytes(tensor)), {}

    def decode(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        expected = nbytes(dtype, shape)
        try:
            # Checked before decompressing: zstd allocates whatever the frame header claims.
            claimed = self._zstd.frame_content_size(payload)
            if claimed != expected:
                raise FrameError(
                    f"tensor size expected {expected} bytes, zstd payload holds {claimed}"
                )
            raw = self._zstd.ZstdDecompressor().decompress(payload)
        except self._zstd.ZstdError as exc:
            raise FrameError(f"zstd payload is corrupt: {exc}") from exc
        return tensor_from_bytes(memoryview(raw), dtype, shape)
