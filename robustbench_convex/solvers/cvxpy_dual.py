"""The nominal convex program in CVXPY with its exact dual vector (the multipliers of the
predictions), for pattern pricing (:mod:`robustbench_convex.pricing`, MATH.md section 8)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solution import ConvexSolution

__all__ = ["solve_cvxpy_dual"]


def solve_cvxpy_dual(
    problem: ConvexReLUProblem,
    solver: str = "CLARABEL",
    rows: list[np.ndarray] | None = None,
    **options: Any,
):
    """The nominal program in CVXPY with the predictions as a variable ``z = yhat``, so that the
    multiplier of that equality is the exact dual vector ``theta`` (``info["theta"]``, shape
    ``(n,)``, the loss gradient at the predictions; :func:`robustbench_convex.pricing.
    dual_vector` reads it). Used for the hinge loss, whose subgradient at margin 1 the
    predictions do not determine. Same model as ``solve_cvxpy`` otherwise; when the solver
    fails or returns no multipliers, ``solve_cvxpy``'s answer is returned instead (without
    ``theta``; ``info["theta_note"]`` says why where known).

    Args:
        problem: a nominal ``ConvexReLUProblem`` (any loss).
        solver: a CVXPY solver name (Clarabel by default).
        rows: per block ``i``, the sample indices whose sign constraints are kept (the caller
            vouches that the others are implied by them, e.g. the facets of the cone,
            ``pricing._facet_rows``); None: all. ``info["multipliers"]`` is zero on the others.
        **options: passed to ``cvxpy.Problem.solve``.

    Returns:
        a ``ConvexSolution`` of ``problem``.
    """
    import cvxpy as cp

    start = time.perf_counter()
    Xa, D, y = problem.Xa, problem.D, problem.y
    V = cp.Variable((problem.d_aug, problem.P))
    W = cp.Variable((problem.d_aug, problem.P))
    z = cp.Variable(problem.n)
    link = z == cp.sum(cp.multiply(D, Xa @ (V - W)), axis=1)
    sign = 2.0 * D - 1.0
    if rows is None:
        cones = [cp.multiply(sign, Xa @ V) >= 0, cp.multiply(sign, Xa @ W) >= 0]
    else:
        cones = [
            cp.multiply(sign[r, i], Xa[r] @ U[:, i]) >= 0
            for U in (V, W)
            for i, r in enumerate(rows)
        ]
    if problem.loss == "hinge":
        data = cp.sum(cp.pos(1.0 - cp.multiply(y, z)))
    elif problem.loss == "logistic":
        data = cp.sum(cp.logistic(-cp.multiply(y, z)))
    else:
        data = 0.5 * cp.sum_squares(z - y)
    reg = problem.beta * (cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0)))
    prob = cp.Problem(
        cp.Minimize(data + reg),
        [link, *cones],
    )
    try:
        prob.solve(solver=solver, **options)
    except cp.error.SolverError as err:  # fall back to the reference path
        from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

        fallback = solve_cvxpy(problem, solver=solver)
        fallback.info["theta_note"] = f"no multipliers ({err})"
        return fallback
    status = {"optimal": "converged", "optimal_inaccurate": "inaccurate"}.get(prob.status, "failed")
    if V.value is None or link.dual_value is None:
        from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

        return solve_cvxpy(problem, solver=solver)
    Vv, Wv = np.asarray(V.value), np.asarray(W.value)
    # CVXPY's multiplier nu of z == yhat enters as + nu^T (z - yhat): grad L(z) = -nu
    theta = -np.asarray(link.dual_value, dtype=np.float64).reshape(-1)
    stats = prob.solver_stats
    multipliers = _multipliers(cones, rows, problem.n, problem.P)
    return ConvexSolution(
        V=Vv,
        W=Wv,
        objective=problem.convex_objective(Vv, Wv),
        status=status,
        solver=str(stats.solver_name),
        time=time.perf_counter() - start,
        problem=problem,
        message=str(prob.status),
        info={
            "theta": theta,
            "multipliers": multipliers,
            "iterations": stats.num_iters,
            "solver_objective": prob.value,
        },
    )


def _multipliers(cones: list, rows: list[np.ndarray] | None, n: int, P: int) -> np.ndarray | None:
    """The ``(n, 2P)`` sign-constraint multipliers (blocks ``v_1..v_P, w_1..w_P``; zero on rows
    not kept), or None when the solver returned none."""
    if any(c.dual_value is None for c in cones):
        return None
    if rows is None:
        return np.hstack([np.asarray(c.dual_value) for c in cones])
    out = np.zeros((n, 2 * P))
    for j, c in enumerate(cones):
        out[rows[j % P], j] = np.asarray(c.dual_value).reshape(-1)
    return out
