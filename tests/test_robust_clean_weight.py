"""The clean-loss term of the robust programs (``ConvexReLUProblem(clean_weight=kappa)``): the loss
term ``(1 - kappa) * robust + kappa * nominal``. The CVXPY program's optimal value against the
closed-form objective and against the mix of the robust and nominal closed forms; ``kappa = 0``
is the robust program; the mix moves the solution toward the nominal fit; the certificates
(computed from the solution, unchanged by the mix) against the exact MILP on every training
point; bad input and the solvers that do not implement the term."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.robust import certified_margins, check_certificates
from robustbench_convex.solvers.cvxpy_backend import build_cvxpy_program, solve_cvxpy

EPS = 0.15


def _pixels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image-like data in [0, 1] (a third of the values exactly 0) and class-aware split
    patterns plus the all-active one."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(n, 4))
    X[rng.uniform(size=X.shape) < 0.35] = 0.0
    y = np.where(X[:, 0] + X[:, 1] - X[:, 2] > 0.4, 1.0, -1.0)
    Xa = np.hstack([X, np.ones((n, 1))])
    D = (Xa @ rng.standard_normal((5, 5)) >= 0).astype(float)
    D = np.hstack([D * (y > 0)[:, None], D * (y < 0)[:, None], np.ones((n, 1))])
    return X, y, np.unique(D[:, D.any(axis=0)], axis=1)


def _problem(X, y, D, kappa, *, penalty=1.0, bounds=True, loss="hinge", program="class-aware"):
    box = {"lower": 0.0, "upper": 1.0} if bounds else {}
    return ConvexReLUProblem(
        X, y, loss=loss, beta=0.05, patterns=D, robust_eps=EPS, robust=program,
        stability_penalty=penalty, clean_weight=kappa, **box,
    )  # fmt: skip


def _solve_program(problem: ConvexReLUProblem) -> tuple[float, np.ndarray, np.ndarray]:
    prob, V, W = build_cvxpy_program(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    return float(prob.value), np.asarray(V.value), np.asarray(W.value)


@pytest.mark.parametrize(
    "kappa, loss, bounds, program",
    [
        (0.5, "hinge", True, "class-aware"),
        (0.3, "logistic", True, "class-aware"),
        (0.5, "hinge", False, "class-aware"),
        (0.5, "squared", False, "certified"),
    ],
)
@pytest.mark.filterwarnings("ignore::robustbench_convex.solution.CollapseWarning")  # objective only
def test_cvxpy_optimum_equals_the_mixed_closed_form(kappa, loss, bounds, program):
    X, y, D = _pixels(40, 0)
    problem = _problem(X, y, D, kappa, loss=loss, bounds=bounds, program=program)
    value, V, W = _solve_program(problem)
    closed = problem.convex_objective(V, W)
    assert abs(value - closed) <= 1e-6 * (1.0 + abs(closed))
    # the loss term is the mix of the robust program's loss and the nominal loss at (V, W)
    robust = _problem(X, y, D, 0.0, loss=loss, bounds=bounds, program=program)
    nominal = ConvexReLUProblem(X, y, loss=loss, beta=0.05, patterns=D)
    mix = (1 - kappa) * robust.data_loss(V, W) + kappa * nominal.data_loss(V, W)
    assert abs(problem.data_loss(V, W) - mix) <= 1e-9 * (1.0 + abs(mix))
    assert problem.robust_loss(V, W) == pytest.approx(robust.data_loss(V, W), rel=1e-12)
    # the nominal loss is never above the robust one, so the mixed optimum is no larger
    assert value <= solve_cvxpy(robust).objective * (1.0 + 1e-6)


def test_clean_weight_zero_is_the_robust_program():
    X, y, D = _pixels(40, 1)
    default = ConvexReLUProblem(
        X, y, loss="hinge", beta=0.05, patterns=D, robust_eps=EPS, robust="class-aware",
        stability_penalty=1.0, lower=0.0, upper=1.0,
    )  # fmt: skip
    zero = _problem(X, y, D, 0.0)
    assert default.clean_weight == 0.0
    v_default, V, W = _solve_program(default)
    v_zero, _, _ = _solve_program(zero)
    assert abs(v_default - v_zero) <= 1e-8 * (1.0 + abs(v_default))
    assert zero.convex_objective(V, W) == default.convex_objective(V, W)
    # a positive weight changes the program (the check is not vacuous)
    v_half, _, _ = _solve_program(_problem(X, y, D, 0.5))
    assert v_half < v_zero * (1.0 - 1e-3)


def test_clean_weight_moves_the_fit_toward_the_nominal_loss():
    """Monotone in kappa at the optimum: a larger weight never raises the nominal loss of the
    solution nor lowers its robust loss (exchange argument between two optima)."""
    X, y, D = _pixels(60, 2)
    nominal, robust = [], []
    for kappa in (0.0, 0.5, 0.9):
        problem = _problem(X, y, D, kappa)
        _, V, W = _solve_program(problem)
        nominal.append(ConvexReLUProblem(X, y, loss="hinge", beta=0.05, patterns=D).data_loss(V, W))
        robust.append(problem.robust_loss(V, W))
    tol = 1e-5 * (1.0 + max(robust))
    assert nominal[0] >= nominal[1] - tol >= nominal[2] - 2 * tol
    assert robust[0] <= robust[1] + tol <= robust[2] + 2 * tol
    assert nominal[2] < nominal[0] - 1e-3  # and it does move here


@pytest.mark.parametrize("class_split, bounds", [(False, True), (True, False)])
def test_mixed_certificates_hold_against_the_milp_on_every_training_point(class_split, bounds):
    """IBP-seeded patterns on XOR (a linear model cannot fit it): the seed's own patterns on the
    clipped ball (the default's first rung) and the class split on the unclipped one, kappa 0.5;
    every training point's certified margin is checked against the exact MILP."""
    from robustbench_convex.robust import diagnose
    from robustbench_convex.robust_patterns import network_seeded_patterns

    rng = np.random.default_rng(2)
    X = rng.uniform(0.25, 1.0, size=(40, 2)) * rng.choice([-1.0, 1.0], size=(40, 2))
    y = np.sign(X[:, 0] * X[:, 1])
    seeded = network_seeded_patterns(
        X, y, eps=0.1, n_patterns=12, lower=-1.0, upper=1.0, class_split=class_split
    )
    box = {"lower": -1.0, "upper": 1.0} if bounds else {}
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=1e-2, patterns=seeded.D, robust_eps=0.1, robust="class-aware",
        stability_penalty=1.0, clean_weight=0.5, **box,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve_cvxpy(problem)
    assert sol.status == "converged"
    frame = check_certificates(sol, points=np.arange(problem.n), time_limit=20)
    assert len(frame) == problem.n
    assert frame["ok"].all(), frame[~frame["ok"]]
    diag = diagnose(sol)
    assert not diag.collapsed and diag.n_relu_active >= 2  # not vacuous: a ReLU network
    assert (certified_margins(sol) > 0).mean() >= 0.9
    # the certified training loss bounds the robust loss, not the mixed objective
    bound = problem.certified_training_loss(sol.V, sol.W)
    assert bound >= problem.robust_loss(sol.V, sol.W) - 1e-6


def test_bad_clean_weight_is_refused_before_any_work():
    X, y, D = _pixels(20, 5)
    for bad in (-0.1, 1.0, 1.5, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match="clean_weight"):
            _problem(X, y, D, bad)
    with pytest.raises(ValueError, match="robust_eps=0"):
        ConvexReLUProblem(X, y, loss="hinge", beta=0.05, patterns=D, clean_weight=0.5)
    from robustbench_convex.solvers.admm import solve_admm
    from robustbench_convex.solvers.front import choose_convex_solver

    unbounded = _problem(X, y, D, 0.5, bounds=False)
    with pytest.raises(ValueError, match=r"clean_weight=0\.5.*solve_cvxpy"):
        solve_admm(unbounded, max_iter=5)
    assert choose_convex_solver(unbounded)[0] == "cvxpy"


def test_own_rung_mixes_the_loss_and_scales_the_penalty():
    """The seeded default's first rung: clean weight 0.5, penalty 1 * (1 - 0.5), clipped ball;
    refused without bounds or with a clean weight outside [0, 1)."""
    from robustbench_convex.robust_patterns import DEFAULT_CLEAN_WEIGHT, own_rung

    X, y, D = _pixels(20, 6)
    label, penalty, build = own_rung(
        X, y, D, loss="hinge", beta=0.05, eps=EPS, lower=0.0, upper=1.0, source="ibp-network-own"
    )
    problem = build()
    assert DEFAULT_CLEAN_WEIGHT == 0.5 and penalty == 0.5
    assert label == "own patterns, clipped ball, clean weight 0.5, 0.5"
    assert problem.clean_weight == 0.5 and problem.stability_penalty == 0.5
    assert problem.program == "class-aware" and problem.has_input_bounds
    assert problem.pattern_source == "ibp-network-own"
    plain = own_rung(X, y, D, loss="hinge", beta=0.05, eps=EPS, lower=0.0, upper=1.0,
                     clean_weight=0.0)  # fmt: skip
    assert plain[1] == 1.0 and plain[2]().clean_weight == 0.0  # the pass-4 rung
    with pytest.raises(ValueError, match="lower and / or upper"):
        own_rung(X, y, D, loss="hinge", beta=0.05, eps=EPS, lower=None, upper=None)
    with pytest.raises(ValueError, match="clean_weight"):
        own_rung(X, y, D, loss="hinge", beta=0.05, eps=EPS, lower=0.0, upper=1.0, clean_weight=1.0)
