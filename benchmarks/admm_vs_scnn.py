"""ADMM vs pyscnn (``scnn``, the Pilanci group's library) on the same problem and patterns.

Same data, same gate vectors (hence the same activation patterns ``D = 1[X g + g_0 > 0]``), squared
loss, group-l1 penalty with hidden biases. Normalizations: scnn minimizes
``1/(2n) ||yhat - y||^2 + lam * sum_i ||(v_i, b_i)||`` (mean squared loss); ours is the sum
``1/2 ||yhat - y||^2 + beta * sum_i ||(v_i, b_i)||``; so ``beta = n * lam`` and
``objective_ours = n * objective_scnn``. Both solutions are scored by the same function:
``problem.network_objective`` of the recovered ReLU network (our normalization).

scnn runs its augmented-Lagrangian solver (``scnn.solvers.AL``) to its own default tolerances
(float64, ``unitize_data=False`` so the gates act on the raw data); its time and final objective
``f_scnn`` are measured. ADMM's time is the first recorded time at which its recovered network's
objective is ``<= f_scnn * (1 + rtol)``. Ratio = scnn time / ADMM time.

    python benchmarks/admm_vs_scnn.py [--n 2000 --d 50 --P 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _admm_problems import teacher_data

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solution import recover_network
from robustbench_convex.solvers.admm import solve_admm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--P", type=int, default=32)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import scnn.optimize
    from scnn.metrics import Metrics
    from scnn.models import ConvexReLU
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL

    X, y = teacher_data(args.n, args.d, seed=args.seed)
    n = args.n
    beta = 1e-3 * n
    lam = beta / n
    rng = np.random.default_rng(args.seed)
    G = rng.standard_normal((args.d, args.P))
    g0 = rng.standard_normal(args.P)

    # --- scnn. pyscnn's ConvexReLU.set_parameters checks parameters[2] and [4] when bias=True
    # (an index bug: the list has 4 entries [V, b_v, W, b_w]); store them unchecked instead.
    ConvexReLU.set_parameters = lambda self, parameters: setattr(self, "parameters", parameters)
    model = ConvexReLU(G, c=1, bias=True, G_bias=g0)
    t0 = time.perf_counter()
    model, _ = scnn.optimize.optimize_model(
        model,
        AL(model),
        Metrics(metric_freq=1000, objective=False, grad_norm=False, time=False),
        X,
        y,
        regularizer=NeuronGL1(lam),
        return_convex=True,
        unitize_data=False,
        dtype="float64",
    )
    t_scnn = time.perf_counter() - t0
    Gf, g0f = np.asarray(model.G), np.asarray(model.G_bias).reshape(-1)
    Gaug = np.vstack([Gf[: args.d], g0f[None, :]])
    Xa = np.hstack([X, np.ones((n, 1))])
    D = (Xa @ Gaug > 0).astype(np.float64)
    problem = ConvexReLUProblem(X, y, loss="squared", beta=beta, patterns=D)
    params = [np.asarray(p) for p in model.parameters]
    V = np.vstack([params[0][0].T, params[1][0][None, :]])
    W = np.vstack([params[2][0].T, params[3][0][None, :]])
    f_scnn = problem.network_objective(recover_network(V, W, bias=True))
    print(f"{problem!r}")
    print(
        f"scnn AL: {t_scnn:.2f} s, convex objective {problem.convex_objective(V, W):.8g}, "
        f"recovered network objective {f_scnn:.8g}, violation "
        f"{problem.constraint_violation(V, W):.2e}",
        flush=True,
    )

    # --- ADMM on the same patterns
    sol = solve_admm(
        problem, max_iter=20000, tol=1e-7, history_every=10, time_limit=max(10 * t_scnn, 60)
    )
    target = f_scnn * (1 + args.rtol)
    hit = next((r for r in sol.history if r["network_objective"] <= target), None)
    print(
        f"ADMM: {sol.status}, {sol.info['iterations']} it, {sol.time:.2f} s, network objective "
        f"{sol.info['network_objective']:.8g}"
    )
    if hit is None:
        print(f"ADMM did not reach scnn's objective (1 + {args.rtol:g}) within its budget")
    else:
        print(
            f"ADMM reached scnn's objective (rtol {args.rtol:g}) at iteration {hit['iteration']}, "
            f"{hit['time']:.2f} s: {t_scnn / hit['time']:.1f}x faster than scnn"
        )


if __name__ == "__main__":
    main()
