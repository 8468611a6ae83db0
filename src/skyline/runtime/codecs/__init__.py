"""Tensor codecs for the wire, created by spec: `codecs.create("zstd:3")`; `measure()` tells the
planner what each costs and saves on a given tensor."""

from skyline.runtime.codecs import bf16, fp16, int8, lz4, raw, zstd
from skyline.runtime.codecs.base import (
    CODECS,
    Codec,
    CodecStats,
    FloatCodec,
    check_codec,
    create,
    measure,
    names,
    register,
)

__all__ = [
    "CODECS",
    "Codec",
    "CodecStats",
    "FloatCodec",
    "bf16",
    "check_codec",
    "create",
    "fp16",
    "int8",
    "lz4",
    "measure",
    "names",
    "raw",
    "register",
    "zstd",
]
