"""Fashion-MNIST loader on the real files, its errors, the IDX reader, digits and hold-out."""

from __future__ import annotations

import gzip
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from skyline.data import MEAN, ROOT_ENV, STD, digits, fashion_mnist, read_idx, split_holdout
from skyline.data.fashion_mnist import DEFAULT_ROOT
from skyline.errors import ConfigError

needs_files = pytest.mark.skipif(
    not (DEFAULT_ROOT / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="apt-get install dataset-fashion-mnist",
)


def _write_idx(path: Path, array: np.ndarray, *, magic: bytes | None = None) -> Path:
    header = magic or bytes([0, 0, 8, array.ndim])
    header += struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def _fake_split(root: Path, n: int = 6, label: int = 3) -> None:
    _write_idx(root / "t10k-images-idx3-ubyte.gz", np.full((n, 28, 28), 255))
    _write_idx(root / "t10k-labels-idx1-ubyte.gz", np.full(n, label))


@needs_files
def test_real_test_split_shapes_dtypes_labels_and_scaling() -> None:
    ds = fashion_mnist("test")
    x, y = ds.tensors
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10_000,) and y.dtype == torch.int64
    assert set(y.tolist()) == set(range(10))
    assert torch.bincount(y).tolist() == [1000] * 10  # the test split is balanced
    # Scaled to [0, 1] then standardized: black pixels map to -MEAN/STD, white to (1-MEAN)/STD.
    assert x.min().item() == pytest.approx(-MEAN / STD, abs=1e-5)
    assert x.max().item() == pytest.approx((1 - MEAN) / STD, abs=1e-5)


@needs_files
def test_real_train_split_is_standardized_and_limit_takes_a_prefix() -> None:
    x, y = fashion_mnist("train").tensors
    assert len(y) == 60_000
    assert x.mean().item() == pytest.approx(0.0, abs=1e-3)  # MEAN/STD measured on this split
    assert x.std().item() == pytest.approx(1.0, abs=1e-3)
    small_x, small_y = fashion_mnist("train", limit=7).tensors
    assert torch.equal(small_x, x[:7]) and torch.equal(small_y, y[:7])


def test_env_var_overrides_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_split(tmp_path)
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    x, y = fashion_mnist("test").tensors
    assert y.tolist() == [3] * 6
    assert torch.allclose(x, torch.full_like(x, (1 - MEAN) / STD))


def test_missing_files_name_the_package_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        fashion_mnist("test", root=tmp_path)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message and ROOT_ENV in message


def _corrupt_images(root: Path, kind: str) -> Path:
    path = root / "t10k-images-idx3-ubyte.gz"
    if kind == "not-gzip":
        path.write_bytes(b"this is not gzip")
    elif kind == "truncated-gzip":
        path.write_bytes(gzip.compress(bytes(range(256)) * 20)[:-8])  # checksum cut off
    elif kind == "bad-magic":
        _write_idx(path, np.zeros((6, 28, 28)), magic=bytes([0, 0, 9, 3]))
    elif kind == "short-data":
        good = gzip.decompress(_write_idx(path, np.zeros((6, 28, 28))).read_bytes())
        path.write_bytes(gzip.compress(good[:-1]))
    elif kind == "wrong-size":
        _write_idx(path, np.zeros((6, 14, 14)))
    return path


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("not-gzip", "cannot decompress"),
        ("truncated-gzip", "cannot decompress"),
        ("bad-magic", "magic 00000903"),
        ("short-data", "needs 4704 data bytes, found 4703"),
        ("wrong-size", "14x14 images"),
    ],
)
def test_corrupt_files_raise_config_error_naming_the_file(
    tmp_path: Path, kind: str, says: str
) -> None:
    _fake_split(tmp_path)
    path = _corrupt_images(tmp_path, kind)
    with pytest.raises(ConfigError, match=says) as info:
        fashion_mnist("test", root=tmp_path)
    assert str(path) in str(info.value)


def test_label_count_and_range_are_checked(tmp_path: Path) -> None:
    _fake_split(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(5, 1))
    with pytest.raises(ConfigError, match=r"6 images but .* 5 labels"):
        fashion_mnist("test", root=tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(6, 10))
    with pytest.raises(ConfigError, match="label 10"):
        fashion_mnist("test", root=tmp_path)


def test_rewritten_file_is_read_again_not_served_from_cache(tmp_path: Path) -> None:
    _fake_split(tmp_path, label=3)
    assert fashion_mnist("test", root=tmp_path).tensors[1][0] == 3
    _fake_split(tmp_path, n=4, label=5)
    assert fashion_mnist("test", root=tmp_path).tensors[1].tolist() == [5] * 4


@pytest.mark.parametrize(
    ("split", "limit", "says"),
    [("val", None, "unknown"), ("test", 0, "limit"), ("test", 7, "1..6")],
)
def test_bad_split_or_limit(tmp_path: Path, split: str, limit: int | None, says: str) -> None:
    _fake_split(tmp_path)
    with pytest.raises(ConfigError, match=says):
        fashion_mnist(split, root=tmp_path, limit=limit)  # type: ignore[arg-type]


def test_read_idx_plain_file_round_trips(tmp_path: Path) -> None:
    array = np.arange(24).reshape(2, 3, 4)
    gz = _write_idx(tmp_path / "a.gz", array)
    plain = tmp_path / "a.idx"
    with gzip.open(gz) as src, plain.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    assert np.array_equal(read_idx(plain, ndim=3), array)
    with pytest.raises(ConfigError, match="expected 00000801"):
        read_idx(plain, ndim=1)


def test_split_holdout_is_a_seeded_disjoint_partition() -> None:
    ds = TensorDataset(torch.arange(10), torch.arange(10) * 10)
    rest, held = split_holdout(ds, 3, seed=1)
    assert len(rest) == 7 and len(held) == 3
    assert sorted(rest.tensors[0].tolist() + held.tensors[0].tolist()) == list(range(10))
    assert torch.equal(held.tensors[1], held.tensors[0] * 10)  # rows stay aligned
    assert torch.equal(split_holdout(ds, 3, seed=1)[1].tensors[0], held.tensors[0])
    with pytest.raises(ConfigError, match="between 1 and 9"):
        split_holdout(ds, 10)


def test_digits_without_sklearn_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ConfigError, match="pip install scikit-learn"):
        digits()


def test_digits_shapes() -> None:
    pytest.importorskip("sklearn")
    x, y = digits().tensors
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= 0.0 and x.max() <= 1.0 and set(y.tolist()) == set(range(10))
