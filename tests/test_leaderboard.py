"""The report's summary: Clopper-Pearson intervals on known counts, "robust against all" as a
point-wise AND, the headline eps, the "unreliable" mark of a failed sanity check, and an
end-to-end sweep with real ADMM, IPM, CVXPY and certified robust cells going through the report."""

from __future__ import annotations

import copy
import json
import math
import re

import numpy as np
import pytest
from sweep_fixtures import tiny

from robustbench_convex.evaluation import encode_mask
from robustbench_convex.execution import run_sweep
from robustbench_convex.leaderboard import (
    Estimate,
    binomial_interval,
    headline_eps,
    summarize,
)
from robustbench_convex.report import load_results, write_report
from robustbench_convex.sweep import parse_config


# ------------------------------------------------------------------------------ intervals
@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        # closed forms: k = 0 -> hi = 1 - (alpha/2)^(1/n); k = n -> lo = (alpha/2)^(1/n)
        (0, 10, 0.0, 1 - 0.025 ** (1 / 10)),
        (10, 10, 0.025 ** (1 / 10), 1.0),
        (0, 30, 0.0, 1 - 0.025 ** (1 / 30)),
        # k = 1: P(X >= 1) = 1 - (1 - p)^n = alpha/2; k = n - 1: P(X <= n - 1) = 1 - p^n = alpha/2
        (1, 30, 1 - 0.975 ** (1 / 30), None),
        (29, 30, None, 0.975 ** (1 / 30)),
        # the textbook value for 5 of 10 (symmetric)
        (5, 10, 0.187086, 0.812914),
    ],
)
def test_clopper_pearson_on_known_counts(k, n, lo, hi):
    a, b = binomial_interval(k, n)
    if lo is not None:
        assert a == pytest.approx(lo, abs=1e-6)
    if hi is not None:
        assert b == pytest.approx(hi, abs=1e-6)


def test_interval_properties_and_bad_input():
    from scipy.stats import binomtest

    for k, n in [(1, 7), (29, 30), (12, 40)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert binomial_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
        lo, hi = binomial_interval(k, n)
        assert lo < k / n < hi
    # more points, narrower interval around the same rate
    assert np.diff(binomial_interval(20, 40)) < np.diff(binomial_interval(5, 10))
    for bad in [(-1, 5), (6, 5), (0, 0)]:
        with pytest.raises(ValueError):
            binomial_interval(*bad)
    assert Estimate(3, 4).text().startswith("0.750 [0.19, 0.99]")


def test_headline_eps_is_the_training_eps_when_on_the_grid():
    assert headline_eps([0.05, 0.1, 0.2], [0.05], [0.1, 0.1, 0.2]) == (0.1, "the training eps")
    eps, why = headline_eps([0.05, 0.1, 0.2], [0.05, 0.2], [0.3])
    assert eps == 0.2 and "middle verified" in why
    assert headline_eps([0.05, 0.1, 0.2], None, [])[0] == 0.1
    # the training radius of every adversarially / certifiably trained method (IBP included)
    from robustbench_convex.leaderboard import _train_eps

    for key in ("pgd-at", "fgsm-at", "ibp", "crown-ibp", "convex-robust-class-aware"):
        assert _train_eps({"eps": 0.1}, key) == 0.1
    assert _train_eps({"width": 8}, "sgd") is None


# ------------------------------------------------------------------------ per-point logic
def _payload(method, seed, points, sanity=(), status="completed", records=None):
    n = len(points["clean"])
    recs = records or [
        {
            "attack": "clean",
            "eps": 0.0,
            "n_eval": n,
            "clean_acc": float(np.mean(points["clean"])),
            "robust_acc": float(np.mean(points["clean"])),
            "sandwich_ok": None,
        },
    ]
    for a, m in points.items():
        if a in ("pgd", "fgsm"):
            recs.append(
                {
                    "attack": a,
                    "eps": 0.1,
                    "n_eval": n,
                    "clean_acc": 0.0,
                    "robust_acc": float(np.mean(m)),
                    "sandwich_ok": None,
                }
            )
    pts = [{"attack": "clean", "eps": 0.0, "n": n, "robust": encode_mask(points["clean"])}]
    for a, m in points.items():
        if a == "clean":
            continue
        entry = {"attack": a, "eps": 0.1, "n": len(m), "robust": encode_mask(m)}
        if a == "exact":
            entry["refuted"] = encode_mask(points["refuted"])
        if a != "refuted":
            pts.append(entry)
    return {
        "status": "ok",
        "cell": {
            "dataset": {"name": "d"},
            "seed": seed,
            "method": {
                "name": method,
                "method": method,
                "kind": "baseline",
                "settings": {"eps": 0.1} if method == "pgd-at" else {},
            },
        },
        "training": {  # a records.TrainingInfo
            "method": method,
            "kind": "baseline",
            "status": status,
            "raw_status": status,
            "solver_kind": "torch",
            "is_certificate": False,
            "collapsed": False,
            "train_acc": 1.0,
            "width": 4,
            "n_active": 4,
            "time": 1.0,
            "solver": "x",
            "program": method,
            "nominal_objective": 2.0,
            "objective": 2.0,
        },
        "records": recs,
        "points": pts,
        "sanity": list(sanity),
    }


def test_robust_against_all_is_the_pointwise_and_and_a_sanity_fail_marks_unreliable():
    t, f = True, False
    clean = np.array([t, t, t, t, t, f])
    pgd = np.array([t, t, f, t, f, f])
    fgsm = np.array([t, f, t, t, f, f])  # breaks a point PGD missed
    exact = np.array([t, f, f])  # on the first 3 points
    refuted = np.array([f, f, f])  # point 1 undecided: not a counterexample
    p = _payload(
        "pgd-at",
        0,
        {"clean": clean, "pgd": pgd, "fgsm": fgsm, "exact": exact, "refuted": refuted},
        sanity=[
            {
                "check": "doubling steps and restarts changes little",
                "passed": False,
                "detail": "0.033",
                "eps": 0.1,  # a records.SanityRow
                "n": 6,
            }
        ],
    )
    q = _payload("sgd", 0, {"clean": clean, "pgd": pgd, "fgsm": pgd})
    [s] = summarize([p, q], ["d"], ["pgd-at", "sgd"], {"d": ([0.1], [0.1])})
    assert s.eps == 0.1 and s.eps_reason == "the training eps"
    rows = {r.method: r for r in s.rows}
    assert rows["pgd-at"].all_attacks == Estimate(2, 6)  # points 0 and 3
    assert rows["pgd-at"].pgd == Estimate(3, 6)
    assert rows["sgd"].all_attacks == Estimate(3, 6)
    assert [r.method for r in s.rows] == ["sgd", "pgd-at"]  # ranked by robust vs all
    assert rows["pgd-at"].unreliable and "sanity FAIL" in rows["pgd-at"].unreliable[0]
    assert not rows["sgd"].unreliable
    assert any("unreliable" in x.lower() for x in s.sentences)
    # a refuted point is removed; an undecided one is not
    p2 = copy.deepcopy(p)
    next(x for x in p2["points"] if x["attack"] == "exact")["refuted"] = encode_mask([t, f, f])
    [s2] = summarize([p2], ["d"], ["pgd-at"], {"d": ([0.1], [0.1])})
    assert s2.rows[0].all_attacks == Estimate(1, 6)


# ------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """Real cells: ADMM, the interior point and CVXPY on the same sampled program, the certified
    class-aware robust program (hinge), PGD-AT and SGD; sanity checks on."""
    raw = tiny()
    raw["method_defaults"] = {"beta": 1e-2, "loss": "squared"}
    raw["methods"] = [
        {
            "name": "admm",
            "method": "convex-admm",
            "n_patterns": 8,
            "max_iter": 150,
            "history_every": 5,
        },
        {"name": "ipm", "method": "convex-ipm", "n_patterns": 8},
        {"name": "cvxpy", "method": "convex-cvxpy", "n_patterns": 8},
        {
            "name": "robust",
            "method": "convex-robust-class-aware",
            "loss": "hinge",
            "n_patterns": 6,
            "eps": 0.05,
        },
        {"name": "pgd-at", "method": "pgd-at", "width": 6, "epochs": 20, "eps": 0.05},
        {"name": "sgd", "method": "sgd", "width": 6, "epochs": 20, "seeds": [0, 1]},
    ]
    raw["evaluation"].update(exact_max_points=6, sanity="first-seed", sanity_max_points=10)
    out = tmp_path_factory.mktemp("e2e")
    summary = run_sweep(parse_config(raw), out)
    assert not summary.failed, [p for p in summary.failed]
    return out, write_report(out)


def test_end_to_end_report_summary_first_with_every_cell(e2e):
    _, paths = e2e
    md = paths["md"].read_text()
    assert md.index("## Summary") < md.index("## Data set")
    [s] = paths["summary"]
    assert s.eps == 0.05 and s.eps_reason == "the training eps"
    rows = {r.method: r for r in s.rows}
    assert set(rows) == {"admm", "ipm", "cvxpy", "robust", "pgd-at", "sgd"}
    assert rows["sgd"].seeds == 2 and rows["sgd"].clean.n == 2 * 24  # pooled over seeds
    assert rows["robust"].is_certificate and rows["robust"].train_eps == 0.05
    assert rows["robust"].certified_train_acc is not None
    assert rows["pgd-at"].train_eps == 0.05 and rows["ipm"].train_eps is None
    assert rows["ipm"].solver == "IPM" and rows["cvxpy"].solver not in ("IPM", "ADMM")
    for r in s.rows:
        # the sandwich on every row: LP <= exact; robust vs all <= PGD <= clean
        assert r.lp.k <= r.exact.k
        assert r.all_attacks.k <= r.pgd.k <= r.clean.k
        if r.loss == "squared":  # SGD's objective: the ratio is shown
            assert r.objective_ratio == pytest.approx(r.objective / s.best_sgd_objective)
        else:  # another loss: no ratio between different objectives
            assert r.objective_ratio is None
    # the summary table in the Markdown has a row per method with its interval and status
    table = md.split("## Summary", 1)[1].split("## Data set", 1)[0]
    for name in rows:
        line = next(x for x in table.splitlines() if re.match(rf"\| \d+ \| {name}\b", x))
        assert re.search(r"\d\.\d{3} \[\d\.\d\d, \d\.\d\d\]", line)
    robust_line = next(x for x in table.splitlines() if "| robust |" in x)
    assert "certificate" in robust_line and "| 0.05 |" in robust_line
    assert "±" not in table  # no mean +- std in the summary
    assert "Clopper-Pearson" in md and "MATH.md" in md
    assert len(s.sentences) >= 2 and s.sentences[0].startswith("On synthetic-xor at eps = 0.05")


def test_end_to_end_html_is_one_self_contained_file(e2e):
    _, paths = e2e
    page = paths["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and "figures/" not in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(paths["figures"])
    assert '<table class="summary">' in page and page.index("Summary") < page.index("Data set:")
    assert "<script" not in page  # nothing to execute, nothing fetched
    assert {p.name for p in paths["figures"]} >= {
        "clean_vs_certified.png",
        "admm_convergence.png",
        "robust_accuracy_synthetic-xor.png",
    }


def test_a_sanity_fail_marks_the_row_unreliable_in_the_report(e2e, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(e2e[0], out)
    cell = next(
        p
        for p in (out / "cells").glob("*.json")
        if json.loads(p.read_text())["cell"]["method"]["name"] == "ipm"
    )
    payload = json.loads(cell.read_text())
    assert payload["sanity"], "sanity checks ran on the first seed"
    assert all(r["passed"] for r in payload["sanity"])  # the real checks pass...
    payload["sanity"][0]["passed"] = False  # ...a failure is injected to see it carried
    cell.write_text(json.dumps(payload))
    paths = write_report(out)
    [s] = paths["summary"]
    marked = [r.method for r in s.rows if r.unreliable]
    assert marked == ["ipm"]
    table = paths["md"].read_text().split("## Summary", 1)[1].split("## Data set", 1)[0]
    line = next(x for x in table.splitlines() if "| ipm |" in x)
    assert "UNRELIABLE" in line and payload["sanity"][0]["check"] in line
    others = [x for x in table.splitlines() if re.match(r"\| \d+ \|", x) and "| ipm |" not in x]
    assert others and all("UNRELIABLE" not in x for x in others)
    assert "(unreliable)" not in s.sentences[0] or s.rows[0].method == "ipm"


def test_admm_gap_reference_is_the_interior_point_optimum(e2e):
    from robustbench_convex.report import _admm_runs

    res = load_results(e2e[0])
    [run] = _admm_runs(res)
    ipm = [p["training"] for p in res.payloads if p["cell"]["method"]["name"] in ("ipm", "cvxpy")]
    keys = {t["problem_key"] for t in ipm}
    assert len(keys) == 1  # the same sampled program
    assert run["pstar"] == pytest.approx(min(t["objective"] for t in ipm))
    assert math.isfinite(run["pstar"])


def _info(**extra):
    from robustbench_convex.records import TrainingInfo

    base = dict(
        method="m",
        kind="convex",
        objective=10.0,
        nominal_objective=10.0,
        status="max_iter",
        raw_status="max_iter",
        solver="ADMM",
        solver_kind="admm",
        time=1.0,
        program="nominal",
        is_certificate=False,
        n_active=4,
        width=4,
        collapsed=False,
        train_acc=1.0,
    )
    return TrainingInfo(**{**base, **extra})


def test_opt_gap_is_the_gap_to_a_global_bound_only():
    from robustbench_convex.global_bound import certified_gap
    from robustbench_convex.leaderboard import _gap

    # ADMM's gap to its own sampled program's optimum (negative when the recovered network
    # leaves the program's patterns) certifies nothing about other networks: not an opt. gap
    assert _gap(_info(certified_gap=-4.9e-3)) is None
    # a global lower bound: the gap is global_bound.certified_gap's (objective - bound) / objective
    priced = _info(global_lower_bound=0.86, certified_gap=0.914)
    assert _gap(priced) == pytest.approx(certified_gap(10.0, 0.86))
    assert _gap(_info(global_lower_bound=10.0)) == 0.0
