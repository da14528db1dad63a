"""Back-propagation baselines over many seeds, next to the convex global optimum.

Part A (tiny 2-D data, every activation pattern enumerated): the exact convex program (C) solved
by CVXPY gives the global minimum of the weight-decay objective; SGD/Adam runs from many seeds
and learning rates land above it, some far above (sensitivity to initialization and step size).

Part B (digits 2-vs-8, eps = 0.1): standard training, PGD-AT and fast FGSM-AT over several seeds:
clean and PGD robust test accuracy, and training time (FGSM-AT / PGD-AT time ratio in the same
process run).

    python benchmarks/baseline_multistart.py             # full (10-20 minutes on 2 cores)
    python benchmarks/baseline_multistart.py --quick     # fewer seeds / epochs
    python benchmarks/baseline_multistart.py --part b    # only part A or B
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import attacks
import robustbench_convex as rbc


def part_a(seeds: int, epochs: int) -> None:
    rng = np.random.default_rng(0)
    n = 10
    X = rng.normal(size=(n, 2))
    y = np.where(rng.normal(size=n) + X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    beta = 0.1
    width = 2 * (n + 1)  # above the n + 1 neurons an optimum needs: the gap is optimization only
    print(
        f"\n== Part A: n={n}, d=2 (+bias), beta={beta}, width {width}, {epochs} full-batch "
        f"epochs, {seeds} seeds per row =="
    )
    rows = []
    for loss in ("squared", "logistic", "hinge"):
        problem = rbc.ConvexReLUProblem(X, y, loss=loss, beta=beta, patterns="all")
        t0 = time.perf_counter()
        sol = rbc.solve_cvxpy(problem)
        t_cvx = time.perf_counter() - t0
        opt = sol.objective
        for optimizer, lr in (("adam", 1e-3), ("adam", 1e-2), ("adam", 1e-1), ("sgd", 1e-2)):
            df = rbc.multi_start(
                rbc.train_sgd,
                X,
                y,
                seeds=seeds,
                width=width,
                loss=loss,
                weight_decay=beta,
                optimizer=optimizer,
                lr=lr,
                epochs=epochs,
                num_threads=1,
            )
            gap = (df["objective"] - opt) / abs(opt)
            rows.append(
                dict(
                    loss=loss,
                    P=problem.P,
                    optimum=opt,
                    cvx_blocks=sol.n_active(),
                    cvxpy_s=t_cvx,
                    optimizer=optimizer,
                    lr=lr,
                    gap_min=gap.min(),
                    gap_median=gap.median(),
                    gap_max=gap.max(),
                    within_1pct=float((gap <= 0.01).mean()),
                    above_10pct=float((gap > 0.1).mean()),
                    below_optimum=int((df["objective"] < opt - 1e-6 * max(1, abs(opt))).sum()),
                    sgd_s_per_run=df["time"].mean(),
                )
            )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        "gap = (SGD objective - exact convex optimum) / optimum over seeds; "
        "below_optimum must be 0. cvx_blocks: non-zero blocks of the interior-point solution "
        "(an optimum with at most n + 1 neurons exists; the solver need not return the sparsest)."
    )


def part_b(seeds: int, epochs: int) -> None:
    ds = rbc.load_dataset("digits-2v8")
    eps = 0.1
    lo, hi = np.array(ds.lower), np.array(ds.upper)
    print(
        f"\n== Part B: digits-2v8 (n_train={len(ds.y_train)}), eps={eps}, width 32, "
        f"{epochs} epochs, batch 64, {seeds} seeds =="
    )
    pgd = attacks.PGD(eps, steps=50, restarts=2, lower=lo, upper=hi, seed=0)
    common = dict(width=32, epochs=epochs, batch_size=64, weight_decay=1e-3, num_threads=1)
    runs = {
        "sgd": (rbc.train_sgd, {}),
        "pgd-at (10 steps)": (rbc.train_pgd_at, dict(eps=eps, steps=10, lower=lo, upper=hi)),
        "fgsm-at (rs)": (rbc.train_fgsm_at, dict(eps=eps, lower=lo, upper=hi)),
    }
    rows, times = [], {}
    for name, (fn, extra) in runs.items():
        df = rbc.multi_start(
            fn,
            ds.X_train,
            ds.y_train,
            seeds=seeds,
            X_test=ds.X_test,
            y_test=ds.y_test,
            attack=pgd,
            **common,
            **extra,
        )
        times[name] = df["time"].mean()
        rows.append(
            dict(
                method=name,
                objective=f"{df['objective'].mean():.4g} +- {df['objective'].std():.2g}",
                test_acc=f"{df['test_acc'].mean():.3f} +- {df['test_acc'].std():.3f}",
                pgd_robust_test_acc=(
                    f"{df['robust_test_acc'].mean():.3f} +- {df['robust_test_acc'].std():.3f} "
                    f"[{df['robust_test_acc'].min():.3f}, {df['robust_test_acc'].max():.3f}]"
                ),
                train_s=f"{df['time'].mean():.2f}",
            )
        )
    print(pd.DataFrame(rows).to_string(index=False))
    print(
        f"time ratio FGSM-AT / PGD-AT (same process): "
        f"{times['fgsm-at (rs)'] / times['pgd-at (10 steps)']:.2f}; "
        f"PGD-AT / standard: {times['pgd-at (10 steps)'] / times['sgd']:.2f}"
    )
    print("robust accuracy: attacks.PGD, 50 steps, 2 restarts, Linf eps=0.1, clipped to [0, 1].")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and epochs")
    parser.add_argument("--part", choices=["a", "b", "all"], default="all")
    args = parser.parse_args()
    if args.part in ("a", "all"):
        part_a(seeds=5 if args.quick else 10, epochs=300 if args.quick else 1000)
    if args.part in ("b", "all"):
        part_b(seeds=2 if args.quick else 5, epochs=30 if args.quick else 100)


if __name__ == "__main__":
    main()
