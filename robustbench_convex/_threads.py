"""Torch's intra-op thread count: the one place the library sets it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["set_torch_threads", "torch_threads"]


def set_torch_threads(n: int) -> None:
    """Set torch's intra-op thread count to ``n >= 1`` (a no-op when it is already ``n``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the torch thread count must be an integer >= 1, got {n!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the body with ``n`` intra-op threads (``None``: leave the count) and restore it."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    set_torch_threads(n)
    try:
        yield
    finally:
        set_torch_threads(previous)
