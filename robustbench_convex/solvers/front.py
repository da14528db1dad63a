"""One front door to the convex solvers: :func:`solve` picks the fastest *certified* solver for a
program (``solver="auto"``) and records why.

The rule (measured in ``benchmarks/admm_vs_cvxpy.py``; numbers in ``benchmarks/README.md``):

- nominal squared loss (no stability penalty): ``solve_ipm``, which certifies its own gap (a
  Lagrange-dual bound); if it stops uncertified (its known weak spot: far more blocks than
  samples) ``solve_admm`` continues from its point and multipliers;
- nominal hinge loss while the interior point's Newton order ``d_aug P`` is at most
  ``IPM_MAX_ORDER`` (and its memory fits): ``solve_ipm`` (certified to 1e-6; measured at n =
  1000, d = 50, P = 32: certified in about Clarabel's time, while ``solve_admm``'s certified
  stop does not fire within 5000 iterations on this non-smooth loss); if it ends uncertified,
  ``solve_cvxpy`` up to ``CVXPY_MAX_ROWS`` sign constraints, else ``solve_admm`` from its point;
- nominal logistic loss up to ``NOMINAL_CVXPY_MAX_ROWS`` sign constraints (``n * 2P``):
  ``solve_ipm`` (measured 1.5-1.9 s against Clarabel's 25-41 s on breast-cancer's
  network-seeded programs), with the same fallbacks; beyond, ``solve_admm`` with its certified
  stop (``gap_tol = 1e-3``: at n = 1000, P = 32 it certifies in about a third of the interior
  point's time, and Clarabel fails on logistic n = 2000);
- the other nominal hinge programs: ``solve_cvxpy`` up to ``NOMINAL_CVXPY_MAX_ROWS`` sign
  constraints, ``solve_admm`` beyond;
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
_CVXPY_SHARED = ("verbose",)  # the option solve_cvxpy shares with solve_ipm


def choose_convex_solver(problem: ConvexReLUProblem) -> tuple[str, str]:
    """``(solver, reason)`` of ``solve(problem, solver="auto")`` (module docstring)."""
    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
    rows = problem.n * 2 * problem.P
    if problem.robust_eps != 0:
        if problem.has_input_bounds:
            return "cvxpy", "robust program with input bounds: solve_cvxpy (the only solver of it)"
        if problem.clean_weight > 0:
            return "cvxpy", "robust program with a clean weight: solve_cvxpy (its only solver)"
        if problem.output_signs is not None:
            return "cvxpy", "robust program with output signs: solve_cvxpy (its only solver)"
        if rows <= CVXPY_MAX_ROWS:
            return "cvxpy", (
                f"robust program ({rows} sign constraints <= {CVXPY_MAX_ROWS}): interior point "
                "(ADMM has no certificate for robust programs)"
            )
        return "admm", f"robust program with {rows} sign constraints: ADMM (residual stop)"
    loss = problem.loss
    if problem.stability_penalty is None:
        from robustbench_convex.solvers.ipm import IPM_MAX_ORDER, ipm_memory_bytes

        need = ipm_memory_bytes(problem.n, problem.d_aug, problem.P)
        order = problem.d_aug * problem.P
        if loss == "squared":
            if need <= _IPM_MAX_BYTES:
                return "ipm", "nominal squared loss: structured interior point, certified gap"
            return "admm", (
                f"nominal squared loss, but solve_ipm would need {need / 2**30:.1f} GiB: "
                "ADMM with its certified stop"
            )
        fits = need <= _IPM_MAX_BYTES and order <= IPM_MAX_ORDER
        if fits and (loss == "hinge" or rows <= NOMINAL_CVXPY_MAX_ROWS):
            return "ipm", (
                f"nominal {loss} loss, Newton order d_aug P = {order} <= {IPM_MAX_ORDER}: "
                "structured interior point, certified gap"
            )
    if rows <= NOMINAL_CVXPY_MAX_ROWS:
        return "cvxpy", (
            f"nominal {loss} loss, {rows} sign constraints <= {NOMINAL_CVXPY_MAX_ROWS}: "
            "interior point (faster than ADMM's certified stop at this size)"
        )
    return "admm", f"nominal {loss} loss: ADMM with its certified stop (gap_tol)"


def _after_uncertified_ipm(problem: ConvexReLUProblem) -> str:
    """Who continues when an automatic ``solve_ipm`` ends uncertified (or fails to factor its
    Newton matrix, as ``pricing.solve_restricted`` also handles): ``solve_admm`` from its
    point for the squared loss (its certificate is cheap there), ``solve_cvxpy`` for the margin
    losses up to ``CVXPY_MAX_ROWS`` sign constraints (ADMM's hinge stop is unreliable), else
    ``solve_admm``."""
    if problem.loss != "squared" and problem.n * 2 * problem.P <= CVXPY_MAX_ROWS:
        return "cvxpy"
    return "admm"


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
            ``"ipm"`` (``solve_ipm``; nominal programs) or ``"cvxpy"``
            (``solve_cvxpy``).
        **options: keyword arguments passed to the chosen solver function as they are (an
            option it does not take raises its ``TypeError``); ``time_limit``, ``max_iter``,
            ``verbose``, ``device`` and ``callback`` are common to ``solve_admm`` and
            ``solve_ipm``; ``time_limit`` and ``verbose`` to all three.

    Returns:
        the solver's ``ConvexSolution``; ``info["front_door"]`` records the chosen solver and
        why (and, for a hand-over after an uncertified ``solve_ipm``, both solvers:
        ``"ipm+admm"`` or ``"ipm+cvxpy"``).
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
        import torch

        from robustbench_convex.solvers.ipm import solve_ipm

        try:
            result = solve_ipm(problem, **options)
            first = result.status
        except torch.linalg.LinAlgError:  # a Newton matrix that cannot be factored
            if solver != "auto":
                raise
            result, first = None, "failed (Newton matrix not factorable)"
        if solver == "auto" and (result is None or result.status != "converged"):
            then = _after_uncertified_ipm(problem)
            if then == "admm":
                from robustbench_convex.solvers.admm import solve_admm

                admm_opts = {k: v for k, v in options.items() if k != "max_iter"}
                result = solve_admm(problem, warm_start=result, **admm_opts)
                reason += f"; solve_ipm ended {first!r}, solve_admm continued from its point"
            else:
                from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

                cvxpy_opts = {k: v for k, v in options.items() if k in _CVXPY_SHARED}
                result = solve_cvxpy(problem, **cvxpy_opts)
                reason += f"; solve_ipm ended {first!r}, solve_cvxpy solved it again"
            chosen = f"ipm+{then}"
    elif chosen == "admm":
        from robustbench_convex.solvers.admm import solve_admm

        result = solve_admm(problem, **options)
    else:
        from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

        result = solve_cvxpy(problem, **options)
    result.info["front_door"] = {"solver": chosen, "reason": reason}
    return result
