"""CVXPY backend: model build, CVXPY compile and solver time vs n for the nominal and the robust
programs (hinge loss, teacher-network data, d features, P patterns).

    python benchmarks/cvxpy_scaling.py                       # n = 100 250 500, d = 64, P = 16
    python benchmarks/cvxpy_scaling.py --n 250 1000 --P 32 --solver CLARABEL

Prints one row per (program, n): seconds for our Python model build, CVXPY's compilation, the
solver, the total, the iteration count, and the ratio of each robust program's total to the
nominal program's total at the same n (same process, same data). Timings on a shared machine are
noisy: report the hardware and the load with them.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _admm_problems import synthetic_problem

from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

PROGRAMS = {
    "nominal": {},
    "certified": {"robust_eps": 0.05, "robust": "certified"},
    "relaxed": {"robust_eps": 0.05, "robust": "relaxed"},
    "class-aware": {"robust_eps": 0.05, "robust": "class-aware", "patterns": "class-aware"},
    "class-aware-soft": {
        "robust_eps": 0.05,
        "robust": "class-aware",
        "patterns": "class-aware",
        "stability_penalty": 1.0,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--P", type=int, default=16)
    parser.add_argument("--solver", default=None, help="CVXPY solver (default: MOSEK/CLARABEL)")
    parser.add_argument("--programs", nargs="+", default=list(PROGRAMS), choices=list(PROGRAMS))
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}")
    header = f"{'program':<17}{'n':>6}{'P':>4}{'build':>8}{'compile':>9}{'solve':>9}"
    print(header + f"{'total':>9}{'iters':>6}{'vs nominal':>11}  status")
    for n in args.n:
        nominal_total = None
        for name in args.programs:
            problem = synthetic_problem(n, args.d, args.P, loss="hinge", **PROGRAMS[name])
            sol = solve_cvxpy(problem, solver=args.solver)
            info = sol.info
            if name == "nominal":
                nominal_total = sol.time
            ratio = f"{sol.time / nominal_total:10.1f}x" if nominal_total else f"{'-':>11}"
            print(
                f"{name:<17}{n:>6}{problem.P:>4}{info['build_time']:8.2f}"
                f"{info['compile_time'] or float('nan'):9.2f}"
                f"{info['solve_time'] or float('nan'):9.2f}{sol.time:9.2f}"
                f"{info['iterations'] or 0:>6}{ratio} {sol.solver} {sol.status}",
                flush=True,
            )


if __name__ == "__main__":
    main()
