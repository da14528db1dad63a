"""Support reduction of restricted solutions (``pricing.reduce_support``) and the pricing loop
that drops the blocks it zeroes (``column_generation(reduce=True)``), on tiny 2-D data where
every pattern is enumerable."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.global_bound import global_lower_bound
from robustbench_convex.pricing import (
    column_generation,
    dual_vector,
    fit_convex_network,
    reduce_support,
    solve_restricted,
)
from tests.convex_fixtures import xor_data

TIGHT = {"cvxpy_solver": "CLARABEL", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10}


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _blocks(V: np.ndarray, W: np.ndarray) -> np.ndarray:
    return np.hstack([V, W])


def _nonzero(U: np.ndarray) -> np.ndarray:
    return np.linalg.norm(U, axis=0) > 0


@pytest.fixture(scope="module")
def every_pattern_solutions():
    """Interior-point solutions of the all-pattern program (n = 14: more nonzero blocks than
    samples) for the three losses, as the solver returns them (``"raw"``, sign constraints
    met up to its tol) and made feasible: projected onto the cones, and the (tiny) blocks whose
    directions leave their cones by more than 1e-12 per unit norm set to zero."""
    X, y = xor_data(n=14, seed=3)
    out = {}
    for loss in ("squared", "hinge", "logistic"):
        problem = ConvexReLUProblem(X, y, loss=loss, beta=0.05, patterns="all")
        raw = _quiet(solve_restricted, problem, solver="ipm")
        V, W = problem.project_feasible(raw.V, raw.W)
        sign = 2.0 * problem.D - 1.0
        for M in (V, W):
            norms = np.maximum(np.linalg.norm(M, axis=0), 1e-300)
            M[:, (-(sign * (problem.Xa @ M)) / norms).max(axis=0) > 1e-12] = 0.0
        out[loss] = raw.replace(V=V, W=W, objective=problem.convex_objective(V, W))
        out[loss, "raw"] = raw
    return out


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_reduction_keeps_the_cones_never_raises_the_objective_and_keeps_at_most_n_blocks(
    loss, every_pattern_solutions
):
    """A planted case: the interior point spreads the optimum over more nonzero blocks than
    samples; the reduction keeps every block's direction (a nonnegative multiple of it, so the
    sign constraints hold as before), its objective is no larger, and few blocks stay nonzero:
    at most ``n`` for the hinge loss (a vertex of the LP, ``n`` rows), ``n + 1`` for the
    quadratic refits (a vertex of their optimal face ``{t >= 0: C t = r*, 1^T t = s*}``)."""
    solution = every_pattern_solutions[loss]
    problem = solution.problem
    U = _blocks(solution.V, solution.W)
    assert _nonzero(U).sum() > problem.n  # the planted case: more blocks than samples
    assert problem.constraint_violation(solution.V, solution.W) <= 1e-12
    reduced = reduce_support(solution)
    record = reduced.info["support_reduction"]
    assert record["accepted"]
    U2 = _blocks(reduced.V, reduced.W)
    assert _nonzero(U2).sum() == record["blocks_after"] <= problem.n + (loss != "hinge")
    assert not np.any(_nonzero(U2) & ~_nonzero(U))  # no new block
    # each block a nonnegative multiple of the old one
    live = _nonzero(U)
    scale = np.linalg.norm(U2[:, live], axis=0) / np.linalg.norm(U[:, live], axis=0)
    np.testing.assert_allclose(U2[:, live], U[:, live] * scale, rtol=1e-12, atol=1e-15)
    assert problem.constraint_violation(reduced.V, reduced.W) <= max(
        1e-9, solution.constraint_violation
    )
    assert reduced.objective == pytest.approx(problem.convex_objective(reduced.V, reduced.W))
    assert reduced.objective <= solution.objective


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_reduction_of_a_slightly_infeasible_answer_stays_as_feasible(loss, every_pattern_solutions):
    """The interior point's answer meets the sign constraints only up to its tol: a block whose
    direction leaves its cone may grow only as far as the answer's own violation allows, so
    the reduced point is no less feasible, and its objective is no larger."""
    raw = every_pattern_solutions[loss, "raw"]
    assert raw.constraint_violation > 0  # the case this covers
    reduced = reduce_support(raw)
    assert reduced.info["support_reduction"]["accepted"]
    assert reduced.constraint_violation <= raw.constraint_violation * (1 + 1e-9)
    assert reduced.objective <= raw.objective
    assert reduced.info["support_reduction"]["blocks_after"] < _nonzero(_blocks(raw.V, raw.W)).sum()


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_reduction_is_the_optimum_over_fixed_directions(loss, every_pattern_solutions):
    """For the squared and the hinge loss the refit is exact: its objective equals CVXPY's
    optimum of ``min L(C t) + beta 1^T t, t >= 0`` over the solution's directions; for the hinge
    loss the recorded dual vector is a subgradient of the loss at the new predictions."""
    import cvxpy as cp

    solution = every_pattern_solutions[loss]  # feasible: no bound on t in the refit
    problem = solution.problem
    U = _blocks(solution.V, solution.W)
    live = np.flatnonzero(_nonzero(U))
    P = problem.P
    sign = np.where(live < P, 1.0, -1.0)
    directions = U[:, live] / np.linalg.norm(U[:, live], axis=0)
    C = problem.D[:, live % P] * (problem.Xa @ directions) * sign
    t = cp.Variable(live.size, nonneg=True)
    f = C @ t
    y = problem.y
    loss_term = (
        0.5 * cp.sum_squares(f - y) if loss == "squared" else cp.sum(cp.pos(1 - cp.multiply(y, f)))
    )
    best = cp.Problem(cp.Minimize(loss_term + problem.beta * cp.sum(t))).solve(solver="CLARABEL")
    reduced = reduce_support(solution)
    assert reduced.objective == pytest.approx(best, rel=1e-6)
    if loss == "hinge":
        theta = dual_vector(reduced)
        margin = y * problem.predict_convex(reduced.V, reduced.W)
        assert np.all((theta * y >= -1 - 1e-9) & (theta * y <= 1e-9))
        np.testing.assert_allclose(theta[margin < 1 - 1e-6], -y[margin < 1 - 1e-6])
        np.testing.assert_allclose(theta[margin > 1 + 1e-6], 0.0, atol=1e-9)


def test_a_refit_that_is_worse_is_not_taken(monkeypatch, every_pattern_solutions):
    """The guarantee does not rest on the LP / QP solver: a refit with a larger objective is
    refused and the solution comes back unchanged (recorded, not accepted)."""
    import robustbench_convex.pricing as pricing

    solution = every_pattern_solutions["squared"]
    monkeypatch.setattr(pricing, "_refit", lambda problem, cols, yhat, upper: (3.0 * cols.t, None))
    kept = reduce_support(solution)
    assert not kept.info["support_reduction"]["accepted"]
    np.testing.assert_array_equal(kept.V, solution.V)
    assert kept.objective == solution.objective


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_loop_with_reduction_never_increases_and_certifies(loss):
    """``column_generation(reduce=True)`` with the exact oracle: the objective never increases,
    the loop ends on the proof, the any-width bound at its dual vector is <= the exact
    (all-pattern) optimum <= the reported objective, within 2e-3, and the final program holds
    fewer patterns than the loop without reduction."""
    X, y = xor_data(n=30, seed=11)
    beta = 0.1
    exact = _quiet(
        solve_restricted,
        ConvexReLUProblem(X, y, loss=loss, beta=beta, patterns="all"),
        solver="cvxpy",
        **TIGHT,
    ).objective
    problem = ConvexReLUProblem(X, y, loss=loss, beta=beta, n_patterns=4, seed=2)
    options = {
        "max_rounds": 40,
        "patterns_per_round": 8,
        "exact_patterns": np.zeros((problem.n, 0)),
        "always_exact": True,
    }
    reduced = _quiet(column_generation, problem, reduce=True, **options)
    plain = _quiet(column_generation, problem, **options)
    assert reduced.stop_reason == "no violation (exact)"
    objectives = [r.objective for r in reduced.history]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(objectives))
    assert reduced.solution.objective <= objectives[-1]
    assert reduced.solution.info["support_reduction"]["accepted"]
    bound = global_lower_bound(
        X, y, reduced.theta, loss=loss, beta=beta, M_upper=reduced.M_upper
    ).value
    assert bound <= exact * (1 + 1e-7) + 1e-9
    assert exact <= reduced.solution.objective * (1 + 1e-6)
    assert reduced.solution.objective <= exact * (1 + 2e-3)
    assert reduced.solution.problem.P < plain.solution.problem.P


def test_fit_reduces_the_support_by_default_on_2d_data_and_names_bad_values():
    X, y = xor_data(n=40, seed=4)
    fit = _quiet(fit_convex_network, X, y, loss="hinge", beta=0.1, seed_epochs=50)
    assert fit.solution.info["support_reduction"]["accepted"]
    assert fit.summary()["support_reduced"] and fit.solution.info["support_reduced"]
    assert fit.summary()["certified_gap"] <= 1e-3
    off = _quiet(
        fit_convex_network, X, y, loss="hinge", beta=0.1, seed_epochs=50, support_reduction=False
    )
    assert "support_reduction" not in off.solution.info
    assert not off.summary()["support_reduced"]
    with pytest.raises(ValueError, match="support_reduction"):
        fit_convex_network(X, y, beta=0.1, support_reduction="yes")


def test_caratheodory_step_keeps_the_predictions_and_lowers_the_regularizer():
    """``_vertex``: from a strictly positive ``t`` over more columns than rows, a point with the
    same predictions ``C s = C t`` (to the LP's tolerance), ``1^T s <= 1^T t`` and at most
    ``rank(C)`` nonzero entries (a basic solution of the LP)."""
    from robustbench_convex.pricing import _vertex

    rng = np.random.default_rng(0)
    C = np.maximum(rng.standard_normal((12, 60)), 0.0) + 0.1
    t = rng.uniform(0.5, 1.5, 60)
    s = _vertex(C, t, np.full(60, np.inf))
    np.testing.assert_allclose(C @ s, C @ t, rtol=0, atol=1e-7 * np.abs(C @ t).max())
    assert s.sum() <= t.sum()
    assert np.all(s >= 0)
    assert (s > 0).sum() <= np.linalg.matrix_rank(C)


def test_the_qp_refit_prints_nothing_on_stdout():
    """HiGHS prints a banner on stdout (file descriptor 1, from C) when a process makes its
    first ``highspy.Highs``; the refit's QP must not (``attacks._highs.quiet_highs``), e.g. under
    ``rbconvex run --quiet``. A fresh process, since the banner comes once per process."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from robustbench_convex.pricing import _refit_quadratic\n"
        "rng = np.random.default_rng(0)\n"
        "C = rng.standard_normal((12, 20))\n"
        "t = _refit_quadratic(C, rng.standard_normal(12), 1.0, None, 0.5, np.full(20, np.inf))\n"
        "assert np.all(t >= -1e-9)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def _stalled_ipm(monkeypatch, gap: float) -> None:
    """Make every interior-point solve end ``"inaccurate"`` with its certified bound ``gap``
    (relative) below its objective, as a stalled tail solve does."""
    from robustbench_convex.solvers import ipm

    real = ipm.solve_ipm

    def stalled(problem, **kwargs):
        solution = real(problem, **kwargs)
        bound = solution.objective - gap * abs(solution.objective)
        return solution.replace(
            status="inaccurate", info={**solution.info, "lower_bound": bound}, message="stalled"
        )

    monkeypatch.setattr(ipm, "solve_ipm", stalled)


def test_a_stalled_solve_certified_within_accept_gap_skips_the_cvxpy_fallback(monkeypatch):
    """``solve_restricted(accept_gap=...)``: a hinge interior-point answer that stalled with its
    own certified gap 5e-4 is returned as it is (status still ``"inaccurate"``, no CVXPY
    fallback) under ``accept_gap=1e-3``, and goes to CVXPY without it or under 1e-4."""
    X, y = xor_data(n=30, seed=11)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, n_patterns=8, seed=2)
    _stalled_ipm(monkeypatch, 5e-4)
    accepted = _quiet(solve_restricted, problem, accept_gap=1e-3)
    assert accepted.solver == "IPM" and accepted.status == "inaccurate"
    assert accepted.info["accepted_gap"] == 1e-3
    assert accepted.info["certified_gap"] == pytest.approx(5e-4, rel=1e-6)
    for accept_gap in (None, 1e-4):
        fallback = _quiet(solve_restricted, problem, accept_gap=accept_gap)
        assert fallback.solver != "IPM" and "accepted_gap" not in fallback.info


def test_loop_with_the_exact_oracle_goes_on_past_an_accepted_stalled_solve(monkeypatch):
    """With the exact oracle, ``column_generation`` passes its ``tol`` as ``accept_gap``: with
    every interior-point solve stalled at a certified 5e-4 the loop neither calls CVXPY nor
    stops on "re-solve not converged"; it ends on the proof, its objective never increases."""
    from robustbench_convex.solvers import cvxpy_dual

    X, y = xor_data(n=30, seed=11)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, n_patterns=4, seed=2)
    _stalled_ipm(monkeypatch, 5e-4)

    def no_cvxpy(*args, **kwargs):
        raise AssertionError("the CVXPY fallback was called")

    monkeypatch.setattr(cvxpy_dual, "solve_cvxpy_dual", no_cvxpy)
    result = _quiet(
        column_generation,
        problem,
        max_rounds=40,
        patterns_per_round=8,
        exact_patterns=np.zeros((problem.n, 0)),
        always_exact=True,
        reduce=True,
    )
    assert result.stop_reason == "no violation (exact)"
    assert result.rounds >= 1
    objectives = [r.objective for r in result.history]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(objectives))
