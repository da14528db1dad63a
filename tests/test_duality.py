"""Tests of the certified lower bounds (robustbench_convex.duality)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustbench_convex.duality import conjugate_loss_sum, loss_gradient, lower_bound
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.losses import loss_value
from robustbench_convex.solvers.admm import solve_admm
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

LOSSES = ["squared", "hinge", "logistic"]


def _problem(loss, n=40, seed=0, **kw):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = np.sign(X[:, 0] * X[:, 1] + 0.3 * rng.standard_normal(n))
    y[y == 0] = 1.0
    return ConvexReLUProblem(X, y, loss=loss, beta=0.2, n_patterns=8, seed=seed, **kw)


@pytest.mark.parametrize("loss", LOSSES)
def test_fenchel_young_for_the_conjugates(loss):
    """l(z) + l*(theta) >= theta z for every z, with equality at theta = grad l(z)."""
    g = torch.Generator().manual_seed(0)
    y = torch.sign(torch.randn(200, dtype=torch.float64, generator=g))
    z = 3 * torch.randn(200, dtype=torch.float64, generator=g)
    theta_at = loss_gradient(loss, z, y)
    for k in range(200):
        zk, yk, tk = z[k : k + 1], y[k : k + 1], theta_at[k : k + 1]
        lz = float(loss_value(loss, zk, yk))
        assert lz + conjugate_loss_sum(loss, tk, yk) == pytest.approx(float(tk @ zk), abs=1e-9)
        for other in (-4.0, -0.5, 0.0, 0.7, 5.0):
            zo = torch.tensor([other], dtype=torch.float64)
            lo = float(loss_value(loss, zo, yk))
            assert lo + conjugate_loss_sum(loss, tk, yk) >= float(tk @ zo) - 1e-9


@pytest.mark.parametrize("loss", LOSSES)
def test_any_candidate_gives_a_valid_bound(loss):
    """Weak duality: random (theta, lambda) never bound above the CVXPY optimum."""
    pr = _problem(loss)
    opt = solve_cvxpy(pr).objective
    rng = np.random.default_rng(1)
    for trial in range(20):
        theta = rng.standard_normal(pr.n) * (3.0 if trial % 2 else 0.3)
        lam = rng.standard_normal((pr.n, 2 * pr.P))
        bound = lower_bound(pr, theta, lam, refine_steps=trial % 3 * 20)
        assert bound.value <= opt + 1e-9 * abs(opt)
        assert 0.0 <= bound.scale <= 1.0


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_bound_is_tight_at_the_solution(loss):
    """theta = grad l at the CVXPY predictions and multipliers refined from zero: the bound
    approaches the optimum from below (5e-3 after 3000 first-order steps)."""
    pr = _problem(loss)
    sol = solve_cvxpy(pr)
    theta = loss_gradient(
        loss, torch.as_tensor(pr.predict_convex(sol.V, sol.W)), torch.as_tensor(pr.y)
    )
    bound = lower_bound(pr, theta, None, refine_steps=3000)
    assert bound.value <= sol.objective + 1e-9
    assert (sol.objective - bound.value) / sol.objective < 5e-3


@pytest.mark.parametrize(("loss", "gap"), [("squared", 1e-5), ("logistic", 1e-5), ("hinge", 3e-3)])
def test_admm_certify_records_valid_and_tight_bounds(loss, gap):
    pr = _problem(loss)
    opt = solve_cvxpy(pr).objective
    # gap_tol=None: run to the residual tolerance (the default stops at a certified 1e-3)
    sol = solve_admm(pr, max_iter=3000, tol=1e-7, history_every=10, certify=True, gap_tol=None)
    bounds = [r["lower_bound"] for r in sol.history]
    assert max(bounds) <= opt + 1e-9 * abs(opt)
    assert sol.info["lower_bound"] == max(bounds)
    assert (opt - sol.info["lower_bound"]) / opt < gap
    # the iterate is only nearly feasible, so its objective may sit a little *below* the bound;
    # both are within the tolerance of the optimum
    assert abs(sol.objective - sol.info["lower_bound"]) / opt < gap


def test_robust_programs_are_refused_clearly():
    pr = _problem("hinge", robust_eps=0.1)
    with pytest.raises(NotImplementedError, match="nominal"):
        lower_bound(pr, np.zeros(pr.n))
    with pytest.raises(ValueError, match="certify"):
        solve_admm(pr, certify=True, max_iter=1)


def test_shapes_are_checked():
    pr = _problem("squared")
    with pytest.raises(ValueError, match="theta"):
        lower_bound(pr, np.zeros(pr.n + 1))
    with pytest.raises(ValueError, match="multipliers"):
        lower_bound(pr, np.zeros(pr.n), np.zeros((pr.n, pr.P)))
    with pytest.raises(ValueError, match="refine_steps"):
        lower_bound(pr, np.zeros(pr.n), refine_steps=-1)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_gap_tol_stops_with_a_certified_network(loss):
    pr = _problem(loss, n=60, seed=2)
    opt = solve_cvxpy(pr).objective
    full = solve_admm(pr, max_iter=5000, tol=1e-7, history_every=10, gap_tol=None)
    sol = solve_admm(pr, max_iter=5000, tol=1e-7, history_every=10, gap_tol=1e-3)
    assert sol.status == "converged" and "certified" in sol.message
    assert sol.info["iterations"] < full.info["iterations"]
    net = sol.info["network_objective"]
    assert net <= (1 + 1e-3) * sol.info["lower_bound"] + 1e-9
    assert net - opt <= 1e-3 * opt  # the certificate holds against the reference optimum
    assert sol.info["lower_bound"] <= opt + 1e-9


def test_gap_tol_is_validated():
    pr = _problem("squared")
    for bad in (0.0, -1e-3, True, "1e-3"):
        with pytest.raises(ValueError, match="gap_tol"):
            solve_admm(pr, gap_tol=bad, max_iter=1)


def _perturbed_candidate(pr, sol, rng, size):
    """theta at predictions of the solution perturbed by ``size`` (relative), and random
    non-negative multipliers of a comparable scale."""
    yhat = pr.predict_convex(sol.V, sol.W)
    yhat = yhat + size * np.linalg.norm(yhat) / np.sqrt(pr.n) * rng.standard_normal(pr.n)
    theta = loss_gradient(pr.loss, torch.as_tensor(yhat), torch.as_tensor(pr.y))
    lam = np.abs(rng.standard_normal((pr.n, 2 * pr.P))) * size
    return theta, lam


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_polished_bound_is_valid_and_never_below_the_plain_one(loss):
    """For perturbed and random candidates, plain <= polished <= optimum."""
    from robustbench_convex.duality import LagrangeDual

    pr = _problem(loss)
    sol = solve_cvxpy(pr)
    opt = sol.objective
    dual = LagrangeDual(pr)
    rng = np.random.default_rng(3)
    gains = []
    for trial in range(12):
        if trial < 8:
            theta, lam = _perturbed_candidate(pr, sol, rng, [1e-3, 1e-2, 0.1, 0.5][trial % 4])
        else:
            theta, lam = rng.standard_normal(pr.n), rng.standard_normal((pr.n, 2 * pr.P))
        plain = dual.lower_bound(theta, lam, refine_steps=0).value
        polished = dual.polished_bound(theta, lam)
        assert plain <= polished.value <= opt + 1e-9 * abs(opt)
        assert polished.max_block_ratio <= 1.0 + 1e-6 or polished.scale < 1.0
        gains.append(polished.value - plain)
    assert max(gains) > 0  # it does improve some candidates


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_polished_bound_tightens_an_admm_candidate(loss):
    """The candidate of an unfinished ADMM run (dual residual small but not zero): polishing
    closes most of the plain bound's gap to the optimum (measured, relative: squared 7e-5 ->
    1e-6, logistic 5e-5 -> 5e-6), and stays below it."""
    from robustbench_convex.duality import LagrangeDual

    pr = _problem(loss, n=80, seed=4)
    opt = solve_cvxpy(pr).objective
    sol = solve_admm(pr, max_iter=2000, tol=1e-12, gap_tol=None, certify=True, dtype=torch.float64)
    assert sol.status == "max_iter"
    yhat = torch.as_tensor(pr.predict_convex(sol.V, sol.W))
    theta = loss_gradient(loss, yhat, torch.as_tensor(pr.y))
    dual = LagrangeDual(pr)
    plain = dual.lower_bound(theta, sol.info["multipliers"], refine_steps=0).value
    polished = dual.polished_bound(theta, sol.info["multipliers"]).value
    assert polished <= opt + 1e-9 * opt
    assert opt - polished <= 0.5 * (opt - plain)


def test_polished_bound_is_the_plain_one_for_the_hinge_loss():
    from robustbench_convex.duality import LagrangeDual

    pr = _problem("hinge")
    rng = np.random.default_rng(5)
    theta, lam = rng.standard_normal(pr.n), np.abs(rng.standard_normal((pr.n, 2 * pr.P)))
    dual = LagrangeDual(pr)
    assert dual.polished_bound(theta, lam) == dual.lower_bound(theta, lam, refine_steps=0)


def test_polished_bound_checks_max_directions_and_accepts_none():
    from robustbench_convex.duality import LagrangeDual

    pr = _problem("squared")
    dual = LagrangeDual(pr)
    theta = np.full(pr.n, -0.1)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="max_directions"):
            dual.polished_bound(theta, max_directions=bad)
    # theta alone (no block directions) still gives a valid bound, at least the plain one
    only_theta = dual.polished_bound(theta, None, max_directions=0).value
    assert only_theta >= dual.lower_bound(theta, None, refine_steps=0).value
    assert only_theta <= solve_cvxpy(pr).objective + 1e-9
