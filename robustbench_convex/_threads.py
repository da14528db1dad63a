"""Torch's intra-op thread count, and SciPy's BLAS threads with it: the one place the library
sets them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral

import torch
from threadpoolctl import ThreadpoolController

__all__ = ["set_torch_threads", "torch_threads"]


def set_torch_threads(n: int) -> None:
    """Set torch's intra-op thread count to ``n >= 1`` (a no-op when it is already ``n``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the torch thread count must be an integer >= 1, got {n!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


_CONTROLLER: list[ThreadpoolController] = []


def _blas() -> ThreadpoolController:
    """One controller of the loaded BLAS libraries (made at first use, 3 ms; a limit through it
    then costs 0.1 ms, where ``threadpoolctl.threadpool_limits`` rescans them, 10 ms, each
    time)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the body with ``n`` intra-op threads and SciPy's BLAS limited to ``n`` threads
    (``solvers.admm_linsys.symmetric_matvec`` calls it), and restore both (``None``: leave
    them)."""
    if n is None:
        yield
        return
    if isinstance(n, Integral) and not isinstance(n, bool):
        n = int(n)  # numpy integers too
    previous = torch.get_num_threads()
    set_torch_threads(n)
    try:
        with _blas().limit(limits=n, user_api="blas"):
            yield
    finally:
        set_torch_threads(previous)
