"""Atomic file writes: the one place the library writes a file that readers may see.

A file is written to ``.<name>.<pid>.<random>.tmp`` in the same folder (the pid says which
process owns a leftover temporary file), fsynced, renamed over the target, and the folder is
fsynced; it is created with mode 0666 filtered by the process umask (0644 under umask 022).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["TMP_RE", "atomic_write", "atomic_write_text"]

#: the name of a temporary file (group 1: the owning process's pid)
TMP_RE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def _temp_path(path: Path) -> tuple[Path, int]:
    """Create ``.<name>.<pid>.<random>.tmp`` next to ``path`` (mode 0666 & ~umask); return it
    and its open descriptor."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 2^-32 per try
            continue
    raise FileExistsError(f"cannot create a temporary file next to {path}")  # pragma: no cover


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically with ``write(binary_file)``; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _temp_path(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass
    return path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (module docstring)."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
