"""solve_admm's float32 iterations with a float64 certificate, the precision guard, the opt-in
Anderson acceleration and the shared solver utilities (issues 17 and 18)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from convex_fixtures import rel_err, xor_data

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solvers.admm import solve_admm
from robustbench_convex.solvers.anderson import Anderson
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy


def _problem(loss="squared", beta=0.1, n=60):
    return ConvexReLUProblem(*xor_data(n, 3, 0), loss=loss, beta=beta, n_patterns=8)


@pytest.fixture(scope="module")
def squared():
    pr = _problem()
    return pr, solve_cvxpy(pr).objective


def test_default_runs_float32_and_certifies_in_float64(squared):
    pr, opt = squared
    sol = solve_admm(pr)
    assert sol.info["dtype"] == "float32" and sol.info["float64_from"] is None
    assert sol.status == "converged" and sol.info["stop"] == "certified"
    assert sol.info["lower_bound"] <= opt * (1 + 1e-9)  # a valid bound, from float64 duals
    assert sol.info["certified_gap"] <= 1e-3
    assert rel_err(sol.objective, opt) < 1e-3
    # the same stop in float64: the float32 iteration does not cost iterations here
    ref = solve_admm(pr, dtype=torch.float64)
    assert ref.info["dtype"] == "float64"
    assert abs(sol.info["iterations"] - ref.info["iterations"]) <= 0.2 * ref.info["iterations"]


def test_precision_guard_moves_a_float32_run_to_float64(squared, monkeypatch):
    """A target below float32's resolution (here forced by raising FLOAT32_RESOLUTION) moves
    the run to float64 at its first record; it then certifies as a float64 run would. A
    forced float32 run never moves."""
    import robustbench_convex.solvers.admm as admm

    pr, opt = squared
    monkeypatch.setattr(admm, "FLOAT32_RESOLUTION", 1.0)
    sol = solve_admm(pr)
    assert sol.info["float64_from"] == 10 and sol.info["dtype"] == "float64"
    assert sol.status == "converged" and rel_err(sol.objective, opt) < 1e-3
    forced = solve_admm(pr, dtype=torch.float32, max_iter=50)
    assert forced.info["float64_from"] is None and forced.info["dtype"] == "float32"


def test_precision_guard_on_the_breast_cancer_case():
    """Issue 18's hard case (optimum 0.062 against the zero network's 227): float32 alone
    stalled at 0.17; at defaults the run moves to float64 once its objective is small (at
    iteration 60 here, objective 1.55)."""
    from robustbench_convex.data import load_dataset

    ds = load_dataset("breast-cancer")
    pr = ConvexReLUProblem(ds.X_train, ds.y_train, loss="squared", beta=1e-3)
    sol = solve_admm(pr, max_iter=200)
    assert sol.info["float64_from"] is not None and sol.info["float64_from"] <= 200
    assert sol.info["dtype"] == "float64"


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_anderson_option_certifies_the_same_optimum(loss):
    pr = _problem(loss)
    opt = solve_cvxpy(pr).objective
    sol = solve_admm(pr, acceleration="anderson")
    assert sol.info["acceleration"] == "anderson" and sol.info["anderson_steps"] > 0
    assert sol.status == "converged" and sol.info["stop"] == "certified"
    assert sol.info["lower_bound"] <= opt * (1 + 1e-9)
    assert sol.info["certified_gap"] <= 1e-3


def test_gamma_range_and_anderson_arguments_are_checked_as_documented():
    pr = _problem()
    with pytest.raises(ValueError, match=r"gamma .* \(0, 1.618"):
        solve_admm(pr, gamma=1.7)
    solve_admm(pr, gamma=1.5, max_iter=5)  # inside the documented range
    with pytest.raises(ValueError, match="gamma=1"):
        solve_admm(pr, gamma=1.2, acceleration="anderson")
    with pytest.raises(ValueError, match="acceleration"):
        solve_admm(pr, acceleration="nesterov")
    with pytest.raises(ValueError, match="dtype"):
        solve_admm(pr, dtype=torch.float16)


def test_anderson_accelerates_a_linear_contraction():
    """x <- M x + b with spectral radius 0.99: plain iteration needs ~900 steps for 1e-6;
    Anderson (memory 5) on this 20-dimensional linear map far fewer, to the same fixed point."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    M = torch.as_tensor(Q @ np.diag(np.linspace(0.5, 0.99, 20)) @ Q.T)
    b = torch.as_tensor(rng.standard_normal(20))
    fixed = torch.linalg.solve(torch.eye(20, dtype=M.dtype) - M, b)

    def steps(accelerate: bool) -> int:
        aa, x = Anderson(5), torch.zeros(20, dtype=M.dtype)
        for k in range(1, 5000):
            g = M @ x + b
            if torch.linalg.vector_norm(g - x) <= 1e-6 * torch.linalg.vector_norm(fixed):
                # the residual bounds the error by 1 / (1 - 0.99) times itself
                assert torch.linalg.vector_norm(g - fixed) <= 1e-3 * torch.linalg.vector_norm(fixed)
                return k
            z = aa.step(x, g) if accelerate else None
            x = g if z is None else z
        return 5000

    plain, accelerated = steps(False), steps(True)
    assert plain > 500 and accelerated < plain / 10, (plain, accelerated)


def test_shared_solver_utilities_have_one_home():
    import robustbench_convex.solvers.admm as admm
    import robustbench_convex.solvers.ipm as ipm
    from robustbench_convex.solvers import _common

    assert ipm.Evaluator is _common.Evaluator and admm.Evaluator is _common.Evaluator
    assert admm.check_budget is _common.check_budget and ipm.check_device is _common.check_device
    with pytest.raises(ValueError, match="max_iter"):
        _common.check_budget(0, 1e-3, None)
    with pytest.raises(ValueError, match="time_limit"):
        _common.check_time_limit(-1.0)
