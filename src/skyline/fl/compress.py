"""Update compression for FL traffic: what a client (or an edge) sends instead of float32.

A codec turns a list of float arrays into a list of smaller arrays (so it still rides in a
Flower `ArrayRecord`) and back. Codecs with `feedback` keep the part they dropped and add it
to the next update (error feedback, Seide et al. 2014 / Karimireddy et al. 2019), which is
what keeps top-k sparsification from biasing training.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from skyline._registry import PluginRegistry
from skyline.errors import ConfigError

Arrays = list[np.ndarray]


def payload_bytes(arrays: Arrays) -> int:
    """Bytes of array data a message carries (what crosses the link, headers aside)."""
    return int(sum(np.asarray(a).nbytes for a in arrays))


class UpdateCodec(ABC):
    """Encodes a list of float arrays into a list of arrays; `decode(encode(x))` ~= x."""

    name: ClassVar[str]
    feedback: ClassVar[bool] = False

    @abstractmethod
    def encode(self, arrays: Arrays) -> Arrays: ...

    @abstractmethod
    def decode(self, encoded: Arrays, like: Arrays) -> Arrays:
        """Back to float32 arrays shaped as `like`."""

    def compress(self, update: Arrays, residual: Arrays | None) -> tuple[Arrays, Arrays | None]:
        """Encode `update` (+ the carried residual when the codec uses feedback); returns the
        encoded arrays and the residual to carry into the next round."""
        if not self.feedback:
            return self.encode(update), None
        full = update if residual is None else [u + r for u, r in zip(update, residual)]
        encoded = self.encode(full)
        return encoded, [f - d for f, d in zip(full, self.decode(encoded, full))]


CODECS: PluginRegistry[UpdateCodec] = PluginRegistry(
    "update codec", UpdateCodec, "skyline.fl.UpdateCodec"
)


@CODECS.add
class Identity(UpdateCodec):
    """float32 as is: the baseline every ratio is taken against."""

    name = "none"

    def encode(self, arrays: Arrays) -> Arrays:
        return [np.asarray(a, dtype=np.float32) for a in arrays]

    def decode(self, encoded: Arrays, like: Arrays) -> Arrays:
        return [np.asarray(e, dtype=np.float32).reshape(np.shape(x)) for e, x in zip(encoded, like)]


@CODECS.add
class Int8(UpdateCodec):
    """Symmetric per-tensor int8: q = round(x / s), s = max|x| / 127 (about 4x smaller)."""

    name = "int8"

    def encode(self, arrays: Arrays) -> Arrays:
        out: Arrays = []
        for a in arrays:
            a = np.asarray(a, dtype=np.float32)
            top = float(np.abs(a).max()) if a.size else 0.0
            scale = top / 127 if top > 0 else 1.0
            out += [np.round(a / scale).astype(np.int8), np.array([scale], dtype=np.float32)]
        return out

    def decode(self, encoded: Arrays, like: Arrays) -> Arrays:
        _pairs(encoded, like, self.name)
        return [
            (encoded[2 * i].astype(np.float32) * encoded[2 * i + 1][0]).reshape(np.shape(x))
            for i, x in enumerate(like)
        ]


@CODECS.add
class TopK(UpdateCodec):
    """Keeps the largest `fraction` of each tensor's entries by magnitude (int32 index + float32
    value each), with error feedback."""

    name = "topk"
    feedback = True

    def __init__(self, fraction: float = 0.1) -> None:
        if not 0 < fraction <= 1:
            raise ConfigError(
                f"top-k fraction={fraction} is outside (0, 1]", fix="use e.g. topk:0.1"
            )
        self.fraction = fraction

    def encode(self, arrays: Arrays) -> Arrays:
        out: Arrays = []
        for a in arrays:
            flat = np.asarray(a, dtype=np.float32).ravel()
            k = max(1, math.ceil(self.fraction * flat.size)) if flat.size else 0
            top = np.argpartition(np.abs(flat), flat.size - k)[flat.size - k :] if k else flat[:0]
            idx = np.sort(top).astype(np.int32)
            out += [idx, flat[idx]]
        return out

    def decode(self, encoded: Arrays, like: Arrays) -> Arrays:
        _pairs(encoded, like, self.name)
        result: Arrays = []
        for i, x in enumerate(like):
            flat = np.zeros(int(np.prod(np.shape(x))), dtype=np.float32)
            flat[encoded[2 * i]] = encoded[2 * i + 1]
            result.append(flat.reshape(np.shape(x)))
        return result


def _pairs(encoded: Arrays, like: Arrays, name: str) -> None:
    if len(encoded) != 2 * len(like):
        raise ConfigError(
            f"{name} payload has {len(encoded)} arrays for {len(like)} tensors",
            fix="decode with the codec the sender used",
        )


def create_codec(spec: str) -> UpdateCodec:
    """`"none"`, `"int8"`, `"topk"` or `"topk:0.05"` (the part after ':' is the argument)."""
    name, _, arg = spec.partition(":")
    if not arg:
        return CODECS.create(name)
    try:
        value = float(arg)
    except ValueError as exc:
        raise ConfigError(
            f"codec argument {arg!r} in {spec!r} is not a number", fix="write e.g. topk:0.1"
        ) from exc
    return CODECS.create(name, fraction=value)
