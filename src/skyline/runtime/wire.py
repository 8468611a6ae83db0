"""The binary frame edge and cloud exchange: a ZeroMQ multipart message, no pickle on the wire.

Part 0 holds a fixed header, a struct-packed tensor table and JSON meta; parts 1..n hold one
payload each, so ZeroMQ sends tensor bytes zero-copy (`send_multipart(parts, copy=False)`).
Layout: docs/wire.md. Decoding treats every byte as hostile: anything malformed raises
`FrameError`, and sizes are checked against `max_bytes` before anything is allocated.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

import torch

from skyline.errors import ConfigError, FrameError, SkylineError
from skyline.runtime.codecs import create
from skyline.runtime.codecs.base import nbytes

MAGIC = b"SKYL"
VERSION = 1
MAX_FRAME_BYTES = 256 * 2**20
MAX_NDIM = 64
MAX_TENSORS = 2**16 - 1  # the table count is a u16

# magic, version u8, kind u8, flags u16, request_id u64, table_len u32 (little-endian)
_HEADER = struct.Struct("<4sBBHQI")

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


class FrameKind(IntEnum):
    REQUEST = 1
    RESPONSE = 2
    ERROR = 3
    PING = 4
    PONG = 5


@dataclass
class Frame:
    """One message. `meta` is a small JSON object (stage index, error text, timings...)."""

    kind: FrameKind
    request_id: int  # u64
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class _Entry(NamedTuple):
    """One row of the tensor table, as it is on the wire."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    codec: str
    params: dict[str, Any]
    payload_len: int


def error_frame(request_id: int, message: str) -> Frame:
    return Frame(FrameKind.ERROR, request_id, meta={"error": message})


# -- encoding ----------------------------------------------------------------------------------


def encode_frame(
    frame: Frame, codecs: Mapping[str, str] | None = None, default_codec: str = "raw"
) -> list[bytes | memoryview]:
    """Parts for `zmq.Socket.send_multipart`. `codecs` maps tensor names to codec specs; other
    tensors use `default_codec`. Raw payloads alias the tensors: send before mutating them."""
    codecs = codecs or {}
    unknown = sorted(set(codecs) - set(frame.tensors))
    if unknown:
        raise ConfigError(
            f"codecs given for tensors {unknown} that the frame does not hold",
            fix=f"name tensors among {sorted(frame.tensors)}",
        )
    if len(frame.tensors) > MAX_TENSORS:
        raise FrameError(f"a frame holds at most {MAX_TENSORS} tensors, got {len(frame.tensors)}")
    entries: list[_Entry] = []
    parts: list[bytes | memoryview] = [b""]
    for name, tensor in frame.tensors.items():
        if not isinstance(tensor, torch.Tensor) or tensor.dtype not in _DTYPE_NAMES:
            what = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise FrameError(
                f"tensor {name!r} is a {what}, which the wire does not carry",
                fix=f"convert it to one of {', '.join(DTYPES)}",
            )
        codec = create(codecs.get(name, default_codec))
        payload, params = codec.encode(tensor)
        length = memoryview(payload).nbytes
        shape = tuple(tensor.shape)
        entries.append(_Entry(name, _DTYPE_NAMES[tensor.dtype], shape, codec.spec, params, length))
        parts.append(payload)
    parts[0] = _pack_head(frame.kind, frame.request_id, entries, frame.meta)
    return parts


def _pack_head(kind: int, request_id: int, entries: Sequence[_Entry], meta: Any) -> bytes:
    """Part 0: header, tensor table, meta JSON."""
    try:
        kind = FrameKind(kind)
    except (ValueError, TypeError):
        raise FrameError(
            f"frame kind {kind!r} is not one of {[k.name for k in FrameKind]}"
        ) from None
    if not isinstance(request_id, int) or not 0 <= request_id < 2**64:
        raise FrameError(f"request_id {request_id!r} is not an integer in [0, 2**64)")
    table = [struct.pack("<H", len(entries))]
    for e in entries:
        if len(e.shape) > MAX_NDIM:
            raise FrameError(f"tensor {e.name!r} has {len(e.shape)} dims, at most {MAX_NDIM}")
        table += [
            _str16(e.name, "tensor name"),
            _str16(e.dtype, "dtype"),
            struct.pack(f"<B{len(e.shape)}Q", len(e.shape), *e.shape),
            _str16(e.codec, "codec spec"),
            _len32(_dump_object(e.params, f"codec params of {e.name!r}")),
            struct.pack("<Q", e.payload_len),
        ]
    packed = b"".join(table)
    header = _HEADER.pack(MAGIC, VERSION, kind, 0, request_id, len(packed))
    return header + packed + _dump_object(meta, "frame meta")


def _str16(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise FrameError(f"{what} must be a str, got {type(text).__name__}")
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise FrameError(f"{what} {text[:40]!r}... is longer than 65535 bytes")
    return struct.pack("<H", len(data)) + data


def _len32(data: bytes) -> bytes:
    if len(data) > 0xFFFFFFFF:
        raise FrameError(f"codec params of {len(data)} bytes do not fit a frame")
    return struct.pack("<I", len(data)) + data


def _dump_object(value: Any, what: str) -> bytes:
    """Compact JSON of a dict: the only thing `_load_json` accepts back."""
    if not isinstance(value, dict):
        raise FrameError(f"{what} must be a dict, got {type(value).__name__}")
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise FrameError(f"{what} is not JSON-able: {exc}") from exc
    return text.encode("utf-8")


def frame_nbytes(parts: Sequence[Any]) -> int:
    """Total bytes of a message on the wire (ZeroMQ's own framing not counted)."""
    return sum(_view(part, i).nbytes for i, part in enumerate(parts))


# -- decoding ----------------------------------------------------------------------------------


def decode_frame(parts: Sequence[Any], *, max_bytes: int = MAX_FRAME_BYTES) -> Frame:
    """Parse and validate a message. Parts may be bytes or any buffer (`zmq.Frame` included).

    `max_bytes` bounds both the bytes received and the bytes of the decoded tensors (so a
    compressed payload cannot expand past it). Decoded tensors own their memory: the receive
    buffers may be reused at once.
    """
    if not 1 <= len(parts) <= 1 + MAX_TENSORS:
        raise FrameError(f"a frame has 1 to {1 + MAX_TENSORS} parts, got {len(parts)}")
    views = [_view(part, i) for i, part in enumerate(parts)]
    total = sum(v.nbytes for v in views)
    if total > max_bytes:
        raise FrameError(f"frame of {total} bytes exceeds the limit of {max_bytes}")
    head = views[0]
    if head.nbytes < _HEADER.size:
        raise FrameError(f"header truncated: part 0 has {head.nbytes} bytes, needs {_HEADER.size}")
    magic, version, kind_code, flags, request_id, table_len = _HEADER.unpack_from(head)
    if magic != MAGIC:
        raise FrameError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}: not a Skyline frame")
    if version != VERSION:
        raise FrameError(f"frame version {version}; this build reads version {VERSION}")
    try:
        kind = FrameKind(kind_code)
    except ValueError:
        raise FrameError(f"unknown frame kind {kind_code}") from None
    if flags:
        raise FrameError(f"flags {flags:#06x} are not defined in version {VERSION}")
    table_end = _HEADER.size + table_len
    if table_end > head.nbytes:
        raise FrameError(
            f"tensor table of {table_len} bytes runs past part 0 ({head.nbytes} bytes)"
        )
    reader = _Reader(head[_HEADER.size : table_end])
    (count,) = reader.unpack("<H", "tensor count")
    if count != len(views) - 1:
        raise FrameError(f"table lists {count} tensors, the message has {len(views) - 1} payloads")
    entries = [_read_entry(reader, max_bytes) for _ in range(count)]
    if reader.remaining:
        raise FrameError(f"{reader.remaining} stray bytes after the tensor table")
    meta = _load_json(head[table_end:], "frame meta")
    _check_entries(entries, views[1:], max_bytes)
    tensors = {e.name: _decode_tensor(e, payload) for e, payload in zip(entries, views[1:])}
    return Frame(kind, request_id, tensors, meta)


def request_id_of(parts: Sequence[Any]) -> int:
    """The request id of a message without decoding it (0 when there is no valid header):
    enough to refuse a request cheaply."""
    try:
        head = _view(parts[0], 0)
        magic, *_, request_id, _ = _HEADER.unpack_from(head)
    except (FrameError, IndexError, struct.error):
        return 0
    return int(request_id) if magic == MAGIC else 0


def _view(part: Any, index: int) -> memoryview:
    """A flat byte view of one message part, without copying."""
    try:
        view = memoryview(part)
        return view if view.ndim == 1 and view.format == "B" else view.cast("B")
    except (TypeError, ValueError) as exc:
        raise FrameError(f"message part {index} is not a contiguous byte buffer: {exc}") from exc


class _Reader:
    """Reads the tensor table front to back; running off the end is a `FrameError`."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    @property
    def remaining(self) -> int:
        return self.buf.nbytes - self.pos

    def take(self, n: int, what: str) -> memoryview:
        if n > self.remaining:
            raise FrameError(f"tensor table truncated reading {what}")
        self.pos += n
        return self.buf[self.pos - n : self.pos]

    def unpack(self, fmt: str, what: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def str16(self, what: str) -> str:
        (n,) = self.unpack("<H", what)
        try:
            return str(self.take(n, what), "utf-8")
        except UnicodeDecodeError as exc:
            raise FrameError(f"{what} is not UTF-8") from exc


def _read_entry(r: _Reader, max_bytes: int) -> _Entry:
    name = r.str16("tensor name")
    dtype = r.str16(f"dtype of {name!r}")
    (ndim,) = r.unpack("<B", f"ndim of {name!r}")
    if ndim > MAX_NDIM:
        raise FrameError(f"tensor {name!r} has {ndim} dims, at most {MAX_NDIM}")
    shape = r.unpack(f"<{ndim}Q", f"shape of {name!r}")
    codec = r.str16(f"codec of {name!r}")
    (params_len,) = r.unpack("<I", f"params length of {name!r}")
    params = _load_json(r.take(params_len, f"params of {name!r}"), f"codec params of {name!r}")
    (payload_len,) = r.unpack("<Q", f"payload length of {name!r}")
    if any(dim > max_bytes for dim in shape):
        raise FrameError(f"tensor {name!r} has an impossible shape {list(shape)}")
    return _Entry(name, dtype, shape, codec, params, payload_len)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _load_json(buf: memoryview, what: str) -> dict[str, Any]:
    try:
        value = json.loads(str(buf, "utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FrameError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise FrameError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _check_entries(entries: list[_Entry], payloads: list[memoryview], max_bytes: int) -> None:
    """Every check that needs no decoding, before any tensor is allocated."""
    seen: set[str] = set()
    decoded = 0
    for e, payload in zip(entries, payloads):
        if e.name in seen:
            raise FrameError(f"tensor {e.name!r} appears twice in the table")
        seen.add(e.name)
        if e.dtype not in DTYPES:
            raise FrameError(
                f"tensor {e.name!r} has unsupported dtype {e.dtype!r}; the wire carries "
                + ", ".join(DTYPES)
            )
        if payload.nbytes != e.payload_len:
            raise FrameError(
                f"tensor {e.name!r}: table says {e.payload_len} payload bytes, part has "
                f"{payload.nbytes}"
            )
        decoded += nbytes(DTYPES[e.dtype], e.shape)
    if decoded > max_bytes:
        raise FrameError(f"tensors would decode to {decoded} bytes, over the limit of {max_bytes}")


def _decode_tensor(e: _Entry, payload: memoryview) -> torch.Tensor:
    dtype = DTYPES[e.dtype]
    try:
        tensor = create(e.codec, load_paths=False).decode(payload, dtype, e.shape, e.params)
    except Exception as exc:  # the trust boundary: a plug-in codec may raise anything on garbage
        detail = str(exc) if isinstance(exc, SkylineError) else f"{type(exc).__name__}: {exc}"
        raise FrameError(f"tensor {e.name!r} (codec {e.codec!r}): {detail}") from exc
    if not isinstance(tensor, torch.Tensor) or tensor.dtype != dtype or tensor.shape != e.shape:
        raise FrameError(f"codec {e.codec!r} decoded tensor {e.name!r} to the wrong dtype or shape")
    return tensor
