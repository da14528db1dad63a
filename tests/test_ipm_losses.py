"""The structured interior point on the hinge and logistic programs (solvers.ipm): agreement
with Clarabel, its own certificate, the hinge epigraph's dual vector, warm starts, and the
restricted solves of pricing that use it."""

from __future__ import annotations

import numpy as np
import pytest
from convex_fixtures import assert_certified_optimum, xor_data
from convex_fixtures import rel_err as _rel

from robustbench_convex.duality import lower_bound
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.pricing import resolve_solver, solve_restricted
from robustbench_convex.solvers import ipm
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy
from robustbench_convex.solvers.ipm import solve_ipm

CASES = [(0.1, 8, 0), (1.0, 12, 1), (0.01, 6, 2)]


def _problem(loss, beta, P, seed, n=50, d=4):
    X, y = xor_data(n, d, seed)
    return ConvexReLUProblem(X, y, loss=loss, beta=beta, n_patterns=P, seed=seed)


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
@pytest.mark.parametrize(("beta", "P", "seed"), CASES)
def test_matches_clarabel_and_certifies_itself(loss, beta, P, seed):
    pr = _problem(loss, beta, P, seed)
    ref = solve_cvxpy(pr)
    sol = solve_ipm(pr, tol=1e-7)
    # the certificate is a proof: below the reference optimum, and within tol of the answer
    assert_certified_optimum(pr, sol, ref, tol=1e-7)


def test_hinge_dual_vector_is_in_the_conjugate_domain_and_certifies():
    pr = _problem("hinge", 0.1, 8, 0)
    sol = solve_ipm(pr)
    theta = sol.info["theta"]
    assert theta.shape == (pr.n,)
    margin = theta * pr.y  # -b, the epigraph multiplier: in [-1, 0] up to the residual
    assert margin.min() >= -1 - 1e-6 and margin.max() <= 1e-6
    bound = lower_bound(pr, theta, sol.info["multipliers"]).value
    assert sol.objective - bound <= 1e-5 * sol.objective
    # a sample strictly inside the margin has b = 0, one violating it b = 1
    yhat = pr.predict_convex(sol.V, sol.W)
    inside, violating = pr.y * yhat > 1 + 1e-3, pr.y * yhat < 1 - 1e-3
    assert np.all(np.abs(margin[inside]) < 1e-4)
    assert np.all(np.abs(margin[violating] + 1) < 1e-4)


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_warm_start_reaches_the_same_optimum(loss):
    pr = _problem(loss, 0.1, 8, 3)
    cold = solve_ipm(pr)
    rng = np.random.default_rng(0)
    warm = solve_ipm(pr, warm_start=(rng.standard_normal((pr.d_aug, pr.P)), cold.W * 0.5))
    again = solve_ipm(pr, warm_start=cold)
    for sol in (warm, again):
        assert sol.status == "converged"
        assert _rel(sol.objective, cold.objective) < 2e-6


def test_budget_status_is_honest():
    pr = _problem("logistic", 0.1, 8, 0)
    sol = solve_ipm(pr, max_iter=3)
    assert sol.status == "max_iter"
    assert sol.info["lower_bound"] < sol.objective


def test_restricted_solves_use_it_and_fall_back_when_uncertified():
    pr = _problem("hinge", 0.1, 8, 1)
    assert resolve_solver(pr, "auto") == "ipm"
    ref = solve_cvxpy(pr)
    auto = solve_restricted(pr)
    assert auto.solver == "IPM" and auto.status == "converged"
    assert _rel(auto.objective, ref.objective) < 1e-6
    # an interior point cut short (uncertified) is re-solved by the certified CVXPY path
    short = solve_restricted(pr, max_iter=2)
    assert short.solver != "IPM" and short.status == "converged"
    assert _rel(short.objective, ref.objective) < 1e-5
    # asked for explicitly, the interior point's own status stands
    assert solve_restricted(pr, solver="ipm", max_iter=2).status == "max_iter"


def test_refined_certificate_ends_the_squared_solve_early(monkeypatch):
    # breast-cancer (first 120 samples, 10 features), 16 random patterns, beta 0.1: the
    # unrefined bound lags once the primal is done (measured 34 iterations against 18)
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    pr = ConvexReLUProblem(X[:120, :10], 2.0 * y[:120] - 1, loss="squared", beta=0.1, n_patterns=16)
    refined = solve_ipm(pr)
    monkeypatch.setattr(ipm, "CERTIFICATE_REFINE_STEPS", 0)
    plain = solve_ipm(pr)
    assert refined.status == "converged", refined.message
    # without the refinement: later, or never (stalled, "inaccurate")
    assert plain.status != "converged" or refined.info["iterations"] < plain.info["iterations"]
    assert _rel(refined.objective, plain.objective) < 2e-6
    assert refined.info["lower_bound"] <= plain.objective * (1 + 1e-9)


def test_bad_input_is_refused_before_work():
    pr = _problem("hinge", 0.1, 4, 0)
    with pytest.raises(ValueError, match="tol"):
        solve_ipm(pr, tol=-1.0)
    robust = ConvexReLUProblem(
        *xor_data(20, 2, 0), loss="hinge", beta=0.1, n_patterns=4, robust_eps=0.1
    )
    with pytest.raises(NotImplementedError, match="solve_admm"):
        solve_ipm(robust)


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_unreachable_tol_stops_as_stalled_not_converged(loss):
    from robustbench_convex.pricing import _ipm_certified

    pr = _problem(loss, 0.1, 8, 5)
    ref = solve_cvxpy(pr)
    sol = solve_ipm(pr, tol=1e-13, max_iter=100)
    assert sol.status == "inaccurate", sol.message
    assert "stalled" in sol.message and sol.info["iterations"] < 100
    assert _rel(sol.objective, ref.objective) < 1e-6
    assert sol.info["lower_bound"] <= ref.objective * (1 + 1e-9)
    # pricing's rule: promoted only with its own certified gap <= 1e-4
    promoted = _ipm_certified(sol)
    assert promoted.status == "converged" and promoted.info["certified_gap"] <= 1e-4


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_capacitance_solves_match_dense_and_clarabel(loss, monkeypatch):
    # n = 30 samples against d_aug P = 84 Newton unknowns: the n x n capacitance path
    pr = _problem(loss, 0.1, 12, 6, n=30, d=6)
    modes = []
    direction = ipm._Structure.direction

    def spy(self, *args, **kwargs):
        modes.append(self.mode)
        return direction(self, *args, **kwargs)

    monkeypatch.setattr(ipm._Structure, "direction", spy)
    small = solve_ipm(pr, tol=1e-7)
    assert modes.count("woodbury") > len(modes) // 2
    monkeypatch.setattr(ipm, "WOODBURY_MAX_RATIO", 0.0)
    modes.clear()
    dense = solve_ipm(pr, tol=1e-7)
    assert set(modes) == {"dense"}
    ref = solve_cvxpy(pr)
    for sol in (small, dense):
        assert sol.status == "converged", sol.message
        assert _rel(sol.objective, ref.objective) < 1e-6
        assert sol.info["lower_bound"] <= ref.objective * (1 + 1e-9)


def test_restricted_solve_falls_back_when_the_newton_matrix_fails(monkeypatch):
    import torch

    def broken(*args, **kwargs):
        raise torch.linalg.LinAlgError("Newton matrix not positive definite even when shifted")

    pr = _problem("logistic", 0.1, 8, 2)
    monkeypatch.setattr(ipm, "solve_ipm", broken)
    sol = solve_restricted(pr)
    assert sol.solver != "IPM" and sol.status == "converged"
    assert _rel(sol.objective, solve_cvxpy(pr).objective) < 1e-5
    with pytest.raises(torch.linalg.LinAlgError):
        solve_restricted(pr, solver="ipm")
