"""Robust convex programs (MATH.md section 6): certificates against the exact MILP verifier,
eps = 0 reductions, monotonicity in eps, pattern samplers for robust programs, collapse
detection. Small seeded problems solved with CVXPY + Clarabel (well under a second each)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import attacks
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.network import TwoLayerReLU
from robustbench_convex.patterns import (
    PATTERN_SAMPLERS,
    call_sampler,
    class_aware_patterns,
    gap_patterns,
    patterns_from_network,
    sample_patterns,
    split_by_class,
)
from robustbench_convex.robust import (
    certified_margins,
    certified_training_accuracy,
    check_certificates,
    diagnose,
    forced_zero_blocks,
    pruned_network,
)
from robustbench_convex.solution import CollapseWarning
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

EPS = 0.05


def _xor_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """XOR with an l_inf margin: |x_i| in [0.2, 1], y = sign(x1 x2); not linearly separable."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.2, 1.0, size=(n, 2)) * rng.choice([-1.0, 1.0], size=(n, 2))
    y = np.sign(X[:, 0] * X[:, 1])
    return X, y


def _blobs(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    X = rng.standard_normal((n, d)) * 0.6 + 0.8 * y[:, None] * rng.standard_normal(d)[None, :]
    return X, y


def _solve(problem: ConvexReLUProblem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        warnings.filterwarnings("ignore", message=".*CPP backend.*")
        return solve_cvxpy(problem)


def _exact_margins(solution) -> np.ndarray:
    p = solution.problem
    res = attacks.exact(pruned_network(solution), p.X, p.y, p.robust_eps)
    assert np.all(np.isin(res.status, ("optimal", "stable")))
    return res.margin


# ------------------------------------------------------------------ certificates vs MILP
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_certified_program_margin_equals_exact_on_every_training_point(seed, loss):
    """(R) keeps every neuron stable on every training ball, so the network is linear there and
    the certified margin is the exact worst-case margin (<= is the certificate, = the tightness)."""
    X, y = _xor_data(36, seed)
    problem = ConvexReLUProblem(
        X, y, loss=loss, beta=0.05, robust_eps=EPS, robust="certified",
        patterns="gaps+ones", n_patterns=12, seed=seed,
    )  # fmt: skip
    sol = _solve(problem)
    assert sol.ok
    assert sol.n_relu_active() >= 1 and not sol.collapsed
    cert = certified_margins(sol)
    assert np.all(np.isfinite(cert)), "hard (R): every training point is certified"
    exact = _exact_margins(sol)
    assert np.all(cert <= exact + 1e-6 * (1 + np.abs(exact)))
    np.testing.assert_allclose(cert, exact, rtol=1e-5, atol=1e-5)
    frame = check_certificates(sol)  # every point with a positive certified margin
    assert len(frame) == int(np.sum(cert > 0)) and frame["ok"].all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("patterns", ["class-aware", "class-aware+ones"])
def test_class_aware_certificate_never_exceeds_exact_margin(seed, patterns):
    X, y = _xor_data(40, seed)
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=0.04, robust_eps=EPS, robust="class-aware",
        patterns=patterns, n_patterns=16, seed=seed,
    )  # fmt: skip
    sol = _solve(problem)
    assert sol.ok and not sol.collapsed
    cert = certified_margins(sol)
    assert np.all(np.isfinite(cert))
    exact = _exact_margins(sol)
    assert np.all(cert <= exact + 1e-6 * (1 + np.abs(exact)))
    # a non-trivial certificate: it proves robustness of most training points
    assert certified_training_accuracy(sol) >= 0.5
    assert np.mean(exact > 0) >= certified_training_accuracy(sol)


@pytest.mark.parametrize("lam", [0.05, 1.0])
def test_soft_stability_certificate_is_exact_where_slacks_vanish_and_a_bound_elsewhere(lam):
    X, y = _blobs(40, 3, seed=3)
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=0.04, robust_eps=0.1, robust="class-aware",
        patterns="class-aware", n_patterns=12, stability_penalty=lam, seed=3,
    )  # fmt: skip
    sol = _solve(problem)
    assert sol.ok
    cert = certified_margins(sol)
    assert np.all(np.isfinite(cert))  # every point gets a (possibly weak) bound
    V, W = sol.V, sol.W
    Sv, Sw = problem.stability_slacks(V, W)
    needed = np.where(problem.y > 0, Sw.sum(axis=1), Sv.sum(axis=1))
    Z = problem.effective_weights(V, W)
    raw = problem.y * np.einsum("kd,kd->k", problem.Xa, Z) - 0.1 * np.abs(Z[:, :-1]).sum(axis=1)
    kept = problem.certified_points(V, W)
    assert kept.any()
    # where the slacks vanish the bound is the program's own certified margin (no correction)
    unpruned = problem.certified_margins(V, W)
    np.testing.assert_allclose(unpruned[kept], raw[kept], atol=1e-9)
    np.testing.assert_allclose(unpruned, raw - needed, atol=1e-9)
    exact = _exact_margins(sol)
    assert np.all(cert <= exact + 1e-6 * (1 + np.abs(exact)))


def test_slack_corrected_margins_are_valid_for_an_inexact_admm_iterate():
    """A first-order iterate violates the stability constraints slightly everywhere; the
    slack-corrected margins remain lower bounds of the exact MILP margins on every point, and
    still certify most of them (without the correction none would be certified)."""
    from robustbench_convex.solvers.admm import solve_admm

    X, y = _xor_data(40, 1)
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=0.04, robust_eps=EPS, robust="class-aware",
        patterns="class-aware+ones", n_patterns=16, stability_penalty=1.0, seed=1,
    )  # fmt: skip
    sol = solve_admm(problem, max_iter=300, tol=1e-9, history_every=50)
    assert sol.status == "max_iter" and sol.info["iterations"] == 300
    Sv, Sw = problem.stability_slacks(sol.V, sol.W)
    assert (Sv.sum() + Sw.sum()) > 0
    cert = certified_margins(sol)
    exact = _exact_margins(sol)
    assert np.all(cert <= exact + 1e-6 * (1 + np.abs(exact)))
    accuracy = certified_training_accuracy(sol)
    assert accuracy >= 0.5
    # the uncorrected certificate would only cover the points whose constraints all hold
    keep_v, keep_w = sol.effective_blocks()
    holds = problem.certified_points(sol.V * keep_v, sol.W * keep_w)
    assert accuracy > np.mean(holds & (cert > 0))


# ------------------------------------------------------------------ eps -> 0 and monotonicity
@pytest.mark.parametrize("robust", ["certified", "relaxed"])
def test_eps_zero_reduces_to_the_nominal_program(robust):
    X, y = _blobs(30, 3, seed=0)
    D = sample_patterns(np.hstack([X, np.ones((30, 1))]), 10, seed=0)
    nominal = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, patterns=D)
    at_zero = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, patterns=D, robust_eps=0.0,
                                robust=robust)  # fmt: skip
    assert at_zero.program == "nominal" and not at_zero.is_certificate
    rng = np.random.default_rng(0)
    V, W = rng.standard_normal((2, nominal.d_aug, nominal.P))
    assert at_zero.convex_objective(V, W) == nominal.convex_objective(V, W)
    # continuity: the robust optimum at a tiny eps is the nominal optimum up to O(eps)
    tiny = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, patterns=D, robust_eps=1e-7,
                             robust=robust)  # fmt: skip
    f0 = _solve(nominal).objective
    ft = _solve(tiny).objective
    assert f0 <= ft + 1e-5 * abs(f0)
    assert ft <= f0 + 1e-4 * abs(f0)


@pytest.mark.parametrize("robust", ["certified", "relaxed", "class-aware"])
def test_robust_optimum_is_nondecreasing_in_eps(robust):
    """Larger eps shrinks the feasible set (R, Rc) and raises the loss: the optimum cannot drop."""
    X, y = _xor_data(30, 4)
    Xa = np.hstack([X, np.ones((30, 1))])
    D = gap_patterns(Xa, y, 8, seed=4, eps=0.08, add_ones=True)
    if robust == "class-aware":
        D = split_by_class(D, y, add_ones=True)
    values = []
    # at eps = 0 the program is the nominal one, whose constraints class-aware does not nest
    for eps in (0.02, 0.04, 0.08) if robust == "class-aware" else (0.0, 0.04, 0.08):
        p = ConvexReLUProblem(X, y, loss="hinge", beta=0.05, patterns=D, robust_eps=eps,
                              robust=robust)  # fmt: skip
        values.append(_solve(p).objective)
    assert values[0] <= values[1] + 1e-5 * abs(values[1])
    assert values[1] <= values[2] + 1e-5 * abs(values[2])
    assert values[2] > values[0]


# ------------------------------------------------------------------ collapse
def test_gaussian_certified_program_collapses_and_says_so():
    X, y = _blobs(40, 4, seed=1)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.04, robust_eps=0.3,
                                robust="certified", patterns="gaussian", n_patterns=8)  # fmt: skip
    forced_v, forced_w = forced_zero_blocks(problem)
    linear = np.all(problem.D > 0, axis=0)
    assert np.all(forced_v[~linear]) and np.all(forced_w[~linear])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = solve_cvxpy(problem)
    assert any(issubclass(w.category, CollapseWarning) for w in caught)
    assert sol.collapsed and sol.n_relu_active() == 0
    # blocks forced to zero are zero in the solution (up to solver noise)
    keep_v, keep_w = sol.effective_blocks()
    assert not np.any(keep_v & forced_v) and not np.any(keep_w & forced_w)
    diag = diagnose(sol, forced=True)
    assert diag.collapsed and diag.n_forced_zero == int(forced_v.sum() + forced_w.sum())
    assert pruned_network(sol).n_active() == diag.n_active


def test_relaxed_program_certifies_nothing():
    X, y = _xor_data(30, 5)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.05, robust_eps=EPS, robust="relaxed",
                                n_patterns=12)  # fmt: skip
    sol = _solve(problem)
    assert sol.program == "relaxed" and not sol.is_certificate
    assert np.all(np.isnan(certified_margins(sol)))
    assert certified_training_accuracy(sol) == 0.0
    with pytest.raises(ValueError, match="certifies nothing"):
        check_certificates(sol)
    assert not diagnose(sol).is_certificate


def test_nominal_solution_is_not_collapsed_and_does_not_warn():
    X, y = _xor_data(30, 6)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.05, n_patterns=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        sol = _solve(problem)
    assert not sol.collapsed and sol.n_relu_active() >= 2


# ------------------------------------------------------------------ pattern samplers
def test_gap_patterns_are_stable_and_their_blocks_feasible():
    X, y = _blobs(50, 3, seed=2)
    Xa = np.hstack([X, np.ones((50, 1))])
    eps = 0.05
    D = gap_patterns(Xa, y, 10, seed=0, eps=eps)
    assert D.shape[0] == 50 and 1 <= D.shape[1] <= 10
    assert np.all((D == 0) | (D == 1)) and np.all(D.any(axis=0)) and not np.any(D.all(axis=0))
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, patterns=D, robust_eps=eps,
                                robust="certified")  # fmt: skip
    forced_v, forced_w = forced_zero_blocks(problem)
    assert not forced_v.any() and not forced_w.any()
    # the same patterns are infeasible at a much larger eps ... unless gaps are that wide
    wide = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, patterns=D, robust_eps=50.0,
                             robust="certified")  # fmt: skip
    assert forced_zero_blocks(wide)[0].all()
    assert gap_patterns(Xa, y, 5, seed=0, eps=50.0).shape[1] == 0


def test_gap_patterns_need_a_bias_column():
    X, y = _blobs(20, 3, seed=0)
    with pytest.raises(ValueError, match="bias"):
        gap_patterns(X, y, 4, eps=0.1)
    with pytest.raises(ValueError, match="eps"):
        gap_patterns(np.hstack([X, np.ones((20, 1))]), y, 4, eps=-1.0)


def test_class_aware_patterns_are_one_class_detectors():
    X, y = _blobs(30, 3, seed=0)
    Xa = np.hstack([X, np.ones((30, 1))])
    D = class_aware_patterns(Xa, y, 10, seed=0)
    pos, neg = y > 0, y < 0
    assert np.all(~D[pos].any(axis=0) | ~D[neg].any(axis=0))
    ones = class_aware_patterns(Xa, y, 10, seed=0, add_ones=True)
    np.testing.assert_array_equal(ones[:, :-1], D)
    assert np.all(ones[:, -1] == 1)
    np.testing.assert_array_equal(PATTERN_SAMPLERS["class-aware+ones"](Xa, y, 10, 0), ones)


def test_call_sampler_passes_eps_only_to_samplers_that_take_it():
    X, y = _blobs(30, 3, seed=0)
    Xa = np.hstack([X, np.ones((30, 1))])
    a = call_sampler("gaps", Xa, y, 6, 0, eps=0.05, perturbable=np.array([1, 1, 1, 0], bool))
    np.testing.assert_array_equal(a, gap_patterns(Xa, y, 6, 0, eps=0.05))
    b = call_sampler("gaussian", Xa, y, 6, 0, eps=0.05)
    np.testing.assert_array_equal(b, sample_patterns(Xa, 6, 0))
    p = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, robust_eps=0.05, patterns="gaps",
                          n_patterns=6)  # fmt: skip
    np.testing.assert_array_equal(p.D, a)
    with pytest.raises(ValueError, match="unknown pattern sampler"):
        call_sampler("nope", Xa, y, 6, 0)


def test_patterns_from_network_embed_the_network_in_the_convex_program():
    X, y = _blobs(25, 3, seed=0)
    rng = np.random.default_rng(1)
    U, b, alpha = rng.standard_normal((6, 3)), rng.standard_normal(6), rng.standard_normal(6)
    net = TwoLayerReLU.from_numpy(U, alpha, b=b, c=None)
    D = patterns_from_network(net, X)
    expected = (X @ U.T + b >= 0).astype(float)
    # every distinct non-zero column of the network's pattern matrix appears, nothing else
    cols = {tuple(c) for c in expected.T if c.any()}
    assert {tuple(c) for c in D.T} == cols and D.shape[1] == len(cols)
    # the network itself is a feasible point of the nominal program with these patterns
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, patterns=D)
    V = np.zeros((4, problem.P))
    W = np.zeros((4, problem.P))
    for j in range(6):
        col = [i for i in range(problem.P) if np.array_equal(D[:, i], expected[:, j])]
        if not col:
            continue
        block = abs(alpha[j]) * np.append(U[j], b[j])
        (V if alpha[j] > 0 else W)[:, col[0]] += block
    assert problem.constraint_violation(V, W) <= 1e-12
    np.testing.assert_allclose(problem.predict_convex(V, W), net.decision_function(X), atol=1e-12)
    ca = patterns_from_network(net, X, class_aware=True, y=y, add_ones=True)
    np.testing.assert_array_equal(ca, split_by_class(D, y, add_ones=True))
    with pytest.raises(ValueError, match="features"):
        patterns_from_network(net, np.hstack([X, np.ones((25, 1))]))
