"""Files behind the download-backed data sets: where they live, how they are read, how they
are fetched.

Only standard distribution formats are read:

* MNIST and Fashion-MNIST: the four IDX files ``train-images-idx3-ubyte.gz``,
  ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``
  (gzip-compressed or already decompressed, i.e. without ``.gz``);
* CIFAR-10: ``cifar-10-python.tar.gz`` (read in place, not extracted) or its extracted folder
  ``cifar-10-batches-py/`` (pickles ``data_batch_1`` ... ``data_batch_5``, ``test_batch``).

Cache directory ("root"): the ``data_dir`` argument, else ``$RBCONVEX_DATA``, else
``~/.cache/robustbench_convex``. The files of a family live in ``<root>/<family>/`` with
``<family>`` one of ``mnist``, ``fashion-mnist``, ``cifar10`` (one folder per family, because
MNIST and Fashion-MNIST files have the same names); downloads are written there too.
Downloads happen only when asked (``download=True``), use :mod:`urllib` with a short socket
timeout, are checked against the published MD5 sums and are written atomically (temporary file +
:func:`os.replace`). A file that is missing and cannot be downloaded raises
:class:`DatasetNotAvailableError`, whose message names the files and the folder to put them in.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

__all__ = [
    "ENV_VAR",
    "FAMILIES",
    "DatasetNotAvailableError",
    "data_root",
    "download_file",
    "ensure_files",
    "files_present",
    "load_cifar10_split",
    "load_idx_split",
    "missing_files",
    "read_idx",
]

ENV_VAR = "RBCONVEX_DATA"
DOWNLOAD_TIMEOUT_S = 20.0

Split = Literal["train", "test"]

# urllib entry point; a module attribute so tests can make sure nothing reaches the network.
urlopen = urllib.request.urlopen


class DatasetNotAvailableError(OSError):
    """The files of a download-backed data set are not on disk and were not downloaded."""


@dataclass(frozen=True)
class _Family:
    """One download-backed source: the files of each split, their MD5 sums and mirrors."""

    name: str  # sub-folder of the cache root
    title: str
    files: dict[str, tuple[str, ...]]  # split -> file names needed for it
    md5: dict[str, str]  # file name -> MD5 of the published file
    mirrors: tuple[str, ...]  # base URLs, tried in order


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}

FAMILIES: dict[str, _Family] = {
    "mnist": _Family(
        name="mnist",
        title="MNIST",
        files=_IDX_FILES,
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
    ),
    "fashion-mnist": _Family(
        name="fashion-mnist",
        title="Fashion-MNIST",
        files=_IDX_FILES,
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
    ),
    "cifar10": _Family(
        name="cifar10",
        title="CIFAR-10",
        files={"train": (_CIFAR_ARCHIVE,), "test": (_CIFAR_ARCHIVE,)},
        md5={_CIFAR_ARCHIVE: "c58f30108f718f92721af3b95e74349a"},
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
    ),
}


# --------------------------------------------------------------------------------------------
# where the files are


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``data_dir``, else ``$RBCONVEX_DATA``, else
    ``~/.cache/robustbench_convex``."""
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a path (str or os.PathLike), got {data_dir!r}")
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "robustbench_convex"


def _find_idx(family: _Family, file_name: str, root: Path) -> Path | None:
    """The IDX file ``file_name`` (``.gz``) or its decompressed twin, if present."""
    folder = root / family.name
    for candidate in (folder / file_name, folder / file_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _find_cifar(root: Path) -> Path | None:
    """The extracted ``cifar-10-batches-py`` folder (preferred) or the archive, if present."""
    folder = root / FAMILIES["cifar10"].name
    extracted = folder / _CIFAR_FOLDER
    if all((extracted / b).is_file() for batches in _CIFAR_BATCHES.values() for b in batches):
        return extracted
    if (folder / _CIFAR_ARCHIVE).is_file():
        return folder / _CIFAR_ARCHIVE
    return None


def missing_files(
    family: str, splits: Sequence[Split], data_dir: str | os.PathLike[str] | None = None
) -> list[str]:
    """Names of the files of ``family`` needed for ``splits`` that are not on disk."""
    fam = FAMILIES[family]
    root = data_root(data_dir)
    if family == "cifar10":
        return [] if _find_cifar(root) is not None else [_CIFAR_ARCHIVE]
    names = dict.fromkeys(f for s in splits for f in fam.files[s])
    return [f for f in names if _find_idx(fam, f, root) is None]


def files_present(
    family: str, splits: Sequence[Split], data_dir: str | os.PathLike[str] | None = None
) -> bool:
    """Whether every file needed for ``splits`` of ``family`` is on disk (nothing is read)."""
    return not missing_files(family, splits, data_dir)


def ensure_files(
    family: str,
    splits: Sequence[Split],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    progress: bool = False,
) -> None:
    """Make sure the files of ``splits`` of ``family`` are on disk: download the missing ones
    when ``download`` is True, else (or when that fails) raise
    :class:`DatasetNotAvailableError` naming every missing file and the folder to put it in."""
    missing = missing_files(family, splits, data_dir)
    if missing:
        _ensure_files(FAMILIES[family], missing, data_root(data_dir), download, progress)


def _missing_message(fam: _Family, files: Sequence[str], root: Path, reason: str) -> str:
    urls = ", ".join(fam.mirrors[0] + f for f in files)
    extra = (
        f" (or its extracted folder {_CIFAR_FOLDER}/ with data_batch_1..5 and test_batch)"
        if fam.name == "cifar10"
        else " (gzip-compressed, or decompressed without .gz)"
    )
    return (
        f"{fam.title} files not found: {', '.join(files)}{extra}. {reason}\n"
        f"Put them in {root / fam.name}/ (cache root: data_dir=..., else ${ENV_VAR}, else "
        f"~/.cache/robustbench_convex). They are published at {urls}."
    )


# --------------------------------------------------------------------------------------------
# downloading


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    urls: Sequence[str],
    destination: str | os.PathLike[str],
    *,
    md5: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    progress: bool = False,
) -> Path:
    """Download the first URL of ``urls`` that works to ``destination``, atomically.

    The bytes go to a temporary file next to ``destination`` that replaces it (``os.replace``)
    only once complete and, if ``md5`` is given, matching. Raises :class:`OSError` (with every
    URL's failure) when no URL worked; the destination is then left untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urlopen(url, timeout=timeout) as response:
                _copy_stream(response, out, url, progress)
            if md5 is not None and (got := _md5(tmp)) != md5:
                raise OSError(f"MD5 {got} does not match the published {md5}")
            os.replace(tmp, destination)
            return destination
        except (OSError, urllib.error.URLError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise OSError("download failed: " + "; ".join(failures))


def _copy_stream(response: Any, out: BinaryIO, url: str, progress: bool) -> None:
    from tqdm.auto import tqdm

    total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
    with tqdm(
        total=int(total) if total else None,
        unit="B",
        unit_scale=True,
        desc=url.rsplit("/", 1)[-1],
        disable=not progress,
    ) as bar:
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            bar.update(len(block))


def _ensure_files(
    fam: _Family, files: Sequence[str], root: Path, download: bool, progress: bool
) -> None:
    """Download the missing ``files`` of ``fam`` into ``<root>/<family>/`` or raise."""
    if not download:
        raise DatasetNotAvailableError(
            _missing_message(
                fam,
                files,
                root,
                "Downloading is off (download=False); pass download=True with network access, "
                "or place the files by hand.",
            )
        )
    for name in files:
        try:
            download_file(
                [m + name for m in fam.mirrors],
                root / fam.name / name,
                md5=fam.md5.get(name),
                progress=progress,
            )
        except OSError as exc:
            # stop at the first file no mirror serves: offline, the others would only time out
            still = [f for f in files if not (root / fam.name / f).is_file()]
            raise DatasetNotAvailableError(
                _missing_message(fam, still, root, f"Downloading {name} failed: {exc}")
            ) from exc


# --------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzip-compressed if its name ends in ``.gz``) into a numpy array.

    Format: two zero bytes, a type code (0x08 = unsigned byte, ...), the number of dimensions,
    then one big-endian uint32 per dimension, then the data in C order. MNIST images have magic
    number 2051 (``(N, 28, 28)`` uint8), labels 2049 (``(N,)`` uint8).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path} is not an IDX file (truncated header)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(raw) - header} bytes"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def load_idx_split(
    family: Literal["mnist", "fashion-mnist"],
    split: Split,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of one split of an IDX family."""
    fam = FAMILIES[family]
    root = data_root(data_dir)
    names = fam.files[split]
    paths = [_find_idx(fam, n, root) for n in names]
    missing = [n for n, p in zip(names, paths) if p is None]
    if missing:
        _ensure_files(fam, missing, root, download, progress)
        paths = [_find_idx(fam, n, root) for n in names]
    images_path, labels_path = paths
    assert images_path is not None and labels_path is not None
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(
            f"{images_path} / {labels_path}: expected images (N, rows, cols) and labels (N,), "
            f"got {images.shape} and {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels"
        )
    return images, labels.astype(np.int64)


# --------------------------------------------------------------------------------------------
# CIFAR-10 python pickles


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR-10 batches contain: dicts, lists, strings and numpy arrays."""

    _ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"CIFAR-10 batch refers to {module}.{name}: refused")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct
        return super().find_class(module, name)


def _read_cifar_batch(stream: BinaryIO, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _CifarUnpickler(stream, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"{where} is not a CIFAR-10 python batch: {exc}") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{where} is not a CIFAR-10 python batch (no b'data' / b'labels')")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{where}: expected data (N, 3072) and labels (N,), got {data.shape} and {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10_split(
    split: Split,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 (channel first, as stored) and labels ``(N,)`` int64."""
    fam = FAMILIES["cifar10"]
    root = data_root(data_dir)
    source = _find_cifar(root)
    if source is None:
        _ensure_files(fam, [_CIFAR_ARCHIVE], root, download, progress)
        source = _find_cifar(root)
        assert source is not None
    parts = []
    if source.is_dir():
        for batch in _CIFAR_BATCHES[split]:
            with (source / batch).open("rb") as stream:
                parts.append(_read_cifar_batch(stream, str(source / batch)))
    else:
        wanted = {f"{_CIFAR_FOLDER}/{batch}": batch for batch in _CIFAR_BATCHES[split]}
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        with tarfile.open(source, "r|gz") as archive:  # one sequential pass
            for member in archive:
                if member.name in wanted and member.isfile():
                    stream = archive.extractfile(member)
                    assert stream is not None
                    where = f"{source}:{member.name}"
                    found[wanted[member.name]] = _read_cifar_batch(io.BytesIO(stream.read()), where)
        absent = [b for b in _CIFAR_BATCHES[split] if b not in found]
        if absent:
            raise ValueError(f"{source} lacks {', '.join(_CIFAR_FOLDER + '/' + b for b in absent)}")
        parts = [found[b] for b in _CIFAR_BATCHES[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return images, labels
