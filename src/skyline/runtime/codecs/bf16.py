"""`bf16`: halve float32/float64 tensors by casting to bfloat16.

bfloat16 keeps float32's 8 exponent bits and 7 mantissa bits: relative error <= 2**-8
(round to nearest) over float32's whole normal range, so it never overflows where float32
does not (fp16 overflows past 65504, e.g. on outlier hidden-state features of language
models); float64 magnitudes beyond ~3.39e38 become +-inf. inf and NaN survive. float16/bfloat16
tensors and non-float tensors pass through unchanged (already 2 bytes, or not floats).
"""

from __future__ import annotations

import torch

from skyline.runtime.codecs.base import HalfCastCodec, register


@register
class Bf16Codec(HalfCastCodec):
    name = "bf16"
    half = torch.bfloat16
