"""Read IDX files (the MNIST family's format) with numpy, validating before trusting any size.

Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian int32, then the data in C order. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from skyline.errors import ConfigError

_UBYTE = 0x08
_HEADER = 4


def _corrupt(path: Path, what: str) -> ConfigError:
    return ConfigError(
        f"{path} is not a valid IDX file: {what}",
        fix="replace it with an intact copy (Fashion-MNIST: apt-get install --reinstall "
        "dataset-fashion-mnist)",
    )


def read_idx(path: str | Path, *, ndim: int) -> np.ndarray:
    """The uint8 array stored in IDX file `path` (gzip if it ends in .gz) with `ndim` dimensions.

    Any defect (bad gzip stream, wrong magic, type or rank, data shorter or longer than the
    header says) raises `ConfigError` naming the file, so a damaged download never becomes
    silently wrong training data.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise _corrupt(path, f"cannot decompress ({exc})") from exc
    if len(raw) < _HEADER + 4 * ndim:
        raise _corrupt(path, f"only {len(raw)} bytes, shorter than its header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or raw[3] != ndim:
        raise _corrupt(
            path,
            f"magic {raw[:4].hex()}, expected 000008{ndim:02x} (unsigned bytes, {ndim} dims)",
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=_HEADER))
    expected = math.prod(shape)  # Python ints: a forged header cannot overflow the check
    data_bytes = len(raw) - _HEADER - 4 * ndim
    if data_bytes != expected:
        raise _corrupt(
            path, f"header shape {shape} needs {expected} data bytes, found {data_bytes}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=_HEADER + 4 * ndim).reshape(shape)
