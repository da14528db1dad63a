"""The solver front door: robustbench_convex.solve(problem, solver="auto")."""

from __future__ import annotations

import pytest
from convex_fixtures import rel_err as _rel
from convex_fixtures import xor_data

from robustbench_convex import ConvexReLUClassifier, solve
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy
from robustbench_convex.solvers.front import NOMINAL_CVXPY_MAX_ROWS, choose_convex_solver


def _problem(loss="squared", n=40, **kw):
    return ConvexReLUProblem(*xor_data(n, 3, 1), loss=loss, beta=0.1, n_patterns=8, **kw)


def test_choice_per_program():
    assert choose_convex_solver(_problem("squared"))[0] == "ipm"
    assert choose_convex_solver(_problem("logistic"))[0] == "ipm"
    assert choose_convex_solver(_problem("hinge"))[0] == "ipm"
    assert choose_convex_solver(_problem("hinge", robust_eps=0.05))[0] == "cvxpy"
    big = NOMINAL_CVXPY_MAX_ROWS // 16 + 1  # n * 2P > the cap at P = 8
    assert choose_convex_solver(_problem("logistic", n=big))[0] == "admm"
    # the hinge loss stays with the interior point while its Newton order fits: ADMM's
    # certified stop is unreliable on it
    assert choose_convex_solver(_problem("hinge", n=big))[0] == "ipm"
    with pytest.raises(TypeError, match="ConvexReLUProblem"):
        choose_convex_solver("not a problem")


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_auto_is_certified_and_agrees_with_cvxpy(loss):
    pr = _problem(loss)
    sol = solve(pr)
    ref = solve_cvxpy(pr)
    assert sol.status == "converged" and sol.info["front_door"]["solver"] == "ipm"
    assert _rel(sol.objective, ref.objective) < 1e-4


def test_uncertified_ipm_on_a_margin_loss_hands_over_to_cvxpy():
    pr = _problem("hinge")
    sol = solve(pr, max_iter=2)  # IPM cannot certify in 2 iterations; Clarabel solves it
    assert sol.info["front_door"]["solver"] == "ipm+cvxpy"
    assert sol.status == "converged" and sol.solver == "CLARABEL"


def test_uncertified_ipm_hands_over_to_admm():
    pr = _problem("squared")
    sol = solve(pr, max_iter=2)  # IPM cannot certify in 2 iterations; ADMM continues
    assert sol.info["front_door"]["solver"] == "ipm+admm"
    assert sol.solver == "ADMM" and sol.info["warm_start"]
    ref = solve_cvxpy(pr)
    if sol.status == "converged":
        assert _rel(sol.objective, ref.objective) < 1e-3


def test_named_solvers_and_bad_names():
    pr = _problem("hinge")
    assert solve(pr, solver="admm", max_iter=5).solver == "ADMM"
    with pytest.raises(ValueError, match="solver must be one of"):
        solve(pr, solver="fastest")


def test_estimator_default_is_auto():
    X, y = xor_data(40, 3, 2)
    clf = ConvexReLUClassifier(n_patterns=8, pattern_strategy="sampled").fit(X, y)
    assert clf.solver == "auto"
    assert clf.result_.info["front_door"]["solver"] == "ipm"
    assert clf.result_.status == "converged"


def test_an_unfactorable_automatic_ipm_hands_over(monkeypatch):
    """A Newton matrix that cannot be factored ends the automatic interior point, not the solve
    (as in pricing's restricted solves); a named ``solver="ipm"`` re-raises."""
    import torch

    from robustbench_convex.solvers import ipm

    def broken(problem, **options):
        raise torch.linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(ipm, "solve_ipm", broken)
    pr = _problem("hinge")
    sol = solve(pr)
    assert sol.info["front_door"]["solver"] == "ipm+cvxpy" and sol.status == "converged"
    assert "not factorable" in sol.info["front_door"]["reason"]
    with pytest.raises(torch.linalg.LinAlgError):
        solve(pr, solver="ipm")
