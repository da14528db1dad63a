"""Benchmark: exact robust accuracy (MILP, HiGHS) of trained TwoLayerReLU networks on digits-2v8.

For a standard (Adam) network and a PGD-adversarially-trained network, width 64, d = 64, on the
first 100 test points and several eps, prints: LP-certified, exact and PGD robust accuracy (the
sandwich certified <= exact <= PGD), the PGD - exact gap in percentage points, and the wall time of
``attacks.exact`` in "decide" and "margin" mode (torch limited to 2 threads), plus the process CPU
time of "decide" (a load-independent view when the machine is shared).

    python benchmarks/exact_verifier.py [--width 64] [--n 100] [--eps 0.05 0.1 0.2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

import numpy as np
import torch

import attacks
from robustbench_convex import load_dataset, train_pgd_at, train_sgd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--eps", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--restarts", type=int, default=10)
    ap.add_argument("--margin-mode", action="store_true", help="also time mode='margin'")
    args = ap.parse_args()
    torch.set_num_threads(2)

    ds = load_dataset("digits-2v8")
    X, y = ds.X_test[: args.n], ds.y_test[: args.n].astype(int)
    lo, hi = ds.lower, ds.upper
    print(f"digits-2v8: d = {ds.n_features}, {len(X)} test points, width {args.width}")
    models = {}
    t0 = time.perf_counter()
    models["sgd"], _ = train_sgd(ds.X_train, ds.y_train, width=args.width, epochs=args.epochs)
    models["pgd-at(0.1)"], _ = train_pgd_at(
        ds.X_train, ds.y_train, eps=0.1, lower=lo, upper=hi, width=args.width, epochs=args.epochs
    )
    print(f"(training both models: {time.perf_counter() - t0:.1f} s, not part of the benchmark)")
    header = (
        f"{'model':<12} {'eps':>5} {'clean':>6} {'LP-cert':>8} {'exact':>6} {'PGD':>6} "
        f"{'gap pp':>6} {'#MILP':>6} {'t_decide s':>10} {'cpu_dec s':>9} {'t_margin s':>10} "
        f"{'t_PGD s':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, net in models.items():
        clean = float(np.mean(attacks.model_margins(net, X, y) > 0))
        for eps in args.eps:
            cert = attacks.lp_certify(net, X, y, eps, lo, hi)
            t0 = time.perf_counter()
            pgd = attacks.PGD(eps, steps=50, restarts=args.restarts, lower=lo, upper=hi, seed=0)
            acc_pgd = attacks.robust_accuracy(net, X, y, pgd)
            t_pgd = time.perf_counter() - t0
            t0, c0 = time.perf_counter(), time.process_time()
            ex = attacks.exact(net, X, y, eps, lo, hi, time_limit=60, mode="decide")
            t_dec, c_dec = time.perf_counter() - t0, time.process_time() - c0
            t_mar = float("nan")
            if args.margin_mode:
                t0 = time.perf_counter()
                exm = attacks.exact(net, X, y, eps, lo, hi, time_limit=60, mode="margin")
                t_mar = time.perf_counter() - t0
                assert np.array_equal(exm.robust, ex.robust), "decide and margin modes disagree"
            n_milp = int(np.sum(np.isin(ex.status, ("optimal", "time_limit"))))
            undecided = int(np.sum(~ex.decided))
            acc_ex = ex.robust_accuracy
            sandwich = cert.certified_accuracy <= acc_ex <= acc_pgd
            print(
                f"{name:<12} {eps:>5g} {clean:>6.2f} {cert.certified_accuracy:>8.2f} "
                f"{acc_ex:>6.2f} {acc_pgd:>6.2f} {100 * (acc_pgd - acc_ex):>6.1f} {n_milp:>6d} "
                f"{t_dec:>10.2f} {c_dec:>9.2f} {t_mar:>10.2f} {t_pgd:>8.2f}"
                + ("" if sandwich else "  SANDWICH VIOLATED")
                + (f"  ({undecided} undecided)" if undecided else "")
            )


if __name__ == "__main__":
    main()
