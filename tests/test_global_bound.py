"""The certified any-width lower bound (global_bound; MATH.md section 8) on tiny data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from robustbench_convex.baselines import train_sgd
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.global_bound import (
    block_values,
    certified_gap,
    face_candidates,
    global_lower_bound,
    max_violation_mip,
    max_violation_relaxed,
)
from robustbench_convex.patterns import enumerate_patterns
from robustbench_convex.pricing import dual_vector, solve_restricted
from tests.convex_fixtures import xor_data

TIGHT = {"cvxpy_solver": "CLARABEL", "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}
LOSSES = ("squared", "hinge", "logistic")


def _exact(X, y, loss, beta):
    """The all-pattern program (C) solved tightly: its optimum p* and dual vector."""
    problem = ConvexReLUProblem(X, y, loss=loss, beta=beta, patterns="all")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = solve_restricted(problem, solver="cvxpy", **TIGHT)
    return solution, dual_vector(solution)


@pytest.mark.parametrize("loss", LOSSES)
def test_bound_closes_on_the_exact_program(loss):
    """Every pattern enumerated: the bound at the exact optimum's dual is <= p* and within 1e-6."""
    X, y = xor_data(n=12, seed=1)
    beta = 0.3
    solution, theta = _exact(X, y, loss, beta)
    bound = global_lower_bound(X, y, theta, loss=loss, beta=beta, method="enumeration")
    assert bound.method == "enumeration"
    assert bound.value <= solution.objective + 1e-9
    assert certified_gap(solution.objective, bound.value) < 1e-6
    assert bound.M_lower <= bound.M_upper * (1 + 1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_bound_below_every_network_and_the_exact_optimum(seed):
    """Random tiny problems, any dual candidate (a sampled program's, a random one): both bounds
    stay below the exact optimum and below every SGD run's objective, widths 2 and 16."""
    X, y = xor_data(n=10, seed=10 + seed)
    loss = LOSSES[seed % 3]
    beta = 0.2
    exact, _ = _exact(X, y, loss, beta)
    sampled = ConvexReLUProblem(X, y, loss=loss, beta=beta, n_patterns=3, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theta_sampled = dual_vector(solve_restricted(sampled, solver="cvxpy"))
    rng = np.random.default_rng(seed)
    candidates = [theta_sampled, -y * rng.uniform(0, 1, y.shape), rng.standard_normal(y.shape)]
    runs = [
        train_sgd(X, y, width=w, loss=loss, weight_decay=beta, epochs=60, seed=s)[1].objective
        for w in (2, 16)
        for s in range(2)
    ]
    for theta in candidates:
        for method in ("enumeration", "relaxation"):
            value = global_lower_bound(X, y, theta, loss=loss, beta=beta, method=method).value
            assert value <= exact.objective + 1e-8
            assert value <= min(runs) + 1e-8


def test_enumerated_M_dominates_every_direction_and_relaxation_dominates_it():
    """``M_upper`` (enumeration) >= |theta^T (Xa u)_+| for 20000 random unit u, is attained, and
    the relaxation's M is larger still."""
    X, _ = xor_data(n=14, seed=3)
    Xa = np.hstack([X, np.ones((14, 1))])
    theta = np.random.default_rng(0).standard_normal(14)
    D = enumerate_patterns(Xa)
    upper, attained = block_values(Xa, theta, D, threshold=0.0, top=D.shape[1])
    U = np.random.default_rng(1).standard_normal((3, 20000))
    U /= np.linalg.norm(U, axis=0)
    sampled = np.abs(theta @ np.maximum(Xa @ U, 0.0)).max()
    assert upper.max() >= sampled - 1e-12
    assert attained.max() == pytest.approx(upper.max(), rel=1e-9)
    assert max_violation_relaxed(Xa, theta) >= upper.max() * (1 - 1e-12)


def test_bound_rejects_bad_input():
    X, y = xor_data(n=8)
    with pytest.raises(ValueError, match="beta"):
        global_lower_bound(X, y, np.zeros(8), loss="squared", beta=0.0)
    with pytest.raises(ValueError, match="theta"):
        global_lower_bound(X, y, np.zeros(7), loss="squared", beta=1.0)
    with pytest.raises(ValueError, match="method"):
        global_lower_bound(X, y, np.zeros(8), loss="squared", beta=1.0, method="magic")


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_an_empty_bound_is_plus_zero(loss):
    """theta = 0 (or a scale of 0) bounds nothing: the bound is 0.0, never -0.0 (which a table
    prints as "-0"), by either route (global_lower_bound, duality.lower_bound)."""
    import math

    from robustbench_convex.duality import lower_bound

    X, y = xor_data(n=8)
    bound = global_lower_bound(X, y, np.zeros(8), loss=loss, beta=1.0)
    assert bound.value == 0.0 and math.copysign(1.0, bound.value) > 0
    problem = ConvexReLUProblem(X, y, loss=loss, beta=1.0, n_patterns=4, seed=0)
    plain = lower_bound(problem, np.zeros(8), None, refine_steps=0).value
    assert plain == 0.0 and math.copysign(1.0, plain) > 0


@pytest.mark.parametrize("seed", range(3))
def test_face_candidates_equal_the_nnls_oracle_and_dominate_random_directions(seed):
    """Rank 3 (2-D data with biases): the best face value equals the per-block NNLS maximum
    (two independent exact methods); rank 2 (no bias): it is >= 20000 random directions and
    within 1e-6 of their best (the circle is densely sampled there)."""
    X, _ = xor_data(n=18, seed=20 + seed)
    Xa = np.hstack([X, np.ones((18, 1))])
    theta = np.random.default_rng(seed).standard_normal(18)
    D = enumerate_patterns(Xa)
    faces = face_candidates(Xa, theta, D)
    upper, _ = block_values(Xa, theta, D, threshold=0.0, top=D.shape[1])
    assert faces.values.max() == pytest.approx(upper.max(), rel=1e-9)
    # without the enumerated cells: the cells beside every arc are all the cells
    assert face_candidates(Xa, theta).values.max() == pytest.approx(upper.max(), rel=1e-9)
    # every value is attained at its own unit direction, with its own pattern
    assert np.allclose(np.linalg.norm(faces.directions, axis=0), 1.0)
    XU = Xa @ faces.directions
    assert np.allclose(faces.values, np.abs(theta @ np.maximum(XU, 0.0)))
    assert np.array_equal(faces.patterns, XU >= 0)
    U = np.random.default_rng(1).standard_normal((2, 20000))
    U /= np.linalg.norm(U, axis=0)
    sampled = np.abs(theta @ np.maximum(X @ U, 0.0)).max()
    best = face_candidates(X, theta).values.max()
    assert best >= sampled - 1e-12
    assert best <= sampled * (1 + 1e-6)


def test_mip_bound_is_an_upper_bound_and_exact_when_solved():
    """SCIP's bound (every positive sample with a binary) is >= M and, solved to optimality on
    tiny data, within its tolerances of the exact face value; without binaries it is a valid,
    looser relaxation."""
    pytest.importorskip("pyscipopt")
    X, _ = xor_data(n=14, seed=3)
    Xa = np.hstack([X, np.ones((14, 1))])
    theta = np.random.default_rng(0).standard_normal(14)
    exact = face_candidates(Xa, theta).values.max()
    mip = max_violation_mip(Xa, theta, time_limit=20.0)
    assert mip.status == ("optimal", "optimal")
    assert exact <= mip.upper <= exact * (1 + 1e-4)
    assert mip.lower <= exact * (1 + 1e-12)
    loose = max_violation_mip(Xa, theta, time_limit=20.0, max_binaries=0)
    assert loose.upper >= mip.upper * (1 - 1e-9)


def test_mip_without_pyscipopt_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyscipopt", None)
    with pytest.raises(ImportError, match=r"robustbench-convex\[mip\]"):
        max_violation_mip(np.eye(3), np.ones(3))


def test_face_candidates_keep_returns_the_best_candidates():
    """keep=k returns k of the full set's values, largest first, the first M(theta) (bounded
    candidates that cannot beat the k-th value so far are skipped), each at its own unit
    direction with its own pattern; keep=1 still gives M(theta); bad keep is named."""
    X, _ = xor_data(n=24, seed=7)
    Xa = np.hstack([X, np.ones((24, 1))])
    theta = np.random.default_rng(3).standard_normal(24)
    D = enumerate_patterns(Xa)
    full = face_candidates(Xa, theta, D)
    kept = face_candidates(Xa, theta, D, keep=50)
    assert kept.values.shape == (50,)
    assert np.all(np.diff(kept.values) <= 0)
    assert kept.values[0] == pytest.approx(full.values.max(), rel=1e-12)
    # each kept value is one of the full set's (the same candidates, some skipped)
    assert np.all(np.min(np.abs(kept.values[:, None] - full.values[None, :]), axis=1) <= 1e-9)
    XU = Xa @ kept.directions
    assert np.allclose(kept.values, np.abs(theta @ np.maximum(XU, 0.0)))
    assert np.array_equal(kept.patterns, XU >= 0)
    assert face_candidates(Xa, theta, D, keep=1).values[0] == pytest.approx(full.values.max())
    with pytest.raises(ValueError, match="keep"):
        face_candidates(Xa, theta, D, keep=0)


@pytest.mark.parametrize("seed", range(4))
def test_swept_faces_equal_every_face_evaluated(seed):
    """face_candidates(keep=...) on rank-3 data values rays and arcs by a sweep of cumulative
    sums and evaluates only the cells that can lie in their cell and beat the kept values: its
    maximum equals the maximum over every face evaluated (keep=None, the reference) to 1e-9
    relative, and within its own ``rounding`` margin above; also with repeated points, points
    on a line (ties of the breakpoints) and without biases (3-D inputs)."""
    rng = np.random.default_rng(seed)
    X, _ = xor_data(n=30, seed=40 + seed)
    X = np.vstack([X, X[:4], [[0.5, 0.5], [1.0, 1.0], [1.5, 1.5]]])  # repeats, a line
    n = X.shape[0]
    for Xa in (np.hstack([X, np.ones((n, 1))]), rng.standard_normal((n, 3))):
        theta = rng.standard_normal(n)
        full = face_candidates(Xa, theta).values.max()
        for keep in (1, 40):
            swept = face_candidates(Xa, theta, keep=keep)
            assert swept.values[0] == pytest.approx(full, rel=1e-9)
            assert 0 < swept.rounding <= 1e-10 * full
            XU = Xa @ swept.directions
            assert np.allclose(
                swept.values, np.abs(theta @ np.maximum(XU, 0.0)), rtol=0, atol=1e-12
            )
            assert np.all(np.diff(swept.values) <= 0)
