"""Pattern pricing (column generation), network-seeded patterns and the estimator's new
attributes (pricing, patterns, estimators; MATH.md section 8), on tiny data."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from robustbench_convex.baselines import train_sgd
from robustbench_convex.estimators import ConvexReLUClassifier
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.patterns import network_blocks, patterns_from_network
from robustbench_convex.pricing import (
    column_generation,
    dual_vector,
    fit_convex_network,
    price,
    solve_restricted,
)
from tests.convex_fixtures import xor_data

TIGHT = {"cvxpy_solver": "CLARABEL", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10}


def _solve(problem, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return solve_restricted(problem, solver="cvxpy", **TIGHT, **kw)


def test_pricing_finds_a_planted_missing_pattern():
    """Remove the largest block's pattern from the exact (all-pattern) program: the optimum rises,
    and pricing at the restricted solution (every other pattern present) returns exactly that
    pattern, with a violated dual constraint (value > beta)."""
    X, y = xor_data(n=16, seed=1)
    beta = 0.3
    D_all = ConvexReLUProblem(X, y, loss="squared", beta=beta, patterns="all").D
    full = _solve(ConvexReLUProblem(X, y, loss="squared", beta=beta, patterns=D_all))
    i = int(np.argmax(np.linalg.norm(full.V, axis=0) + np.linalg.norm(full.W, axis=0)))
    planted, others = D_all[:, i], np.delete(D_all, i, axis=1)
    restricted = _solve(ConvexReLUProblem(X, y, loss="squared", beta=beta, patterns=others))
    assert restricted.objective > full.objective + 1e-4
    Xa = np.hstack([X, np.ones((X.shape[0], 1))])
    cands = price(Xa, dual_vector(restricted), exclude=others, seed=0)
    assert cands.patterns.shape[1] == 1
    assert np.array_equal(cands.patterns[:, 0], planted)
    assert cands.values[0] > beta


@pytest.mark.parametrize(("loss", "solver"), [("squared", "ipm"), ("hinge", "cvxpy")])
def test_column_generation_never_increases_the_objective(loss, solver):
    X, y = xor_data(n=25, seed=2)
    problem = ConvexReLUProblem(X, y, loss=loss, beta=0.5, n_patterns=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = column_generation(problem, solver=solver, max_rounds=4, patterns_per_round=3)
    objectives = [r.objective for r in result.history]
    assert len(objectives) >= 2 and result.rounds >= 1
    assert all(b <= a * (1 + 1e-9) + 1e-12 for a, b in itertools.pairwise(objectives))
    assert objectives[-1] < objectives[0] - 1e-3  # pricing helped on this problem
    assert result.patterns_added >= 1
    assert result.solution.objective == pytest.approx(objectives[-1])


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
@pytest.mark.parametrize("seed", [0, 1])
def test_seeded_program_is_never_worse_than_its_seed_network(loss, seed):
    X, y = xor_data(n=30, seed=seed)
    net, record = train_sgd(X, y, width=6, loss=loss, weight_decay=0.3, epochs=80, seed=seed)
    problem = ConvexReLUProblem(X, y, loss=loss, beta=0.3, patterns=patterns_from_network(net, X))
    V, W = network_blocks(net, problem.Xa, problem.D)
    # the network is feasible for the program and no worse there (AM-GM, triangle inequality)
    assert problem.constraint_violation(V, W) == 0.0
    assert problem.convex_objective(V, W) <= record.objective + 1e-10
    solution = solve_restricted(problem, (V, W), solver="admm", max_iter=30)
    assert solution.objective <= record.objective + 1e-10  # even after a poor solve


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_estimator_objective_and_bound(loss):
    X, y = xor_data(n=30, seed=4)
    clf = ConvexReLUClassifier(
        loss=loss, beta=0.5, n_patterns=8, max_rounds=3, pattern_strategy="auto"
    ).fit(X, y)
    problem = ConvexReLUProblem(X, y, loss=loss, beta=clf.beta_)
    assert clf.objective_ == pytest.approx(problem.network_objective(clf.network_), rel=1e-10)
    info = clf.result_.info
    assert info["pattern_strategy"] == "network+pricing"
    assert info["bound_method"] == "enumeration"  # 2-D data: every pattern enumerable
    assert clf.global_lower_bound_ <= clf.objective_ + 1e-9
    assert clf.objective_ <= info["seed_objective"] + 1e-6
    for key in ("pricing_rounds", "patterns_added", "final_violation", "certified_gap"):
        assert key in info
    sampled = ConvexReLUClassifier(
        loss=loss, beta=0.5, bound="relaxation", pattern_strategy="sampled"
    ).fit(X, y)
    assert sampled.global_lower_bound_ <= sampled.objective_ + 1e-9


def test_fit_convex_network_closes_the_gap_on_enumerable_data():
    X, y = xor_data(n=30, seed=5)
    fit = fit_convex_network(X, y, loss="squared", beta=0.5, n_patterns=8, max_rounds=30)
    assert fit.bound.method == "enumeration"
    assert fit.bound.value <= fit.solution.objective + 1e-9
    assert fit.summary()["certified_gap"] <= 1e-3


def test_bad_strategy_is_named():
    X, y = xor_data(n=10)
    with pytest.raises(ValueError, match="strategy"):
        fit_convex_network(X, y, beta=1.0, strategy="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pattern_strategy"):
        ConvexReLUClassifier(pattern_strategy="magic").fit(X, y)


@pytest.mark.slow  # two fits on digits-2v8, about 40 s on a busy 2-core machine
def test_default_estimator_is_priced_and_beats_the_sampled_program():
    """The default ``ConvexReLUClassifier()`` (solver and pattern strategy "auto", 30 s pricing
    budget) on digits-2v8: network-seeded and priced patterns, converged, a lower training
    objective than the sampled program at the same beta, a valid bound, paper-level accuracy."""
    from sklearn.exceptions import ConvergenceWarning

    import robustbench_convex as rbc

    ds = rbc.load_dataset("digits-2v8")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = ConvexReLUClassifier().fit(ds.X_train, ds.y_train)
    sampled = ConvexReLUClassifier(pattern_strategy="sampled").fit(ds.X_train, ds.y_train)
    info = clf.result_.info
    assert info["pattern_strategy"] == "network+pricing" and clf.result_.status == "converged"
    assert clf.objective_ < sampled.objective_
    assert clf.objective_ <= info["seed_objective"] + 1e-6
    assert clf.global_lower_bound_ <= clf.objective_
    assert clf.score(ds.X_test, ds.y_test) >= 0.97


def test_time_limit_stops_the_loop_with_a_converged_incumbent():
    """A budget smaller than one solve: the loop stops on "time_limit" before starting a solve
    expected to overrun it, and returns the last converged restricted solution."""
    X, y = xor_data(n=40, seed=6)
    problem = ConvexReLUProblem(X, y, loss="squared", beta=0.5, n_patterns=4, seed=0)
    result = column_generation(problem, solver="ipm", max_rounds=50, time_limit=1e-3)
    assert result.stop_reason == "time_limit" and result.rounds == 0
    assert result.solution.status == "converged"
    assert result.final_violation > 1.0  # violated patterns were found, not added: budget spent
    # min_rounds (the "auto" budget's one round) runs only rounds expected to end within twice
    # the budget: a budget far below one solve still stops first
    tiny = column_generation(problem, solver="ipm", max_rounds=50, time_limit=1e-3, min_rounds=1)
    assert tiny.rounds == 0 and tiny.stop_reason == "time_limit"


def test_logistic_restricted_solve_is_certified_by_its_own_dual_bound():
    """The default CVXPY path for the logistic loss (Clarabel, which often ends on its reduced
    tolerances) records a Lagrange-dual lower bound: never above the tight optimum, and a
    "converged" answer is within CERTIFIED_GAP_TOL of it. An "inaccurate" answer far from the
    optimum is not promoted to "converged"; a nearly optimal one is."""
    from robustbench_convex.pricing import CERTIFIED_GAP_TOL, _self_certified

    X, y = xor_data(n=30, seed=4)
    problem = ConvexReLUProblem(X, y, loss="logistic", beta=0.2, n_patterns=8, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = solve_restricted(problem, solver="cvxpy")
    tight = _solve(problem)
    info = default.info
    assert info["lower_bound"] <= tight.objective + 1e-9
    assert default.status == "converged"
    assert default.objective <= tight.objective * (1 + CERTIFIED_GAP_TOL)
    assert info["certified_gap"] <= CERTIFIED_GAP_TOL
    near = _self_certified(problem, default.replace(status="inaccurate"))
    assert near.status == "converged" and "certified" in near.message
    far = default.replace(V=default.V * 0.5, W=default.W * 0.5, status="inaccurate")
    far = _self_certified(problem, far.replace(objective=problem.convex_objective(far.V, far.W)))
    assert far.status == "inaccurate" and far.info["certified_gap"] > CERTIFIED_GAP_TOL


def test_auto_pricing_budget_is_measured_in_seed_trainings():
    """time_limit="auto": 60 s where the exact oracle can end the loop (30 s without a seed network),
    AUTO_BUDGET_SEED_RUNS seed trainings elsewhere; numbers and None pass through; bad values
    are named before any work."""
    from robustbench_convex.pricing import (
        AUTO_BUDGET_SEED_RUNS,
        DEFAULT_TIME_LIMIT,
        EXACT_TIME_LIMIT,
        pricing_budget,
    )

    assert pricing_budget("auto", 0.8, exact=False) == pytest.approx(AUTO_BUDGET_SEED_RUNS * 0.8)
    assert pricing_budget("auto", 0.8, exact=True) == EXACT_TIME_LIMIT == 60.0
    assert pricing_budget("auto", None, exact=False) == DEFAULT_TIME_LIMIT
    assert pricing_budget(7.0, 0.8, exact=False) == 7.0
    assert pricing_budget(None, 0.8, exact=True) is None
    X, y = xor_data(n=12, seed=0)
    for bad in (0.0, -1.0, "fast", True):
        with pytest.raises(ValueError, match="time_limit"):
            fit_convex_network(X, y, beta=0.1, time_limit=bad)


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_facet_rows_give_the_same_program_on_2d_data(loss):
    """2-D data with biases: the sign constraints kept by _facet_rows (a few per block) cut out
    the same cones, so the program over them has the tight full program's optimum, its answer
    meets every constraint of the full program, and its certificate holds."""
    from robustbench_convex.pricing import _facet_rows
    from robustbench_convex.solvers.cvxpy_dual import solve_cvxpy_dual

    X, y = xor_data(n=40, seed=11)
    problem = ConvexReLUProblem(X, y, loss=loss, beta=0.1, n_patterns=10, seed=2)
    rows = _facet_rows(problem.Xa, problem.D)
    assert len(rows) == problem.P and max(len(r) for r in rows) < problem.n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reduced = solve_cvxpy_dual(problem, rows=rows, tol_gap_abs=1e-10, tol_gap_rel=1e-10)
    full = _solve(problem)
    assert reduced.objective == pytest.approx(full.objective, rel=1e-6)
    assert reduced.constraint_violation <= 1e-7
    default = solve_restricted(problem, solver="cvxpy")  # uses the facet rows
    assert default.status == "converged"
    assert default.info["lower_bound"] <= full.objective + 1e-9


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_ipm_on_facet_rows_solves_the_same_program_on_2d_data(loss):
    """solve_ipm(rows=...) keeps only the facet sign constraints (a few per block): the same
    program, so the same optimum as the tight full program, an answer that meets every
    constraint of the full program, and a certificate (lower bound) that holds for it;
    solve_restricted passes the facet rows by default on 2-D data with biases."""
    from robustbench_convex.pricing import _facet_rows, _facet_rows_cached
    from robustbench_convex.solvers.ipm import solve_ipm

    X, y = xor_data(n=40, seed=11)
    problem = ConvexReLUProblem(X, y, loss=loss, beta=0.1, n_patterns=10, seed=2)
    rows = _facet_rows(problem.Xa, problem.D)
    assert sum(len(r) for r in rows) < problem.n * problem.P / 2
    reduced = solve_ipm(problem, rows=rows, tol=1e-7)
    full = _solve(problem)
    assert reduced.status == "converged"
    assert reduced.objective == pytest.approx(full.objective, rel=1e-5, abs=1e-7)
    assert reduced.constraint_violation <= 1e-6
    assert reduced.info["lower_bound"] <= full.objective + 1e-9
    # the multipliers of the constraints left out are zero (they are not in the program)
    kept = np.zeros((problem.n, problem.P), dtype=bool)
    for i, r in enumerate(rows):
        kept[r, i] = True
    assert np.all(reduced.info["multipliers"][~np.hstack([kept, kept])] == 0)
    # the cache returns the same rows, also for a program sharing some of the blocks
    assert all(
        np.array_equal(a, b)
        for a, b in zip(_facet_rows_cached(problem.Xa, problem.D), rows, strict=True)
    )
    half = problem.D[:, ::2]
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            _facet_rows_cached(problem.Xa, half), _facet_rows(problem.Xa, half), strict=True
        )
    )
    default = solve_restricted(problem)  # the interior point on the facet rows, tol 1e-4
    assert default.status == "converged"
    assert full.objective - 1e-9 <= default.objective <= full.objective * (1 + 1e-4) + 1e-9
    # rows listing every sample is the whole program: the kept-rows operators (gathers and
    # scatters over the kept entries) agree with the dense ones iterate by iterate
    dense = solve_ipm(problem, tol=1e-7)
    every = solve_ipm(problem, rows=[np.arange(problem.n)] * problem.P, tol=1e-7)
    assert every.info["iterations"] == dense.info["iterations"]
    assert every.objective == pytest.approx(dense.objective, rel=1e-9)
    np.testing.assert_allclose(every.info["multipliers"], dense.info["multipliers"], atol=1e-7)
    with pytest.raises(ValueError, match="rows"):
        solve_ipm(problem, rows=rows[:-1])
    with pytest.raises(ValueError, match="rows"):
        solve_ipm(problem, rows=[np.array([problem.n]), *rows[1:]])


def test_auto_patterns_per_round_and_its_bad_values():
    from robustbench_convex.pricing import _patterns_per_round

    assert _patterns_per_round("auto", np.zeros((5, 0))) == 64  # every pattern enumerable
    assert _patterns_per_round("auto", None) == 16
    assert _patterns_per_round(7, None) == 7
    X, y = xor_data(n=12, seed=0)
    for bad in (0, 2.5, True, "many"):
        with pytest.raises(ValueError, match="patterns_per_round"):
            fit_convex_network(X, y, beta=0.1, patterns_per_round=bad)


def test_auto_seed_width_and_its_bad_values():
    from robustbench_convex.pricing import seed_width

    assert seed_width("auto", 3) == 32  # 2-D data with biases: every pattern enumerable
    assert seed_width("auto", 4) == 64  # 3 features with biases
    assert seed_width("auto", 16) == 64  # 15 features with biases: order 1024, still wide
    assert seed_width("auto", 17) == 32  # order 1088: the first program would be too large
    assert seed_width(7, 3) == 7
    assert seed_width(np.int64(7), 3) == 7  # numpy integers stay accepted
    X, y = xor_data(n=12, seed=0)
    for bad in (0, 2.5, True, "many"):
        with pytest.raises(ValueError, match="n_patterns"):
            fit_convex_network(X, y, beta=0.1, n_patterns=bad)
    fit = fit_convex_network(
        X, y, beta=0.1, n_patterns=np.int64(4), strategy="network", seed_networks=1,
        seed_epochs=10, bound="none",
    )  # fmt: skip
    assert fit.seed_network.width == 4


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_default_wide_seed_program_is_never_worse_than_its_seed(loss):
    X, y = xor_data(n=30, d=3, seed=3)  # 3 features: the wide seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_convex_network(
            X, y, loss=loss, beta=0.3, strategy="network", seed_networks=1, seed_epochs=60,
            bound="none",
        )  # fmt: skip
    assert fit.seed_network.width == 64  # n_patterns="auto" on 3 features
    # the seed network is feasible for the program over its own arrangement (rescaled,
    # patterns.network_blocks), so the program's answer is at most the seed's objective
    seed_objective = fit.solution.problem.network_objective(fit.seed_network)
    assert fit.seed_objective == pytest.approx(seed_objective)
    assert fit.solution.objective <= fit.seed_objective + 1e-10


def test_first_admm_solve_gets_at_most_the_loop_budget(monkeypatch):
    import robustbench_convex.pricing as pricing

    limits = []
    real = pricing.solve_restricted

    def spy(problem, warm_start=None, **options):
        limits.append(options.get("time_limit"))
        return real(problem, warm_start, **{**options, "max_iter": 20})

    monkeypatch.setattr(pricing, "solve_restricted", spy)
    X, y = xor_data(n=20, seed=1)
    problem = ConvexReLUProblem(X, y, loss="squared", beta=0.5, n_patterns=4, seed=0)
    column_generation(problem, solver="admm", max_rounds=1, time_limit=3.0)
    # the first (not only the re-solves) within the loop's 3 s, not ADMM_SOLVE_SECONDS (60 s)
    assert limits and all(t is not None and t <= 3.0 for t in limits)


def test_estimator_and_sweep_default_to_the_auto_seed_width():
    """``ConvexReLUClassifier(n_patterns="auto")`` (the default) and the sweep's priced methods
    (``n_patterns`` None) seed with ``pricing.seed_width``: 64 neurons on 3 features; an explicit
    int is kept; the sampled program keeps 32 patterns; a bad string is named before any work."""
    from types import SimpleNamespace

    from robustbench_convex import methods

    X, y = xor_data(n=30, d=3, seed=3)
    kw = {"loss": "squared", "beta": 0.3, "pattern_strategy": "network", "bound": "none"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = ConvexReLUClassifier(**kw).fit(X, y)
        explicit = ConvexReLUClassifier(n_patterns=8, **kw).fit(X, y)
        sampled = ConvexReLUClassifier(loss="squared", beta=0.3, pattern_strategy="sampled").fit(
            X, y
        )
    assert auto.n_patterns == "auto" and auto.result_.info["seed_width"] == 64
    assert auto.objective_ <= auto.result_.info["seed_objective"] + 1e-10
    assert explicit.result_.info["seed_width"] == 8
    assert 1 <= sampled.result_.problem.P <= 32  # DEFAULT_N_PATTERNS sampled (duplicates dropped)
    with pytest.raises(ValueError, match="n_patterns must be 'auto' or an int"):
        ConvexReLUClassifier(n_patterns="many").fit(X, y)
    settings = {
        **methods.get_method("convex-ipm").defaults(),
        "loss": "squared",
        "beta": 0.3,
        "bound": "none",
    }
    assert settings["n_patterns"] is None
    data = SimpleNamespace(X_train=X, y_train=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = methods._fit_priced(data, settings, 0, "ipm", "network")
    assert solution.info["seed_width"] == 64
    solution = methods._fit_priced(data, {**settings, "n_patterns": 8}, 0, "ipm", "network")
    assert solution.info["seed_width"] == 8


def test_no_pricing_round_is_spent_when_no_re_solve_can_follow():
    """``price_unusable=False`` (``fit_convex_network``'s setting without the exact oracle): a
    budget after which no re-solve fits ends the loop on "time_limit" before pricing (the
    violation is then not known: NaN, reported as None); the default prices as before; with
    the exact oracle the final pricing (the certificate) always runs."""
    X, y = xor_data(n=40, d=4, seed=6)
    problem = ConvexReLUProblem(X, y, loss="squared", beta=0.5, n_patterns=4, seed=0)
    skipped = column_generation(
        problem, solver="ipm", max_rounds=50, time_limit=1e-3, price_unusable=False
    )
    assert skipped.stop_reason == "time_limit" and skipped.rounds == 0
    assert np.isnan(skipped.final_violation) and skipped.history[-1].price_time == 0.0
    priced = column_generation(problem, solver="ipm", max_rounds=50, time_limit=1e-3)
    assert priced.final_violation > 1.0 and priced.history[-1].price_time > 0.0
    assert skipped.solution.objective == pytest.approx(priced.solution.objective)
    # a budget that fits re-solves: the loop prices and runs rounds as before
    roomy = column_generation(
        problem, solver="ipm", max_rounds=2, time_limit=60.0, price_unusable=False
    )
    assert roomy.rounds >= 1 and np.isfinite(roomy.final_violation)
    # with the exact oracle (2-D data): priced even with no time left (the final pricing may
    # certify the solution)
    X2, y2 = xor_data(n=30, seed=4)
    p2 = ConvexReLUProblem(X2, y2, loss="squared", beta=0.5, n_patterns=4, seed=0)
    exact = column_generation(
        p2, solver="ipm", max_rounds=50, time_limit=1e-3, price_unusable=False,
        exact_patterns=np.zeros((p2.n, 0)),
    )  # fmt: skip
    assert np.isfinite(exact.final_violation) and exact.history[-1].price_time > 0.0
    # fit_convex_network records the unknown violation as None and still bounds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_convex_network(
            X, y, loss="squared", beta=0.5, time_limit=1e-3, seed_networks=1, seed_epochs=30,
            bound="relaxation",
        )  # fmt: skip
    summary = fit.summary()
    assert summary["pricing_stop"] == "time_limit" and summary["final_violation"] is None
    assert fit.bound.value <= fit.solution.objective + 1e-9


def test_auto_seed_count_is_one_where_admm_solves_the_program():
    """seed_networks="auto": three seeds where the restricted programs are solved exactly (the
    interior point, CVXPY) and for hinge / logistic, one for the squared loss where they go to
    ADMM (MNIST-sized: 785 features) and where every pattern is enumerable (2-D data with
    biases: the exact oracle drives the loop); ints pass through; bad values are named before any work;
    the summary records the count."""
    from robustbench_convex.pricing import seed_count

    assert seed_count("auto", 31, 32, "squared") == 3  # breast-cancer: interior point
    assert seed_count("auto", 3, 32, "hinge") == 1  # 2-D data with biases: the exact oracle
    assert seed_count("auto", 785, 32, "squared") == 1  # mnist: ADMM
    # hinge / logistic: ADMM moves little from its seed, the best of three matters
    assert seed_count("auto", 785, 32, "logistic") == 3
    assert seed_count("auto", 785, 32, "hinge") == 3
    assert seed_count("auto", 31, 32, "squared", solver="admm") == 1
    assert seed_count("auto", 785, 32, "squared", solver="cvxpy") == 3
    assert seed_count(2, 785, 32, "squared") == 2
    X, y = xor_data(n=12, seed=0)
    for bad in (0, 1.5, "many", True):
        with pytest.raises(ValueError, match="seed_networks"):
            fit_convex_network(X, y, beta=0.1, seed_networks=bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_convex_network(X, y, beta=0.1, strategy="network", seed_epochs=20, bound="none")
    assert fit.summary()["seed_networks"] == 1  # 2-D data with biases (EXACT_SEED_NETWORKS)
    X4, y4 = xor_data(n=12, d=4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_convex_network(X4, y4, beta=0.1, strategy="network", seed_epochs=20, bound="none")
    assert fit.summary()["seed_networks"] == 3


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_exact_oracle_at_every_solution_and_the_certified_gap_stop(loss):
    """2-D data (every pattern enumerable): with ``always_exact`` the exact oracle prices at
    every solution (its certified M is known at each), and ``gap_tol`` stops the loop as soon
    as the any-width bound at a solution proves it within ``gap_tol``; that bound is <= the
    optimum of the exact (all-pattern) program, and the objective never increases. Without
    ``gap_tol`` the same loop runs at least as many rounds."""
    from robustbench_convex.global_bound import certified_gap, global_lower_bound

    X, y = xor_data(n=24, seed=9)
    beta = 0.2
    exact_opt = _solve(ConvexReLUProblem(X, y, loss=loss, beta=beta, patterns="all")).objective
    problem = ConvexReLUProblem(X, y, loss=loss, beta=beta, n_patterns=3, seed=1)
    every = np.zeros((problem.n, 0))
    options = {"solver": "cvxpy", "max_rounds": 30, "patterns_per_round": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stopped = column_generation(
            problem, exact_patterns=every, always_exact=True, gap_tol=0.02, **options
        )
        full = column_generation(problem, exact_patterns=every, always_exact=True, **options)
    assert stopped.stop_reason in ("certified gap", "no violation (exact)")
    assert stopped.M_upper is not None
    bound = global_lower_bound(
        X, y, stopped.theta, loss=loss, beta=beta, M_upper=stopped.M_upper
    ).value
    assert bound <= exact_opt + 1e-7
    assert certified_gap(stopped.solution.objective, bound) <= 0.02
    assert stopped.rounds <= full.rounds
    assert full.stop_reason == "no violation (exact)"
    assert full.solution.objective <= exact_opt * (1 + 2e-3) + 1e-9
    for result in (stopped, full):
        objectives = [r.objective for r in result.history]
        assert all(b <= a * (1 + 1e-9) + 1e-12 for a, b in itertools.pairwise(objectives))
        # the exact oracle ran at every solution: its best value is never below the heuristic's
        assert all(np.isfinite(r.violation) for r in result.history)


def test_facet_rows_without_an_lp_equal_the_lp_ones():
    """2-D points with biases: _facet_rows finds a strictly interior direction of each cell as a
    separating line between the hulls of the on and the off points (no LP), and gets the same
    facet rows as the LP path (the same data scaled by 2: the same cones, no ones column), also
    for the all-on and all-off patterns; _separating_direction's direction is strictly inside."""
    from robustbench_convex.pricing import _facet_rows, _separating_direction

    X, y = xor_data(n=60, seed=12)
    problem = ConvexReLUProblem(X, y, loss="hinge", beta=0.1, n_patterns=30, seed=4)
    D = np.hstack([problem.D, np.ones((60, 1)), np.zeros((60, 1))])
    Xa = problem.Xa
    fast, lp = _facet_rows(Xa, D), _facet_rows(2.0 * Xa, D)
    assert all(np.array_equal(a, b) for a, b in zip(fast, lp, strict=True))
    for i in range(D.shape[1]):
        found = _separating_direction(Xa, D[:, i] > 0.5)
        if found is not None:
            u, candidates = found
            assert np.all((2.0 * D[:, i] - 1.0) * (Xa @ u) > 0)
            assert set(fast[i]) <= set(candidates)
