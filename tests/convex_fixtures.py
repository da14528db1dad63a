"""Tiny data shared by the solver tests (ADMM, interior point)."""

from __future__ import annotations

import numpy as np


def xor_data(n: int = 30, d: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: Gaussian ``X`` of shape ``(n, d)``, noisy XOR labels ``sign(x_0 x_1)`` in
    {-1, +1} (not linearly separable, so the ReLU blocks matter)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sign(X[:, 0] * X[:, 1] + 0.3 * rng.standard_normal(n))
    y[y == 0] = 1.0
    return X, y


def rel_err(a: float, b: float) -> float:
    """``|a - b| / |b|`` (``b`` the reference)."""
    return abs(a - b) / max(abs(b), 1e-12)


def assert_certified_optimum(problem, sol, ref, tol: float) -> None:
    """``sol`` is a certified optimum of ``problem`` to ``tol``: converged, within 1e-6 of the
    reference ``ref``'s objective, its lower bound a true bound (not above ``ref``) within ``tol``
    of its objective, which is the problem's own objective at a feasible point."""
    import pytest

    assert sol.status == "converged", sol.message
    assert rel_err(sol.objective, ref.objective) < 1e-6
    bound = sol.info["lower_bound"]
    assert bound <= ref.objective * (1 + 1e-9)
    assert sol.objective - bound <= tol * sol.objective
    assert sol.objective == pytest.approx(problem.convex_objective(sol.V, sol.W), rel=1e-12)
    assert problem.constraint_violation(sol.V, sol.W) <= tol
