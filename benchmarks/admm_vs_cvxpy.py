"""ADMM at default settings vs CVXPY + Clarabel on the same sampled convex program, in one run.

For each seeded synthetic problem (teacher-network labels, ``benchmarks/_admm_problems.py``) it
solves with Clarabel (``solve_cvxpy(solver="CLARABEL")``) and with ``solve_admm(problem)`` at its
**default settings** (certified stop: the recovered network within ``gap_tol = 1e-3`` of a
Lagrange-dual lower bound, for the nominal programs benchmarked here; float32 iterations with
the certificate in float64, ``info["dtype"]`` printed) and with the front door
``solve(problem)`` (``solver="auto"``: ``solve_ipm`` for the squared loss, ADMM otherwise). No
reference optimum is used to stop or to score a run: ADMM's time is its wall time to its own
certificate (setup, factorization and records included); the ratio Clarabel / ADMM is printed
only when ADMM ended certified. Clarabel's optimum is printed beside, as a check of the
certificate only. A Clarabel failure (it fails on the logistic problem at n = 2000 here) is
printed with its message, and that case has ADMM's certified time but no ratio.

    python benchmarks/admm_vs_cvxpy.py --cases squared:2000          # ~5 min
    python benchmarks/admm_vs_cvxpy.py --cases logistic:1000,hinge:1000
    python benchmarks/admm_vs_cvxpy.py --cases logistic:2000         # Clarabel fails (~6 min)
    python benchmarks/admm_vs_cvxpy.py --cases squared:500 --no-clarabel   # quick
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
from robustbench_convex.solvers.front import solve


def _gap(sol) -> float | None:
    """The certified relative gap a solver reported (ADMM: of its network; IPM: of its point)."""
    if "certified_gap" in sol.info:
        return sol.info["certified_gap"]
    lb = sol.info.get("lower_bound")
    return None if lb is None or lb <= 0 else (sol.objective - lb) / lb


def _line(name: str, sol, seconds: float) -> str:
    gap = _gap(sol)
    gap_txt = "no certificate" if gap is None else f"certified gap {gap:.2e}"
    dtype = f", {sol.info['dtype']}" if "dtype" in sol.info else ""
    tries = ""
    if "projections" in sol.info:
        tries = (
            f", {sol.info['projections']} corrections tried ({sol.info['projection_time']:.2f} s, "
            f"{sol.info.get('bound_polishes', 0)} bound polishes)"
        )
    return (
        f"  {name}: {sol.status} ({sol.info.get('stop', sol.solver)}), {seconds:.2f} s, "
        f"{sol.info.get('iterations')} it{dtype}, objective {sol.objective:.10g}, {gap_txt}"
        f"{tries}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default="squared:2000,logistic:1000,hinge:1000",
        help="comma-separated loss:n pairs",
    )
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--P", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-clarabel", action="store_true", help="skip the Clarabel solve")
    args = parser.parse_args(argv)

    print(f"torch threads: {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}")
    rows = []
    for case in args.cases.split(","):
        loss, n = case.split(":")
        problem = synthetic_problem(int(n), args.d, args.P, loss=loss, seed=args.seed)
        print(f"\n{problem!r}", flush=True)
        t0 = time.perf_counter()
        admm = solve_admm(problem)  # default settings: nothing but the problem
        t_admm = time.perf_counter() - t0
        print(_line("ADMM (defaults)", admm, t_admm), flush=True)
        t0 = time.perf_counter()
        front = solve(problem)
        t_front = time.perf_counter() - t0
        chosen = front.info["front_door"]["solver"]
        print(_line(f"solve() -> {chosen}", front, t_front), flush=True)
        t_cvx, ref = None, None
        if not args.no_clarabel:
            t0 = time.perf_counter()
            ref = solve_cvxpy(problem, solver="CLARABEL")
            t_cvx = time.perf_counter() - t0
            print(f"  Clarabel: {ref.status}, {t_cvx:.2f} s, {ref.message}", flush=True)
            if ref.status == "converged":
                for name, sol in (("ADMM", admm), ("solve()", front)):
                    rel = (sol.objective - ref.objective) / abs(ref.objective)
                    net_obj = problem.network_objective(sol.to_network())
                    net = (net_obj - ref.objective) / abs(ref.objective)
                    print(
                        f"  check only: {name} objective {rel:+.2e}, its network {net:+.2e} "
                        f"relative to Clarabel's {ref.objective:.10g}"
                    )
        rows.append((case, ref, t_cvx, admm, t_admm, front, t_front, chosen))

    print(
        "\ncase            Clarabel [s]     ADMM defaults [s]     solve() [s]   ratios vs Clarabel"
    )
    for case, ref, t_cvx, admm, t_admm, front, t_front, chosen in rows:
        certified = [
            s.status == "converged" and s.info.get("stop") != "residuals" for s in (admm, front)
        ]
        if ref is None:
            cvx = "skipped"
        elif ref.status != "converged":
            cvx = f"{t_cvx:.1f} {ref.status}"
        else:
            cvx = f"{t_cvx:.1f}"
        ratios = []
        for ok, t in zip(certified, (t_admm, t_front), strict=True):
            if ref is None or ref.status != "converged":
                ratios.append("n/a (no Clarabel time)")
            elif not ok:
                ratios.append("n/a (not certified)")
            else:
                ratios.append(f"{t_cvx / t:.1f}x")
        admm_cell = f"{t_admm:.1f} {'cert.' if certified[0] else admm.status}"
        front_cell = f"{t_front:.1f} {chosen} {'cert.' if certified[1] else front.status}"
        print(
            f"{case:15s} {cvx:>14s} {admm_cell:>21s} {front_cell:>15s}   ADMM {ratios[0]}, solve() {ratios[1]}"
        )


if __name__ == "__main__":
    main()
