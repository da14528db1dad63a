"""Seeded synthetic problems (teacher-network labels) and the accuracy-band bookkeeping shared by
the ADMM benchmarks."""

from __future__ import annotations

import numpy as np

from robustbench_convex.formulations import ConvexReLUProblem


def teacher_data(n: int, d: int, *, seed: int = 0, width: int = 10, noise: float = 0.1):
    """``(X, y)``: ``X ~ N(0, I_d)`` rows, ``y = sign(f(x) + noise)`` for a random ReLU teacher
    ``f`` of the given width (labels in {-1, +1}, roughly balanced)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((width, d)) / np.sqrt(d)
    b = 0.3 * rng.standard_normal(width)
    alpha = rng.choice([-1.0, 1.0], size=width)
    f = np.maximum(X @ U.T + b, 0.0) @ alpha
    f = f - np.median(f)
    y = np.where(f + noise * f.std() * rng.standard_normal(n) > 0, 1.0, -1.0)
    return X, y


def synthetic_problem(
    n: int,
    d: int,
    P: int,
    *,
    loss: str = "squared",
    beta: float | None = None,
    seed: int = 0,
    **kwargs,
) -> ConvexReLUProblem:
    """A ``ConvexReLUProblem`` on teacher data; ``beta`` defaults to ``1e-3 * n``."""
    X, y = teacher_data(n, d, seed=seed)
    beta = 1e-3 * n if beta is None else beta
    return ConvexReLUProblem(X, y, loss=loss, beta=beta, n_patterns=P, seed=seed, **kwargs)


def in_band(f: float, ref: float, rtol: float) -> bool:
    """``|f - ref| <= rtol |ref|``: two-sided, because a network recovered from an infeasible
    iterate can score *below* the convex optimum (its activation patterns differ)."""
    return abs(f - ref) <= rtol * abs(ref)


def entry_and_settled(history, ok, key: str = "network_objective"):
    """First record where ``ok(record[key])`` holds, and the first record from which it holds to
    the end of the run (None when the last record fails)."""
    values = [r[key] for r in history]
    entry = next((r for r, f in zip(history, values, strict=True) if ok(f)), None)
    k = len(values)
    while k > 0 and ok(values[k - 1]):
        k -= 1
    return entry, (history[k] if k < len(values) else None)
