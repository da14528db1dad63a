"""Tests of robustbench_convex.data and its file readers / downloader.

Nothing here reaches the network: an autouse fixture replaces the downloader's ``urlopen`` by one
that accepts only ``file://`` URLs, and ``$RBCONVEX_DATA`` points at an empty folder.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import robustbench_convex as rbc
from robustbench_convex import _datafiles
from robustbench_convex.data import (
    Dataset,
    DatasetNotAvailableError,
    describe_datasets,
    list_datasets,
    load_dataset,
)

OFFLINE = ["breast-cancer", "digits-2v8", "synthetic-teacher", "synthetic-spirals", "synthetic-xor"]
DOWNLOAD_BACKED = ["mnist-2v8", "fashion-mnist-2v8", "cifar10-2v8", "mnist-2v8-t10k"]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    def local_only(url: str, *args, **kwargs):
        if not url.startswith("file:"):
            raise AssertionError(f"a test tried to reach the network: {url}")
        return urllib.request.urlopen(url, *args, **kwargs)

    monkeypatch.setattr(_datafiles, "urlopen", local_only)
    monkeypatch.setenv("RBCONVEX_DATA", str(tmp_path_factory.mktemp("empty_cache")))


def _assert_valid(ds: Dataset) -> None:
    """Conventions every data set must satisfy, checked from the arrays themselves."""
    d = ds.n_features
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        assert X.dtype == np.float64 and y.dtype == np.float64
        assert X.flags.c_contiguous
        assert X.ndim == 2 and X.shape[1] == d and y.shape == (X.shape[0],)
        assert set(np.unique(y).tolist()) == {-1.0, 1.0}
        assert np.all(np.isfinite(X))
        assert np.all(X >= ds.lower) and np.all(X <= ds.upper)
    assert ds.lower.shape == ds.upper.shape == (d,)
    if ds.image_shape is not None:
        assert math.prod(ds.image_shape) == d


# --------------------------------------------------------------------------------------------
# registry, public names


def test_public_names_and_registry():
    assert rbc.load_dataset is load_dataset and rbc.Dataset is Dataset
    assert rbc.list_datasets() == list_datasets()
    assert set(list_datasets()) == set(OFFLINE) | set(DOWNLOAD_BACKED)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'digits-2v9'") as info:
        load_dataset("digits-2v9")
    for name in list_datasets():
        assert name in str(info.value)
    assert "Did you mean 'digits-2v8'" in str(info.value)
    with pytest.raises(TypeError, match="name must be a string"):
        load_dataset(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# every offline data set


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_sets_valid_deterministic_and_seeded(name):
    ds = load_dataset(name, seed=3)
    _assert_valid(ds)
    assert ds.name == name and ds.seed == 3
    row = describe_datasets().set_index("name").loc[name]
    assert (ds.n_train, ds.n_test, ds.n_features) == (row.n_train, row.n_test, row.n_features)
    assert bool(row.offline)
    # stratified split: each split's share of +1 within one example of the pooled share
    n_pos = (ds.y_train > 0).sum() + (ds.y_test > 0).sum()
    share = n_pos / (ds.n_train + ds.n_test)
    assert abs((ds.y_test > 0).sum() - share * ds.n_test) <= 1
    assert abs((ds.y_train > 0).sum() - share * ds.n_train) <= 1
    again = load_dataset(name, seed=3)
    for attr in ("X_train", "y_train", "X_test", "y_test", "lower", "upper"):
        np.testing.assert_array_equal(getattr(ds, attr), getattr(again, attr))
    other = load_dataset(name, seed=4)
    assert not np.array_equal(ds.X_test, other.X_test)
    assert ds.info["load_args"] == {
        "name": name,
        "seed": 3,
        "n_train": None,
        "n_test": None,
        "downsample": None,
    }
    assert name in repr(ds) and str(ds.n_train) in ds.summary()


def test_breast_cancer_standardized_with_train_statistics():
    from sklearn.datasets import load_breast_cancer

    raw, target = load_breast_cancer(return_X_y=True)
    ds = load_dataset("breast-cancer", seed=0)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1.0, rtol=1e-12)
    assert np.abs(ds.X_test.mean(axis=0)).max() > 1e-3  # test statistics were not used
    # undoing the stated affine map gives back exactly the raw rows (a partition of all 569)
    back = np.vstack([ds.X_train, ds.X_test]) * ds.info["scale"] + ds.info["shift"]
    order = np.lexsort(back.T[::-1])
    ref_order = np.lexsort(raw.T[::-1])
    np.testing.assert_allclose(back[order], raw[ref_order], rtol=1e-12, atol=1e-12)
    # label map: malignant (target 0) -> -1, benign (target 1) -> +1
    y_all = np.concatenate([ds.y_train, ds.y_test])[order]
    np.testing.assert_array_equal(y_all, np.where(target[ref_order] == 1, 1.0, -1.0))
    assert ds.classes == ("malignant", "benign")
    # bounds are the tight per-feature range of train + test
    both = np.vstack([ds.X_train, ds.X_test])
    np.testing.assert_array_equal(ds.lower, both.min(axis=0))
    np.testing.assert_array_equal(ds.upper, both.max(axis=0))
    assert ds.image_shape is None


def test_digits_2v8_pixels_and_partition():
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.isin(digits.target, (2, 8))
    ds = load_dataset("digits-2v8", seed=1)
    assert ds.n_train + ds.n_test == keep.sum() == 351
    np.testing.assert_array_equal(ds.lower, 0.0)
    np.testing.assert_array_equal(ds.upper, 1.0)
    both = np.vstack([ds.X_train, ds.X_test])
    assert both.max() == 1.0 and both.min() == 0.0
    pixels = both * 16
    np.testing.assert_array_equal(pixels, np.round(pixels))  # integers 0..16, i.e. pixels / 16
    # train + test is exactly the set of 2s and 8s, each with the right label
    y_all = np.concatenate([ds.y_train, ds.y_test])
    for cls, label in ((2, -1.0), (8, 1.0)):
        got = sorted(r.tobytes() for r in pixels[y_all == label])
        want = sorted(r.tobytes() for r in digits.data[digits.target == cls].astype(np.float64))
        assert got == want
    assert ds.image_shape == (8, 8) and ds.classes == (2, 8)


def test_teacher_labels_are_the_sign_of_the_planted_network():
    ds = load_dataset("synthetic-teacher", seed=5)
    t = ds.info["teacher"]
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        f = np.maximum(X @ t["U"].T + t["b"], 0.0) @ t["alpha"] + t["c"]
        np.testing.assert_array_equal(y, np.where(f > 0, 1.0, -1.0))
    assert (np.concatenate([ds.y_train, ds.y_test]) > 0).sum() == 200  # exactly balanced
    assert np.any(t["alpha"] > 0) and np.any(t["alpha"] < 0)
    # the teacher depends on the seed only; sizes are generated on demand
    big = load_dataset("synthetic-teacher", seed=5, n_train=1000, n_test=50)
    assert (big.n_train, big.n_test) == (1000, 50)
    np.testing.assert_array_equal(big.info["teacher"]["U"], t["U"])
    other = load_dataset("synthetic-teacher", seed=6)
    assert not np.array_equal(other.info["teacher"]["U"], t["U"])


def test_xor_margin_and_labels():
    ds = load_dataset("synthetic-xor", seed=2, n_train=300, n_test=101)
    X = np.vstack([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    np.testing.assert_array_equal(y, np.sign(X[:, 0] * X[:, 1]))
    assert np.abs(X).min() >= 0.1 and np.abs(X).max() <= 1.0
    np.testing.assert_array_equal(ds.lower, [-1.0, -1.0])
    np.testing.assert_array_equal(ds.upper, [1.0, 1.0])
    assert abs((y > 0).sum() - (y < 0).sum()) <= 1


def test_spirals_two_arms():
    ds = load_dataset("synthetic-spirals", seed=0)
    X = np.vstack([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    assert X.shape == (400, 2) and (y > 0).sum() == 200
    # arm B is arm A turned by pi: the angle minus the radius-proportional winding is
    # about 0 (mod 2 pi) for arm A and about pi for arm B, away from the noisy centre
    r = np.hypot(X[:, 0], X[:, 1])
    phase = np.angle(np.exp(1j * (np.arctan2(X[:, 1], X[:, 0]) - 3 * np.pi * r)))
    far = r > 0.3
    assert np.mean(np.abs(phase[far & (y < 0)]) < np.pi / 2) > 0.95
    assert np.mean(np.abs(phase[far & (y > 0)]) > np.pi / 2) > 0.95


# --------------------------------------------------------------------------------------------
# sizes, seeds, bad input


def test_n_train_n_test_subsample_stratified_and_test_set_fixed():
    full = load_dataset("digits-2v8", seed=7)
    small = load_dataset("digits-2v8", seed=7, n_train=40)
    assert small.n_train == 40
    assert abs((small.y_train > 0).sum() - 40 * (full.y_train > 0).mean()) <= 1
    # the test set depends on (seed, n_test) only, not on n_train
    np.testing.assert_array_equal(small.X_test, full.X_test)
    train_rows = {r.tobytes() for r in full.X_train}
    assert all(r.tobytes() in train_rows for r in small.X_train)  # a subset of the train split
    both = load_dataset("digits-2v8", seed=7, n_train=100, n_test=200)
    assert (both.n_train, both.n_test) == (100, 200)
    assert not ({r.tobytes() for r in both.X_train} & {r.tobytes() for r in both.X_test})
    two = load_dataset("breast-cancer", n_train=2, n_test=2)
    assert set(two.y_train) == {-1.0, 1.0} and set(two.y_test) == {-1.0, 1.0}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_train": 1}, ValueError, "n_train must be at least 2"),
        ({"n_test": 0}, ValueError, "n_test must be at least 2"),
        ({"n_train": 2.5}, TypeError, "n_train must be an int"),
        ({"n_train": True}, TypeError, "n_train must be an int"),
        ({"n_train": 246}, ValueError, r"n_train=246 exceeds the 245 examples"),
        ({"n_test": 350}, ValueError, r"n_test=350 exceeds the 349 examples"),
        ({"n_train": 300, "n_test": 100}, ValueError, r"exceeds the 251 examples"),
        ({"seed": -1}, TypeError, "seed must be a non-negative int"),
        ({"seed": 1.0}, TypeError, "seed must be a non-negative int"),
        ({"downsample": 0}, ValueError, "downsample must be >= 1"),
        ({"downsample": 2.0}, TypeError, "downsample must be a positive int"),
        ({"download": "yes"}, TypeError, "download must be True or False"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_dataset("digits-2v8", **kwargs)


def test_downsample_rejected_for_tabular_and_works_for_digits():
    with pytest.raises(ValueError, match="image data sets only"):
        load_dataset("breast-cancer", downsample=3)
    ds = load_dataset("digits-2v8", downsample=2)
    assert ds.image_shape == (4, 4) and ds.n_features == 16
    full = load_dataset("digits-2v8")
    # same split (downsampling does not touch the seeded selection): pixel (r, c) of the
    # 4x4 image is pixel (2r, 2c) of the 8x8 one
    for r, c in ((0, 0), (1, 3), (3, 2)):
        np.testing.assert_array_equal(ds.X_train[:, 4 * r + c], full.X_train[:, 8 * 2 * r + 2 * c])


def _valid_kwargs(**over):
    kw = dict(
        name="toy",
        X_train=np.array([[0.0, 1.0], [1.0, 0.0]]),
        y_train=np.array([-1.0, 1.0]),
        X_test=np.array([[0.5, 0.5]]),
        y_test=np.array([1.0]),
        lower=np.zeros(2),
        upper=np.ones(2),
    )
    kw.update(over)
    return kw


def test_dataset_validation_errors():
    ds = Dataset(**_valid_kwargs(y_train=[-1, 1]))  # ints are converted
    assert ds.y_train.dtype == np.float64 and ds.n_features == 2
    bad = np.array([[0.0, np.nan], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"X_train contains 1 NaN.*index \(0, 1\)"):
        Dataset(**_valid_kwargs(X_train=bad))
    with pytest.raises(ValueError, match="y_test must hold only -1 and \\+1"):
        Dataset(**_valid_kwargs(y_test=[0.0]))
    with pytest.raises(ValueError, match="single class"):
        Dataset(**_valid_kwargs(y_train=[1.0, 1.0]))
    with pytest.raises(ValueError, match=r"X_test\[0, 1\] = 2.0 lies outside the bounds"):
        Dataset(**_valid_kwargs(X_test=[[0.5, 2.0]]))
    with pytest.raises(ValueError, match="X_train has 2 rows but y_train has 3"):
        Dataset(**_valid_kwargs(y_train=[-1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="X_test has 3 features"):
        Dataset(**_valid_kwargs(X_test=[[0.5, 0.5, 0.5]]))
    with pytest.raises(ValueError, match="lower > upper at feature 1"):
        Dataset(**_valid_kwargs(lower=[0.0, 2.0], upper=[1.0, 1.0]))
    with pytest.raises(ValueError, match=r"upper must have shape \(2,\)"):
        Dataset(**_valid_kwargs(upper=np.ones(3)))
    with pytest.raises(ValueError, match="image_shape"):
        Dataset(**_valid_kwargs(image_shape=(3, 3)))
    with pytest.raises(TypeError, match="must be numeric"):
        Dataset(**_valid_kwargs(y_test=["a"]))
    # infinite bounds are allowed (an unbounded input space); the object is frozen
    free = Dataset(**_valid_kwargs(lower=[-np.inf] * 2, upper=[np.inf] * 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        free.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# download-backed sets: offline errors, fake files in the standard formats, real t10k files


@pytest.mark.parametrize("name", DOWNLOAD_BACKED)
def test_missing_files_raise_clear_offline_error(name, tmp_path):
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset(name, data_dir=tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, OSError)
    family = {"mnist": "mnist", "fashion": "fashion-mnist", "cifar10": "cifar10"}[
        name.split("-")[0]
    ]
    assert str(tmp_path / family) in message
    expected = (
        ["cifar-10-python.tar.gz", "cifar-10-batches-py"]
        if family == "cifar10"
        else ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    )
    if name in ("mnist-2v8", "fashion-mnist-2v8"):
        expected += ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    for file_name in expected:
        assert file_name in message
    assert "download=False" in message
    if name == "mnist-2v8-t10k":
        assert "train-images" not in message  # only the test split is needed
    assert not (tmp_path / family).exists()  # nothing was written


def test_env_var_sets_the_cache_root(fake_mnist_root, monkeypatch):
    monkeypatch.setenv("RBCONVEX_DATA", str(fake_mnist_root["root"]))
    ds = load_dataset("mnist-2v8", download=False)
    assert ds.n_train == 24
    with pytest.raises(DatasetNotAvailableError, match="fashion-mnist"):
        load_dataset("fashion-mnist-2v8", download=False)


def test_fake_mnist_filtering_scaling_and_official_split(fake_mnist_root):
    root = fake_mnist_root["root"]
    ds = load_dataset("mnist-2v8", data_dir=root, download=False)
    _assert_valid(ds)
    assert ds.image_shape == (28, 28) and ds.classes == (2, 8)
    for split, X, y in (("train", ds.X_train, ds.y_train), ("test", ds.X_test, ds.y_test)):
        images, labels = fake_mnist_root[split]
        keep = (labels == 2) | (labels == 8)
        # official splits are kept whole and in file order
        np.testing.assert_array_equal(X, images[keep].reshape(-1, 784) / 255.0)
        np.testing.assert_array_equal(y, np.where(labels[keep] == 8, 1.0, -1.0))
    assert (ds.n_train, ds.n_test) == (24, 10)
    np.testing.assert_array_equal(ds.lower, 0.0)
    np.testing.assert_array_equal(ds.upper, 1.0)


def test_fake_mnist_downsample_and_subsample(fake_mnist_root):
    root = fake_mnist_root["root"]
    ds = load_dataset("mnist-2v8", data_dir=root, download=False, downsample=3)
    assert ds.n_features == 100 and ds.image_shape == (10, 10)
    images, labels = fake_mnist_root["train"]
    imgs = images[(labels == 2) | (labels == 8)]
    for r, c in ((0, 0), (0, 9), (4, 7), (9, 9)):  # feature 10 r + c is pixel (3 r, 3 c)
        np.testing.assert_array_equal(ds.X_train[:, 10 * r + c], imgs[:, 3 * r, 3 * c] / 255.0)
    assert "stride-3" in ds.preprocessing and ds.info["downsample"] == 3
    sub = load_dataset("mnist-2v8", data_dir=root, download=False, n_train=10, n_test=4, seed=1)
    assert (sub.n_train, sub.n_test) == (10, 4)
    assert (sub.y_train > 0).sum() == 5 and (sub.y_test > 0).sum() == 2  # 12:12 and 5:5 pools
    full_rows = {r.tobytes() for r in imgs.reshape(-1, 784) / 255.0}
    assert all(r.tobytes() in full_rows for r in sub.X_train)
    again = load_dataset("mnist-2v8", data_dir=root, download=False, n_train=10, n_test=4, seed=1)
    np.testing.assert_array_equal(sub.X_train, again.X_train)
    with pytest.raises(ValueError, match=r"n_train=25 exceeds the 24 examples"):
        load_dataset("mnist-2v8", data_dir=root, download=False, n_train=25)


def test_fake_fashion_and_uncompressed_idx(tmp_path, idx_writer):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 20)):
        labels = np.tile(np.arange(10, dtype=np.uint8), n // 10)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        # the decompressed files (names without .gz) are accepted as well
        idx_writer(tmp_path / "fashion-mnist" / f"{prefix}-images-idx3-ubyte", images)
        idx_writer(tmp_path / "fashion-mnist" / f"{prefix}-labels-idx1-ubyte", labels)
    ds = load_dataset("fashion-mnist-2v8", data_dir=tmp_path, download=False)
    assert (ds.n_train, ds.n_test, ds.n_features) == (6, 4, 784)
    _assert_valid(ds)
    table = describe_datasets(data_dir=tmp_path).set_index("name")
    assert table.loc["fashion-mnist-2v8", "offline"]
    assert not table.loc["mnist-2v8", "offline"]


def test_corrupt_idx_files_are_reported(tmp_path, idx_writer):
    folder = tmp_path / "mnist"
    labels = np.tile(np.arange(10, dtype=np.uint8), 2)
    idx_writer(folder / "t10k-labels-idx1-ubyte.gz", labels)
    idx_writer(folder / "t10k-images-idx3-ubyte.gz", np.zeros((19, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"holds 19 images but .* holds 20 labels"):
        load_dataset("mnist-2v8-t10k", data_dir=tmp_path, download=False)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + (20).to_bytes(4, "big") + b"\x00" * 20)  # truncated
    with pytest.raises(ValueError, match="header"):
        load_dataset("mnist-2v8-t10k", data_dir=tmp_path, download=False)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="cannot read IDX file"):
        load_dataset("mnist-2v8-t10k", data_dir=tmp_path, download=False)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x12\x34\x08\x03")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_dataset("mnist-2v8-t10k", data_dir=tmp_path, download=False)


def test_read_idx_round_trip_other_dtypes(tmp_path):
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(">i4")
    path = tmp_path / "x.idx"
    path.write_bytes(
        b"\x00\x00\x0c\x03" + b"".join(s.to_bytes(4, "big") for s in (2, 3, 4)) + array.tobytes()
    )
    got = _datafiles.read_idx(path)
    np.testing.assert_array_equal(got, array)
    assert got.dtype.isnative


def _fake_cifar(folder: Path, rng: np.random.Generator) -> dict:
    """CIFAR-10 python batches (dict with b'data' (N, 3072) uint8 and b'labels' list)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for batch, n in [(f"data_batch_{i}", 10) for i in range(1, 6)] + [("test_batch", 20)]:
        labels = [int(k) for k in rng.permutation(np.arange(n) % 10)]
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        with (folder / batch).open("wb") as f:
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, f, protocol=2)
        out[batch] = (data, np.array(labels))
    return out


def test_fake_cifar_folder_and_archive(tmp_path):
    rng = np.random.default_rng(3)
    batches = _fake_cifar(tmp_path / "src" / "cifar-10-batches-py", rng)
    # 1) extracted folder
    extracted_root = tmp_path / "a"
    (extracted_root / "cifar10").mkdir(parents=True)
    (tmp_path / "src" / "cifar-10-batches-py").rename(
        extracted_root / "cifar10" / "cifar-10-batches-py"
    )
    ds = load_dataset("cifar10-2v8", data_dir=extracted_root, download=False)
    _assert_valid(ds)
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    data = np.concatenate([b[0] for b in train])
    labels = np.concatenate([b[1] for b in train])
    keep = np.isin(labels, (2, 8))
    np.testing.assert_array_equal(ds.X_train, data[keep] / 255.0)
    np.testing.assert_array_equal(ds.y_train, np.where(labels[keep] == 8, 1.0, -1.0))
    assert (ds.n_train, ds.n_test, ds.image_shape) == (10, 4, (3, 32, 32))
    # downsampled: 3 x 11 x 11 = 363, channel-first: feature 121 ch + 11 r + c
    small = load_dataset("cifar10-2v8", data_dir=extracted_root, download=False, downsample=3)
    assert small.n_features == 363 and small.image_shape == (3, 11, 11)
    imgs = data[keep].reshape(-1, 3, 32, 32)
    for ch, r, c in ((0, 0, 0), (1, 5, 10), (2, 10, 3)):
        np.testing.assert_array_equal(
            small.X_train[:, 121 * ch + 11 * r + c], imgs[:, ch, 3 * r, 3 * c] / 255.0
        )
    # 2) the archive, read in place
    archive_root = tmp_path / "b"
    (archive_root / "cifar10").mkdir(parents=True)
    with tarfile.open(archive_root / "cifar10" / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(extracted_root / "cifar10" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    from_tar = load_dataset("cifar10-2v8", data_dir=archive_root, download=False)
    np.testing.assert_array_equal(from_tar.X_train, ds.X_train)
    np.testing.assert_array_equal(from_tar.X_test, ds.X_test)


def test_cifar_unpickler_refuses_foreign_objects(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    _fake_cifar(folder, np.random.default_rng(0))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f, protocol=2)
    with pytest.raises(ValueError, match="refused"):
        load_dataset("cifar10-2v8", data_dir=tmp_path, download=False)


def test_real_mnist_t10k_split(shared_data_dir, mnist_dir):
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz", "rb") as f:
        images = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(-1, 28, 28)
    n2, n8 = int((labels == 2).sum()), int((labels == 8).sum())
    assert n2 + n8 == 2006
    ds = load_dataset("mnist-2v8-t10k", data_dir=shared_data_dir, download=False, seed=0)
    _assert_valid(ds)
    assert (ds.n_train, ds.n_test, ds.n_features) == (1404, 602, 784)
    y = np.concatenate([ds.y_train, ds.y_test])
    assert ((y < 0).sum(), (y > 0).sum()) == (n2, n8)
    assert abs((ds.y_test > 0).sum() - 602 * n8 / 2006) <= 1
    # train + test is a partition of exactly the 2006 images, each with its own label
    pixels = np.round(np.vstack([ds.X_train, ds.X_test]) * 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels / 255.0, np.vstack([ds.X_train, ds.X_test]))
    for cls, label in ((2, -1.0), (8, 1.0)):
        got = sorted(r.tobytes() for r in pixels[y == label])
        want = sorted(r.tobytes() for r in images[labels == cls].reshape(-1, 784))
        assert got == want
    small = load_dataset("mnist-2v8-t10k", data_dir=shared_data_dir, download=False, downsample=3)
    assert small.n_features == 100 and small.image_shape == (10, 10)
    np.testing.assert_array_equal(small.y_test, ds.y_test)  # same seeded split
    np.testing.assert_array_equal(small.X_test[:, 10 * 4 + 5], ds.X_test[:, 28 * 12 + 15])
    other = load_dataset("mnist-2v8-t10k", data_dir=shared_data_dir, download=False, seed=1)
    assert not np.array_equal(other.X_test, ds.X_test)
    table = describe_datasets(data_dir=shared_data_dir).set_index("name")
    assert table.loc["mnist-2v8-t10k", "offline"] and not table.loc["mnist-2v8", "offline"]


# --------------------------------------------------------------------------------------------
# describe_datasets, downloading (file:// URLs only)


def test_describe_datasets_table(tmp_path):
    table = describe_datasets(data_dir=tmp_path)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "name",
        "source",
        "classes",
        "n_train",
        "n_test",
        "n_features",
        "offline",
    ]
    assert table["name"].tolist() == list_datasets()
    offline = table.set_index("name")["offline"]
    assert all(offline[n] for n in OFFLINE)
    assert not any(offline[n] for n in DOWNLOAD_BACKED)
    assert set(table.loc[table.name.isin(DOWNLOAD_BACKED), "source"]) == {"download"}


def test_download_file_atomic_with_md5(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello world" * 1000)
    good = hashlib.md5(src.read_bytes()).hexdigest()
    dest = tmp_path / "cache" / "x" / "out.bin"
    with pytest.raises(OSError, match="does not match"):
        _datafiles.download_file([src.as_uri()], dest, md5="0" * 32)
    assert not dest.exists() and list(dest.parent.iterdir()) == []  # no partial file left
    # the first URL fails, the second works
    missing = (tmp_path / "nope.bin").as_uri()
    got = _datafiles.download_file([missing, src.as_uri()], dest, md5=good)
    assert got == dest and dest.read_bytes() == src.read_bytes()
    assert list(dest.parent.iterdir()) == [dest]
    with pytest.raises(OSError, match=r"nope\.bin"):
        _datafiles.download_file([missing], tmp_path / "other.bin")


def test_load_dataset_downloads_missing_files(fake_mnist_root, tmp_path, monkeypatch):
    mirror = fake_mnist_root["root"] / "mnist"
    fam = _datafiles.FAMILIES["mnist"]
    local = dataclasses.replace(fam, mirrors=(mirror.as_uri() + "/",), md5={})
    monkeypatch.setitem(_datafiles.FAMILIES, "mnist", local)
    ds = load_dataset("mnist-2v8-t10k", data_dir=tmp_path, download=True)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    assert ds.n_train + ds.n_test == 10
    # a failing mirror gives the offline error, with the reason
    broken = dataclasses.replace(fam, mirrors=((tmp_path / "void").as_uri() + "/",), md5={})
    monkeypatch.setitem(_datafiles.FAMILIES, "mnist", broken)
    with pytest.raises(DatasetNotAvailableError, match=r"Downloading train-images.* failed") as e:
        load_dataset("mnist-2v8", data_dir=tmp_path / "fresh", download=True)
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        assert name in str(e.value)  # every missing file is named, though only one was tried
    assert list((tmp_path / "fresh" / "mnist").iterdir()) == []  # no partial file left


def test_loaded_arrays_are_independent_copies():
    a = load_dataset("synthetic-xor", seed=0)
    a.X_train[0, 0] = 123.0
    b = load_dataset("synthetic-xor", seed=0)
    assert b.X_train[0, 0] != 123.0
