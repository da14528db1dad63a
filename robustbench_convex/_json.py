"""One conversion of results to JSON-friendly Python values (used by records and the sweep store)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(value: Any, *, drop_arrays: bool = False) -> Any:
    """A copy of ``value`` made of dicts, lists, str, int, float, bool and None.

    numpy scalars become Python scalars, arrays become lists (or, with ``drop_arrays=True``,
    arrays stored under a mapping key are left out, as for per-iteration histories), and anything
    else (``torch.dtype``, ``torch.device``, ...) becomes its ``str``.
    """
    if isinstance(value, Mapping):
        return {
            str(k): jsonable(v, drop_arrays=drop_arrays)
            for k, v in value.items()
            if not (drop_arrays and isinstance(v, np.ndarray))
        }
    if isinstance(value, (list, tuple)):
        return [jsonable(v, drop_arrays=drop_arrays) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v, drop_arrays=drop_arrays) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)
