"""The `Codec` plug-in interface, its registry, and `measure()` so a planner can compare codecs.

A codec turns one tensor into a payload (bytes the wire carries untouched) plus small JSON-able
params, and back. Decoding sees bytes from the network: it must validate them and raise
`FrameError`, never allocate more than the declared dtype and shape need.
"""

from __future__ import annotations

import importlib
import json
import math
import statistics
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import torch

from skyline._registry import Registry, check_plugin
from skyline.errors import ConfigError, FrameError, RegistryError, UnknownNameError


class Codec(ABC):
    """Encodes one tensor for the wire. Subclasses set `name`, `lossless` and implement both
    directions; a codec that takes an argument ("zstd:3") overrides `__init__(arg)` and `spec`."""

    name: ClassVar[str]
    lossless: ClassVar[bool]

    def __init__(self, arg: str | None = None) -> None:
        if arg is not None:
            raise ConfigError(
                f"codec {self.name!r} takes no argument, got {arg!r}", fix=f"write {self.name!r}"
            )

    @property
    def spec(self) -> str:
        """The string `create()` turns back into this codec (what the wire records)."""
        return self.name

    @abstractmethod
    def encode(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        """Payload and JSON-able params. The payload may alias the tensor: do not mutate the
        tensor until the payload has been sent."""

    @abstractmethod
    def decode(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        """A tensor of `dtype` and `shape` that owns its memory; `FrameError` on bad input."""

    def __repr__(self) -> str:
        return f"<codec {self.spec}>"


class FloatCodec(Codec):
    """A lossy codec for floating tensors: anything else travels raw, marked
    `{"passthrough": true}`, so one codec can be set for a whole frame of mixed dtypes."""

    lossless = False

    def applies_to(self, dtype: torch.dtype) -> bool:
        return dtype.is_floating_point

    def encode(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        if not self.applies_to(tensor.dtype):
            return tensor_bytes(tensor), {"passthrough": True}
        return self.encode_float(tensor.detach().cpu())

    def decode(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        if params.get("passthrough") is True:
            return tensor_from_bytes(payload, dtype, shape)
        if not self.applies_to(dtype):
            raise FrameError(f"codec {self.name!r} cannot decode a {dtype} tensor")
        return self.decode_float(payload, dtype, shape, params)

    @abstractmethod
    def encode_float(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        """Encode a CPU tensor whose dtype `applies_to`."""

    @abstractmethod
    def decode_float(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        """Inverse of `encode_float`."""


class HalfCastCodec(FloatCodec):
    """Casts float32/float64 to a 2-byte float `half` (and back): half the bytes, no params.
    Tensors already 2 bytes wide, or not floats, pass through."""

    half: ClassVar[torch.dtype]

    def applies_to(self, dtype: torch.dtype) -> bool:
        return dtype in (torch.float32, torch.float64)

    def encode_float(self, tensor: torch.Tensor) -> tuple[bytes | memoryview, dict[str, Any]]:
        return tensor_bytes(tensor.to(self.half)), {}

    def decode_float(
        self,
        payload: memoryview,
        dtype: torch.dtype,
        shape: tuple[int, ...],
        params: dict[str, Any],
    ) -> torch.Tensor:
        return tensor_from_bytes(payload, self.half, shape).to(dtype)


# -- bytes <-> tensors -------------------------------------------------------------------------


def nbytes(dtype: torch.dtype, shape: tuple[int, ...]) -> int:
    """Bytes a dense tensor of `dtype` and `shape` occupies (Python ints: no overflow)."""
    return math.prod(shape) * dtype.itemsize


def _byte_array(tensor: torch.Tensor) -> np.ndarray:
    """A flat uint8 numpy view of a contiguous CPU tensor's memory (shares it, keeps it alive)."""
    return tensor.reshape(-1).view(torch.uint8).numpy()


def tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """The tensor's bytes, zero-copy when it is already a contiguous CPU tensor."""
    return _byte_array(tensor.detach().cpu().contiguous()).data


def tensor_from_bytes(
    payload: memoryview, dtype: torch.dtype, shape: tuple[int, ...]
) -> torch.Tensor:
    """Copy `payload` into a new tensor: it owns its memory, so a reused receive buffer cannot
    change it, and torch never sees a read-only buffer."""
    expected = nbytes(dtype, shape)
    if payload.nbytes != expected:
        raise FrameError(
            f"tensor size expected {expected} bytes for {dtype} {list(shape)}, got {payload.nbytes}"
        )
    out = torch.empty(shape, dtype=dtype)
    target = _byte_array(out)
    target[:] = np.frombuffer(payload, dtype=np.uint8)
    if dtype == torch.bool and expected and target.max() > 1:
        raise FrameError("bool tensor holds bytes other than 0 and 1")
    return out


def require(module: str, extra: str, codec: str) -> ModuleType:
    """Import an optional dependency, or say which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"codec {codec!r} needs the {module!r} package, which is not installed",
            fix=f"pip install 'skyline[{extra}]'",
        ) from exc


# -- registry ----------------------------------------------------------------------------------

CODECS: Registry[type[Codec]] = Registry("codec")


def check_codec(cls: Any) -> None:
    """Explain what is wrong with a would-be codec plug-in."""
    check_plugin(cls, Codec, "codec", "skyline.runtime.codecs.Codec")
    if ":" in cls.name:
        raise RegistryError(
            f"codec {cls.__name__} has no usable `name` (a non-empty string without ':')",
            fix="set a class attribute name = '...'",
        )
    if not isinstance(getattr(cls, "lossless", None), bool):
        raise RegistryError(
            f"codec {cls.__name__} does not say whether it is lossless",
            fix="set a class attribute lossless = True or False",
        )


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: validate and register a codec under `cls.name`."""
    check_codec(cls)
    CODECS.register(cls.name, cls)
    return cls


def _parse(spec: str, load_paths: bool) -> tuple[str, str | None]:
    """Split a spec into (registered name or 'module:attr', argument)."""
    head, sep, rest = spec.partition(":")
    if head in CODECS or not load_paths or not rest.partition(":")[0].isidentifier():
        return head, rest if sep else None
    attr, sep, arg = rest.partition(":")
    return f"{head}:{attr}", arg if sep else None


def create(spec: str, *, load_paths: bool = True) -> Codec:
    """A codec from `name[:arg]` (e.g. "zstd:3") or `module:Class[:arg]`.

    `load_paths=False` accepts registered names only: the wire uses it, so bytes from a peer
    can never make this process import a module.
    """
    name, arg = _parse(spec, load_paths)
    if not load_paths and name not in CODECS:
        raise UnknownNameError(f"unknown codec {name!r}", fix=f"use one of: {', '.join(names())}")
    cls = CODECS.get(name)
    check_codec(cls)
    return cls(arg)


def names() -> list[str]:
    return CODECS.names()


# -- measurement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodecStats:
    """One codec measured on one tensor. `encoded_bytes` counts the payload plus its params as
    JSON (both travel); times are medians of wall-clock `perf_counter` in the calling thread;
    errors compare in float64 (NaN when the input holds NaN or inf)."""

    codec: str
    raw_bytes: int
    encoded_bytes: int
    ratio: float
    encode_ms: float
    decode_ms: float
    max_abs_error: float
    rel_l2_error: float


def measure(codec: str | Codec, tensor: torch.Tensor, repeats: int = 5) -> CodecStats:
    """Encode and decode `tensor` `repeats` times. Set torch's thread count before calling: the
    numbers are only comparable under the same one."""
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    c = create(codec) if isinstance(codec, str) else codec
    shape = tuple(tensor.shape)
    encode_s: list[float] = []
    decode_s: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        payload, params = c.encode(tensor)
        t1 = time.perf_counter()
        decoded = c.decode(memoryview(payload), tensor.dtype, shape, params)
        encode_s.append(t1 - t0)
        decode_s.append(time.perf_counter() - t1)
    raw = nbytes(tensor.dtype, shape)
    encoded = memoryview(payload).nbytes + len(json.dumps(params))
    reference = tensor.detach().cpu().double()
    diff = decoded.double() - reference
    norm = float(reference.norm())
    err_norm = float(diff.norm())
    return CodecStats(
        codec=c.spec,
        raw_bytes=raw,
        encoded_bytes=encoded,
        ratio=raw / encoded,
        encode_ms=statistics.median(encode_s) * 1e3,
        decode_ms=statistics.median(decode_s) * 1e3,
        max_abs_error=float(diff.abs().max()) if diff.numel() else 0.0,
        rel_l2_error=err_norm / norm if norm else (0.0 if err_norm == 0 else math.inf),
    )
