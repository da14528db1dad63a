"""Tests of the sampled convex program solver (robustbench_convex.solvers.scp, MATH.md section 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import robustbench_convex as rbc
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.losses import loss_value
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy
from robustbench_convex.solvers.scp import (
    SCPSolution,
    sample_neurons,
    scenario_sample_size,
    scp_features,
    solve_scp,
)


def _data(n: int = 60, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels of a planted two-neuron teacher (not linearly separable), a few flipped."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    f = np.maximum(X[:, 0] + 0.5, 0) - np.maximum(X[:, 1] - 0.3, 0) - 0.4
    y = np.where(f > 0, 1.0, -1.0)
    y[rng.choice(n, size=max(1, n // 20), replace=False)] *= -1
    return X, y


def _objective_by_hand(X, y, U, alpha, loss, beta, bias=True):
    """SCP objective computed directly in numpy (independent of the solver's bookkeeping)."""
    Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
    yhat = np.maximum(Xa @ U.T, 0) @ alpha
    if loss == "squared":
        data = 0.5 * np.sum((yhat - y) ** 2)
    elif loss == "hinge":
        data = np.sum(np.maximum(0, 1 - y * yhat))
    else:
        data = np.sum(np.log1p(np.exp(-y * yhat)))
    return data + beta * np.abs(alpha).sum()


# ------------------------------------------------------------------------- scenario sample size
def test_scenario_sample_size_formula():
    # (2 / psi) (n + ln(1 / xi)): n = 100, psi = 0.1, xi = 0.01 -> 20 * (100 + 4.60517) = 2092.1
    assert scenario_sample_size(100, violation=0.1, confidence=0.99) == 2093
    # exact integer: psi = 0.5, xi = 1/e -> 4 * (10 + 1) = 44 (no round-up through roundoff)
    assert scenario_sample_size(10, violation=0.5, confidence=1 - math.exp(-1)) == 44
    # linear in n, decreasing in psi, increasing in confidence
    a, b = scenario_sample_size(1000), scenario_sample_size(2000)
    assert 1.9 < b / a < 2.0
    assert scenario_sample_size(100, violation=0.05) > scenario_sample_size(100, violation=0.1)
    assert scenario_sample_size(100, confidence=0.999) > scenario_sample_size(100)
    assert rbc.scenario_sample_size is scenario_sample_size


@pytest.mark.parametrize(
    "kwargs",
    [{"n_samples": 0}, {"n_samples": 10, "violation": 0}, {"n_samples": 10, "confidence": 1.0}],
)
def test_scenario_sample_size_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        scenario_sample_size(**kwargs)


# ------------------------------------------------------------------------- neurons and features
def test_neurons_are_unit_uniform_and_nested():
    U = sample_neurons(20_000, 3, seed=4)
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0, rtol=1e-12)
    # uniform on the sphere: mean 0, second moment I/3 (std of the means ~ 0.004 here)
    assert np.abs(U.mean(axis=0)).max() < 0.03
    np.testing.assert_allclose(U.T @ U / len(U), np.eye(3) / 3, atol=0.02)
    np.testing.assert_array_equal(sample_neurons(50, 3, seed=4), U[:50])
    assert not np.allclose(sample_neurons(50, 3, seed=5), U[:50])


def test_features_use_the_augmented_space():
    X, _ = _data(10, 3)
    U = sample_neurons(7, 4, seed=1)
    F = scp_features(X, U, bias=True)
    expected = np.maximum(X @ U[:, :3].T + U[:, 3], 0)
    np.testing.assert_allclose(F, expected, rtol=1e-14)
    with pytest.raises(ValueError, match="U must have shape"):
        scp_features(X, U, bias=False)


# ------------------------------------------------------------------------- FISTA vs CVXPY
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_fista_matches_cvxpy_objective(loss):
    X, y = _data()
    beta = 0.5
    fista = solve_scp(X, y, n_neurons=80, loss=loss, beta=beta, method="fista", tol=1e-9)
    ref = solve_scp(X, y, n_neurons=80, loss=loss, beta=beta, method="cvxpy")
    assert fista.status == "converged" and fista.solver == "SCP-FISTA"
    assert ref.status == "converged" and ref.solver.startswith("SCP-")
    np.testing.assert_array_equal(fista.U, ref.U)  # same neurons for the same seed
    assert fista.objective == pytest.approx(ref.objective, rel=1e-5)
    for sol in (fista, ref):
        assert sol.objective == pytest.approx(
            _objective_by_hand(X, y, sol.U, sol.alpha, loss, beta), rel=1e-12
        )
    # the solution is sparse: the l1 term zeroes most of the 80 neurons
    assert 0 < fista.n_active() < 80


def test_fista_solution_satisfies_lasso_optimality():
    """KKT of min 0.5||F a - y||^2 + beta ||a||_1: g = F^T (F a - y) has g_j = -beta sign(a_j)
    on the support and |g_j| <= beta off it (independent of CVXPY)."""
    X, y = _data(80, 5, seed=2)
    beta = 1.0
    sol = solve_scp(X, y, n_neurons=120, loss="squared", beta=beta, tol=1e-10, seed=3)
    F = scp_features(X, sol.U)
    g = F.T @ (F @ sol.alpha - y)
    on = sol.alpha != 0
    assert on.any() and (~on).any()
    np.testing.assert_allclose(g[on], -beta * np.sign(sol.alpha[on]), atol=1e-5 * beta)
    assert np.abs(g[~on]).max() <= beta * (1 + 1e-6)


def test_hinge_fista_is_within_the_smoothing_bound():
    """FISTA minimizes the Huber-smoothed hinge h_mu with h_mu <= h <= h_mu + mu/2, so its true
    hinge objective lies in [opt, opt + n mu / 2] (up to the solvers' tolerances)."""
    X, y = _data(30, 3, seed=1)
    n, mu, beta = 30, 1e-2, 0.3
    ref = solve_scp(X, y, n_neurons=40, loss="hinge", beta=beta, method="cvxpy")
    auto = solve_scp(X, y, n_neurons=40, loss="hinge", beta=beta)  # "auto": CVXPY for hinge
    assert auto.solver == ref.solver and auto.objective == pytest.approx(ref.objective, rel=1e-9)
    fista = solve_scp(
        X, y, n_neurons=40, loss="hinge", beta=beta, method="fista", hinge_smoothing=mu,
        tol=1e-7, max_iter=50_000,
    )  # fmt: skip
    assert fista.status == "converged", fista.message
    assert fista.info["hinge_smoothing"] == mu
    assert ref.objective - 1e-6 <= fista.objective <= ref.objective + n * mu / 2 + 1e-6


# ------------------------------------------------------------------------- network equivalence
@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
@pytest.mark.parametrize("bias", [True, False])
def test_network_objective_equals_scp_objective(loss, bias):
    X, y = _data(40, 3, seed=5)
    beta = 0.7
    sol = solve_scp(X, y, n_neurons=30, loss=loss, beta=beta, bias=bias, tol=1e-8)
    net = sol.to_network(rtol=0.0)  # keep every non-zero alpha
    assert isinstance(net, rbc.TwoLayerReLU)
    assert net.width == sol.n_active(rtol=0.0) == np.count_nonzero(sol.alpha)
    assert (net.hidden.bias is not None) == bias
    F = scp_features(X, sol.U, bias=bias)
    np.testing.assert_allclose(net.decision_function(X), F @ sol.alpha, rtol=1e-10, atol=1e-12)
    # weight decay of the network = ||alpha||_1 because every sampled neuron has unit norm
    assert net.weight_decay() == pytest.approx(np.abs(sol.alpha).sum(), rel=1e-12)
    net_obj = loss_value(loss, net.decision_function(X), y) + beta * net.weight_decay()
    assert net_obj == pytest.approx(sol.objective, rel=1e-10)


# ------------------------------------------------------------------------- approximation quality
def test_objective_decreases_with_nested_neuron_sets_and_bounds_the_global_optimum():
    """The same seed gives nested neuron sets, so the SCP optimum is non-increasing in N (each
    program's feasible set contains the previous one; tolerance = solver accuracy; solved with
    CVXPY, whose agreement with FISTA is tested above). Every SCP
    point is a network, so it upper-bounds the global optimum of (NC), computed exactly by the
    convex program over *all* activation patterns (tiny data: n = 12, d = 2). As N grows the
    directions get dense on the sphere and the SCP optimum approaches the global optimum."""
    X, y = _data(12, 2, seed=7)
    beta = 0.1
    exact = solve_cvxpy(ConvexReLUProblem(X, y, loss="squared", beta=beta, patterns="all"))
    assert exact.status == "converged"
    objectives = []
    for N in (10, 40, 160, 640, 2560):
        sol = solve_scp(X, y, n_neurons=N, loss="squared", beta=beta, method="cvxpy")
        assert sol.status == "converged"
        objectives.append(sol.objective)
    objectives = np.array(objectives)
    assert np.all(np.diff(objectives) <= 1e-7 * objectives[:-1])
    assert np.all(objectives >= exact.objective * (1 - 1e-6))
    assert objectives[0] > exact.objective * 1.05  # few neurons: visibly suboptimal
    # measured gap on this seed: 27 %, 15 %, 3.0 %, 1.6 %, 0.84 % for N = 10 ... 2560
    assert objectives[-1] <= exact.objective * 1.02


# ------------------------------------------------------------------------- statuses and options
def test_budget_statuses_and_history():
    X, y = _data()
    sol = solve_scp(X, y, n_neurons=50, beta=0.1, max_iter=5)
    assert sol.status == "max_iter" and len(sol.history) == 5
    assert [h["iteration"] for h in sol.history] == [1, 2, 3, 4, 5]
    last = sol.history[-1]
    assert last["objective"] == pytest.approx(sol.objective, rel=1e-12)
    assert sol.history_frame().shape[0] == 5
    assert isinstance(sol, SCPSolution) and sol.summary()["iterations"] == 5
    slow = solve_scp(X, y, n_neurons=50, beta=0.1, time_limit=1e-9, tol=1e-14)
    assert slow.status == "time_limit" and len(slow.history) == 1


def test_callback_records_and_explicit_neurons():
    X, y = _data()
    U = sample_neurons(30, 5, seed=11) * 3.0  # rows are normalized by the solver
    seen = []

    def callback(it, state):
        seen.append(it)
        return {"n_nonzero": int(np.count_nonzero(state["alpha"]))}

    sol = solve_scp(X, y, n_neurons=None, neurons=U, beta=0.2, max_iter=7, callback=callback)
    assert seen == list(range(1, 8))
    assert all("n_nonzero" in h for h in sol.history)
    np.testing.assert_allclose(sol.U, U / 3.0, rtol=1e-14)


def test_float32_path_agrees():
    X, y = _data()
    a = solve_scp(X, y, n_neurons=40, beta=0.5, tol=1e-8)
    b = solve_scp(X, y, n_neurons=40, beta=0.5, tol=1e-8, dtype=torch.float32, max_iter=5000)
    assert b.status == "converged"  # tol raised to 100 * float32 eps
    assert b.info["dtype"] == "torch.float32"
    assert b.objective == pytest.approx(a.objective, rel=1e-3)


def test_zero_solution_when_beta_dominates():
    """alpha = 0 is optimal iff ||F^T grad L(0)||_inf <= beta (squared: ||F^T y||_inf)."""
    X, y = _data()
    F = scp_features(X, sample_neurons(25, 5, seed=0))
    big = np.abs(F.T @ y).max() * 1.01
    sol = solve_scp(X, y, n_neurons=25, beta=big)
    assert sol.n_active() == 0 and sol.to_network().width == 0
    assert sol.objective == pytest.approx(0.5 * len(y))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.array([[np.nan, 1.0]] * 4)}, "NaN"),
        ({"y": np.array([1.0, 2.0, 3.0, 1.0])}, "binary"),
        ({"y": np.array([1.0, -1.0])}, "labels"),
        ({"method": "adam"}, "method"),
        ({"beta": -1.0}, "beta"),
        ({"loss": "l1"}, "loss"),
        ({"n_neurons": 0}, "n_neurons"),
        ({"neurons": np.ones((3, 2))}, "neurons"),
    ],
)
def test_bad_input_is_rejected(kwargs, match):
    args = {"X": np.arange(8.0).reshape(4, 2), "y": np.array([1.0, -1.0, 1.0, -1.0])}
    args |= {"n_neurons": 5, "beta": 0.1}
    args |= kwargs
    with pytest.raises(ValueError, match=match):
        solve_scp(args.pop("X"), args.pop("y"), **args)
