"""solve_admm at default settings (issue 18): warm starts, the certified stop, bounded rho, the
divergence guard and honest statuses, checked against solve_cvxpy / solve_ipm."""

from __future__ import annotations

import numpy as np
import pytest
from convex_fixtures import rel_err as _rel
from convex_fixtures import xor_data

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solvers.admm import solve_admm
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy
from robustbench_convex.solvers.ipm import solve_ipm


def _problem(loss="squared", beta=0.1, **kw):
    return ConvexReLUProblem(*xor_data(60, 3, 0), loss=loss, beta=beta, n_patterns=8, **kw)


# ---------------------------------------------------------------- warm starts
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_warm_start_from_the_optimum_is_fast_and_lands_on_the_same_objective(loss):
    pr = _problem(loss)
    ref = solve_cvxpy(pr)
    cold = solve_admm(pr)
    assert cold.status == "converged" and cold.info["stop"] == "certified"
    assert _rel(cold.objective, ref.objective) < 1e-3
    # an accurate solution carrying its multipliers (a long ADMM run) as the warm start
    accurate = solve_admm(pr, gap_tol=1e-5, max_iter=6000)
    warm = solve_admm(pr, warm_start=accurate)
    assert warm.info["warm_start"] and warm.status == "converged"
    assert warm.info["iterations"] <= cold.info["iterations"] / 5, (
        warm.info["iterations"],
        cold.info["iterations"],
    )
    assert _rel(warm.objective, ref.objective) < 1e-3
    # a bare (V, W) pair (no multipliers): still converges to the same optimum
    pair = solve_admm(pr, warm_start=(ref.V, ref.W))
    assert pair.status == "converged" and _rel(pair.objective, ref.objective) < 1e-3


def test_warm_start_from_solve_ipm_uses_its_multipliers():
    pr = _problem("squared")
    ipm = solve_ipm(pr)
    cold = solve_admm(pr)
    warm = solve_admm(pr, warm_start=ipm)
    assert warm.status == "converged"
    assert warm.info["iterations"] <= cold.info["iterations"] / 5
    assert _rel(warm.objective, ipm.objective) < 1e-3


def test_warm_start_on_a_robust_program_converges_to_the_same_objective():
    pr = _problem("hinge", beta=0.2, robust_eps=0.05, robust="relaxed")
    ref = solve_cvxpy(pr)
    warm = solve_admm(pr, warm_start=ref, max_iter=1000)
    assert _rel(warm.objective, ref.objective) < 1e-3, (warm.status, warm.objective)


@pytest.mark.parametrize(
    ("warm", "error", "match"),
    [
        ("not a pair", TypeError, "warm_start"),
        ((np.zeros((2, 2)), np.zeros((2, 2))), ValueError, "shape"),
        (lambda pr: (np.full((pr.d_aug, pr.P), np.nan),) * 2, ValueError, "non-finite"),
    ],
)
def test_bad_warm_start_is_refused_before_any_work(warm, error, match):
    pr = _problem()
    warm = warm(pr) if callable(warm) else warm
    with pytest.raises(error, match=match):
        solve_admm(pr, warm_start=warm)
