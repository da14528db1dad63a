"""Seeded synthetic problems shared by the ADMM benchmarks (teacher-network labels)."""

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
