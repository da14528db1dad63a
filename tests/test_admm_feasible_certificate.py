"""The certified stop of solve_admm rests on a feasible point (issue 18): the iterate is projected
onto the sign constraints (``ConvexReLUProblem.project_feasible``) and the stop fires only when
that feasible point's objective is within ``gap_tol`` of the Lagrange-dual bound, so a
"converged" answer is never below the optimum and its certified gap is a true one."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from convex_fixtures import xor_data

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solvers.admm import solve_admm
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy
from robustbench_convex.solvers.ipm import solve_ipm


def _problem(loss="squared", beta=0.1, n=60, d=3, P=8, seed=0, **kw):
    return ConvexReLUProblem(*xor_data(n, d, seed), loss=loss, beta=beta, n_patterns=P, **kw)


def test_project_feasible_is_the_euclidean_projection_onto_each_sign_cone():
    pr = _problem(n=40, P=5)
    rng = np.random.default_rng(3)
    V, W = rng.standard_normal((2, pr.d_aug, pr.P))
    V0, W0 = V.copy(), W.copy()
    Vp, Wp = pr.project_feasible(V, W)
    assert np.array_equal(V, V0) and np.array_equal(W, W0)  # inputs untouched
    assert pr.constraint_violation(Vp, Wp) <= 1e-12
    sign = 2.0 * pr.D - 1.0
    for M, Mp in ((V, Vp), (W, Wp)):
        for i in range(pr.P):
            A = sign[:, i : i + 1] * pr.Xa
            x = cp.Variable(pr.d_aug)
            cp.Problem(cp.Minimize(cp.sum_squares(x - M[:, i])), [A @ x >= 0]).solve(
                solver="CLARABEL"
            )
            assert np.linalg.norm(Mp[:, i] - x.value) <= 1e-6 * max(1.0, np.linalg.norm(M[:, i]))
    # feasible points are fixed points
    Vq, Wq = pr.project_feasible(Vp, Wp)
    assert np.allclose(Vq, Vp, atol=1e-12) and np.allclose(Wq, Wp, atol=1e-12)


def test_project_feasible_refuses_robust_programs():
    pr = _problem(loss="hinge", robust_eps=0.05, robust="relaxed")
    with pytest.raises(ValueError, match="nominal"):
        pr.project_feasible(np.zeros((pr.d_aug, pr.P)), np.zeros((pr.d_aug, pr.P)))


@pytest.mark.parametrize(
    ("loss", "beta"), [("squared", 0.1), ("squared", 1.0), ("hinge", 1.0), ("logistic", 1.0)]
)
def test_a_certified_answer_is_feasible_and_never_below_the_optimum(loss, beta):
    pr = _problem(loss, beta=beta)
    ref = solve_cvxpy(pr)
    sol = solve_admm(pr)
    assert sol.status == "converged" and sol.info["stop"] == "certified", sol.message
    assert sol.info["feasible_correction"]
    assert sol.constraint_violation <= 1e-9
    # feasible: not below the optimum (up to Clarabel's own accuracy) and within gap_tol of it
    assert sol.objective >= ref.objective * (1 - 1e-6) - 1e-9
    assert sol.objective <= ref.objective * (1 + 1e-3) + 1e-9
    # the certified gap is a true one: between a feasible objective and a valid lower bound
    lb, ub = sol.info["lower_bound"], sol.info["upper_bound"]
    assert lb <= ref.objective * (1 + 1e-7) + 1e-9 and ub >= ref.objective * (1 - 1e-6) - 1e-9
    assert 0 <= sol.info["certified_gap"] <= 1e-3
    # the network the user gets has the objective reported: on a feasible point they agree
    net = pr.network_objective(sol.to_network())
    assert abs(net - sol.objective) <= 1e-6 * abs(sol.objective)


@pytest.fixture(scope="module")
def quick_problems():
    """The nominal program of the quick preset's convex-admm cells (squared loss, beta 1, 32
    Gaussian patterns, seed 0): their iterates stay slightly infeasible for thousands of
    iterations, with convex objectives below the optimum."""
    from robustbench_convex.data import load_dataset

    out = {}
    for name in ("breast-cancer", "digits-2v8"):
        ds = load_dataset(name, seed=0)
        out[name] = ConvexReLUProblem(
            ds.X_train, ds.y_train, loss="squared", beta=1.0, n_patterns=32, seed=0
        )
    return out


@pytest.mark.parametrize("name", ["breast-cancer", "digits-2v8"])
def test_quick_preset_programs_end_certified_or_say_so(quick_problems, name):
    pr = quick_problems[name]
    ref = solve_ipm(pr)
    sol = solve_admm(pr, max_iter=2000)
    lb, gap = sol.info["lower_bound"], sol.info["certified_gap"]
    assert lb <= ref.objective * (1 + 1e-9)
    assert sol.info["upper_bound"] >= ref.objective * (1 - 1e-9)
    assert gap >= 0
    if sol.status == "converged":
        assert sol.constraint_violation <= 1e-9
        assert ref.objective * (1 - 1e-9) <= sol.objective <= ref.objective * (1 + 1e-3)
    else:
        assert sol.status == "max_iter" and gap > 1e-3


def test_feasibility_push_doubles_rho_within_its_bounds_without_counting_an_oscillation():
    from robustbench_convex.solvers.admm import FEASIBILITY_RHO_FACTOR, _RhoControl

    control = _RhoControl(1.0, True, 40, 100.0)
    assert control.propose(10, 1e-6, 1.0) is not None  # balancing moves rho down
    down, interval, backoffs = control.rho, control.interval, control.backoffs
    assert down < 1.0
    factor = control.push_feasibility(10 + interval)
    assert factor == pytest.approx(FEASIBILITY_RHO_FACTOR)
    assert control.rho == pytest.approx(down * FEASIBILITY_RHO_FACTOR)
    # the push is not an oscillation of the balancing: its bookkeeping is unchanged
    assert (control.interval, control.backoffs, control.direction) == (interval, backoffs, -1)
    it = 10 + interval
    for _ in range(30):  # repeated pushes stop at the upper bound
        it += control.interval
        control.push_feasibility(it)
    assert control.rho == pytest.approx(control.hi)


def test_logistic_prox_does_not_depend_on_its_start():
    import torch

    from robustbench_convex.solvers.admm_prox import loss_prox

    g = torch.Generator().manual_seed(0)
    a = 3.0 * torch.randn(200, generator=g, dtype=torch.float64)
    y = torch.where(torch.randn(200, generator=g) > 0, 1.0, -1.0).to(torch.float64)
    for t in (1e-3, 0.1, 10.0):
        cold, _ = loss_prox("logistic", a, None, y, 0.0, t)
        for start in (torch.zeros(200), torch.ones(200), torch.rand(200, generator=g)):
            warm, _ = loss_prox("logistic", a, None, y, 0.0, t, start.to(torch.float64))
            assert torch.allclose(warm, cold, rtol=0, atol=1e-9 * (1 + cold.abs().max()))


def test_default_records_thin_out_in_long_runs_and_an_explicit_history_every_is_kept():
    """Without ``history_every`` or a callback, records (and stop tests) come every 10
    iterations, then every 2% of the iteration count (multiples of 10), so a stop fires at most
    2% late; an explicit ``history_every`` keeps its fixed spacing."""
    pr = _problem("squared", beta=0.01, n=80, P=8)
    kw = {"max_iter": 1500, "gap_tol": None, "tol": 1e-12}
    grown = [h["iteration"] for h in solve_admm(pr, **kw).history]
    steps = np.diff([0, *grown[:-1]])
    assert all(it % 10 == 0 for it in grown[:-1]) and grown[-1] == 1500
    assert all(s >= 10 for s in steps) and steps[0] == 10
    assert steps.max() > 10, "spacing never grew"
    for prev, step in zip(grown[:-2], steps[1:], strict=True):
        assert step <= max(10, 0.02 * prev) + 1e-9  # never later than 2% of the iteration
    fixed = [h["iteration"] for h in solve_admm(pr, history_every=10, **kw).history]
    assert fixed == list(range(10, 1501, 10))


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_feasible_corrections_stay_few_and_the_certificate_holds(loss):
    """Corrections are tried early only when the last try's cost per unit of violation predicts
    a certificate, so they stay few, and the stop stays a true certificate (feasible point
    within gap_tol of the bound)."""
    pr = _problem(loss, beta=0.1, n=120, P=10, seed=2)
    sol = solve_admm(pr)
    assert sol.status == "converged" and sol.info["stop"] == "certified", sol.message
    assert sol.constraint_violation <= 1e-9
    assert sol.info["upper_bound"] <= (1 + sol.info["gap_tol"]) * sol.info["lower_bound"]
    # measured: 5 tries in 2780 iterations (squared), 2 in 2170 (logistic); a try every record
    # near the stop would be over 100
    assert 1 <= sol.info["projections"] <= 10
