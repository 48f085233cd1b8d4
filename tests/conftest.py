"""Small MNIST-shaped data written by the tests themselves, in the MNIST/raw IDX layout.

Each class is a bright horizontal bar at its own height (digit k at rows 4+2k..5+2k), shifted
sideways at random and drawn over noise: easy enough that a network visibly learns it in one
short epoch, hard enough that an untrained one scores about 10%.
"""
from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scripts live at the top level, not in a package

REAL_DATA = Path(os.environ.get("MNIST_DATA_DIR", ROOT.parent / "shared" / "data"))


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes: 0 0 8 ndim, the sizes as big-endian int32, the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.tobytes())


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = rng.integers(0, 60, size=(n, 28, 28))
    for i, k in enumerate(labels):
        row = 4 + 2 * k
        col = rng.integers(2, 8)
        images[i, row:row + 2, col:col + 16] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def make_mnist(root: Path, n_train: int = 2000, n_test: int = 500) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_digits(n, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A data folder holding small synthetic MNIST/raw files."""
    return make_mnist(tmp_path / "data")


@pytest.fixture
def offline(monkeypatch):
    """Every download goes to a closed port on this machine, so it fails at once."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
