"""`fp16`: halve float32/float64 tensors by casting to float16.

Error: round-to-nearest, so relative error <= 2**-11 for magnitudes in fp16's normal range
[6.1e-5, 65504]; smaller magnitudes lose relative precision (absolute error <= 2**-25) and
larger ones become +-inf. inf and NaN survive. float16/bfloat16 tensors and non-float tensors
pass through unchanged (already 2 bytes, or not floats).
"""

from __future__ import annotations

import torch

from skyline.runtime.codecs.base import HalfCastCodec, register


@register
class Fp16Codec(HalfCastCodec):
    name = "fp16"
    half = torch.float16
