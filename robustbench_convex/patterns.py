"""Activation patterns D_i = diag(1[X h_i >= 0]) of the convex reformulation (MATH.md sections 2-3).

A pattern set is an ``(n, P)`` float64 array of 0/1 entries: column ``i`` is the diagonal of
``D_i``. Pass the *augmented* data (with the ones column) when the network has hidden biases:
``ConvexReLUProblem`` does this for you.

- :func:`sample_patterns`: Gaussian directions ``h ~ N(0, I)``; duplicates and the all-zero pattern
  are dropped, so the achieved count (``result.shape[1]``) may be below the request.
- :func:`class_aware_patterns`: Gaussian patterns split into one-class detectors (for the
  class-aware certified program (Rc) of MATH.md section 6).
- :func:`enumerate_patterns`: every distinct pattern of a generic direction (all open cells of the
  hyperplane arrangement {h : x_k^T h = 0}); an exact oracle for tiny problems only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import combinations, product

import numpy as np

__all__ = [
    "PATTERN_SAMPLERS",
    "class_aware_patterns",
    "count_patterns_upper_bound",
    "enumerate_patterns",
    "sample_patterns",
    "unique_patterns",
]


def _check_matrix(X: np.ndarray, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def unique_patterns(patterns: np.ndarray, *, drop_zero: bool = True) -> np.ndarray:
    """Distinct columns of a 0/1 ``(n, P)`` array in order of first appearance (all-zero columns
    dropped unless ``drop_zero=False``)."""
    patterns = np.asarray(patterns, dtype=np.float64)
    if patterns.size == 0:
        return patterns.reshape(patterns.shape[0], 0)
    cols = patterns.T.astype(np.uint8)
    _, first = np.unique(cols, axis=0, return_index=True)
    keep = np.sort(first)
    if drop_zero:
        keep = keep[cols[keep].any(axis=1)]
    return np.ascontiguousarray(patterns[:, keep])


def sample_patterns(X: np.ndarray, n_patterns: int, seed: int = 0) -> np.ndarray:
    """Sample activation patterns from Gaussian directions.

    Args:
        X: data ``(n, d)`` (augmented with a ones column if the network has biases).
        n_patterns: number of directions ``h_i ~ N(0, I_d)`` to draw.
        seed: seed of the directions.

    Returns:
        ``(n, P)`` float64 0/1 array, ``P <= n_patterns``: duplicates and the all-zero pattern are
        dropped (the achieved count is ``P``; with few points many directions collide).
    """
    X = _check_matrix(X)
    if isinstance(n_patterns, bool) or not isinstance(n_patterns, (int, np.integer)):
        raise TypeError(f"n_patterns must be an int, got {type(n_patterns).__name__}")
    if n_patterns < 1:
        raise ValueError(f"n_patterns must be >= 1, got {n_patterns}")
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((X.shape[1], int(n_patterns)))
    return unique_patterns((X @ H >= 0).astype(np.float64))


def class_aware_patterns(
    X: np.ndarray, y: np.ndarray, n_patterns: int, seed: int = 0
) -> np.ndarray:
    """Patterns for the class-aware certified program (Rc): each Gaussian pattern restricted to
    the positive examples (zero on every negative: a detector of class +1, robustly silent on
    class -1) and, separately, restricted to the negatives.

    ``ceil(n_patterns / 2)`` directions are drawn, so about ``n_patterns`` patterns come back
    (fewer after dropping duplicates and all-zero columns). Returns ``(n, P)`` float64 0/1.
    """
    X = _check_matrix(X)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows")
    base = sample_patterns(X, max(1, math.ceil(n_patterns / 2)), seed)
    pos = (y > 0).astype(np.float64)[:, None]
    return unique_patterns(np.hstack([base * pos, base * (1.0 - pos)]))


def count_patterns_upper_bound(n: int, rank: int) -> int:
    """Upper bound ``2 * sum_{k<r} C(n-1, k)`` on the number of patterns of ``n`` points of rank
    ``r`` (the count of regions of a central arrangement of n hyperplanes in general position)."""
    return 2 * sum(math.comb(n - 1, k) for k in range(rank))


def enumerate_patterns(
    X: np.ndarray,
    *,
    max_patterns: int = 100_000,
    max_candidates: int = 2_000_000,
    n_random: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """All distinct activation patterns of generic directions (every open cell of the arrangement).

    Every open cell of a central arrangement of rank ``r`` has a ray in its closure, and a ray is
    the intersection of ``r - 1`` independent hyperplanes; so for every ``(r-1)``-subset of rows we
    take the ray ``+-g`` orthogonal to them and perturb it into each of the ``2^(r-1)`` adjacent
    cells. Degenerate data (more than ``r - 1`` rows through a ray) are covered by a further
    random perturbation and by ``n_random`` random directions; for data in general position the
    result is exact (tests check the count against the closed formula).

    Args:
        X: data ``(n, d)`` (augmented with a ones column if the network has biases).
        max_patterns: refuse (ValueError) when the number of patterns could exceed this.
        max_candidates: refuse when the enumeration would try more candidate directions.

    Returns:
        ``(n, P)`` float64 0/1 array without duplicates and without the all-zero pattern.
    """
    X = _check_matrix(X)
    n = X.shape[0]
    # Work in the row space: rank-r coordinates.
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    r = int(np.sum(s > s[0] * 1e-10)) if s.size and s[0] > 0 else 0
    if r == 0:
        return np.zeros((n, 0))
    bound = count_patterns_upper_bound(n, r)
    n_candidates = math.comb(n, r - 1) * 2**r
    if bound > max_patterns or n_candidates > max_candidates:
        raise ValueError(
            f"enumerate_patterns: n={n} points of rank {r} can have up to {bound} patterns "
            f"({n_candidates} candidate directions); this exact enumeration is meant for tiny "
            f"problems (max_patterns={max_patterns}, max_candidates={max_candidates}). "
            "Use sample_patterns(X, n_patterns) instead."
        )
    Z = X @ Vt[:r].T  # (n, r), full column rank
    scale = np.abs(Z).max()
    Z = Z / scale
    rng = np.random.default_rng(seed)
    directions: list[np.ndarray] = []
    if r == 1:
        directions = [np.array([1.0]), np.array([-1.0])]
    else:
        signs = np.array(list(product((-1.0, 1.0), repeat=r - 1)))  # (2^(r-1), r-1)
        for subset in combinations(range(n), r - 1):
            rows = Z[list(subset)]  # (r-1, r)
            _, sv, vt = np.linalg.svd(rows)
            if sv[-1] < 1e-10 * max(sv[0], 1e-300):
                continue  # dependent rows: no ray here
            g = vt[-1]  # orthogonal to the chosen rows
            dual = np.linalg.pinv(rows)  # (r, r-1): rows @ dual = I
            # step small enough that no other row changes sign at +-g (unless it vanishes there)
            others = np.abs(Z @ g)
            others = others[others > 1e-12]
            step = (
                0.25
                * (others.min() if others.size else 1.0)
                / max(1.0, np.abs(Z @ dual).sum(axis=1).max())
            )
            jitter = 1e-3 * step * rng.standard_normal(r)
            for sgn_ray in (1.0, -1.0):
                base = sgn_ray * g
                directions.extend(base + step * (dual @ sgn) + jitter for sgn in signs)
    H = np.array(directions).T  # (r, N)
    H = np.hstack([H, rng.standard_normal((r, n_random))])
    patterns = (Z @ H >= 0).astype(np.float64)
    # Keep only generic directions (no row on the boundary), as an open cell's pattern.
    margins = np.abs(Z @ H).min(axis=0)
    patterns = patterns[:, margins > 1e-13]
    return unique_patterns(patterns)


PATTERN_SAMPLERS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": lambda X, y, n_patterns, seed: sample_patterns(X, n_patterns, seed),
    "class-aware": class_aware_patterns,
    "all": lambda X, y, n_patterns, seed: enumerate_patterns(X, seed=seed),
}
"""Named pattern generators: ``fn(X_augmented, y, n_patterns, seed) -> (n, P)`` 0/1 array."""
