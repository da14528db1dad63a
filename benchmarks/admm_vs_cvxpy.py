"""ADMM vs CVXPY + Clarabel on the same sampled convex program, in one run.

For each seeded synthetic problem (teacher-network labels, ``benchmarks/_admm_problems.py``) it
solves with Clarabel (the reference optimum ``f*``) and with ``solve_admm`` (default settings but
for the iteration budget and a tolerance tight enough to keep it running), and prints Clarabel's
time and, for ADMM, the time until the objective of the *recovered network*
(``problem.network_objective``) is within ``--rtol`` (default 1e-3, two-sided) of ``f*``:

- "first entry": the first record in the band (what "time to 1e-3" usually means);
- "settled": the first record from which the network stays in the band until the end of the run
  (a network recovered from an infeasible iterate can pass through the band, or dip below the
  convex optimum, before the iterates settle).

ADMM's time is its history ``time`` (wall clock from the start of ``solve_admm``, setup and
factorization included, the time spent on the history records excluded); records are taken every
``--every`` iterations, so the reported times are upper bounds at that granularity. A Clarabel
failure (it fails on the logistic problem at n=2000 here) is printed with its message, and the
case has no ratio. Squared-loss cases also run ``solve_ipm`` (the structured interior-point
method) and print its time to ``--rtol`` of ``f*`` and to a *certified* ``--rtol`` (objective
within ``rtol`` of its own Lagrange-dual bound), with the ratios against Clarabel.

    python benchmarks/admm_vs_cvxpy.py            # squared n=2000, logistic n=2000 and n=1000
    python benchmarks/admm_vs_cvxpy.py --cases squared:500 --max-iter 2000   # quick
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _admm_problems import entry_and_settled, in_band, synthetic_problem

from robustbench_convex.solvers.admm import solve_admm
from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy
from robustbench_convex.solvers.ipm import solve_ipm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default="squared:2000,logistic:2000,logistic:1000",
        help="comma-separated loss:n pairs",
    )
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--P", type=int, default=32)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--max-iter", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"torch threads: {args.threads or torch.get_num_threads()} (ADMM picks its own default)")
    rows = []
    for case in args.cases.split(","):
        loss, n = case.split(":")
        problem = synthetic_problem(int(n), args.d, args.P, loss=loss, seed=args.seed)
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
            tol=1e-9,
            history_every=args.every,
            num_threads=args.threads,
        )
        print(
            f"  ADMM: {sol.status} after {sol.info['iterations']} it, {sol.time:.2f} s, objective "
            f"{sol.objective:.10g} (network {sol.info['network_objective']:.10g}), "
            f"linear solver {sol.info['linear_solver']}, splitting {sol.info['splitting']}, "
            f"final rho {sol.info['rho']:.3g}, {sol.info['threads']} thread(s)"
        )
        if ref.status != "converged":
            print(f"  no reference optimum (Clarabel: {ref.message}); no ratio")
            rows.append((case, ref.status, t_cvx, None, None))
            continue
        f_ref = ref.objective
        entry, settled = entry_and_settled(
            sol.history,
            lambda f, f_ref=f_ref: in_band(f, f_ref, args.rtol),
        )
        for name, rec in (("first entry", entry), ("settled", settled)):
            if rec is None:
                print(f"  ADMM {name}: not within rtol={args.rtol:g} of the Clarabel optimum")
            else:
                print(
                    f"  ADMM {name}: iteration {rec['iteration']}, {rec['time']:.2f} s: "
                    f"{t_cvx / rec['time']:.1f}x faster than Clarabel"
                )
        rows.append((case, ref.status, t_cvx, entry, settled))
        if loss == "squared":  # the structured interior-point method, same problem, same process
            isol = solve_ipm(problem, tol=1e-6, num_threads=args.threads)
            hit = next((r for r in isol.history if in_band(r["objective"], f_ref, args.rtol)), None)
            cert = next(
                (
                    r
                    for r in isol.history
                    if r["objective"] - r["lower_bound"] <= args.rtol * r["objective"]
                ),
                None,
            )
            print(
                f"  IPM: {isol.status} after {isol.info['iterations']} it, {isol.time:.2f} s, "
                f"objective {isol.objective:.10g} (certified bound {isol.info['lower_bound']:.10g})"
            )
            for name, rec in (("within rtol", hit), ("certified within rtol", cert)):
                if rec is not None:
                    print(
                        f"  IPM {name}: iteration {rec['iteration']}, {rec['time']:.2f} s: "
                        f"{t_cvx / rec['time']:.1f}x faster than Clarabel"
                    )

    print(
        f"\ncase            Clarabel [s]  ADMM first entry [s]  ADMM settled [s]  ratios (rtol {args.rtol:g})"
    )
    for case, status, t_cvx, entry, settled in rows:
        if status != "converged":
            print(f"{case:15s} {t_cvx:9.2f} ({status})  -  -  n/a")
            continue
        cells = [
            "not reached" if r is None else f"{r['time']:.2f} (it {r['iteration']})"
            for r in (entry, settled)
        ]
        ratios = " / ".join(
            "n/a" if r is None else f"{t_cvx / r['time']:.1f}x" for r in (entry, settled)
        )
        print(f"{case:15s} {t_cvx:12.2f}  {cells[0]:>20s}  {cells[1]:>16s}  {ratios}")


if __name__ == "__main__":
    main()
