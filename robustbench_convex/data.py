"""Binary classification data sets with input bounds: :func:`load_dataset`, :class:`Dataset`.

Every data set is a binary task with labels in {-1, +1} (float64 arrays holding -1.0 / +1.0),
features as float64 C-contiguous arrays ``(n, d)`` in the *attacked input space* (after the
preprocessing the data set states), and per-feature bounds ``lower <= x <= upper`` of that space
that attacks clip to. ``Dataset.classes = (a, b)`` says which original class became which label:
``a -> -1``, ``b -> +1``.

Registered data sets (``list_datasets()``; sizes are the defaults):

name               n_train  n_test     d  source, preprocessing, bounds
-----------------  -------  ------  ----  ---------------------------------------------------
breast-cancer          398     171    30  scikit-learn (UCI WDBC); malignant -1, benign +1;
                                          standardized with the *train* mean / std; bounds =
                                          per-feature range of the standardized train + test
digits-2v8             245     106    64  scikit-learn 8x8 digits (UCI optdigits), 2 vs 8;
                                          pixels / 16 -> [0, 1]; bounds [0, 1]
synthetic-teacher      280     120    10  planted two-layer ReLU teacher (5 neurons) on
                                          N(0, I) inputs, y = sign(teacher); bounds = range
synthetic-spirals      280     120     2  two interleaved spirals (pictures); bounds = range
synthetic-xor          280     120     2  XOR with an l_inf margin: |x_i| in [0.1, 1],
                                          y = sign(x1 x2); bounds [-1, 1]
mnist-2v8            11809    2006   784  MNIST official train / test files, 2 vs 8
fashion-mnist-2v8    12000    2000   784  Fashion-MNIST, pullover (2) vs bag (8)
cifar10-2v8          10000    2000  3072  CIFAR-10, bird (2) vs ship (8); channel-first
mnist-2v8-t10k        1404     602   784  the 2006 MNIST *test-split* images of 2 and 8,
                                          split 70/30 with the seed (needs only t10k files)

Images are scaled to [0, 1] (pixels / 255) with bounds [0, 1]; ``downsample=s`` keeps every s-th
row and column (``image[::s, ::s]``): ``downsample=3`` gives 10x10 = 100 features for MNIST and
Fashion-MNIST and 3x11x11 = 363 for CIFAR-10, as in the paper. Features are the image flattened in
C order of ``Dataset.image_shape``.

Splits are stratified and deterministic given ``seed``. Sets without an official split hold out
``ceil(0.3 n)`` examples (or ``n_test``) as the test set, and ``n_train`` subsamples the rest;
which examples are held out depends only on ``(seed, n_test)``, not on ``n_train`` (breast-cancer
standardizes with the statistics of the training examples actually returned, so its test
*values* do change with ``n_train``). MNIST / Fashion / CIFAR keep their
official train and test files; ``n_train`` / ``n_test`` subsample each (stratified, seeded).
Synthetic sets are generated with ``n_train + n_test`` points (exactly balanced classes), so
their sizes may exceed the defaults. Download-backed sets read the standard files from a cache
directory (see :mod:`robustbench_convex._datafiles`), download them when ``download=True``, and
otherwise raise :class:`DatasetNotAvailableError` saying which files to put where.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from robustbench_convex._datafiles import (
    DatasetNotAvailableError,
    ensure_files,
    files_present,
    load_cifar10_split,
    load_idx_split,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Dataset",
    "DatasetNotAvailableError",
    "describe_datasets",
    "list_datasets",
    "load_dataset",
]

PathLike = str | os.PathLike[str]
DEFAULT_TEST_FRACTION = 0.3


# --------------------------------------------------------------------------------------------
# the Dataset object


def _float_array(name: str, value: Any, ndim: int) -> np.ndarray:
    try:
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric, got {type(value).__name__}: {exc}") from exc
    if array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {array.shape}")
    return array


def _check_finite(name: str, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s), first at index {where}; "
            "drop or impute them before building a Dataset"
        )


@dataclass(frozen=True, eq=False)
class Dataset:
    """A binary classification data set in the attacked input space, with input bounds.

    Attributes:
        name: registry name (``load_dataset(name)``) or a user-chosen name.
        X_train, X_test: float64 ``(n_train, d)`` and ``(n_test, d)``, C-contiguous.
        y_train, y_test: float64 ``(n_train,)`` / ``(n_test,)`` with values -1.0 and +1.0.
        lower, upper: float64 ``(d,)`` per-feature bounds of the valid input (may be +-inf);
            every training and test point lies inside them. Attacks clip to them.
        preprocessing: what maps a raw example to a row of ``X`` (human-readable).
        description: one line on where the data come from.
        seed: the seed of the split / generation (None for user-built sets).
        image_shape: shape whose C-order flattening gives a row of ``X`` (e.g. ``(28, 28)``,
            ``(3, 11, 11)``), or None for tabular data.
        classes: ``(a, b)``: original class ``a`` has label -1, ``b`` has label +1.
        info: machine-readable details: ``source``, ``load_args`` (the arguments that reproduce
            the set), ``shift`` / ``scale`` (``x = (raw - shift) / scale`` for affine
            preprocessing), ``downsample``, and generator parameters of synthetic sets.

    The arrays are validated on construction: shapes, finiteness, labels in {-1, +1} with both
    classes in the training set, and ``lower <= X <= upper``.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    preprocessing: str = "none"
    description: str = ""
    seed: int | None = None
    image_shape: tuple[int, ...] | None = None
    classes: tuple[Any, Any] = (-1, 1)
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        put = object.__setattr__
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        for attr, ndim in (
            ("X_train", 2),
            ("y_train", 1),
            ("X_test", 2),
            ("y_test", 1),
            ("lower", 1),
            ("upper", 1),
        ):
            put(self, attr, _float_array(attr, getattr(self, attr), ndim))
        for attr in ("X_train", "y_train", "X_test", "y_test"):
            _check_finite(attr, getattr(self, attr))
        d = self.X_train.shape[1]
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"X_{split} has {X.shape[0]} rows but y_{split} has {y.shape[0]} labels"
                )
            if X.shape[0] == 0:
                raise ValueError(f"X_{split} is empty")
            if X.shape[1] != d:
                raise ValueError(f"X_{split} has {X.shape[1]} features, X_train has {d}")
            bad = ~np.isin(y, (-1.0, 1.0))
            if bad.any():
                raise ValueError(
                    f"y_{split} must hold only -1 and +1 (binary labels), found "
                    f"{np.unique(y[bad])[:5].tolist()}; map the two classes to -1 / +1"
                )
        if np.unique(self.y_train).size != 2:
            raise ValueError("y_train holds a single class; a binary task needs both -1 and +1")
        for attr in ("lower", "upper"):
            value = getattr(self, attr)
            if value.shape != (d,):
                raise ValueError(f"{attr} must have shape ({d},), got {value.shape}")
            if np.isnan(value).any():
                raise ValueError(f"{attr} contains NaN")
        if (self.lower > self.upper).any():
            j = int(np.argmax(self.lower > self.upper))
            raise ValueError(f"lower > upper at feature {j}: {self.lower[j]} > {self.upper[j]}")
        for split in ("train", "test"):
            X = getattr(self, f"X_{split}")
            outside = (X < self.lower) | (X > self.upper)
            if outside.any():
                i, j = (int(k) for k in np.argwhere(outside)[0])
                raise ValueError(
                    f"X_{split}[{i}, {j}] = {X[i, j]} lies outside the bounds "
                    f"[{self.lower[j]}, {self.upper[j]}] ({int(outside.sum())} entries outside)"
                )
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if math.prod(shape) != d:
                raise ValueError(f"image_shape {shape} has {math.prod(shape)} pixels, d = {d}")
            put(self, "image_shape", shape)
        if len(tuple(self.classes)) != 2:
            raise ValueError(f"classes must be a pair (label -1, label +1), got {self.classes!r}")
        put(self, "classes", tuple(self.classes))
        put(self, "info", dict(self.info))

    @property
    def n_features(self) -> int:
        """Input dimension ``d``."""
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    def summary(self) -> str:
        """A few human-readable lines: sizes, class balance, classes, preprocessing, bounds."""
        pos_tr = int((self.y_train > 0).sum())
        pos_te = int((self.y_test > 0).sum())
        a, b = self.classes
        lines = [
            f"{self.name}: {self.description}" if self.description else self.name,
            f"  train {self.n_train} ({pos_tr} positive), test {self.n_test} ({pos_te} positive),"
            f" {self.n_features} features"
            + (f" (image {'x'.join(map(str, self.image_shape))})" if self.image_shape else ""),
            f"  labels: {a!r} -> -1, {b!r} -> +1; seed {self.seed}",
            f"  preprocessing: {self.preprocessing}",
            f"  bounds: lower in [{self.lower.min():.4g}, {self.lower.max():.4g}], "
            f"upper in [{self.upper.min():.4g}, {self.upper.max():.4g}]",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        a, b = self.classes
        return (
            f"Dataset({self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"n_features={self.n_features}, classes=({a!r} -> -1, {b!r} -> +1), "
            f"seed={self.seed}, preprocessing={self.preprocessing!r})"
        )


# --------------------------------------------------------------------------------------------
# argument checks and stratified, seeded selection


def _check_count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int or None, got {value!r}")
    if value < 2:
        raise ValueError(f"{name} must be at least 2 (one example of each class), got {value}")
    return int(value)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _rng(seed: int, stream: int) -> np.random.Generator:
    """Independent random streams per purpose: 0 split, 1 train subsample, 2 test subsample,
    3+ synthetic generation."""
    return np.random.default_rng([seed, stream])


def _stratified_pick(
    y: np.ndarray, n: int, rng: np.random.Generator, *, reserve: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n`` indices with class proportions as in ``y`` (at least one of each class),
    leaving at least ``reserve`` of each class unpicked. Returns ``(picked, rest)``, each in a
    seeded random order."""
    classes, counts = np.unique(y, return_counts=True)
    cap = counts - reserve
    if n < classes.size or n > cap.sum() or (cap < 1).any():
        raise ValueError(f"cannot pick {n} of {y.size} examples stratified by class {counts}")
    exact = n * counts / counts.sum()
    alloc = np.clip(np.floor(exact).astype(np.int64), 1, cap)
    while alloc.sum() < n:  # largest remainders first, within capacity
        room = np.where(alloc < cap, exact - alloc, -np.inf)
        alloc[int(np.argmax(room))] += 1
    while alloc.sum() > n:
        excess = np.where(alloc > 1, exact - alloc, np.inf)
        alloc[int(np.argmin(excess))] -= 1
    picked, rest = [], []
    for c, k in zip(classes, alloc):
        members = rng.permutation(np.flatnonzero(y == c))
        picked.append(members[:k])
        rest.append(members[k:])
    return rng.permutation(np.concatenate(picked)), rng.permutation(np.concatenate(rest))


def _default_n_test(n: int) -> int:
    return math.ceil(round(DEFAULT_TEST_FRACTION * n, 9))


def _too_many(name: str, what: str, value: int, available: int, detail: str) -> ValueError:
    return ValueError(
        f"{what}={value} exceeds the {available} examples available for {name!r} ({detail}); "
        f"use {what} <= {available}"
    )


def _split_pool(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    seed: int,
    n_train: int | None,
    n_test: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded train / test split of one pool of examples (no official split)."""
    n = y.size
    if n_test is None:
        n_test = _default_n_test(n)
    elif n_test > n - 2:
        raise _too_many(name, "n_test", n_test, n - 2, f"{n} in all, 2 kept for training")
    test_idx, rest = _stratified_pick(y, n_test, _rng(seed, 0), reserve=1)
    X_train, y_train = X[rest], y[rest]
    if n_train is not None:
        if n_train > rest.size:
            raise _too_many(
                name, "n_train", n_train, rest.size, f"{n} in all, {n_test} held out for testing"
            )
        if n_train < rest.size:
            sub, _ = _stratified_pick(y_train, n_train, _rng(seed, 1))
            X_train, y_train = X_train[sub], y_train[sub]
    return X_train, y_train, X[test_idx], y[test_idx]


def _subsample(
    name: str,
    what: str,
    X: np.ndarray,
    y: np.ndarray,
    n: int | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded subsample of ``n`` examples of one official split (all if None)."""
    if n is None:
        return X, y
    if n > y.size:
        raise _too_many(name, what, n, y.size, f"official {what.removeprefix('n_')} split")
    if n == y.size:
        return X, y
    idx, _ = _stratified_pick(y, n, rng)
    return X[idx], y[idx]


# --------------------------------------------------------------------------------------------
# building blocks shared by the data sets


@dataclass(frozen=True)
class _Request:
    name: str
    seed: int
    n_train: int | None
    n_test: int | None
    data_dir: PathLike | None
    download: bool
    downsample: int | None
    progress: bool

    def load_args(self) -> dict[str, Any]:
        """The arguments of :func:`load_dataset` that reproduce the data (not where they are
        cached, nor how they are fetched)."""
        keys = ("name", "seed", "n_train", "n_test", "downsample")
        return {key: getattr(self, key) for key in keys}


def _binary_labels(
    labels: np.ndarray, classes: tuple[int, int], where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Mask of the examples of the two ``classes`` and their labels (-1 for the first)."""
    mask = np.isin(labels, classes)
    for c in classes:
        if not (labels == c).any():
            raise ValueError(f"{where} holds no example of class {c}")
    return mask, np.where(labels[mask] == classes[1], 1.0, -1.0)


def _image_features(
    images: np.ndarray, downsample: int | None, max_value: float
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Images ``(N, ..., H, W)`` -> features ``(N, prod(shape))`` in [0, 1] and the shape."""
    s = downsample or 1
    if s > 1:
        images = images[..., ::s, ::s]
    shape = tuple(int(k) for k in images.shape[1:])
    X = images.reshape(images.shape[0], -1).astype(np.float64)  # a fresh C-contiguous copy
    X /= max_value
    return X, shape


def _image_preprocessing(
    full: tuple[int, ...], shape: tuple[int, ...], downsample: int | None, max_value: float
) -> str:
    text = f"pixels / {max_value:g} -> [0, 1]"
    s = downsample or 1
    if s > 1:
        text += (
            f"; stride-{s} subsampling {'x'.join(map(str, full))} -> {'x'.join(map(str, shape))}"
            f" (image[..., ::{s}, ::{s}])"
        )
    return text


def _image_dataset(
    spec: _Spec,
    req: _Request,
    splits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    full_shape: tuple[int, ...],
    shape: tuple[int, ...],
    max_value: float,
) -> Dataset:
    d = splits[0].shape[1]
    return _assemble(
        spec,
        req,
        splits,
        (np.zeros(d), np.ones(d)),
        _image_preprocessing(full_shape, shape, req.downsample, max_value),
        shift=0.0,
        scale=float(max_value),
        image_shape=shape,
        downsample=req.downsample or 1,
    )


def _assemble(
    spec: _Spec,
    req: _Request,
    splits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    bounds: tuple[np.ndarray, np.ndarray],
    preprocessing: str,
    *,
    shift: Any,
    scale: Any,
    image_shape: tuple[int, ...] | None = None,
    **info: Any,
) -> Dataset:
    """The one ``Dataset`` constructor of the loaders: ``splits`` = (X_train, y_train, X_test,
    y_test), ``bounds`` = (lower, upper) per feature, ``shift`` / ``scale`` the preprocessing's
    affine map (x_model = (x_raw - shift) / scale); ``info`` adds loader-specific entries."""
    X_train, y_train, X_test, y_test = splits
    lower, upper = bounds
    return Dataset(
        name=spec.name,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        lower=lower,
        upper=upper,
        preprocessing=preprocessing,
        description=spec.description,
        seed=req.seed,
        image_shape=image_shape,
        classes=spec.classes,
        info={
            "source": spec.source,
            "load_args": req.load_args(),
            "shift": shift,
            "scale": scale,
            **info,
        },
    )


def _range_bounds(*arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    both = np.vstack(arrays)
    return both.min(axis=0), both.max(axis=0)


# --------------------------------------------------------------------------------------------
# the data sets


def _build_breast_cancer(spec: _Spec, req: _Request) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    X, target = load_breast_cancer(return_X_y=True)
    y = np.where(target == 1, 1.0, -1.0)  # scikit-learn: 0 malignant, 1 benign
    X_train, y_train, X_test, y_test = _split_pool(
        spec.name, X, y, req.seed, req.n_train, req.n_test
    )
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    X_train = (X_train - mean) / std
    X_test = (X_test - mean) / std
    return _assemble(
        spec,
        req,
        (X_train, y_train, X_test, y_test),
        _range_bounds(X_train, X_test),
        "standardized with the training mean and standard deviation (ddof=0); "
        "bounds: per-feature range of the standardized training and test data",
        shift=mean,
        scale=std,
    )


def _build_digits(spec: _Spec, req: _Request) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    mask, y = _binary_labels(digits.target, spec.classes, "scikit-learn digits")
    X, shape = _image_features(digits.images[mask], req.downsample, 16.0)
    splits = _split_pool(spec.name, X, y, req.seed, req.n_train, req.n_test)
    return _image_dataset(spec, req, splits, (8, 8), shape, 16.0)


def _build_official_images(spec: _Spec, req: _Request) -> Dataset:
    """MNIST / Fashion-MNIST / CIFAR-10 with their official train and test files."""
    assert spec.family is not None
    parts = []
    for split, n, stream in (("train", req.n_train, 1), ("test", req.n_test, 2)):
        images, labels = _load_family_split(spec.family, split, req)  # type: ignore[arg-type]
        mask, y = _binary_labels(labels, spec.classes, f"the {spec.family} {split} split")
        X, shape = _image_features(images[mask], req.downsample, 255.0)
        parts.extend(_subsample(spec.name, f"n_{split}", X, y, n, _rng(req.seed, stream)))
    full = spec.image_shape
    assert full is not None
    return _image_dataset(spec, req, tuple(parts), full, shape, 255.0)  # type: ignore[arg-type]


def _build_test_split_pool(spec: _Spec, req: _Request) -> Dataset:
    """The images of the two classes in the official *test* files, split with the seed."""
    assert spec.family is not None and spec.image_shape is not None
    images, labels = _load_family_split(spec.family, "test", req)
    mask, y = _binary_labels(labels, spec.classes, f"the {spec.family} test split")
    X, shape = _image_features(images[mask], req.downsample, 255.0)
    splits = _split_pool(spec.name, X, y, req.seed, req.n_train, req.n_test)
    return _image_dataset(spec, req, splits, spec.image_shape, shape, 255.0)


def _load_family_split(
    family: str, split: Literal["train", "test"], req: _Request
) -> tuple[np.ndarray, np.ndarray]:
    kwargs = {"download": req.download, "progress": req.progress}
    if family == "cifar10":
        return load_cifar10_split(split, req.data_dir, **kwargs)
    return load_idx_split(family, split, req.data_dir, **kwargs)  # type: ignore[arg-type]


def _synthetic_sizes(req: _Request, spec: _Spec) -> tuple[int, int]:
    return (
        spec.n_train if req.n_train is None else req.n_train,
        spec.n_test if req.n_test is None else req.n_test,
    )


def _synthetic_dataset(
    spec: _Spec,
    req: _Request,
    X: np.ndarray,
    y: np.ndarray,
    n_test: int,
    bounds: tuple[np.ndarray, np.ndarray] | None,
    params: dict[str, Any],
) -> Dataset:
    X_train, y_train, X_test, y_test = _split_pool(spec.name, X, y, req.seed, None, n_test)
    return _assemble(
        spec,
        req,
        (X_train, y_train, X_test, y_test),
        bounds if bounds is not None else _range_bounds(X_train, X_test),
        "none (generated in the attacked space)"
        + ("; bounds: per-feature range of the generated points" if bounds is None else ""),
        shift=0.0,
        scale=1.0,
        **params,
    )


def _build_teacher(spec: _Spec, req: _Request) -> Dataset:
    """Planted teacher f(x) = sum_j alpha_j relu(u_j^T x + b_j) + c, x ~ N(0, I_10), 5 neurons
    with output weights of both signs; c centres f at its median, so y = +1 iff f(x) > 0 splits
    the input distribution in half. Exactly half the generated points of each label (rejection
    sampling); the teacher depends on the seed only, not on the sample size."""
    n_train, n_test = _synthetic_sizes(req, spec)
    d, m = 10, 5
    g = _rng(req.seed, 3)
    U = g.normal(size=(m, d)) / math.sqrt(d)
    b = 0.5 * g.normal(size=m)
    alpha = np.array([1.0, -1.0, 1.0, -1.0, 1.0]) * g.uniform(0.5, 1.5, size=m)

    def teacher(X: np.ndarray) -> np.ndarray:
        return np.maximum(X @ U.T + b, 0.0) @ alpha

    c = -float(np.median(teacher(g.normal(size=(20_000, d)))))
    need = {1.0: (n_train + n_test) - (n_train + n_test) // 2, -1.0: (n_train + n_test) // 2}
    kept: dict[float, list[np.ndarray]] = {1.0: [], -1.0: []}
    have = dict.fromkeys(kept, 0)
    for _ in range(10_000):
        if all(have[k] >= need[k] for k in need):
            break
        batch = g.normal(size=(max(256, 2 * max(need.values())), d))
        f = teacher(batch) + c
        for label, rows in ((1.0, batch[f > 0]), (-1.0, batch[f <= 0])):
            take = rows[: need[label] - have[label]]
            kept[label].append(take)
            have[label] += take.shape[0]
    X = np.vstack([np.vstack(kept[1.0]), np.vstack(kept[-1.0])])
    y = np.concatenate([np.ones(need[1.0]), -np.ones(need[-1.0])])
    params = {"teacher": {"U": U, "b": b, "alpha": alpha, "c": c}}
    return _synthetic_dataset(spec, req, X, y, n_test, None, params)


def _build_spirals(spec: _Spec, req: _Request) -> Dataset:
    """Two interleaved spirals: arm A at angle theta, radius theta / (3 pi), theta in [0, 3 pi]
    (1.5 turns, sqrt-uniform so points are even along the arm), arm B = -A; Gaussian noise
    0.03. Arm A -> -1, arm B -> +1."""
    n_train, n_test = _synthetic_sizes(req, spec)
    n = n_train + n_test
    g = _rng(req.seed, 4)
    theta = np.sqrt(g.uniform(size=n)) * 3 * np.pi
    r = theta / (3 * np.pi)
    X = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    X[y > 0] *= -1.0
    X += 0.03 * g.normal(size=X.shape)
    return _synthetic_dataset(spec, req, X, y, n_test, None, {"noise": 0.03, "turns": 1.5})


def _build_xor(spec: _Spec, req: _Request) -> Dataset:
    """XOR in [-1, 1]^2 with an l_inf margin: |x_i| ~ U[0.1, 1] with signs chosen so that
    y = sign(x1 x2); every point is at l_inf distance >= 0.1 from the other class's region."""
    n_train, n_test = _synthetic_sizes(req, spec)
    n = n_train + n_test
    g = _rng(req.seed, 5)
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    s1 = g.choice([-1.0, 1.0], size=n)
    X = g.uniform(0.1, 1.0, size=(n, 2)) * np.column_stack([s1, s1 * y])
    bounds = (-np.ones(2), np.ones(2))
    return _synthetic_dataset(spec, req, X, y, n_test, bounds, {"margin": 0.1})


# --------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class _Spec:
    name: str
    source: Literal["scikit-learn", "synthetic", "download"]
    n_train: int
    n_test: int
    n_features: int
    classes: tuple[Any, Any]
    description: str
    builder: Callable[[_Spec, _Request], Dataset]
    image_shape: tuple[int, ...] | None = None
    family: str | None = None  # download-backed: the file family
    splits: tuple[Literal["train", "test"], ...] = ()  # download-backed: splits it reads


def _official_images(
    name: str, sizes: tuple[int, int], image_shape: tuple[int, ...], description: str
) -> _Spec:
    """The spec of a download-backed "2 vs 8" image set read from its official train and test
    files (the file family is the name without ``-2v8``)."""
    n_features = int(np.prod(image_shape))
    return _Spec(
        name,
        "download",
        sizes[0],
        sizes[1],
        n_features,
        (2, 8),
        description,
        _build_official_images,
        image_shape=image_shape,
        family=name.removesuffix("-2v8"),
        splits=("train", "test"),
    )


_SPECS: dict[str, _Spec] = {
    s.name: s
    for s in (
        _Spec(
            "breast-cancer",
            "scikit-learn",
            398,
            171,
            30,
            ("malignant", "benign"),
            "UCI breast cancer Wisconsin (diagnostic), from scikit-learn",
            _build_breast_cancer,
        ),
        _Spec(
            "digits-2v8",
            "scikit-learn",
            245,
            106,
            64,
            (2, 8),
            "scikit-learn 8x8 digits (UCI optdigits), 2 vs 8",
            _build_digits,
            image_shape=(8, 8),
        ),
        _Spec(
            "synthetic-teacher",
            "synthetic",
            280,
            120,
            10,
            ("f(x) <= 0", "f(x) > 0"),
            "planted two-layer ReLU teacher (5 neurons) on Gaussian inputs in 10-D",
            _build_teacher,
        ),
        _Spec(
            "synthetic-spirals",
            "synthetic",
            280,
            120,
            2,
            ("arm A", "arm B"),
            "two interleaved spirals in 2-D (1.5 turns, noise 0.03)",
            _build_spirals,
        ),
        _Spec(
            "synthetic-xor",
            "synthetic",
            280,
            120,
            2,
            ("x1 x2 < 0", "x1 x2 > 0"),
            "XOR in [-1, 1]^2 with an l_inf margin of 0.1",
            _build_xor,
        ),
        _official_images(
            "mnist-2v8", (11809, 2006), (28, 28), "MNIST 2 vs 8, official train and test files"
        ),
        _official_images(
            "fashion-mnist-2v8",
            (12000, 2000),
            (28, 28),
            "Fashion-MNIST pullover (2) vs bag (8), official train and test files",
        ),
        _official_images(
            "cifar10-2v8",
            (10000, 2000),
            (3, 32, 32),
            "CIFAR-10 bird (2) vs ship (8), official train and test batches",
        ),
        _Spec(
            "mnist-2v8-t10k",
            "download",
            1404,
            602,
            784,
            (2, 8),
            "MNIST 2 vs 8 from the official test split only (2006 images), split 70/30",
            _build_test_split_pool,
            image_shape=(28, 28),
            family="mnist",
            splits=("test",),
        ),
    )
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, in registry order."""
    return list(_SPECS)


def _get_spec(name: Any) -> _Spec:
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {name!r}")
    spec = _SPECS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(_SPECS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown dataset {name!r}.{hint} Valid names: {', '.join(_SPECS)}")
    return spec


def load_dataset(
    name: str,
    *,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    data_dir: PathLike | None = None,
    download: bool = True,
    downsample: int | None = None,
    progress: bool = False,
) -> Dataset:
    """Load a registered binary data set (see the module docstring for the list).

    Args:
        name: one of :func:`list_datasets`.
        seed: seed of the split, the subsampling and (synthetic sets) the generation.
        n_train, n_test: subsample sizes (stratified, seeded; >= 2). None: all available.
            Synthetic sets are *generated* at these sizes (defaults 280 / 120).
        data_dir: cache root of download-backed sets (default ``$RBCONVEX_DATA`` or
            ``~/.cache/robustbench_convex``); their files live in ``<data_dir>/<family>/``,
            ``<family>`` one of ``mnist``, ``fashion-mnist``, ``cifar10``.
        download: fetch missing files of download-backed sets (network needed). With False, a
            missing file raises :class:`DatasetNotAvailableError` naming the files and folder.
        downsample: image sets only: keep every ``downsample``-th row and column (3 gives MNIST
            10x10 = 100 and CIFAR-10 3x11x11 = 363 features). None or 1: full resolution.
        progress: show a progress bar while downloading.

    Returns:
        a validated :class:`Dataset` (float64 features in the attacked space, labels -1.0 / +1.0,
        per-feature bounds).

    Raises:
        ValueError: unknown name (the message lists the valid ones), a size larger than what is
            available, ``downsample`` on a non-image set, malformed files.
        TypeError: arguments of the wrong type.
        DatasetNotAvailableError: files of a download-backed set are missing and not downloaded.
    """
    spec = _get_spec(name)
    seed = _check_seed(seed)
    n_train = _check_count("n_train", n_train)
    n_test = _check_count("n_test", n_test)
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}")
    if downsample is not None:
        if isinstance(downsample, bool) or not isinstance(downsample, numbers.Integral):
            raise TypeError(f"downsample must be a positive int or None, got {downsample!r}")
        if downsample < 1:
            raise ValueError(f"downsample must be >= 1 (a stride), got {downsample}")
        if spec.image_shape is None:
            raise ValueError(
                f"downsample applies to image data sets only; {name!r} is tabular "
                "(use downsample=None)"
            )
        downsample = int(downsample) if downsample > 1 else None
    request = _Request(
        name=spec.name,
        seed=seed,
        n_train=n_train,
        n_test=n_test,
        data_dir=data_dir,
        download=download,
        downsample=downsample,
        progress=bool(progress),
    )
    if spec.family is not None:  # every missing file named at once (or all downloaded)
        ensure_files(spec.family, spec.splits, data_dir, download=download, progress=progress)
    return spec.builder(spec, request)


def describe_datasets(data_dir: PathLike | None = None) -> pd.DataFrame:
    """One row per registered data set: ``name, source, classes, n_train, n_test, n_features,
    offline`` (default sizes, full resolution). ``offline`` is True when the set loads without
    network access: always for scikit-learn and synthetic sets, and for download-backed sets iff
    their files are present under ``data_dir`` (checked on disk, nothing is read)."""
    import pandas as pd

    rows = []
    for spec in _SPECS.values():
        if spec.family is None:
            offline = True
        else:
            offline = files_present(spec.family, spec.splits, data_dir)
        a, b = spec.classes
        rows.append(
            {
                "name": spec.name,
                "source": spec.source,
                "classes": f"{a} vs {b}",
                "n_train": spec.n_train,
                "n_test": spec.n_test,
                "n_features": spec.n_features,
                "offline": bool(offline),
            }
        )
    return pd.DataFrame(rows)
