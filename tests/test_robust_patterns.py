"""Network-seeded patterns for the robust convex programs and the robust defaults
(robustbench_convex.robust_patterns, ConvexReLUClassifier(robust_eps=...), the sweep's
class-aware method): certificates checked against the exact MILP on every training point,
defaults resolved and recorded, collapse reported with advice the user has not taken yet."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from robustbench_convex.estimators import ConvexReLUClassifier
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.robust import check_certificates, diagnose
from robustbench_convex.robust_patterns import (
    DEFAULT_STABILITY_PENALTY,
    collapse_advice,
    default_max_patterns,
    important_neurons,
    network_seeded_patterns,
    own_patterns,
    signed_own_budget,
    signed_own_patterns,
    solve_rungs,
)
from robustbench_convex.solution import CollapseWarning
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

EPS = 0.1


def _xor(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """XOR with an l_inf margin in [-1, 1]^2: not linearly separable."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.25, 1.0, size=(n, 2)) * rng.choice([-1.0, 1.0], size=(n, 2))
    return X, np.sign(X[:, 0] * X[:, 1])


def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.filterwarnings("ignore", message=".*CPP backend.*")
    return ctx


def test_seeded_patterns_are_class_aware_detectors_plus_the_linear_block():
    X, y = _xor(40, 0)
    seeded = network_seeded_patterns(X, y, eps=EPS, n_patterns=12, lower=-1.0, upper=1.0)
    D = seeded.D
    assert seeded.seed_width == 24 and seeded.source == "ibp-network"
    assert 2 <= D.shape[1] <= 2 * 24 + 1 and set(np.unique(D)) <= {0.0, 1.0}
    ones = np.all(D == 1, axis=0)
    assert ones.sum() == 1  # the all-active pattern
    on_pos = D[y > 0][:, ~ones].any(axis=0)
    on_neg = D[y < 0][:, ~ones].any(axis=0)
    assert not np.any(on_pos & on_neg)  # every other column detects one class only
    assert seeded.seconds > 0 and seeded.seed_certified_train_accuracy is not None


def test_important_neurons_rank_by_output_scale():
    from robustbench_convex.network import TwoLayerReLU

    U = np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 0.0], [0.0, 0.1]])
    net = TwoLayerReLU.from_numpy(U=U, b=np.zeros(4), alpha=np.array([1.0, -1.0, 0.1, 5.0]))
    # scales |alpha| ||(u, b)||: 1, 3, 0.2, 0.5
    assert important_neurons(net, 2).tolist() == [1, 0]
    assert important_neurons(net, 10).tolist() == [1, 0, 3, 2]


def test_seeded_patterns_keep_the_most_important_neurons_by_default():
    """Default: the most important seed neurons whose class-aware split stays within the pattern
    budget (default_max_patterns: n_patterns + n_patterns // 4 + 1), as many as fit (one more
    neuron would exceed it); keep_neurons overrides the budget; "all" keeps every neuron's
    patterns, a superset of the default's (the same seed network)."""
    X, y = _xor(40, 0)
    budget = default_max_patterns(6)
    assert budget == 8
    kept = network_seeded_patterns(X, y, eps=EPS, n_patterns=6, lower=-1.0, upper=1.0)
    every = network_seeded_patterns(
        X, y, eps=EPS, n_patterns=6, lower=-1.0, upper=1.0, keep_neurons="all"
    )
    six = network_seeded_patterns(X, y, eps=EPS, n_patterns=6, lower=-1.0, upper=1.0,
                                  keep_neurons=6)  # fmt: skip
    assert every.kept_neurons == 12 and six.kept_neurons == 6
    assert 1 <= kept.kept_neurons <= 12 and kept.D.shape[1] <= budget
    one_more = network_seeded_patterns(
        X, y, eps=EPS, n_patterns=6, lower=-1.0, upper=1.0, keep_neurons=kept.kept_neurons + 1
    )
    assert kept.kept_neurons == 12 or one_more.D.shape[1] > budget  # the largest that fits
    every_cols = {tuple(c) for c in every.D.T}
    assert all(tuple(c) in every_cols for c in kept.D.T)
    tight = network_seeded_patterns(X, y, eps=EPS, n_patterns=6, lower=-1.0, upper=1.0,
                                    max_patterns=2)  # fmt: skip
    assert tight.kept_neurons == 1  # even one neuron's split exceeds 2 patterns: one is kept
    with pytest.raises(ValueError, match="keep_neurons"):
        network_seeded_patterns(X, y, eps=EPS, n_patterns=6, keep_neurons=0)
    with pytest.raises(ValueError, match="max_patterns"):
        network_seeded_patterns(X, y, eps=EPS, n_patterns=6, max_patterns=1)


def _solve_and_check_every_training_point(problem: ConvexReLUProblem) -> None:
    """Solve (CVXPY) and check the certificates against the MILP at every training point; the
    solution keeps genuine ReLU units and certifies >= 90% of the training points."""
    ctx = _quiet()
    try:
        sol = solve_cvxpy(problem)
    finally:
        ctx.__exit__(None, None, None)
    assert sol.status == "converged"
    n = len(problem.y)
    frame = check_certificates(sol, points=np.arange(n), time_limit=20)
    assert len(frame) == n and frame["ok"].all()
    diag = diagnose(sol)
    assert not diag.collapsed and diag.n_relu_active >= 2
    assert diag.certified_train_accuracy >= 0.9


def test_seeded_soft_program_certificates_hold_on_every_training_point():
    """Certified margins of the IBP-seeded soft class-aware program are lower bounds on the
    exact MILP worst case at *every* training point (given-up points included), and the
    program keeps genuine ReLU units on XOR (a linear model cannot fit it)."""
    X, y = _xor(40, 1)
    seeded = network_seeded_patterns(X, y, eps=EPS, n_patterns=12, lower=-1.0, upper=1.0)
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=1e-2, patterns=seeded.D, robust_eps=EPS, robust="class-aware",
        stability_penalty=DEFAULT_STABILITY_PENALTY,
    )  # fmt: skip
    _solve_and_check_every_training_point(problem)


def test_unsplit_seed_patterns_with_input_bounds_certify_every_training_point():
    """``class_split=False``: the seed's own patterns (active on both classes) within half the
    pattern budget; the bounded program (``lower`` / ``upper``) keeps both blocks of each and
    its certificates hold against the MILP on the same clipped balls at every training point."""
    X, y = _xor(40, 2)
    split = network_seeded_patterns(X, y, eps=EPS, n_patterns=12, lower=-1.0, upper=1.0)
    own = network_seeded_patterns(
        X, y, eps=EPS, n_patterns=12, lower=-1.0, upper=1.0, class_split=False
    )
    assert own.D.shape[1] <= (default_max_patterns(12) + 1) // 2
    assert np.all(own.D == 1, axis=0).sum() == 1
    both = own.D[y > 0].any(axis=0) & own.D[y < 0].any(axis=0)
    assert both.sum() >= 2  # not a class split: columns active on both classes
    assert own.kept_neurons <= split.kept_neurons
    problem = ConvexReLUProblem(
        X, y, loss="hinge", beta=1e-2, patterns=own.D, robust_eps=EPS, robust="class-aware",
        stability_penalty=DEFAULT_STABILITY_PENALTY, lower=-1.0, upper=1.0,
    )  # fmt: skip
    _solve_and_check_every_training_point(problem)


def test_signed_own_patterns_carry_their_neurons_output_signs():
    """``signed_own_patterns``: at most ``signed_own_budget`` patterns, the all-active one with
    sign 0, every other pattern with the output sign of the seed neurons that have it (checked
    against the seed's own weights), and the same patterns as the unsigned rule at that
    budget."""
    X, y = _xor(40, 2)
    seeded = network_seeded_patterns(X, y, eps=EPS, n_patterns=12, lower=-1.0, upper=1.0)
    budget = default_max_patterns(12)
    D, signs = signed_own_patterns(seeded.net, X, budget)
    assert signed_own_budget(21) == 14 and signed_own_budget(budget) == 2 * (budget + 1) // 3
    assert D.shape == (len(y), signs.size) and D.shape[1] <= signed_own_budget(budget)
    np.testing.assert_array_equal(D, own_patterns(seeded.net, X, 2 * signed_own_budget(budget)))
    ones = np.all(D == 1, axis=0)
    assert ones.sum() == 1 and signs[ones][0] == 0
    weights = seeded.net.to_numpy()
    pattern_of = (X @ weights["U"].T + weights["b"] >= 0).astype(float)  # (n, width)
    for i in np.flatnonzero(~ones):
        owners = np.all(pattern_of == D[:, [i]], axis=0)
        found = set(np.sign(weights["alpha"][owners]).tolist()) - {0.0}
        assert signs[i] == (found.pop() if len(found) == 1 else 0)
    assert np.count_nonzero(signs) >= 2  # the case the signs are for


def test_signed_own_rung_fixes_the_other_blocks_and_certifies_every_training_point():
    """The own rung with output signs: the blocks the signs exclude are zero in the solution,
    the optimum is no lower than the unsigned program's (a restriction), and the certificates
    hold against the MILP on the clipped balls at every training point."""
    from robustbench_convex.robust_patterns import own_rung

    X, y = _xor(40, 2)
    seeded = network_seeded_patterns(X, y, eps=EPS, n_patterns=12, lower=-1.0, upper=1.0)
    D, signs = signed_own_patterns(seeded.net, X, default_max_patterns(12))
    kw = dict(loss="hinge", beta=1e-2, eps=EPS, lower=-1.0, upper=1.0)
    label, _, build = own_rung(X, y, D, output_signs=signs, **kw)
    assert label.startswith("own signed patterns, clipped ball")
    problem = build()
    np.testing.assert_array_equal(problem.output_signs, signs)
    ctx = _quiet()
    try:
        signed = solve_cvxpy(problem)
        unsigned = solve_cvxpy(own_rung(X, y, D, **kw)[2]())
    finally:
        ctx.__exit__(None, None, None)
    assert signed.status == unsigned.status == "converged"
    assert np.all(signed.V[:, signs < 0] == 0) and np.all(signed.W[:, signs > 0] == 0)
    assert signed.objective >= unsigned.objective - 1e-6 * abs(unsigned.objective)
    frame = check_certificates(signed, points=np.arange(len(y)), time_limit=20)
    assert len(frame) == len(y) and frame["ok"].all()
    assert diagnose(signed).n_relu_active >= 2


def test_output_signs_are_checked_and_only_solve_cvxpy_takes_them():
    X, y = _xor(30, 4)
    D = (np.hstack([X, np.ones((30, 1))]) @ np.random.default_rng(0).standard_normal((3, 4))
         >= 0).astype(float)  # fmt: skip
    D = np.hstack([D[:, D.any(axis=0)], np.ones((30, 1))])
    P = D.shape[1]
    kw = dict(loss="hinge", beta=1e-2, patterns=D, robust_eps=EPS, robust="class-aware",
              stability_penalty=1.0)  # fmt: skip
    with pytest.raises(ValueError, match=rf"output_signs must be a \({P},\) array"):
        ConvexReLUProblem(X, y, output_signs=np.ones(P + 1), **kw)
    with pytest.raises(ValueError, match="output_signs must be"):
        ConvexReLUProblem(X, y, output_signs=np.full(P, 2), **kw)
    with pytest.raises(ValueError, match="robust_eps > 0"):
        ConvexReLUProblem(X, y, loss="hinge", beta=1e-2, patterns=D, output_signs=np.ones(P))
    assert ConvexReLUProblem(X, y, output_signs=np.zeros(P), **kw).output_signs is None
    from robustbench_convex.solvers.admm import solve_admm
    from robustbench_convex.solvers.front import choose_convex_solver

    signs = np.where(np.arange(P) % 2 == 0, 1, -1)
    problem = ConvexReLUProblem(X, y, output_signs=signs, **kw)
    with pytest.raises(ValueError, match=r"output_signs.*solve_cvxpy"):
        solve_admm(problem, max_iter=5)
    assert choose_convex_solver(problem)[0] == "cvxpy"


def test_rungs_move_on_from_a_linear_program_and_label_the_choice():
    """``solve_rungs``: a first rung that keeps no ReLU unit (the all-active pattern only: a
    linear model) is solved and set aside; the seed's own patterns on the clipped ball come
    next and are kept (genuine with min_relu=2), the labels and the reason say so."""
    X, y = _xor(40, 3)
    seeded = network_seeded_patterns(X, y, eps=EPS, n_patterns=12, lower=-1.0, upper=1.0)
    own = own_patterns(seeded.net, X, default_max_patterns(12))
    np.testing.assert_array_equal(
        own,
        network_seeded_patterns(
            X, y, eps=EPS, n_patterns=12, lower=-1.0, upper=1.0, class_split=False
        ).D,
    )

    def build(D, **bounds):
        return ConvexReLUProblem(
            X, y, loss="hinge", beta=1e-2, patterns=D, robust_eps=EPS, robust="class-aware",
            stability_penalty=1.0, **bounds,
        )  # fmt: skip

    rungs = [
        ("linear", 1.0, lambda: build(np.ones((len(y), 1)))),
        ("own patterns, clipped ball, 1", 1.0, lambda: build(own, lower=-1.0, upper=1.0)),
        ("never reached", 0.3, lambda: build(seeded.D)),
    ]
    ctx = _quiet()
    try:
        fit = solve_rungs(rungs, solve_cvxpy, min_relu=2)
    finally:
        ctx.__exit__(None, None, None)
    assert fit.labels == ("linear", "own patterns, clipped ball, 1")
    assert fit.tried[0][1] == 0 and fit.tried[1][1] >= 2
    assert fit.solution.problem.has_input_bounds
    assert "rung: own patterns, clipped ball, 1" in fit.reason


def test_estimator_robust_defaults_are_resolved_and_recorded():
    X, y = _xor(40, 2)
    ctx = _quiet()
    try:
        clf = ConvexReLUClassifier(robust_eps=EPS, n_patterns=8).fit(X, y)
    finally:
        ctx.__exit__(None, None, None)
    assert clf.loss_ == "hinge" and clf.patterns_ == "ibp" and clf.pattern_time_ > 0
    # the penalty ladder starts at the default and records every attempt
    tried = [p for p, _ in clf.penalties_tried_]
    assert tried[0] == DEFAULT_STABILITY_PENALTY and clf.stability_penalty_ in tried
    assert f"chose stability_penalty {clf.stability_penalty_:g}" in clf.penalty_choice_
    problem = clf.result_.problem
    assert problem.pattern_source == "ibp-network" and problem.program == "class-aware"
    assert problem.stability_penalty == clf.stability_penalty_ and clf.result_.is_certificate
    assert clf.collapsed_ is False and clf.n_relu_neurons_ >= 2
    assert clf.score(X, y) >= 0.9
    # nominal defaults unchanged
    nominal = ConvexReLUClassifier(n_patterns=8).fit(X, y)
    assert nominal.loss_ == "squared" and nominal.stability_penalty_ is None
    assert nominal.result_.problem.program == "nominal" and nominal.collapsed_ is False


def test_estimator_with_input_bounds_tries_the_seeds_own_patterns_first():
    """``input_bounds``: the default ladder starts with the seed's own signed patterns on the
    clipped ball (min_relu is 8, more than XOR's seed can give at n_patterns 8, so the class-split ladder
    follows); whatever rung is kept, its certificates hold against the MILP on the ball clipped
    like the kept program's (every training point)."""
    X, y = _xor(40, 5)
    ctx = _quiet()
    try:
        clf = ConvexReLUClassifier(robust_eps=EPS, n_patterns=8, input_bounds=(-1.0, 1.0))
        clf.fit(X, y)
    finally:
        ctx.__exit__(None, None, None)
    assert clf.penalty_choice_.startswith(
        "tried own signed patterns, clipped ball, clean weight 0.5, 0.5 ->"
    )
    assert clf.get_params()["input_bounds"] == (-1.0, 1.0)
    frame = check_certificates(clf.result_, points=np.arange(len(y)), time_limit=20)
    assert frame["ok"].all() and clf.score(X, y) >= 0.9


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"patterns": "ibp"}, "needs robust_eps > 0"),
        ({"robust_eps": 0.1, "stability_penalty": "soft"}, "stability_penalty must be"),
        ({"robust_eps": 0.1, "input_bounds": (0.0,)}, "input_bounds must be None or a pair"),
        ({"robust_eps": 0.1, "input_bounds": (0.0, 1.0)}, "must lie in \\[lower, upper\\]"),
    ],
)
def test_estimator_rejects_inconsistent_robust_options(params, match):
    X, y = _xor(20, 3)
    with pytest.raises(ValueError, match=match):
        ConvexReLUClassifier(**params).fit(X, y)


def test_a_collapse_is_reported_with_advice_not_already_taken():
    """Hard class-aware stability at a radius larger than the data's margin collapses; the
    warning advises soft stability (not the patterns the user already used), and the estimator
    records the collapse."""
    X, y = _xor(30, 4)
    ctx = _quiet()
    try:
        with pytest.warns(CollapseWarning) as caught:
            clf = ConvexReLUClassifier(
                robust_eps=0.6, loss="hinge", stability_penalty=None,
                patterns="class-aware+ones", n_patterns=8,
            ).fit(X, y)  # fmt: skip
    finally:
        ctx.__exit__(None, None, None)
    text = " ".join(str(w.message) for w in caught if w.category is CollapseWarning)
    advice = text.split("trained ReLU network;", 1)[1]
    assert "stability_penalty=1" in advice and "class-aware+ones" not in advice
    assert clf.collapsed_ is True


def test_collapse_advice_moves_on_to_something_new():
    common = {"pattern_source": "class-aware+ones", "n_patterns": 16}
    assert "robust='class-aware'" in collapse_advice(
        program="certified", stability_penalty=None, **common
    )
    assert "stability_penalty" in collapse_advice(
        program="class-aware", stability_penalty=None, **common
    )
    assert "patterns='ibp'" in collapse_advice(
        program="class-aware", stability_penalty=1.0, **common
    )
    last = collapse_advice(
        program="class-aware", stability_penalty=1.0, pattern_source="ibp-network", n_patterns=16
    )
    assert "patterns='ibp'" not in last and "raise n_patterns" in last


def test_sweep_class_aware_method_defaults_to_ibp_seeded_soft_program():
    from robustbench_convex.data import load_dataset
    from robustbench_convex.methods import train_method, validate_params

    d = load_dataset("synthetic-xor", n_train=40, n_test=20)
    settings = validate_params("convex-robust-class-aware", {})
    assert settings["loss"] == "hinge" and settings["stability_penalty"] == 1.0
    assert settings["penalty_fallback"] is True
    ctx = _quiet()
    try:
        out = train_method("convex-robust-class-aware", d, {"n_patterns": 8, "eps": 0.05}, 0)
    finally:
        ctx.__exit__(None, None, None)
    info = out.info
    assert info["pattern_strategy"] == "ibp" and info["program"] == "class-aware"
    assert info["time"] >= info["pattern_seconds"] > 0
    assert info["is_certificate"] and not info["collapsed"]
    assert info["penalties_tried"][0][0] == 1.0
    assert info["stability_penalty_used"] in [p for p, _ in info["penalties_tried"]]
    assert f"chose stability_penalty {info['stability_penalty_used']:g}" in info["penalty_choice"]


def test_penalty_ladder_stops_when_enough_relu_units_and_picks_by_training_data():
    from robustbench_convex.robust import certified_training_accuracy
    from robustbench_convex.robust_patterns import choose_penalty, solve_soft_with_fallback

    X, y = _xor(40, 5)
    D = network_seeded_patterns(X, y, eps=EPS, n_patterns=8, lower=-1.0, upper=1.0).D

    def build(lam):
        return ConvexReLUProblem(
            X, y, loss="hinge", beta=1e-2, patterns=D, robust_eps=EPS, robust="class-aware",
            stability_penalty=lam,
        )  # fmt: skip

    ctx = _quiet()
    try:
        one = solve_soft_with_fallback(build, solve_cvxpy, penalties=(1.0, 0.1), min_relu=0)
        many = solve_soft_with_fallback(build, solve_cvxpy, penalties=(1.0, 0.1), min_relu=10**6)
    finally:
        ctx.__exit__(None, None, None)
    assert len(one.tried) == 1 and one.penalty == 1.0  # enough units: no retry
    assert [t[0] for t in many.tried] == [1.0, 0.1]  # never enough: the whole ladder
    best_cert = max(t[2] for t in many.tried)
    chosen = next(t for t in many.tried if t[0] == many.penalty)
    assert chosen[2] >= best_cert - 0.02
    assert chosen[1] == max(t[1] for t in many.tried if t[2] >= best_cert - 0.02)
    assert many.solution.problem.stability_penalty == many.penalty
    assert certified_training_accuracy(many.solution) == pytest.approx(chosen[2])
    assert many.reason.endswith(choose_penalty(many.tried, min_relu=10**6)[1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits-2v8", "breast-cancer"])
def test_default_robust_fit_on_built_in_sets_is_not_collapsed(name):
    """A user who sets only robust_eps gets a genuine certified ReLU network (>= 8 ReLU units)."""
    import robustbench_convex as rbc

    ds = rbc.load_dataset(name)
    ctx = _quiet()
    try:
        clf = ConvexReLUClassifier(robust_eps=0.1).fit(ds.X_train, ds.y_train)
    finally:
        ctx.__exit__(None, None, None)
    assert not clf.collapsed_ and clf.n_relu_neurons_ >= 8
    assert clf.result_.is_certificate
    assert clf.score(ds.X_test, ds.y_test) >= 0.9
    # the benchmark's setting: an IBP seed of width 32 within a budget of 21 patterns
    from robustbench_convex.robust_patterns import DEFAULT_ROBUST_N_PATTERNS, default_max_patterns

    assert clf.result_.problem.P <= default_max_patterns(DEFAULT_ROBUST_N_PATTERNS) == 21


def test_choose_penalty_prefers_a_genuine_rung_unless_clearly_worse():
    from robustbench_convex.robust_patterns import DEFAULT_GENUINE_MARGIN, choose_penalty

    # mnist-2v8-t10k-like: penalty 1 near-linear (3 units), 0.1 genuine (31) but 0.03 lower
    tried = [(1.0, 3, 0.870, 100.0), (0.1, 31, 0.840, 150.0)]
    pick, why = choose_penalty(tried, min_relu=8)
    assert pick == 1 and "genuine" in why and "0.1" in why
    # the old rule (tolerance 0.02 only) would keep the near-linear rung: margin 0 reproduces it
    assert choose_penalty(tried, min_relu=8, genuine_margin=0.0)[0] == 0
    # a genuine rung that certifies clearly fewer training points is given up, and it says so
    worse = [(1.0, 3, 0.870, 1.0), (0.1, 31, 0.870 - DEFAULT_GENUINE_MARGIN - 0.01, 1.0)]
    pick, why = choose_penalty(worse, min_relu=8)
    assert pick == 0 and "more than" in why
    # no genuine rung: most units within the tolerance of the best certified accuracy
    none = [(1.0, 3, 0.95, 1.0), (0.3, 5, 0.94, 1.0), (0.1, 7, 0.90, 1.0)]
    assert choose_penalty(none, min_relu=8)[0] == 1
    # among genuine rungs the best certified accuracy wins
    two = [(1.0, 9, 0.95, 1.0), (0.1, 20, 0.93, 1.0)]
    assert choose_penalty(two, min_relu=8)[0] == 0
    with pytest.raises(ValueError, match="tried"):
        choose_penalty([], min_relu=8)
