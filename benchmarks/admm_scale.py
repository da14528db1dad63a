"""ADMM at MNIST-2v8 size: n = 12000, d = 100 (+ bias), P = 64, squared loss, synthetic teacher data.

Prints: the linear-solver path chosen and its memory model, the time to reach ``--rtol`` (1e-3)
relative accuracy of the recovered network's objective against a long reference run (``--ref-iter``
iterations of the same solver, tolerance 1e-9, or ``--reference``), the time from which the
accuracy is *certified* (network objective <= (1 + rtol) x the best Lagrange-dual lower bound so
far, ``solve_admm(certify=True)``: no reference needed), the peak resident memory of the process
(VmHWM), the test accuracy of the network recovered after 10, 50 and 200 iterations, and the
largest P whose run fits in 8 GiB under the calibrated memory model.

    python benchmarks/admm_scale.py                  # full size (minutes on 2 busy cores)
    python benchmarks/admm_scale.py --n 3000 --P 32  # smaller
    python benchmarks/admm_scale.py --measure-P 256,512,1024 --skip-run  # measured memory
    python benchmarks/admm_scale.py --solver ipm     # the interior-point solver on the same problem
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _admm_problems import entry_and_settled, in_band, teacher_data

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solvers.admm import solve_admm
from robustbench_convex.solvers.admm_linsys import choose_linear_solver, memory_bytes
from robustbench_convex.solvers.ipm import solve_ipm


def peak_rss_gib() -> float:
    """Peak resident set size of this process (``VmHWM`` of /proc/self/status), GiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def largest_P(n: int, d: int, budget: float, *, robust: bool = False) -> tuple[int, str]:
    """Largest P whose run fits in ``budget`` bytes by the calibrated model: the direct factor
    (the path ``"auto"`` would pick) plus ``30 * 8 n P`` bytes of iterates and temporaries, or
    three factors during the setup, whichever is larger. Calibrated with ``--measure-P`` at
    n = 12000, d = 101: 3.58 / 3.69 / 3.75 / 3.99 / 6.62 GiB at P = 128 / 256 / 512 / 1024 / 2048
    (the setup's n x n matrices dominate up to P ~ 1000, the n x 2P iterates beyond)."""
    P = 1
    while True:
        nxt = P + 1
        path = choose_linear_solver(n, d, nxt, robust_loss=robust, max_bytes=budget)
        factor = memory_bytes(path, n, d, nxt)
        need = max(3 * factor, factor + 30 * 8 * n * nxt) + 8 * n * d
        if path == "cg" or need > budget or nxt > 65536:
            path = choose_linear_solver(n, d, P, robust_loss=robust, max_bytes=budget)
            return P, path
        P = nxt


def run_ipm(problem: ConvexReLUProblem, args, test_accuracy) -> None:
    """Solve with ``solve_ipm`` to ``--ipm-tol`` (certified) and report, on its trajectory, the
    time to ``--rtol`` of the reference (``--reference``, else the run's own certified optimum:
    within ``ipm_tol`` of the true one) and the time from which ``--rtol`` is *certified*."""
    sol = solve_ipm(problem, tol=args.ipm_tol, callback=test_accuracy, num_threads=args.threads)
    peak = peak_rss_gib()
    lb = sol.info["lower_bound"]
    print(
        f"ipm: {sol.status}, {sol.info['iterations']} iterations, {sol.time:.1f} s (setup "
        f"{sol.info['setup_time']:.1f} s, Gram matrix in {sol.info['gram_dtype']}), peak RSS "
        f"{peak:.2f} GiB; objective {sol.objective:.10g}, certified lower bound {lb:.10g} "
        f"(gap {sol.objective / lb - 1:.1e}), constraint violation {sol.constraint_violation:.1e}",
        flush=True,
    )
    f_ref = args.reference if args.reference is not None else sol.objective
    print(
        f"reference: {'given' if args.reference is not None else 'this run, certified'} {f_ref:.10g}"
    )
    entry, settled = entry_and_settled(
        sol.history, lambda f: in_band(f, f_ref, args.rtol), "objective"
    )
    certified = next(
        (r for r in sol.history if r["objective"] - r["lower_bound"] <= args.rtol * r["objective"]),
        None,
    )
    for name, hit in (("first entry", entry), ("settled", settled), ("certified", certified)):
        if hit is None:
            print(f"{name}: not within rtol={args.rtol:g}")
        else:
            print(
                f"{name}: within rtol={args.rtol:g} at iteration {hit['iteration']}, "
                f"{hit['time']:.1f} s (setup included), objective {hit['objective']:.10g}, "
                f"bound {hit['lower_bound']:.10g}"
            )
    for record in sol.history:
        if record["iteration"] in (5, 10, 20, 30) or record is sol.history[-1]:
            print(
                f"  iteration {record['iteration']:3d}: test accuracy "
                f"{record['test_accuracy']:.4f}, objective {record['objective']:.8g}, "
                f"time {record['time']:.1f} s"
            )


_MEASURE = """
import sys
sys.path.insert(0, {bench!r})
from _admm_problems import synthetic_problem
from admm_scale import peak_rss_gib
from robustbench_convex.solvers.admm import solve_admm
problem = synthetic_problem({n}, {d}, {P}, loss="squared")
sol = solve_admm(problem, max_iter=3, history_every=1)
print(problem.P, sol.info["linear_solver"], sol.info["splitting"], peak_rss_gib(), sol.time)
"""


def measured_peak(n: int, d: int, P: int) -> tuple[int, str, float, float]:
    """Run three ADMM iterations at (n, d, P) in a fresh process; ``(P achieved, linear solver,
    peak RSS in GiB, seconds)``. A fresh process, because VmHWM never goes down."""
    import subprocess

    bench = os.path.dirname(os.path.abspath(__file__))
    code = _MEASURE.format(bench=bench, n=n, d=d, P=P)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), out[1], float(out[3]), float(out[4])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--P", type=int, default=64)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument(
        "--solver",
        choices=["admm", "ipm"],
        default="admm",
        help="ipm: solve_ipm instead (its own certified optimum to --ipm-tol is the reference)",
    )
    parser.add_argument("--ipm-tol", type=float, default=1e-6)
    parser.add_argument("--ref-iter", type=int, default=4000)
    parser.add_argument("--max-iter", type=int, default=3000)
    parser.add_argument("--linear-solver", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rho", type=float, default=None, help="initial rho (default: solver's)")
    parser.add_argument(
        "--no-adaptive-rho", action="store_true", help="keep rho fixed (no residual balancing)"
    )
    parser.add_argument(
        "--ref-rho",
        type=float,
        default=None,
        help="fixed rho of the reference run (default: the settings of the measured run)",
    )
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--history-every", type=int, default=10)
    parser.add_argument(
        "--measure-P",
        default="",
        help="comma-separated P values: measure the peak RSS of 3 iterations at each (fresh "
        "processes) and extrapolate the largest P in 8 GiB linearly from the last two",
    )
    parser.add_argument("--skip-run", action="store_true", help="only the memory measurements")
    parser.add_argument(
        "--reference",
        type=float,
        default=None,
        help="reference optimum from an earlier long run (skips the reference run)",
    )
    args = parser.parse_args(argv)

    if args.measure_P:
        points = []
        for P in (int(p) for p in args.measure_P.split(",")):
            P_got, path, peak, seconds = measured_peak(args.n, args.d, P)
            points.append((P_got, peak))
            print(
                f"measured: P={P_got} ({path}) peak RSS {peak:.2f} GiB, 3 iterations + setup "
                f"{seconds:.1f} s",
                flush=True,
            )
        if len(points) >= 2:
            (p1, m1), (p2, m2) = points[-2:]
            slope = (m2 - m1) / (p2 - p1)
            print(
                f"linear fit of the last two: {slope * 1024:.3f} GiB per 1024 patterns; "
                f"largest P in 8 GiB about {p2 + (8.0 - m2) / slope:.0f}"
            )
        if args.skip_run:
            return

    X, y = teacher_data(args.n + 2000, args.d, seed=0)
    Xtr, ytr, Xte, yte = X[: args.n], y[: args.n], X[args.n :], y[args.n :]
    problem = ConvexReLUProblem(Xtr, ytr, loss="squared", beta=1e-3 * args.n, n_patterns=args.P)
    Xte_a = np.hstack([Xte, np.ones((Xte.shape[0], 1))])
    n, d, P = problem.n, problem.d_aug, problem.P
    path = choose_linear_solver(n, d, P, robust_loss=False, max_bytes=2 * 1024**3)
    print(f"{problem!r}")
    print(
        f"auto linear solver: {path}; factor {memory_bytes(path, n, d, P) / 1024**3:.2f} GiB "
        f"(cholesky {memory_bytes('cholesky', n, d, P) / 1024**3:.2f}, "
        f"woodbury {memory_bytes('woodbury', n, d, P) / 1024**3:.2f})",
        flush=True,
    )

    def test_accuracy(iteration, state):
        V, W = state["V"], state["W"]
        out = np.maximum(Xte_a @ V, 0).sum(1) - np.maximum(Xte_a @ W, 0).sum(1)
        return {"test_accuracy": float(np.mean(out * yte > 0))}

    if args.solver == "ipm":
        run_ipm(problem, args, test_accuracy)
        return

    settings = {
        "rho": args.rho,
        "adaptive_rho": not args.no_adaptive_rho,
        "dtype": getattr(torch, args.dtype),
        "linear_solver": args.linear_solver,
        "num_threads": args.threads,
    }
    print(f"settings: {settings}", flush=True)
    sol = solve_admm(
        problem,
        max_iter=args.max_iter,
        tol=1e-7,
        history_every=args.history_every,
        callback=test_accuracy,
        certify=True,
        **settings,
    )
    peak = peak_rss_gib()
    print(
        f"run: {sol.status}, {sol.info['iterations']} it, {sol.time:.1f} s "
        f"(setup {sol.info['setup_time']:.1f} s), linear solver {sol.info['linear_solver']}, "
        f"peak RSS {peak:.2f} GiB",
        flush=True,
    )
    best = -np.inf
    certified = None
    for record in sol.history:
        best = max(best, record["lower_bound"])
        if certified is None and record["network_objective"] <= (1 + args.rtol) * best:
            certified = (record, best)
    final_lb = sol.info["lower_bound"]
    print(
        f"certified bracket at the end: lower bound {final_lb:.10g} <= optimum; network "
        f"{sol.info['network_objective']:.10g} (+{sol.info['network_objective'] / final_lb - 1:.2e} "
        f"above the bound), convex objective {sol.objective:.10g}, constraint violation "
        f"{sol.info['constraint_violation']:.2e}"
    )
    if certified is None:
        print(f"certified within rtol={args.rtol:g}: not in {sol.info['iterations']} iterations")
    else:
        rec, lb = certified
        print(
            f"certified within rtol={args.rtol:g}: iteration {rec['iteration']}, "
            f"{rec['time']:.1f} s (setup included): network {rec['network_objective']:.10g} <= "
            f"(1 + rtol) x lower bound {lb:.10g}"
        )
    for record in sol.history:
        if record["iteration"] in (10, 50, 200):
            print(
                f"  iteration {record['iteration']:4d}: test accuracy {record['test_accuracy']:.4f}, "
                f"network objective {record['network_objective']:.6g}, time {record['time']:.1f} s"
            )
    if args.reference is not None:
        f_ref = args.reference
        print(f"reference: given, {f_ref:.10g}")
    else:
        ref_settings = dict(settings)
        if args.ref_rho is not None:
            ref_settings.update(rho=args.ref_rho, adaptive_rho=False)
        ref = solve_admm(
            problem,
            max_iter=args.ref_iter,
            tol=1e-9,
            history_every=100,
            certify=True,
            **ref_settings,
        )
        f_ref = min(ref.objective, ref.info["network_objective"])
        print(
            f"reference: {ref.status}, {ref.info['iterations']} it, objective "
            f"{ref.objective:.10g}, network {ref.info['network_objective']:.10g}, certified "
            f"lower bound {ref.info['lower_bound']:.10g}"
        )
    entry, settled = entry_and_settled(sol.history, lambda f: in_band(f, f_ref, args.rtol))
    for name, hit in (("first entry", entry), ("settled", settled)):
        if hit is None:
            print(f"{name}: not within rtol={args.rtol:g} in {args.max_iter} iterations")
        else:
            print(
                f"{name}: within rtol={args.rtol:g} at iteration {hit['iteration']}, "
                f"{hit['time']:.1f} s (setup included); peak RSS {peak:.2f} GiB"
            )
    budget = 8 * 1024**3
    Pmax, path_max = largest_P(n, d, budget)
    print(
        f"largest P in 8 GiB by the calibrated memory model: {Pmax} (path {path_max}; n={n}, d={d})"
    )


if __name__ == "__main__":
    main()
