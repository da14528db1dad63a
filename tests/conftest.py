"""Shared pytest fixtures (keep this file small and generic)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real MNIST test-split files (t10k-*-idx*-ubyte.gz) shipped beside the repository, in the
# layout load_dataset expects: <SHARED_DATA>/mnist/. The product never depends on them.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Cache root holding ``mnist/t10k-*`` (pass as ``data_dir=`` to ``load_dataset``)."""
    if not (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST test-split files not found under {SHARED_DATA / 'mnist'}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mnist_dir(shared_data_dir: Path) -> Path:
    """The folder with the real MNIST t10k IDX files themselves."""
    return shared_data_dir / "mnist"


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) as an IDX file, gzip-compressed if ``path`` ends in ``.gz``:
    bytes 0, 0, 0x08 (unsigned byte), ndim; one big-endian uint32 per dimension; the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


@pytest.fixture(scope="session")
def idx_writer():
    """The function ``write_idx(path, uint8_array)`` (standard IDX format, gzip if ``.gz``)."""
    return write_idx


@pytest.fixture(scope="session")
def fake_mnist_root(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A cache root with tiny MNIST-format files in ``<root>/mnist/`` (random 28x28 images,
    labels 0..9: 12 of each class in train, 5 of each in t10k). Returns
    ``{"root": Path, "train": (images, labels), "test": (images, labels)}``."""
    root = tmp_path_factory.mktemp("fake_cache")
    rng = np.random.default_rng(1234)
    out: dict = {"root": root}
    for split, prefix, reps in (("train", "train", 12), ("test", "t10k", 5)):
        labels = rng.permutation(np.tile(np.arange(10, dtype=np.uint8), reps))
        images = rng.integers(0, 256, size=(labels.size, 28, 28), dtype=np.uint8)
        write_idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", labels)
        out[split] = (images, labels)
    return out
