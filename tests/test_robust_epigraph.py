"""The robust programs' l1 epigraph shared by distinct pattern rows (solvers.cvxpy_backend):
the same optimum as one epigraph row per point, fewer variables, and certificates of the
resulting networks that hold against the exact MILP on every training point."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.robust import check_certificates
from robustbench_convex.robust_patterns import network_seeded_patterns
from robustbench_convex.solvers.cvxpy_backend import (
    build_cvxpy_program,
    clarabel_has_faer,
    solve_cvxpy,
)

EPS = 0.1
# Clarabel's relative gap tolerance is 1e-8; both builds stop within it of one optimum, so their
# optimal values agree to well under 1e-6 (relative) when the formulations are the same program
TOL = 1e-6


def _xor(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.25, 1.0, size=(n, 2)) * rng.choice([-1.0, 1.0], size=(n, 2))
    return X, np.sign(X[:, 0] * X[:, 1])


def _few_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data with patterns of few distinct rows (as network-seeded patterns have): 3 features,
    the patterns of 5 hyperplanes, duplicated and split by class."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 3))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.1, 1.0, -1.0)
    G = rng.standard_normal((4, 5))
    D = (np.hstack([X, np.ones((n, 1))]) @ G >= 0).astype(float)
    D = np.hstack([D, D * (y > 0)[:, None], D * (y < 0)[:, None], np.ones((n, 1))])
    keep = D.any(axis=0)
    return X, y, np.unique(D[:, keep], axis=1)


def _solve(problem: ConvexReLUProblem, epigraph: str, drop: bool = True) -> tuple[float, int]:
    prob, V, W = build_cvxpy_program(
        problem, epigraph=epigraph, drop_zero_features=drop, one_sided=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver="CLARABEL", canon_backend=cp.SCIPY_CANON_BACKEND)
    assert prob.status == "optimal"
    n_vars = int(sum(v.size for v in prob.variables()))
    return problem.convex_objective(V.value, W.value), n_vars


@pytest.mark.parametrize(
    "program, loss, penalty",
    [
        ("class-aware", "hinge", 1.0),
        ("class-aware", "hinge", 0.1),
        ("certified", "squared", None),
        ("certified", "hinge", 0.5),
        ("relaxed", "logistic", None),
    ],
)
def test_shared_epigraph_has_the_same_optimum_as_one_row_per_point(program, loss, penalty):
    X, y, D = _few_rows(60, 3)
    stability = {} if program == "relaxed" else {"stability_penalty": penalty}
    problem = ConvexReLUProblem(
        X, y, loss=loss, beta=0.05, patterns=D, robust_eps=EPS, robust=program, **stability
    )
    n_rows = len(np.unique(problem.D, axis=0))
    assert n_rows < problem.n // 2  # the case the shared epigraph is for
    by_rows, vars_rows = _solve(problem, "rows")
    by_points, vars_points = _solve(problem, "points")
    assert abs(by_rows - by_points) <= TOL * abs(by_points)
    d = problem.perturbable.sum()
    assert vars_points - vars_rows == (problem.n - n_rows) * d  # one epigraph row per distinct row


@pytest.mark.parametrize(
    "program, penalty, box", [("class-aware", 1.0, False), ("certified", None, False),
                              ("class-aware", 0.5, True)]
)  # fmt: skip
def test_dropping_all_zero_input_coordinates_keeps_the_optimum(program, penalty, box):
    """Two coordinates zero on every training point (as digits' border pixels): fixing their
    weights to zero (and dropping the epigraph entries at them) gives the optimum of the program
    that leaves them free, and fewer variables; also on the ball clipped to input bounds with a
    clean-loss mix (the own rung's program)."""
    X, y, D = _few_rows(60, 5)
    X = np.hstack([np.zeros((60, 1)), X, np.zeros((60, 1))])
    extra = {"lower": -1.0, "upper": 1.0, "clean_weight": 0.5} if box else {}
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=0.05, patterns=D, robust_eps=EPS, robust=program,
        stability_penalty=penalty, **extra,
    )  # fmt: skip
    dropped, vars_dropped = _solve(problem, "rows", drop=True)
    kept, vars_kept = _solve(problem, "rows", drop=False)
    assert abs(dropped - kept) <= TOL * abs(kept)
    # at each of the two coordinates: the weights of V and W (P each); the stability rows' l1
    # epigraphs of V and W (P each; clipped ball: a split M+ - M- of each, 2 P each); the loss
    # radius's epigraph (one entry per distinct row; clipped ball: a split, two)
    n_rows = len(np.unique(problem.D, axis=0))
    per_coordinate = 6 * problem.P + 2 * n_rows if box else 4 * problem.P + n_rows
    assert vars_kept - vars_dropped == 2 * per_coordinate


def test_epigraph_layout_is_checked():
    X, y, D = _few_rows(20, 0)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, patterns=D, robust_eps=EPS)
    with pytest.raises(ValueError, match="epigraph must be 'rows' or 'points'"):
        build_cvxpy_program(problem, epigraph="cols")


def test_default_solve_certificates_hold_against_the_milp_on_every_training_point():
    """solve_cvxpy's default build (shared epigraph; faer factorization when available) on the
    IBP-seeded class-aware program at the ladder's lower penalty: every training point's
    certified margin is at most its exact MILP worst-case margin."""
    X, y = _xor(40, 4)
    seeded = network_seeded_patterns(X, y, eps=EPS, n_patterns=8, lower=-1.0, upper=1.0)
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=1e-2, patterns=seeded.D, robust_eps=EPS, robust="class-aware",
        stability_penalty=0.1,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve_cvxpy(problem, solver="CLARABEL")
    assert sol.status == "converged"
    expected = "faer" if clarabel_has_faer() else "default (qdldl)"
    assert sol.info["clarabel_factorization"] == expected
    frame = check_certificates(sol, points=np.arange(len(y)), time_limit=20)
    assert len(frame) == len(y) and frame["ok"].all()
    assert (frame["certified_margin"] > 0).mean() >= 0.5  # the certificates are not vacuous
