"""The convex core without a solver: activation patterns, ConvexReLUProblem (validation,
objectives, slacks, certificates), ConvexSolution and network recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.network import TwoLayerReLU
from robustbench_convex.patterns import (
    PATTERN_SAMPLERS,
    class_aware_patterns,
    enumerate_patterns,
    sample_patterns,
)
from robustbench_convex.solution import ConvexSolution, active_blocks, recover_network


def _data(n: int = 12, d: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0)
    return X, y


def _augment(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _is_realizable(Xa: np.ndarray, pattern: np.ndarray) -> bool:
    """Whether some direction h has (2 d_k - 1) x_k^T h >= 1 for all k (an open cell), by LP."""
    sign = 2.0 * pattern - 1.0
    res = linprog(
        np.zeros(Xa.shape[1]),
        A_ub=-(sign[:, None] * Xa),
        b_ub=-np.ones(Xa.shape[0]),
        bounds=[(None, None)] * Xa.shape[1],
        method="highs",
    )
    return res.status == 0


# ------------------------------------------------------------------------ patterns
@pytest.mark.parametrize(("n", "d"), [(9, 1), (10, 2), (7, 3)])
def test_enumerate_patterns_count_matches_closed_formula(n, d):
    """n points in general position, rank r = d + 1 after the ones column: the central arrangement
    has 2 * sum_{k<r} C(n-1, k) cells; the all-zero one (direction -e_bias) is excluded."""
    X, _ = _data(n, d, seed=n + d)
    Xa = _augment(X)
    D = enumerate_patterns(Xa)
    r = d + 1
    assert D.shape == (n, 2 * sum(math.comb(n - 1, k) for k in range(r)) - 1)
    assert np.unique(D.T, axis=0).shape[0] == D.shape[1]  # distinct
    assert D.any(axis=0).all()  # no all-zero pattern
    # every enumerated pattern is an open cell (so with the count, the set is exactly all cells)
    assert all(_is_realizable(Xa, D[:, i]) for i in range(D.shape[1]))


def test_enumerate_patterns_contains_every_sampled_pattern():
    X, _ = _data(8, 2, seed=3)
    Xa = _augment(X)
    exact = {col.tobytes() for col in enumerate_patterns(Xa).T.astype(np.uint8)}
    sampled = sample_patterns(Xa, 5000, seed=1)
    assert {col.tobytes() for col in sampled.T.astype(np.uint8)} <= exact


def test_enumerate_patterns_refuses_large_problems():
    X, _ = _data(200, 5)
    with pytest.raises(ValueError, match="sample_patterns"):
        enumerate_patterns(_augment(X))


def test_sample_patterns_deterministic_distinct_nonzero():
    X, _ = _data(30, 4)
    a = sample_patterns(X, 40, seed=7)
    b = sample_patterns(X, 40, seed=7)
    c = sample_patterns(X, 40, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not (a.shape == c.shape and np.array_equal(a, c))
    assert a.dtype == np.float64 and set(np.unique(a)) <= {0.0, 1.0}
    assert a.shape[0] == 30 and 1 <= a.shape[1] <= 40
    assert np.unique(a.T, axis=0).shape[0] == a.shape[1]
    assert a.any(axis=0).all()
    # each pattern is the sign pattern of a direction: realizable
    assert all(_is_realizable(X, a[:, i]) for i in range(5))


def test_sample_patterns_drops_duplicates_when_few_points():
    X = np.array([[1.0], [2.0], [-1.0]])  # rank 1: only two nonzero patterns exist
    D = sample_patterns(X, 50, seed=0)
    assert D.shape == (3, 2)
    assert {tuple(col) for col in D.T} == {(1.0, 1.0, 0.0), (0.0, 0.0, 1.0)}


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_sample_patterns_rejects_bad_count(bad):
    X, _ = _data(5, 2)
    with pytest.raises((TypeError, ValueError), match="n_patterns"):
        sample_patterns(X, bad)


def test_class_aware_patterns_are_one_class_detectors():
    X, y = _data(20, 3)
    D = class_aware_patterns(_augment(X), y, 10, seed=0)
    pos, neg = y > 0, y < 0
    for col in D.T:
        assert not (col[pos].any() and col[neg].any())  # silent on one class
    assert D.any(axis=0).all() and np.unique(D.T, axis=0).shape[0] == D.shape[1]


def test_pattern_samplers_registry_names():
    assert {"gaussian", "class-aware", "all"} <= set(PATTERN_SAMPLERS)


# ------------------------------------------------------------------------ problem validation
def test_problem_attributes_and_augmentation():
    X, y = _data(12, 3)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.5, n_patterns=6, seed=1)
    assert (problem.n, problem.d, problem.d_aug) == (12, 3, 4)
    np.testing.assert_array_equal(problem.Xa[:, -1], 1.0)
    assert problem.perturbable.tolist() == [True, True, True, False]
    assert problem.program == "nominal" and not problem.is_certificate and not problem.is_exact
    np.testing.assert_array_equal(problem.D, sample_patterns(problem.Xa, 6, seed=1))
    nobias = ConvexReLUProblem(X, y, loss="hinge", beta=0.5, n_patterns=6, bias=False)
    assert nobias.d_aug == 3 and nobias.perturbable.all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"y": np.array([1, 2, 1, 2, 1, 2])}, ValueError, "binary labels"),
        ({"y": np.array([1.0, -1, 1, -1, 1])}, ValueError, "5 labels"),
        ({"y": np.array([1.0, -1, np.nan, -1, 1, 1])}, ValueError, "NaN"),
        ({"X": np.full((6, 2), np.nan)}, ValueError, "NaN"),
        ({"X": np.zeros(6)}, ValueError, "2-D"),
        ({"beta": -1.0}, ValueError, "beta"),
        ({"beta": "large"}, TypeError, "beta"),
        ({"robust_eps": -0.1}, ValueError, "robust_eps"),
        ({"robust_eps": np.inf}, ValueError, "robust_eps"),
        ({"loss": "cross-entropy"}, ValueError, "loss"),
        ({"robust": "pgd"}, ValueError, "robust"),
        ({"patterns": np.ones((5, 3))}, ValueError, "shape"),
        ({"patterns": np.full((6, 3), 0.5)}, ValueError, "0 and 1"),
        ({"patterns": np.zeros((6, 0))}, ValueError, "no non-zero"),
        ({"patterns": "sobol"}, ValueError, "patterns"),
        ({"n_patterns": 0}, ValueError, "n_patterns"),
        (
            {"robust_eps": 0.1, "robust": "relaxed", "stability_penalty": 1.0},
            ValueError,
            "certified and class-aware",
        ),
        ({"stability_penalty": 1.0}, ValueError, "stability_penalty"),
    ],
)
def test_problem_rejects_bad_input(kwargs, error, match):
    X, y = _data(6, 2, seed=2)
    args = {"X": X, "y": y, "loss": "squared", "beta": 0.1, "n_patterns": 4}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        ConvexReLUProblem(args.pop("X"), args.pop("y"), **args)


def test_zero_one_labels_are_converted_with_a_note():
    X, y = _data(8, 2)
    with pytest.warns(UserWarning, match="converted"):
        problem = ConvexReLUProblem(X, (y > 0).astype(int), loss="logistic", beta=0.1)
    np.testing.assert_array_equal(problem.y, y)
    assert any("converted" in note for note in problem.notes)


# ------------------------------------------------------------------------ objectives
def _random_feasible_blocks(Xa: np.ndarray, P: int, seed: int) -> tuple[np.ndarray, ...]:
    """Random V, W whose nominal constraints hold exactly: the patterns are their own signs."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((Xa.shape[1], P))
    W = rng.standard_normal((Xa.shape[1], P))
    return V, W, (Xa @ V >= 0).astype(float), (Xa @ W >= 0).astype(float)


def test_objectives_match_an_independent_loop_implementation():
    X, y = _data(9, 2, seed=4)
    rng = np.random.default_rng(0)
    D = (rng.random((9, 5)) > 0.4).astype(float)
    D[:, 0] = 1.0
    V, W = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    Xa = _augment(X)
    for loss in ("squared", "hinge", "logistic"):
        for eps in (0.0, 0.3):
            problem = ConvexReLUProblem(X, y, loss=loss, beta=0.7, patterns=D, robust_eps=eps)
            total = 0.0
            for k in range(9):
                z = sum(D[k, i] * (V[:, i] - W[:, i]) for i in range(5))
                pred = Xa[k] @ z
                r = eps * np.abs(z[:2]).sum()
                if loss == "squared":
                    total += 0.5 * (abs(pred - y[k]) + r) ** 2
                elif loss == "hinge":
                    total += max(0.0, 1 - y[k] * pred + r)
                else:
                    total += math.log1p(math.exp(-(y[k] * pred - r)))
            reg = 0.7 * sum(np.linalg.norm(V[:, i]) + np.linalg.norm(W[:, i]) for i in range(5))
            assert problem.data_loss(V, W) == pytest.approx(total, rel=1e-12)
            assert problem.convex_objective(V, W) == pytest.approx(total + reg, rel=1e-12)


def test_stability_slacks_and_constraint_violation():
    X, y = _data(10, 2, seed=5)
    Xa = _augment(X)
    V, W, Dv, _ = _random_feasible_blocks(Xa, 3, seed=1)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, patterns=Dv)
    W = V.copy()  # W obeys the same patterns as V: feasible for the nominal program
    assert problem.constraint_violation(V, W) == 0.0
    eps = 0.05
    for robust in ("certified", "class-aware"):
        rp = ConvexReLUProblem(
            X, y, loss="hinge", beta=0.1, patterns=Dv, robust_eps=eps, robust=robust
        )
        Sv, Sw = rp.stability_slacks(V, W)
        rhs = eps * np.abs(V[:2]).sum(axis=0)
        expected = np.maximum(0.0, rhs - (2 * Dv - 1) * (Xa @ V))
        if robust == "class-aware":
            np.testing.assert_allclose(Sv, expected * (y < 0)[:, None])
            np.testing.assert_allclose(Sw, expected * (y > 0)[:, None])
        else:
            np.testing.assert_allclose(Sv, expected)
            np.testing.assert_allclose(Sw, expected)
        assert rp.constraint_violation(V, W) == pytest.approx(max(Sv.max(), Sw.max()))
        # certified points are those whose slacks all vanish
        ok = (Sv.max(axis=1) <= 1e-12) & (Sw.max(axis=1) <= 1e-12)
        np.testing.assert_array_equal(rp.certified_points(V, W), ok)
        margins = rp.certified_margins(V, W)
        # every point gets a bound: the raw certified margin minus the slacks it needs
        Z = rp.effective_weights(V, W)
        raw = y * np.einsum("kd,kd->k", Xa, Z) - rp.robust_eps * np.abs(Z[:, :-1]).sum(axis=1)
        needed = np.where(y > 0, Sw.sum(axis=1), Sv.sum(axis=1))
        np.testing.assert_allclose(margins, raw - needed, atol=1e-12)
        assert np.all(margins[ok] == raw[ok])
        soft = ConvexReLUProblem(
            X,
            y,
            loss="hinge",
            beta=0.1,
            patterns=Dv,
            robust_eps=eps,
            robust=robust,
            stability_penalty=2.0,
        )
        assert soft.constraint_violation(V, W) == 0.0  # soft constraints are not hard ones
        assert soft.convex_objective(V, W) == pytest.approx(
            rp.convex_objective(V, W) + 2.0 * (Sv.sum() + Sw.sum())
        )


def test_relaxed_program_certifies_nothing():
    X, y = _data(8, 2)
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=0.1, n_patterns=4, robust_eps=0.1, robust="relaxed"
    )
    V = np.zeros((3, problem.P))
    assert not problem.is_certificate
    assert problem.certified_training_loss(V, V) is None
    assert not problem.certified_points(V, V).any()


def test_shape_errors_in_objectives():
    X, y = _data(8, 2)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, n_patterns=4)
    with pytest.raises(ValueError, match="shape"):
        problem.convex_objective(np.zeros((2, problem.P)), np.zeros((2, problem.P)))
    with pytest.raises(ValueError, match="inputs"):
        problem.network_objective(TwoLayerReLU(5, 2))


# ------------------------------------------------------------------------ recovery
@pytest.mark.parametrize("bias", [True, False])
def test_recovery_reproduces_convex_model_exactly(bias):
    """On a feasible point the recovered network computes sum_i D_i Xa (v_i - w_i) and its
    (NC) objective equals the convex objective, for every loss (no solver involved)."""
    X, y = _data(15, 2, seed=6)
    Xa = _augment(X) if bias else X
    V, W, Dv, Dw = _random_feasible_blocks(Xa, 4, seed=2)
    D = np.hstack([Dv, Dw])
    Vfull = np.hstack([V, np.zeros_like(W)])
    Wfull = np.hstack([np.zeros_like(V), W])
    for loss in ("squared", "hinge", "logistic"):
        problem = ConvexReLUProblem(X, y, loss=loss, beta=0.3, patterns=D, bias=bias)
        assert problem.constraint_violation(Vfull, Wfull) == 0.0
        net = recover_network(Vfull, Wfull, bias=bias)
        assert net.width == 8 and (net.hidden.bias is not None) == bias
        np.testing.assert_allclose(
            net.decision_function(X), problem.predict_convex(Vfull, Wfull), rtol=1e-12, atol=1e-12
        )
        assert problem.network_objective(net) == pytest.approx(
            problem.convex_objective(Vfull, Wfull), rel=1e-12
        )
        # weight decay of each neuron equals the group norm of its block
        alpha = net.output.weight.detach().numpy()[0]
        assert np.all(alpha[:4] > 0) and np.all(alpha[4:] < 0)


def test_recovery_drops_near_zero_blocks():
    rng = np.random.default_rng(0)
    V = rng.standard_normal((3, 4))
    W = np.zeros((3, 4))
    V[:, 1] *= 1e-9  # solver noise
    W[:, 2] = 1e-3 * rng.standard_normal(3)  # small but real
    keep_v, keep_w = active_blocks(V, W)
    assert keep_v.tolist() == [True, False, True, True]
    assert keep_w.tolist() == [False, False, True, False]
    net = recover_network(V, W, bias=True)
    assert net.width == 4
    assert recover_network(V, W, bias=True, rtol=0.0).width == 5
    assert recover_network(V, W, bias=True, rtol=1e-2).width == 3


def test_zero_solution_gives_width_zero_network():
    X, y = _data(6, 2)
    problem = ConvexReLUProblem(X, y, loss="logistic", beta=0.1, n_patterns=4)
    Z = np.zeros((problem.d_aug, problem.P))
    net = recover_network(Z, Z, bias=True)
    assert net.width == 0 and net.n_active() == 0
    np.testing.assert_array_equal(net.decision_function(X), np.zeros(6))
    assert net(torch.zeros(3, 2, dtype=torch.float64)).shape == (3,)
    assert problem.network_objective(net) == pytest.approx(6 * math.log(2.0))
    assert problem.convex_objective(Z, Z) == pytest.approx(6 * math.log(2.0))


# ------------------------------------------------------------------------ ConvexSolution
def test_convex_solution_fields_and_helpers():
    X, y = _data(10, 2, seed=6)
    Xa = _augment(X)
    V, _, Dv, _ = _random_feasible_blocks(Xa, 3, seed=3)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.2, patterns=Dv)
    sol = ConvexSolution(
        V=V,
        W=np.zeros_like(V),
        objective=problem.convex_objective(V, np.zeros_like(V)),
        status="converged",
        solver="TEST",
        time=0.1,
        problem=problem,
    )
    assert sol.ok and sol.program == "nominal" and not sol.is_certificate
    assert sol.n_active() == 3 and sol.to_network().width == 3
    assert sol.constraint_violation == 0.0
    assert sol.certified_training_loss is None
    summary = sol.summary()
    assert summary["n_active"] == 3 and summary["P"] == 3 and summary["status"] == "converged"
    assert sol.history_frame().empty
    failed = sol.replace(status="failed", message="boom")
    assert not failed.ok and failed.message == "boom" and sol.status == "converged"
    with pytest.raises(ValueError, match="status"):
        sol.replace(status="optimal")
