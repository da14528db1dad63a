"""Robust convex training (MATH.md section 6) against standard training, PGD-AT and FGSM-AT.

For every data set, seed and training eps (``--train-eps``), each method is trained once (the
baselines at the convex program's maximal width 2P, with the same loss and weight decay
``beta = 1e-3 n``) and evaluated at every evaluation eps (``--eps``) on the test set
(``--matched``: only at its training eps):

- clean accuracy and PGD robust accuracy (50 steps, 2 restarts) on the whole test set;
- exact robust accuracy (``attacks.exact``, MILP, "decide" mode) and LP-certified accuracy
  (``attacks.lp_certify``) on the first ``--n-exact`` test points;
- for the convex programs: which program, whether its claim is a certificate, active / ReLU /
  zero blocks (and with ``--forced`` the blocks the hard constraints force to zero), collapse,
  certified training accuracy at the training eps, and (``--check-train k``) the certified
  margins of k training points checked against the exact MILP (``violations`` must be 0).

Programs (``--methods``): ``R`` certified (R) with "gaps+ones" patterns; ``Rx`` relaxed with
Gaussian patterns (certifies nothing); ``Rc`` class-aware (Rc) with "class-aware+ones" patterns,
hard stability; ``Rc-soft`` the same with soft stability (``--lam``); ``Rc-soft-pgd`` soft (Rc)
seeded with the class-aware split of the activation patterns of the PGD-AT network (plus its
Gaussian class-aware patterns); ``Rc-ibp`` soft (Rc) seeded with the class-aware split of the
patterns of the most important neurons of a width-2P IBP-trained network, as many as stay
within ``P + P // 4 + 1`` patterns (``robust_patterns.network_seeded_patterns`` /
``default_max_patterns``: the
default of ``ConvexReLUClassifier(robust_eps=...)`` and of the sweep's class-aware method,
certifying the unclipped l_inf ball); ``Rc-ibp-box`` the same certifying the ball clipped to the
data set's input bounds (``ConvexReLUProblem(lower=, upper=)``, the threat model of the
baselines and of the exact / LP / PGD evaluation); ``Rc-ibp-own`` what
``ConvexReLUClassifier(robust_eps=..., input_bounds=(lower, upper))`` does: a first rung with
the seed's own patterns (not split by class) with their neurons' output signs, one block each
(``robust_patterns.signed_own_patterns``) on the clipped
ball, loss ``0.5 robust + 0.5 nominal`` at penalty 0.5 (``robust_patterns.own_rung``), then, while fewer than 8 ReLU units, the class-split ladder of ``Rc-ibp``
(``robust_patterns.solve_rungs``); baselines ``standard``, ``pgd-at``, ``fgsm-at`` and certified training ``ibp``, ``crown-ibp``
(``baselines.train_ibp`` / ``train_crown_ibp``), all at width 2P with their default schedules.
The Markdown ends with the issue's targets for the default certified program
(``DEFAULT_CONVEX``; met / missed with the numbers).

Default (modest): 1 seed, trained at eps 0.1, evaluated at eps 0.05 / 0.1 / 0.2, P = 16, exact
on 100 test points. Every torch computation runs on one thread (``torch.set_num_threads(1)``). Train at every eps: ``--train-eps 0.05 0.1 0.2 --matched``. Rows are appended to ``<out>.csv`` as they finish (``--resume`` skips rows already there),
and ``<out>.md`` is rewritten from the CSV at the end.

    python benchmarks/robust_vs_pgd_at.py                       # the default run
    python benchmarks/robust_vs_pgd_at.py --datasets digits-2v8 --eps 0.1 --methods Rc Rc-soft pgd-at
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import attacks  # noqa: E402
from robustbench_convex import robust as rb  # noqa: E402
from robustbench_convex.baselines import (  # noqa: E402
    train_crown_ibp,
    train_fgsm_at,
    train_ibp,
    train_pgd_at,
    train_sgd,
)
from robustbench_convex.data import load_dataset  # noqa: E402
from robustbench_convex.formulations import ConvexReLUProblem  # noqa: E402
from robustbench_convex.patterns import class_aware_patterns, patterns_from_network  # noqa: E402
from robustbench_convex.robust_patterns import (  # noqa: E402
    DEFAULT_PENALTY_LADDER,
    default_max_patterns,
    network_seeded_patterns,
    own_rung,
    signed_own_patterns,
    solve_rungs,
)
from robustbench_convex.solution import CollapseWarning  # noqa: E402
from robustbench_convex.solvers.admm import solve_admm  # noqa: E402
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy  # noqa: E402

DATASETS = ("digits-2v8", "breast-cancer", "mnist-2v8-t10k")
CONVEX = {
    # name: (robust program, pattern sampler, soft stability)
    "R": ("certified", "gaps+ones", False),
    "Rx": ("relaxed", "gaussian", False),
    "Rc": ("class-aware", "class-aware+ones", False),
    "Rc-soft": ("class-aware", "class-aware+ones", True),
    "Rc-soft-pgd": ("class-aware", "pgd-at network", True),
    "Rc-ibp": ("class-aware", "ibp network", True),
    "Rc-ibp-box": ("class-aware", "ibp network", True),
    "Rc-ibp-own": ("class-aware", "ibp network", True),
}
# the IBP-seeded variants (all with the defaults' penalty ladder): whether the seed's patterns are
# split by class (robust_patterns.network_seeded_patterns(class_split=...)) and whether the
# program certifies the ball clipped to the data set's input bounds (ConvexReLUProblem(lower=,
# upper=), the threat model of the exact / LP / PGD evaluation) or the unclipped ball
SEEDED = {
    "Rc-ibp": {"own_rung": False, "bounds": False},
    "Rc-ibp-box": {"own_rung": False, "bounds": True},
    # first rung: the seed's own signed patterns (robust_patterns.signed_own_patterns) on the clipped ball, clean
    # weight 0.5 and penalty 0.5 (robust_patterns.own_rung); then, while fewer than 8 ReLU units, the class-split ladder of Rc-ibp
    "Rc-ibp-own": {"own_rung": True, "bounds": False},
}
# what ConvexReLUClassifier(robust_eps=..., input_bounds=(lower, upper)) does, given the bounds
# every baseline and attack of this benchmark gets; Rc-ibp: the same without input_bounds (the
# estimator's and the sweep's bound-less default); the targets are reported for both
DEFAULT_CONVEX = "Rc-ibp-own"
TARGET_METHODS = ("Rc-ibp-own", "Rc-ibp")
BASELINES = ("standard", "pgd-at", "fgsm-at", "ibp", "crown-ibp")
DEFAULT_METHODS = (
    "standard", "pgd-at", "fgsm-at", "ibp", "crown-ibp", "Rc", "Rc-soft", "Rc-ibp", "Rc-ibp-own",
)  # fmt: skip
COLUMNS = [
    "dataset", "seed", "train_eps", "eps", "method", "program", "is_certificate", "n_train", "d", "loss",
    "beta", "n_patterns", "lam", "P", "solver", "status", "train_time", "objective", "n_active",
    "n_relu_active", "n_zero_blocks", "n_forced_zero", "collapsed", "collapse_warning",
    "n_certified_train_points", "certified_train_acc", "cert_checked", "cert_violations",
    "pattern_time", "compile_time", "solve_time", "solver_iterations", "penalties_tried", "penalty_choice",
    "cert_min_gap", "clean_acc", "pgd_acc", "n_exact", "exact_acc", "exact_undecided",
    "lp_cert_acc", "pgd_acc_on_exact_points", "exact_time", "host",
]  # fmt: skip


def load(name: str, seed: int, data_dir: str):
    if name == "mnist-2v8-t10k":
        return load_dataset(name, seed=seed, data_dir=data_dir, downsample=3, download=False)
    return load_dataset(name, seed=seed)


def _pgd_at(ds, eps: float, args, seed: int, cache: dict):
    """PGD-AT network (trained once per data set, seed and eps): (net, record, seconds)."""
    key = (ds.name, seed, eps)
    if key not in cache:
        t0 = time.perf_counter()
        net, rec = train_pgd_at(
            ds.X_train, ds.y_train, eps=eps, lower=ds.lower, upper=ds.upper,
            width=2 * args.n_patterns, loss=args.loss, weight_decay=args.beta_per_n * ds.n_train,
            seed=seed, epochs=args.epochs, num_threads=1,
        )  # fmt: skip
        cache[key] = (net, rec, time.perf_counter() - t0)
    return cache[key]


def train(method: str, ds, eps: float, args, seed: int, cache: dict) -> dict[str, Any]:
    """Train one method; returns the network and a row of training facts."""
    X, y = ds.X_train, ds.y_train
    n = len(y)
    beta = args.beta_per_n * n
    width = 2 * args.n_patterns
    row: dict[str, Any] = {"beta": beta}
    t0 = time.perf_counter()
    if method in BASELINES:
        common = dict(width=width, loss=args.loss, weight_decay=beta, seed=seed,
                      epochs=args.epochs, num_threads=1)  # fmt: skip
        rec = None
        if method == "standard":
            net, rec = train_sgd(X, y, **common)
        elif method == "pgd-at":
            net, rec, seconds = _pgd_at(ds, eps, args, seed, cache)
            t0 = time.perf_counter() - seconds  # cached: report its own training time
        else:
            trainer = {"fgsm-at": train_fgsm_at, "ibp": train_ibp, "crown-ibp": train_crown_ibp}
            net, rec = trainer[method](X, y, eps=eps, lower=ds.lower, upper=ds.upper, **common)
        row.update(program=method if method in ("ibp", "crown-ibp") else "sgd",
                   is_certificate=False, solver="adam", status=rec.status,
                   n_active=net.n_active(), n_relu_active=net.n_active(),
                   certified_train_acc=np.nan if rec.certified_train_accuracy is None
                   else rec.certified_train_accuracy)  # fmt: skip
        row["train_time"] = time.perf_counter() - t0
        return {"net": net, "row": row}

    program, sampler, soft = CONVEX[method]
    Xa = np.hstack([X, np.ones((n, 1))])
    source = None
    bounds: dict[str, Any] = {}
    if sampler == "ibp network":  # the default: robust_patterns.network_seeded_patterns
        seeded = network_seeded_patterns(
            X, y, eps=eps, n_patterns=args.n_patterns, strategy="ibp", lower=ds.lower,
            upper=ds.upper, loss=args.loss, beta=beta, seed=seed,
        )  # fmt: skip
        if SEEDED[method]["bounds"]:
            bounds = {"lower": ds.lower, "upper": ds.upper}
        patterns: Any = seeded.D
        source = seeded.source
        row["pattern_time"] = seeded.seconds
    elif sampler == "pgd-at network":
        at_net, _, seconds = _pgd_at(ds, eps, args, seed, cache)
        t0 -= seconds  # the seeding network's training time counts
        D_net = patterns_from_network(at_net, X, class_aware=True, y=y, add_ones=True)
        patterns = np.unique(
            np.hstack([D_net, class_aware_patterns(Xa, y, args.n_patterns, seed)]), axis=1
        )
    else:
        patterns = sampler

    def build(lam: float | None, D: Any = None, box: dict | None = None) -> ConvexReLUProblem:
        problem = ConvexReLUProblem(
            X, y, loss=args.loss, beta=beta, n_patterns=args.n_patterns,
            patterns=patterns if D is None else D, robust_eps=eps, robust=program,
            stability_penalty=lam, seed=seed, **(bounds if box is None else box),
        )  # fmt: skip
        if source is not None:
            problem.pattern_source = source if D is None else f"{source}-own"
        return problem

    def solve(problem: ConvexReLUProblem):
        if args.solver == "admm":
            return solve_admm(problem, max_iter=args.admm_iter, history_every=50)
        return solve_cvxpy(problem)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollapseWarning)
        warnings.filterwarnings("ignore", message=".*CPP backend.*")
        if method in SEEDED:  # the defaults' penalty ladder (robust_patterns)
            rungs = [(f"{p:g}", p, (lambda p=p: build(p))) for p in DEFAULT_PENALTY_LADDER]
            if SEEDED[method]["own_rung"]:  # robust_patterns.own_rung: clean weight 0.5
                own, signs = signed_own_patterns(
                    seeded.net, X, default_max_patterns(args.n_patterns)
                )
                rungs.insert(0, own_rung(
                    X, y, own, loss=args.loss, beta=beta, eps=eps, lower=ds.lower,
                    upper=ds.upper, seed=seed, source=f"{source}-own", output_signs=signs,
                ))  # fmt: skip
            fit = solve_rungs(rungs, solve)
            sol = fit.solution
            row["lam"] = fit.penalty
            row["penalties_tried"] = ";".join(
                f"{'own-' if lab.startswith('own') else ''}{p:g}:{r}:{c:.3f}"
                for lab, (p, r, c, _) in zip(fit.labels, fit.tried, strict=True)
            )  # [own-]penalty:ReLU units:certified training accuracy
            row["penalty_choice"] = fit.reason
        else:
            sol = solve(build(args.lam if soft else None))
    problem = sol.problem
    row["train_time"] = time.perf_counter() - t0
    diag = rb.diagnose(sol, forced=args.forced)
    row.update(
        program=sol.program, is_certificate=sol.is_certificate, solver=sol.solver,
        status=sol.status, P=problem.P, n_active=diag.n_active, n_relu_active=diag.n_relu_active,
        n_zero_blocks=diag.n_zero_blocks, n_forced_zero=diag.n_forced_zero,
        collapsed=diag.collapsed, collapse_warning=any(
            issubclass(w.category, CollapseWarning) for w in caught),
        n_certified_train_points=diag.n_certified_points,
        certified_train_acc=diag.certified_train_accuracy if sol.is_certificate else np.nan,
        objective=sol.objective, compile_time=sol.info.get("compile_time"),
        solve_time=sol.info.get("solve_time"), solver_iterations=sol.info.get("iterations"),
    )  # fmt: skip
    if sol.is_certificate and args.check_train > 0 and not diag.collapsed:
        certified = np.flatnonzero(rb.certified_margins(sol) > 0)
        rng = np.random.default_rng(seed)
        pick = rng.choice(certified, size=min(args.check_train, certified.size), replace=False)
        frame = rb.check_certificates(sol, points=np.sort(pick), time_limit=args.exact_time_limit)
        row["cert_checked"] = len(frame)
        row["cert_violations"] = int((~frame["ok"]).sum())
        row["cert_min_gap"] = float(frame["gap"].min()) if len(frame) else np.nan
    return {"net": rb.pruned_network(sol), "row": row}


def evaluate(net, ds, eps: float, args, seed: int) -> dict[str, Any]:
    Xt, yt = ds.X_test, ds.y_test
    out: dict[str, Any] = {"clean_acc": float(np.mean(net.predict(Xt) == yt))}
    if net.width == 0:  # the zero network: every margin is 0, nothing is correct
        out.update(pgd_acc=0.0, exact_acc=0.0, lp_cert_acc=0.0, n_exact=min(args.n_exact, len(yt)))
        return out
    pgd = attacks.PGD(eps, steps=50, restarts=args.pgd_restarts, lower=ds.lower, upper=ds.upper,
                      seed=seed)  # fmt: skip
    out["pgd_acc"], mask = attacks.robust_accuracy(net, Xt, yt, pgd, return_mask=True)
    k = min(args.n_exact, len(yt))
    out["pgd_acc_on_exact_points"] = float(mask[:k].mean())
    # counterexamples for "decide" mode come cheap from a short PGD; the MILP settles the rest
    quick = attacks.PGD(eps, steps=20, lower=ds.lower, upper=ds.upper, seed=seed)
    t0 = time.perf_counter()
    ex = attacks.exact(net, Xt[:k], yt[:k], eps, ds.lower, ds.upper, mode="decide", attack=quick,
                       time_limit=args.exact_time_limit)  # fmt: skip
    out["exact_acc"] = ex.robust_accuracy
    out["exact_undecided"] = int((~ex.decided).sum())
    out["exact_time"] = time.perf_counter() - t0
    out["lp_cert_acc"] = attacks.lp_certify(net, Xt[:k], yt[:k], eps, ds.lower,
                                            ds.upper).certified_accuracy  # fmt: skip
    out["n_exact"] = k
    return out


def write_markdown(csv: Path, md: Path, command: str, note: str | None = None) -> None:
    df = pd.read_csv(csv)
    used = sorted(set(df.loc[df["program"] != "sgd", "solver"].dropna()))
    convex_solvers = " / ".join(used) if used else "no convex solver"
    lines = [
        "# Robust convex training vs PGD-AT / FGSM-AT / standard training",
        "",
        f"Generated by `{command}` ({convex_solvers} for the convex programs; Adam for the "
        "baselines; HiGHS for the exact MILP). Each model is trained once per training eps (the "
        "robust programs' robust_eps, the baselines' attack radius) and evaluated at every "
        "evaluation eps. clean / pgd: whole test set (PGD 50 steps, --pgd-restarts restarts); exact / lp: the first "
        "n_exact test points (exact = MILP worst case, lp = LP-relaxation certificate). "
        "cert_train: fraction of training points with a certified margin > 0 (certificate "
        "programs only). P req = patterns requested (baseline width 2 P req), P = patterns "
        "after dropping duplicates (Rc-ibp: the IBP seed's most important neurons within a "
        "budget of P req + P req // 4 + 1 patterns, robust_patterns.default_max_patterns); "
        "lam = soft-stability penalty used (Rc-ibp: chosen by the "
        "ladder 1 -> 0.3 -> 0.1 of robust_patterns.solve_soft_with_fallback; penalties_tried in the csv: penalty:ReLU units:certified train accuracy, penalty_choice: why); "
        "Rc-ibp-box: the same certifying the ball clipped to the data set's input bounds; "
        "Rc-ibp-own: first the seed's own patterns (not split by class, at most 2 (budget + 1) // 3, each with its neuron's output sign: one block, robust_patterns.signed_own_patterns) on the clipped ball with the loss 0.5 robust + 0.5 nominal (clean weight 0.5) at penalty 0.5 (robust_patterns.own_rung) "
        "(penalties_tried 'own-0.5'), then the Rc-ibp ladder while fewer than 8 ReLU units (robust_patterns.solve_rungs); "
        "cert_train and violations are on the ball the kept program certifies (clipped for own / box rungs); "
        "zero = blocks (of 2P) zero in the solution, forced = blocks "
        "the hard stability constraints force to zero (LP check). relu = active neurons that are genuine ReLU units (not all-active); "
        "collapsed = no ReLU neuron (zero network or linear model: not a trained ReLU network). "
        "time_s: training time (for network-seeded programs it includes the seed network's "
        "training, seed_s; solve_s = the convex solver's own solve time, model building "
        "excluded). Timings on a shared 2-core machine under load from other jobs (noisy; "
        "ratios within one run are the meaningful numbers). ibp / crown-ibp cert_train: "
        "fraction of training points their own bound (IBP / CROWN, the tighter) certifies.",
        "",
    ]
    if note:
        lines += [note, ""]
    cols = ["method", "program", "cert", "P req", "P", "lam", "active", "relu", "zero", "forced",
            "collapsed", "time_s", "seed_s", "solve_s", "clean", "pgd", "exact", "lp",
            "cert_train", "violations"]  # fmt: skip
    for (name, train_eps, eps), g in df.groupby(["dataset", "train_eps", "eps"], sort=False):
        lines += [f"## {name}: trained at eps = {train_eps:g}, evaluated at eps = {eps:g}", "", "| " + " | ".join(cols) + " |",
                  "|" + "---|" * len(cols)]  # fmt: skip
        groups = g.groupby(["method", "n_patterns"], sort=False)
        for (method, n_req), r in groups.mean(numeric_only=True).iterrows():
            first = g[(g["method"] == method) & (g["n_patterns"] == n_req)].iloc[0]

            def f(v, fmt="{:.3f}"):
                return "" if v is None or (isinstance(v, float) and np.isnan(v)) else fmt.format(v)

            cells = [
                method, str(first["program"]), "yes" if bool(first["is_certificate"]) else "no",
                f"{n_req:.0f}", f(r.get("P", np.nan), "{:.0f}"),
                f(r["lam"] if first["program"] == "class-aware" and soft_method(method)
                  else np.nan, "{:g}"),
                f(r["n_active"], "{:.1f}"),
                f(r["n_relu_active"], "{:.1f}"), f(r.get("n_zero_blocks", np.nan), "{:.0f}"),
                f(r.get("n_forced_zero", np.nan), "{:.0f}"),
                "" if pd.isna(first.get("collapsed")) else str(bool(first["collapsed"])),
                f(r["train_time"], "{:.1f}"), f(r.get("pattern_time", np.nan), "{:.1f}"),
                f(r.get("solve_time", np.nan), "{:.1f}"), f(r["clean_acc"]), f(r["pgd_acc"]),
                f(r["exact_acc"]), f(r["lp_cert_acc"]), f(r.get("certified_train_acc", np.nan)),
                f(r.get("cert_violations", np.nan), "{:.0f}"),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for method in TARGET_METHODS:
        lines += targets_section(df, method)
    md.write_text("\n".join(lines))


def soft_method(method: str) -> bool:
    """Whether the method's program has soft stability (its ``lam`` is meaningful)."""
    return method in CONVEX and CONVEX[method][2]


def targets_section(df: pd.DataFrame, method: str = DEFAULT_CONVEX) -> list[str]:
    """The issue's targets for the default certified convex program at every training eps,
    evaluated at the same eps (met / missed, with the numbers)."""
    out = [
        f"## Targets for the default certified convex program ({method}) at its training eps"
        if method == DEFAULT_CONVEX
        else f"## Targets for {method} (the estimator's default without input_bounds) at its "
        "training eps",
        "",
        "| dataset | eps | relu >= 8 | exact >= PGD-AT | lp >= max(IBP, CROWN-IBP) | "
        "clean >= PGD-AT - 0.02 | time <= 5x PGD-AT |",
        "|---|---|---|---|---|---|---|",
    ]
    matched = df[np.isclose(df["eps"], df["train_eps"])]
    for (name, eps), g in matched.groupby(["dataset", "eps"], sort=False):
        by = g.groupby("method").mean(numeric_only=True)
        if method not in by.index or "pgd-at" not in by.index:
            missing = method if method not in by.index else "pgd-at"
            out.append(f"| {name} | {eps:g} | no {missing} row in the CSV (not run or not "
                       "finished): no verdict |  |  |  |  |")  # fmt: skip
            continue
        me, at = by.loc[method], by.loc["pgd-at"]
        cert = [by.loc[m, "lp_cert_acc"] for m in ("ibp", "crown-ibp") if m in by.index]
        best_cert = max(cert) if cert else np.nan

        def verdict(ok: bool, text: str) -> str:
            return f"{'met' if ok else 'MISSED'}: {text}"

        ratio = me["train_time"] / at["train_time"]
        out.append(
            "| " + " | ".join([
                name, f"{eps:g}",
                verdict(me["n_relu_active"] >= 8, f"{me['n_relu_active']:.0f}"),
                verdict(me["exact_acc"] >= at["exact_acc"],
                        f"{me['exact_acc']:.3f} vs {at['exact_acc']:.3f}"),
                verdict(bool(me["lp_cert_acc"] >= best_cert),
                        f"{me['lp_cert_acc']:.3f} vs {best_cert:.3f}"),
                verdict(me["clean_acc"] >= at["clean_acc"] - 0.02,
                        f"{me['clean_acc']:.3f} vs {at['clean_acc']:.3f}"),
                verdict(ratio <= 5, f"{me['train_time']:.0f} s vs {at['train_time']:.0f} s "
                        f"= {ratio:.1f}x"),
            ]) + " |"
        )  # fmt: skip
    return [*out, ""]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--eps", nargs="+", type=float, default=[0.05, 0.1, 0.2],
                    help="evaluation radii (l_inf, input units)")  # fmt: skip
    ap.add_argument(
        "--train-eps",
        nargs="+",
        type=float,
        default=[0.1],
        help="training radii: every method is trained once per train eps",
    )
    ap.add_argument(
        "--matched",
        action="store_true",
        help="evaluate each model only at its training eps (use with --train-eps "
        "equal to --eps to train at every eps)",
    )
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                    choices=[*BASELINES, *CONVEX])  # fmt: skip
    ap.add_argument("--n-patterns", type=int, default=16, help="P requested (baseline width 2P)")
    ap.add_argument("--loss", default="hinge", choices=["hinge", "logistic"])
    ap.add_argument("--beta-per-n", type=float, default=1e-3, help="beta = this * n_train")
    ap.add_argument("--lam", type=float, default=1.0, help="soft-stability penalty of Rc-soft")
    ap.add_argument("--solver", default="cvxpy", choices=["cvxpy", "admm"],
                    help="solver of the convex programs")  # fmt: skip
    ap.add_argument("--admm-iter", type=int, default=3000, help="ADMM iteration budget")
    ap.add_argument("--epochs", type=int, default=200, help="baselines' epochs (full batch)")
    ap.add_argument("--pgd-restarts", type=int, default=2, help="PGD restarts (50 steps each)")
    ap.add_argument("--n-exact", type=int, default=100, help="test points for exact / LP")
    ap.add_argument("--exact-time-limit", type=float, default=20.0, help="seconds per MILP")
    ap.add_argument(
        "--check-train",
        type=int,
        default=50,
        help="training points whose certified margin is checked by the MILP",
    )
    ap.add_argument("--forced", action="store_true", help="count blocks forced to zero (LPs)")
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "results" / "robust_vs_pgd_at"))
    ap.add_argument("--resume", action="store_true", help="skip rows already in <out>.csv")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="only rewrite <out>.md from <out>.csv (e.g. after merging runs)",
    )
    ap.add_argument(
        "--generated-by", default=None, help="with --report-only: the command(s) behind the CSV"
    )
    ap.add_argument("--note", default=None, help="with --report-only: a paragraph under the header")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # small networks: one thread is fastest, and fair to every method
    command = "python benchmarks/robust_vs_pgd_at.py " + " ".join(argv or sys.argv[1:])
    csv, md = Path(args.out + ".csv"), Path(args.out + ".md")
    if args.report_only:
        write_markdown(csv, md, args.generated_by or command, args.note)
        print(f"wrote {md}")
        return
    csv.parent.mkdir(parents=True, exist_ok=True)
    done: set[tuple] = set()
    if args.resume and csv.exists():
        old = pd.read_csv(csv)
        keys = ["dataset", "seed", "train_eps", "eps", "method"]
        done = set(old[keys].itertuples(index=False, name=None))
    elif csv.exists():
        csv.unlink()
    for name in args.datasets:
        for seed in args.seeds:
            ds = load(name, seed, args.data_dir)
            cache: dict = {}
            for train_eps in args.train_eps:
                for method in args.methods:
                    todo = args.eps if not args.matched else [train_eps]
                    todo = [e for e in todo if (name, seed, train_eps, e, method) not in done]
                    if not todo:
                        continue
                    trained = train(method, ds, train_eps, args, seed, cache)
                    for eps in todo:
                        t0 = time.perf_counter()
                        row = {"dataset": name, "seed": seed, "train_eps": train_eps, "eps": eps,
                               "method": method, "n_train": ds.n_train, "d": ds.n_features,
                               "loss": args.loss, "n_patterns": args.n_patterns,
                               "lam": args.lam}  # fmt: skip
                        row.update(trained["row"])  # (may override lam: the penalty used)
                        row.update(evaluate(trained["net"], ds, eps, args, seed))
                        row["host"] = f"{platform.node()} ({os.cpu_count()} cpus)"
                        frame = pd.DataFrame([row]).reindex(columns=COLUMNS)
                        frame.to_csv(csv, mode="a", header=not csv.exists(), index=False)
                        print(
                            f"{name:15s} train_eps={train_eps:<5g} eps={eps:<5g} {method:12s} "
                            f"{row.get('program', ''):11s} "
                            f"relu={row.get('n_relu_active', '')!s:>3} "
                            f"train={row['train_time']:6.1f}s clean={row['clean_acc']:.3f} "
                            f"pgd={row['pgd_acc']:.3f} exact={row['exact_acc']:.3f} "
                            f"lp={row['lp_cert_acc']:.3f} "
                            f"cert_train={row.get('certified_train_acc', float('nan')):.3f} "
                            f"viol={row.get('cert_violations', '-')} "
                            f"(eval {time.perf_counter() - t0:.0f}s)",
                            flush=True,
                        )
    write_markdown(csv, md, command)
    print(f"wrote {csv} and {md}")


if __name__ == "__main__":
    main()
