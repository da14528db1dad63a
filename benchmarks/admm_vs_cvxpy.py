"""ADMM vs CVXPY + Clarabel on the same sampled convex program, in one run.

For each seeded synthetic problem (teacher-network labels, ``benchmarks/_admm_problems.py``) it
solves with Clarabel (the reference optimum ``f*``) and with ``solve_admm``, and prints the time
ADMM needs until the objective of the *recovered network* (``problem.network_objective``) is
within ``--rtol`` (default 1e-3) of ``f*``, Clarabel's time, and the ratio.

ADMM's time is its history ``time`` (wall clock from the start of ``solve_admm``, setup and
factorization included, the time spent on the history records excluded); records are taken every
``--every`` iterations, so the reported time is an upper bound at that granularity.

    python benchmarks/admm_vs_cvxpy.py                 # n=2000, d=50, P=32: squared, logistic
    python benchmarks/admm_vs_cvxpy.py --n 500 --quick # smaller
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _admm_problems import synthetic_problem

from robustbench_convex.solvers.admm import solve_admm
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy


def time_to_rtol(history, ref: float, rtol: float, key: str = "network_objective"):
    """``(iteration, time)`` of the first record whose ``key`` is within ``rtol`` of ``ref``."""
    for record in history:
        if abs(record[key] - ref) <= rtol * abs(ref):
            return record["iteration"], record["time"]
    return None, None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--P", type=int, default=32)
    parser.add_argument("--losses", default="squared,logistic")
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--max-iter", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"torch threads: {args.threads or torch.get_num_threads()}")
    rows = []
    for loss in args.losses.split(","):
        problem = synthetic_problem(args.n, args.d, args.P, loss=loss, seed=args.seed)
        print(f"\n{problem!r}", flush=True)
        t0 = time.perf_counter()
        ref = solve_cvxpy(problem, solver="CLARABEL")
        t_cvx = time.perf_counter() - t0
        print(
            f"  Clarabel: {ref.status}, objective {ref.objective:.10g}, {t_cvx:.2f} s", flush=True
        )
        sol = solve_admm(
            problem,
            max_iter=args.max_iter,
            tol=1e-7,
            history_every=args.every,
            num_threads=args.threads,
            time_limit=max(10 * t_cvx, 60.0),
        )
        it, t_admm = time_to_rtol(sol.history, ref.objective, args.rtol)
        print(
            f"  ADMM: {sol.status} after {sol.info['iterations']} it, {sol.time:.2f} s, objective "
            f"{sol.objective:.10g} (network {sol.info['network_objective']:.10g}), "
            f"linear solver {sol.info['linear_solver']}, final rho {sol.info['rho']:.3g}"
        )
        if t_admm is None:
            print(f"  ADMM did not reach rtol={args.rtol:g} of the Clarabel optimum")
        else:
            print(
                f"  ADMM reached rtol={args.rtol:g} at iteration {it}, {t_admm:.2f} s: "
                f"{t_cvx / t_admm:.1f}x faster than Clarabel"
            )
        rows.append((loss, t_cvx, t_admm, it))
    print("\nloss       Clarabel [s]  ADMM to rtol [s]  iterations  ratio")
    for loss, t_cvx, t_admm, it in rows:
        ratio = f"{t_cvx / t_admm:.1f}x" if t_admm else "n/a"
        ta = f"{t_admm:.2f}" if t_admm else "not reached"
        print(f"{loss:10s} {t_cvx:12.2f}  {ta:>16s}  {it!s:>10s}  {ratio}")


if __name__ == "__main__":
    main()
