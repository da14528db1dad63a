"""One front door to the convex solvers: :func:`solve` picks the fastest *certified* solver for a
program (``solver="auto"``) and records why.

The rule (measured in ``benchmarks/admm_vs_cvxpy.py``; numbers in ``benchmarks/README.md``):

- nominal squared loss (no stability penalty): ``solve_ipm``, which certifies its own gap (a
  Lagrange-dual bound); if it stops uncertified (its known weak spot: far more blocks than
  samples) ``solve_admm`` continues from its point and multipliers;
- nominal hinge / logistic up to ``NOMINAL_CVXPY_MAX_ROWS`` sign constraints (``n * 2P``): the
  interior-point reference ``solve_cvxpy`` (its own optimality certificate; measured faster than
  ADMM's certified stop at n = 300, P = 8: Clarabel 1.1 s, ADMM not certified in 5000
  iterations on the hinge loss); beyond, ``solve_admm`` with its certified stop (``gap_tol =
  1e-3``; measured 4.4x (logistic) and 2.3x (hinge) faster than Clarabel at n = 1000, P = 32,
  and Clarabel fails on logistic n = 2000). The crossover between 4800 and 64000 rows was not
  measured more finely;
- robust programs (no dual bound is implemented for ADMM there): ``solve_cvxpy`` up to
  ``CVXPY_MAX_ROWS`` sign constraints, ``solve_admm`` (residual stop) beyond, where Clarabel's
  memory and time explode.
"""

from __future__ import annotations

from typing import Any, Literal

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solution import ConvexSolution

__all__ = [
    "CVXPY_MAX_ROWS",
    "FRONT_SOLVERS",
    "NOMINAL_CVXPY_MAX_ROWS",
    "FrontSolver",
    "choose_convex_solver",
    "solve",
]

FrontSolver = Literal["auto", "admm", "ipm", "cvxpy"]
FRONT_SOLVERS: tuple[str, ...] = ("auto", "admm", "ipm", "cvxpy")
CVXPY_MAX_ROWS = 64_000  # n * 2P sign constraints up to which robust programs go to solve_cvxpy
NOMINAL_CVXPY_MAX_ROWS = 16_000  # the same for nominal hinge / logistic (measured crossover)
_IPM_MAX_BYTES = 8 * 1024**3  # solve_ipm's own default memory cap


def choose_convex_solver(problem: ConvexReLUProblem) -> tuple[str, str]:
    """``(solver, reason)`` of ``solve(problem, solver="auto")`` (module docstring)."""
    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
    if problem.robust_eps == 0:
        if problem.loss == "squared" and problem.stability_penalty is None:
            from robustbench_convex.solvers.ipm import ipm_memory_bytes

            need = ipm_memory_bytes(problem.n, problem.d_aug, problem.P)
            if need <= _IPM_MAX_BYTES:
                return "ipm", "nominal squared loss: structured interior point, certified gap"
            return "admm", (
                f"nominal squared loss, but solve_ipm would need {need / 2**30:.1f} GiB: "
                "ADMM with its certified stop"
            )
    rows = problem.n * 2 * problem.P
    if problem.robust_eps == 0:
        if rows <= NOMINAL_CVXPY_MAX_ROWS:
            return "cvxpy", (
                f"nominal {problem.loss} loss, {rows} sign constraints <= "
                f"{NOMINAL_CVXPY_MAX_ROWS}: "
                "interior point (faster than ADMM's certified stop at this size)"
            )
        return "admm", f"nominal {problem.loss} loss: ADMM with its certified stop (gap_tol)"
    if rows <= CVXPY_MAX_ROWS:
        return "cvxpy", (
            f"robust program ({rows} sign constraints <= {CVXPY_MAX_ROWS}): interior point "
            "(ADMM has no certificate for robust programs)"
        )
    return "admm", f"robust program with {rows} sign constraints: ADMM (residual stop)"


def solve(
    problem: ConvexReLUProblem,
    *,
    solver: FrontSolver = "auto",
    **options: Any,
) -> ConvexSolution:
    """Solve a ``ConvexReLUProblem`` with the fastest certified solver (``solver="auto"``) or a
    named one.

    Args:
        problem: any program of ``ConvexReLUProblem`` (nominal or robust, any loss).
        solver: ``"auto"`` (:func:`choose_convex_solver`), ``"admm"`` (``solve_admm``),
            ``"ipm"`` (``solve_ipm``; nominal squared loss only) or ``"cvxpy"``
            (``solve_cvxpy``).
        **options: keyword arguments passed to the chosen solver function as they are (an
            option it does not take raises its ``TypeError``); ``time_limit``, ``max_iter``,
            ``verbose``, ``device`` and ``callback`` are common to ``solve_admm`` and
            ``solve_ipm``; ``time_limit`` and ``verbose`` to all three.

    Returns:
        the solver's ``ConvexSolution``; ``info["front_door"]`` records the chosen solver and
        why (and, for the ipm -> ADMM hand-over, both statuses).
    """
    if solver not in FRONT_SOLVERS:
        raise ValueError(f"solver must be one of {FRONT_SOLVERS}, got {solver!r}")
    if solver == "auto":
        chosen, reason = choose_convex_solver(problem)
    else:
        if not isinstance(problem, ConvexReLUProblem):
            raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
        chosen, reason = solver, "requested"
    if chosen == "ipm":
        from robustbench_convex.solvers.ipm import solve_ipm

        result = solve_ipm(problem, **options)
        if solver == "auto" and result.status != "converged":
            from robustbench_convex.solvers.admm import solve_admm

            first = result.status
            admm_opts = {k: v for k, v in options.items() if k != "max_iter"}
            result = solve_admm(problem, warm_start=result, **admm_opts)
            reason += f"; solve_ipm ended {first!r}, solve_admm continued from its point"
            chosen = "ipm+admm"
    elif chosen == "admm":
        from robustbench_convex.solvers.admm import solve_admm

        result = solve_admm(problem, **options)
    else:
        from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

        result = solve_cvxpy(problem, **options)
    result.info["front_door"] = {"solver": chosen, "reason": reason}
    return result
