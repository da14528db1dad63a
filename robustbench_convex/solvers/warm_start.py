"""Validation of a solver's ``warm_start`` argument (shared by ``solve_ipm`` and ``solve_admm``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solution import ConvexSolution

__all__ = ["WarmStart", "warm_start_blocks"]

WarmStart = ConvexSolution | tuple[np.ndarray, np.ndarray] | None
"""What ``warm_start=`` accepts: a ``ConvexSolution`` of the same problem shape, ``(V, W)``, or
None (the solver's own cold start)."""


def warm_start_blocks(
    problem: ConvexReLUProblem, warm_start: Any
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(V, W)`` as float64 arrays of shape ``(d_aug, P)`` from ``warm_start`` (None for None).

    Raises:
        TypeError: ``warm_start`` is neither a ``ConvexSolution`` nor a pair of arrays.
        ValueError: wrong shapes (the message names the expected ``(d_aug, P)``) or non-finite
            values.
    """
    if warm_start is None:
        return None
    shape = (problem.d_aug, problem.P)
    if isinstance(warm_start, ConvexSolution):
        V, W = warm_start.V, warm_start.W
    else:
        try:
            V, W = warm_start
        except (TypeError, ValueError):
            raise TypeError(
                "warm_start must be a ConvexSolution or a pair (V, W) of arrays of shape "
                f"{shape}, got {type(warm_start).__name__}"
            ) from None
    V, W = np.asarray(V, dtype=np.float64), np.asarray(W, dtype=np.float64)
    if V.shape != shape or W.shape != shape:
        raise ValueError(
            f"warm_start (V, W) must both have shape {shape}, got {V.shape}, {W.shape}"
        )
    if not (np.isfinite(V).all() and np.isfinite(W).all()):
        raise ValueError("warm_start contains non-finite values")
    return V, W
