"""Where the quick preset's certified cell spends its time, against PGD-AT in the same process.

Loads the ``quick`` preset, takes its certified robust method (``convex-robust-class-aware``) and
its PGD-AT method with their resolved settings, and on each data set of the preset times:

- ``train``: the sweep's own training call (``methods.train_method``) of each method, end to end;
- with ``--parts``, the certified cell re-run step by step: the IBP seed (pattern seeding), and
  for each stability penalty of the ladder the CVXPY build, compilation and Clarabel's solve
  (shared epigraph, faer factorization: ``solve_cvxpy``'s defaults; ``--old`` adds the earlier
  per-point epigraph with qdldl at the first penalty), and the ReLU units / certified training
  accuracy that decide whether the ladder goes on.

Prints one line per part and the ratio certified / PGD-AT. The machine's load average is printed
with every data set (the 2 cores are shared: compare ratios, not seconds).

    python benchmarks/robust_quick_cell.py [--datasets breast-cancer digits-2v8] [--parts [--old]]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from robustbench_convex.data import load_dataset  # noqa: E402
from robustbench_convex.methods import train_method  # noqa: E402
from robustbench_convex.sweep import load_preset  # noqa: E402

CERTIFIED = "convex-robust-class-aware"


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _parts(dataset, settings: dict, seed: int, old: bool) -> None:
    """The certified cell, step by step (same calls as methods._train_convex_robust)."""
    import cvxpy as cp

    from robustbench_convex.formulations import ConvexReLUProblem
    from robustbench_convex.robust import certified_training_accuracy
    from robustbench_convex.robust_patterns import DEFAULT_PENALTY_LADDER, network_seeded_patterns
    from robustbench_convex.solution import ConvexSolution
    from robustbench_convex.solvers.cvxpy_backend import build_cvxpy_program, clarabel_has_faer

    t0 = time.perf_counter()
    seeded = network_seeded_patterns(
        dataset.X_train, dataset.y_train, eps=settings["eps"], n_patterns=settings["n_patterns"],
        lower=dataset.lower, upper=dataset.upper, loss=settings["loss"], beta=settings["beta"],
        seed=seed,
    )  # fmt: skip
    print(f"  seed (IBP, width {seeded.seed_width}): {time.perf_counter() - t0:6.1f} s, "
          f"P = {seeded.D.shape[1]}", flush=True)  # fmt: skip
    for penalty in DEFAULT_PENALTY_LADDER:
        problem = ConvexReLUProblem(
            dataset.X_train, dataset.y_train, loss=settings["loss"], beta=settings["beta"],
            patterns=seeded.D, robust_eps=settings["eps"], robust="class-aware",
            stability_penalty=penalty,
        )  # fmt: skip
        variants = [("rows", "faer" if clarabel_has_faer() else "qdldl")]
        if old and penalty == DEFAULT_PENALTY_LADDER[0]:
            variants.append(("points", "qdldl"))  # the formulation and factorization before
        for layout, factorization in variants:
            t0 = time.perf_counter()
            prob, V, W = build_cvxpy_program(problem, epigraph=layout)
            t_build = time.perf_counter() - t0
            prob.solve(
                solver="CLARABEL", canon_backend=cp.SCIPY_CANON_BACKEND,
                direct_solve_method=factorization, max_threads=1,
            )  # fmt: skip
            total = time.perf_counter() - t0
            sol = ConvexSolution(
                V=V.value, W=W.value, objective=problem.convex_objective(V.value, W.value),
                status="converged", solver="CLARABEL", time=total, problem=problem,
            )  # fmt: skip
            print(
                f"  penalty {penalty:g} epigraph {layout:6s} {factorization:5s}: build {t_build:5.2f} s, compile "
                f"{prob.compilation_time:5.2f} s, Clarabel {prob.solver_stats.solve_time:6.1f} s "
                f"({prob.solver_stats.num_iters} it), total {total:6.1f} s; objective "
                f"{prob.value:.8g}; ReLU units {sol.n_relu_active()}, certified train "
                f"{certified_training_accuracy(sol):.3f}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=None, help="default: the preset's")
    ap.add_argument("--parts", action="store_true", help="also time the cell step by step")
    ap.add_argument(
        "--old", action="store_true", help="with --parts: also the earlier formulation (slow)"
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of the certified method (e.g. beta=0.3; values parsed as TOML)",
    )
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    config = load_preset("quick")
    methods = {m.method: m for m in config.methods}
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = tomllib.loads(f"v = {value}")["v"]
    certified_settings = {**methods[CERTIFIED].settings, **overrides}
    names = args.datasets or [d.name for d in config.datasets]
    for spec in config.datasets:
        if spec.name not in names:
            continue
        dataset = load_dataset(spec.name, seed=0)
        print(f"{spec.name}: n_train {dataset.n_train}, {_load()}", flush=True)
        times = {}
        for key in ("pgd-at", CERTIFIED):
            m = methods[key]
            settings = certified_settings if key == CERTIFIED else dict(m.settings)
            t0 = time.perf_counter()
            out = train_method(key, dataset, settings, m.seeds[0])
            times[key] = time.perf_counter() - t0
            extra = {k: out.info.get(k) for k in ("P", "penalties_tried", "stability_penalty_used")}
            print(f"  train {key:26s} {times[key]:6.1f} s {extra if key == CERTIFIED else ''}",
                  flush=True)  # fmt: skip
        print(f"  certified / PGD-AT = {times[CERTIFIED] / times['pgd-at']:.1f}x ({_load()})",
              flush=True)  # fmt: skip
        if args.parts:
            _parts(dataset, certified_settings, methods[CERTIFIED].seeds[0], args.old)


if __name__ == "__main__":
    main()
