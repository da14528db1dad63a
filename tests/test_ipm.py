"""Tests of the structured interior-point solver (robustbench_convex.solvers.ipm)."""

from __future__ import annotations

import numpy as np
import pytest
from convex_fixtures import assert_certified_optimum, xor_data
from convex_fixtures import rel_err as _rel

from robustbench_convex.duality import lower_bound
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solvers.admm import solve_admm
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy
from robustbench_convex.solvers.ipm import ipm_memory_bytes, solve_ipm


def _data(n=40, d=3, seed=0):
    return xor_data(n, d, seed)


@pytest.mark.parametrize(("beta", "P", "seed"), [(0.2, 8, 0), (1.0, 12, 1), (0.02, 6, 2)])
def test_matches_cvxpy_and_certifies_itself(beta, P, seed):
    pr = ConvexReLUProblem(*_data(seed=seed), loss="squared", beta=beta, n_patterns=P, seed=seed)
    ref = solve_cvxpy(pr)
    sol = solve_ipm(pr, tol=1e-8)
    # a genuine, tight lower bound; the problem's objective at a feasible point
    assert_certified_optimum(pr, sol, ref, tol=1e-8)
    # the network equals the convex model
    net_obj = pr.network_objective(sol.to_network())
    assert _rel(net_obj, sol.objective) < 1e-6


@pytest.mark.parametrize("kwargs", [{"patterns": "all"}, {"n_patterns": 50}])
def test_reports_honestly_on_tiny_overparameterized_data(kwargs):
    """14 points, up to 366 blocks, nearly all zero at the optimum: the hard regime for this
    method (module docstring). Whatever the status, what it reports is true: the bound is below
    the optimum, the point is feasible, and "converged" means certified."""
    X, y = _data(n=14, d=2, seed=3)
    pr = ConvexReLUProblem(X, y, loss="squared", beta=0.1, **kwargs)
    ref = solve_cvxpy(pr)
    sol = solve_ipm(pr, tol=1e-7, max_iter=60)
    assert sol.info["lower_bound"] <= ref.objective * (1 + 1e-9)
    assert sol.objective >= ref.objective * (1 - 1e-9)
    assert pr.constraint_violation(sol.V, sol.W) <= 1e-7
    assert _rel(sol.objective, ref.objective) < 1e-2
    if sol.status == "converged":
        assert sol.objective - sol.info["lower_bound"] <= 1e-7 * sol.objective
        assert _rel(sol.objective, ref.objective) < 1e-6


def test_agrees_with_admm_and_accepts_its_warm_start():
    pr = ConvexReLUProblem(*_data(n=60, d=4, seed=4), loss="squared", beta=0.3, n_patterns=10)
    admm = solve_admm(pr, max_iter=200, history_every=50)
    cold = solve_ipm(pr, tol=1e-8)
    warm = solve_ipm(pr, tol=1e-8, warm_start=admm)
    assert warm.status == cold.status == "converged"
    assert _rel(warm.objective, cold.objective) < 1e-7
    pair = solve_ipm(pr, tol=1e-8, warm_start=(admm.V, admm.W))
    assert pair.objective == pytest.approx(warm.objective, rel=1e-9)


def test_history_records_are_consistent():
    pr = ConvexReLUProblem(*_data(), loss="squared", beta=0.2, n_patterns=8)
    seen = []

    def callback(iteration, state):
        seen.append(iteration)
        assert state["V"].shape == state["W"].shape == (pr.d_aug, pr.P)
        assert state["record"]["iteration"] == iteration
        return {"extra": 2 * iteration}

    sol = solve_ipm(pr, tol=1e-8, callback=callback)
    h = sol.history
    assert [r["iteration"] for r in h] == seen == list(range(len(h)))
    assert all(r["extra"] == 2 * r["iteration"] for r in h)
    times = [r["time"] for r in h]
    assert times == sorted(times)
    bounds = [r["lower_bound"] for r in h]
    assert bounds == sorted(bounds)  # best bound so far
    # every recorded bound is valid: below the optimum
    assert max(bounds) <= sol.objective * (1 + 1e-12)
    assert h[-1]["mu"] < h[0]["mu"]
    # each record's bound is reproduced by duality.lower_bound at that iterate's data
    last = h[-1]
    assert last["objective"] == pytest.approx(sol.objective, rel=1e-12)
    theta = pr.predict_convex(sol.V, sol.W) - pr.y
    assert lower_bound(pr, theta).value <= sol.objective * (1 + 1e-12)


def test_budget_and_time_limit_statuses():
    pr = ConvexReLUProblem(*_data(), loss="squared", beta=0.2, n_patterns=8)
    short = solve_ipm(pr, max_iter=3)
    assert short.status == "max_iter" and len(short.history) == 3
    assert short.info["lower_bound"] <= short.objective
    timed = solve_ipm(pr, time_limit=1e-9)
    assert timed.status == "time_limit" and len(timed.history) == 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"tol": 0.0}, ValueError, "tol"),
        ({"tol": 2.0}, ValueError, "tol"),
        ({"time_limit": -1.0}, ValueError, "time_limit"),
        ({"max_bytes": 10.0}, MemoryError, "max_bytes"),
        ({"warm_start": (np.zeros(3), np.zeros(3))}, ValueError, "warm_start"),
        ({"warm_start": 3.0}, TypeError, "warm_start"),
        ({"device": "tpu"}, ValueError, "device"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    pr = ConvexReLUProblem(*_data(), loss="squared", beta=0.2, n_patterns=8)
    with pytest.raises(exc, match=match):
        solve_ipm(pr, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"loss": "logistic", "robust_eps": 0.1}, {"loss": "squared", "robust_eps": 0.1}],
)
def test_other_programs_are_refused_clearly(kwargs):
    pr = ConvexReLUProblem(*_data(), beta=0.2, n_patterns=8, **kwargs)
    with pytest.raises(NotImplementedError, match="solve_admm"):
        solve_ipm(pr)


def test_input_problem_not_mutated_and_memory_model_is_quadratic_in_P():
    pr = ConvexReLUProblem(*_data(), loss="squared", beta=0.2, n_patterns=8)
    Xa, D = pr.Xa.copy(), pr.D.copy()
    solve_ipm(pr, max_iter=5)
    assert np.array_equal(Xa, pr.Xa) and np.array_equal(D, pr.D)
    small, big = ipm_memory_bytes(1000, 101, 50), ipm_memory_bytes(1000, 101, 100)
    assert 3.5 < big / small < 4.0
