"""Robust programs with input bounds (``ConvexReLUProblem(lower=..., upper=...)``): the
adversary's ball clipped to the input domain. The closed forms (``worst_drop``, the slacks, the
certified margins) against brute force over the box's vertices; the CVXPY program against the
closed-form objective; infinite bounds against the unbounded program; the certificates against
the exact MILP on the same clipped ball on every training point; bad input."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.robust import certified_margins, check_certificates
from robustbench_convex.solvers.cvxpy_backend import build_cvxpy_program, solve_cvxpy

EPS = 0.15


def _pixels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image-like data in [0, 1] (a third of the values exactly 0, some at 1) and class-aware
    split patterns plus the all-active one."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(n, 4))
    X[rng.uniform(size=X.shape) < 0.35] = 0.0
    X[rng.uniform(size=X.shape) < 0.1] = 1.0
    y = np.where(X[:, 0] + X[:, 1] - X[:, 2] > 0.4, 1.0, -1.0)
    Xa = np.hstack([X, np.ones((n, 1))])
    D = (Xa @ rng.standard_normal((5, 5)) >= 0).astype(float)
    D = np.hstack([D * (y > 0)[:, None], D * (y < 0)[:, None], np.ones((n, 1))])
    return X, y, np.unique(D[:, D.any(axis=0)], axis=1)


def _problem(X, y, D, *, penalty=1.0, lower=0.0, upper=1.0, loss="hinge", program="class-aware"):
    return ConvexReLUProblem(
        X, y, loss=loss, beta=0.05, patterns=D, robust_eps=EPS, robust=program,
        stability_penalty=penalty, lower=lower, upper=upper,
    )  # fmt: skip


def _brute_drop(problem: ConvexReLUProblem, M: np.ndarray) -> np.ndarray:
    """max over the clipped box's vertices of -m_k^T delta, per row."""
    out = []
    for k in range(problem.n):
        x = problem.X[k]
        lo = np.maximum(x - EPS, 0.0) - x
        hi = np.minimum(x + EPS, 1.0) - x
        best = -np.inf
        for corner in itertools.product(*zip(lo, hi)):
            best = max(best, -float(M[k, : problem.d] @ np.asarray(corner)))
        out.append(best)
    return np.asarray(out)


def test_worst_drop_and_slacks_match_the_box_vertices():
    X, y, D = _pixels(25, 0)
    problem = _problem(X, y, D)
    rng = np.random.default_rng(1)
    M = rng.standard_normal((problem.n, problem.d_aug))
    np.testing.assert_allclose(problem.worst_drop(M), _brute_drop(problem, M), atol=1e-12)
    # smaller than the unclipped eps ||m||_1' wherever a coordinate sits on a bound
    assert np.all(problem.worst_drop(M) <= EPS * np.abs(M[:, :-1]).sum(axis=1) + 1e-12)
    # stability slacks: rhs of (k, i) is the worst drop of (2 d_ik - 1) x^T v_i on the box
    V = rng.standard_normal((problem.d_aug, problem.P))
    W = np.zeros_like(V)
    Sv, _ = problem.stability_slacks(V, W)
    sign = 2.0 * problem.D - 1.0
    for i in range(problem.P):
        Mi = sign[:, i : i + 1] * V[:, i][None, :]
        lhs = (Mi * problem.Xa).sum(axis=1)  # (2 d_ik - 1) x_k^T v_i
        expected = np.maximum(0.0, _brute_drop(problem, Mi) - lhs)
        np.testing.assert_allclose(Sv[:, i], expected * (y < 0), atol=1e-10)


@pytest.mark.parametrize(
    "penalty, loss", [(1.0, "hinge"), (0.3, "hinge"), (None, "hinge"), (1.0, "logistic")]
)
def test_cvxpy_program_matches_the_closed_form_and_beats_the_unclipped_ball(penalty, loss):
    X, y, D = _pixels(40, 2)
    bounded = _problem(X, y, D, penalty=penalty, loss=loss)
    prob, V, W = build_cvxpy_program(bounded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    closed = bounded.convex_objective(V.value, W.value)
    assert abs(prob.value - closed) <= 1e-6 * (1.0 + abs(closed))
    unbounded = _problem(X, y, D, penalty=penalty, loss=loss, lower=None, upper=None)
    sol_u = solve_cvxpy(unbounded)
    # a smaller adversary: the clipped program's optimum is no larger
    assert prob.value <= sol_u.objective * (1.0 + 1e-6)
    # and strictly smaller here (a third of the inputs sit at 0)
    assert prob.value < 0.99 * sol_u.objective


def test_infinite_bounds_give_the_unbounded_program():
    X, y, D = _pixels(40, 3)
    inf = solve_cvxpy(_problem(X, y, D, lower=-np.inf, upper=np.inf))
    none = solve_cvxpy(_problem(X, y, D, lower=None, upper=None))
    assert inf.problem.has_input_bounds and not none.problem.has_input_bounds
    assert abs(inf.objective - none.objective) <= 1e-6 * abs(none.objective)


@pytest.mark.parametrize(
    "penalty, program", [(1.0, "class-aware"), (0.3, "class-aware"), (1.0, "certified")]
)
def test_bounded_certificates_hold_against_the_milp_on_every_training_point(penalty, program):
    X, y, D = _pixels(40, 4)
    sol = solve_cvxpy(_problem(X, y, D, penalty=penalty, program=program))
    margins = certified_margins(sol)
    frame = check_certificates(sol, points=np.arange(sol.problem.n), time_limit=20)
    assert len(frame) == sol.problem.n
    assert frame["ok"].all(), frame[~frame["ok"]]
    if program == "class-aware":
        assert (margins > 0).sum() >= 10  # the check is not vacuous


def test_bad_bounds_are_refused_before_any_work():
    X, y, D = _pixels(20, 5)
    with pytest.raises(ValueError, match="lie in \\[lower, upper\\]"):
        _problem(X, y, D, lower=0.1)
    with pytest.raises(ValueError, match="margin loss"):
        _problem(X, y, D, loss="squared", program="certified")
    with pytest.raises(ValueError, match="one bound per"):
        _problem(X, y, D, lower=np.zeros(3))
    with pytest.raises(ValueError, match="must not exceed"):
        _problem(X, y, D, lower=np.full(4, 0.0), upper=np.full(4, -1.0))
    from robustbench_convex.robust import forced_zero_blocks
    from robustbench_convex.solvers.admm import solve_admm

    with pytest.raises(ValueError, match="unclipped ball"):
        forced_zero_blocks(_problem(X, y, D, penalty=None))

    with pytest.raises(ValueError, match="input bounds"):
        solve_admm(_problem(X, y, D), max_iter=5)


@pytest.mark.parametrize("at_eps", [0.9, 0.1])
def test_box_products_through_the_complement_equal_the_direct_product(at_eps):
    """``_sparse_box_product`` writes ``c @ X`` as ``eps 1 s^T - (eps - c) @ X`` when most of
    ``c`` sits at ``eps`` (image data: ``h = min(eps, 1 - x)``); both forms must agree."""
    import cvxpy as cp

    from robustbench_convex.solvers.cvxpy_backend import _sparse_box_product

    rng = np.random.default_rng(3)
    c = rng.uniform(0.0, EPS, size=(30, 6))
    c[rng.uniform(size=c.shape) < at_eps] = EPS
    X0 = rng.uniform(0.0, 2.0, size=(6, 4))
    X = cp.Variable((6, 4), nonneg=True)
    sums: dict = {}
    constraints: list = [X == X0]
    expr = _sparse_box_product(c, X, EPS, sums, constraints)
    assert (X.id in sums) == (at_eps > 0.5)  # the complement only where it is sparser
    cp.Problem(cp.Minimize(0), constraints).solve(solver="CLARABEL")
    np.testing.assert_allclose(expr.value, c @ X0, rtol=1e-7, atol=1e-9)
