"""The class-aware program's one-sided blocks (solvers.cvxpy_backend.one_sided_blocks): fixing
the wrong-side block of every one-class pattern to zero keeps the optimal value where the proof
covers it (hinge / logistic loss, hard stability or penalty >= 1), and is not applied elsewhere;
the certificates of the resulting network hold against the exact MILP on every training
point."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.robust import check_certificates
from robustbench_convex.solvers.cvxpy_backend import (
    build_cvxpy_program,
    one_sided_blocks,
    solve_cvxpy,
)

EPS = 0.1
TOL = 1e-6  # Clarabel stops within a relative gap of 1e-8 of one optimum


def _class_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class-aware split patterns (as network_seeded_patterns makes them): 6 hyperplanes'
    patterns split by class, plus the all-active pattern."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 3))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.1, 1.0, -1.0)
    D = (np.hstack([X, np.ones((n, 1))]) @ rng.standard_normal((4, 6)) >= 0).astype(float)
    D = np.hstack([D * (y > 0)[:, None], D * (y < 0)[:, None], np.ones((n, 1))])
    return X, y, np.unique(D[:, D.any(axis=0)], axis=1)


def _solve(problem: ConvexReLUProblem, one_sided: bool) -> tuple[float, int, np.ndarray]:
    prob, V, W = build_cvxpy_program(problem, one_sided=one_sided)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver="CLARABEL", canon_backend=cp.SCIPY_CANON_BACKEND)
    assert prob.status == "optimal"
    n_vars = int(sum(v.size for v in prob.variables()))
    return problem.convex_objective(V.value, W.value), n_vars, np.hstack([V.value, W.value])


@pytest.mark.parametrize(
    "loss, penalty", [("hinge", 1.0), ("hinge", None), ("hinge", 3.0), ("logistic", 1.0)]
)
def test_one_sided_blocks_keep_the_optimum(loss, penalty):
    X, y, D = _class_split(50, 2)
    problem = ConvexReLUProblem(
        X, y, loss=loss, beta=0.05, patterns=D, robust_eps=EPS, robust="class-aware",
        stability_penalty=penalty,
    )  # fmt: skip
    keep_v, keep_w = one_sided_blocks(problem)
    n_fixed = int((~keep_v).sum() + (~keep_w).sum())
    assert n_fixed >= problem.P - 1  # every split pattern loses one side; all-active keeps both
    restricted, vars_restricted, VW = _solve(problem, one_sided=True)
    full, vars_full, _ = _solve(problem, one_sided=False)
    assert abs(restricted - full) <= TOL * abs(full)
    assert vars_restricted < vars_full
    P = problem.P
    fixed = np.concatenate([~keep_v, ~keep_w])
    assert np.all(VW[:, np.flatnonzero(fixed)] == 0.0)  # the returned arrays keep the full shape
    assert VW.shape == (problem.d_aug, 2 * P)


@pytest.mark.parametrize(
    "program, loss, penalty",
    [
        ("class-aware", "hinge", 0.1),  # a penalty below the loss's slope: the proof fails
        ("class-aware", "squared", 1.0),  # unbounded slope
        ("certified", "hinge", 1.0),  # not class-aware
    ],
)
def test_one_sided_blocks_are_not_applied_outside_the_proof(program, loss, penalty):
    X, y, D = _class_split(30, 1)
    problem = ConvexReLUProblem(
        X, y, loss=loss, beta=0.05, patterns=D, robust_eps=EPS, robust=program,
        stability_penalty=penalty,
    )  # fmt: skip
    keep_v, keep_w = one_sided_blocks(problem)
    assert keep_v.all() and keep_w.all()


def test_one_sided_solve_certificates_hold_against_the_milp_on_every_training_point():
    X, y, D = _class_split(40, 7)
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=0.02, patterns=D, robust_eps=EPS, robust="class-aware",
        stability_penalty=1.0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve_cvxpy(problem, solver="CLARABEL")
    assert sol.status == "converged"
    assert sol.info["blocks_fixed_one_sided"] >= problem.P - 1
    frame = check_certificates(sol, points=np.arange(len(y)), time_limit=20)
    assert len(frame) == len(y) and frame["ok"].all()
    assert (frame["certified_margin"] > 0).mean() >= 0.5  # the certificates are not vacuous
