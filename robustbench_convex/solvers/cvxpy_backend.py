"""Reference solver: every program of ``robustbench_convex.formulations`` built with CVXPY and
solved by an interior-point method (MOSEK when installed and licensed, else Clarabel, else SCS).

The model is built from matrix expressions only (no Python loop over patterns or samples):

- predictions ``yhat = sum(D * (Xa @ (V - W)), axis=1)`` (``(n,)``);
- robust loss radius ``r = eps * ||Z[:, pert]||_1`` row-wise, through an epigraph of the
  effective weights ``Z = D @ (V - W).T`` shared by the points of one distinct pattern row
  (``T >= |unique(D) @ (V - W)[pert].T|``, ``(u, d)``; ``u <= n`` distinct rows);
- stability right-hand sides ``eps * A.sum(axis=0)`` with an epigraph ``A >= |M[pert]|``
  (``(d, P)``) for ``M = V`` and ``M = W``;
- the robust squared loss ``0.5 * sum (|yhat - y| + r)^2`` through ``t >= |yhat - y| + r`` and
  ``0.5 * sum_squares(t)`` (``t`` is non-negative at the optimum, so this is DCP and exact).

Interior-point cost grows cubically with the program size; the robust programs carry ``u x d``
epigraph variables (MATH.md section 6). Build, compile and solve times are recorded in
``solution.info``.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any, Literal

import numpy as np

from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solution import ConvexSolution
from robustbench_convex.solvers._solver_select import choose_solver

__all__ = ["build_cvxpy_program", "solve_cvxpy"]


def _loss_expression(problem: ConvexReLUProblem, yhat: Any, radius: Any) -> tuple[Any, list]:
    """Summed (robust when ``radius`` is not None) loss of predictions ``yhat`` as a CVXPY
    expression, plus the constraints of any auxiliary variable it needs."""
    import cvxpy as cp

    y = problem.y
    if problem.loss == "squared":
        if radius is None:
            return 0.5 * cp.sum_squares(yhat - y), []
        t = cp.Variable(problem.n, name="abs_residual_plus_radius")
        return 0.5 * cp.sum_squares(t), [t >= yhat - y + radius, t >= y - yhat + radius]
    margin = cp.multiply(y, yhat)
    if radius is not None:
        margin = margin - radius
    if problem.loss == "hinge":
        return cp.sum(cp.pos(1.0 - margin)), []
    return cp.sum(cp.logistic(-margin)), []


EpigraphLayout = Literal["rows", "points"]


def _robust_radius(
    D: np.ndarray, U: Any, pert: np.ndarray, eps: float, layout: EpigraphLayout
) -> tuple[Any, list]:
    """The robust loss radius ``r_k = eps * ||z_k[pert]||_1`` of every point, ``(n,)``, with
    ``z_k = sum_i D_ki u_i`` (``U = V - W``, ``(d_aug, P)``), and its epigraph constraints.

    ``layout="rows"`` (default of :func:`build_cvxpy_program`): ``z_k`` depends on ``k`` only
    through the pattern row ``D_k``, so one epigraph row ``T_r >= |R_r U[pert]^T|`` serves every
    point of a distinct row ``R_r`` and ``r_k = eps * sum(T_{row(k)})``: ``u d`` epigraph
    variables instead of ``n d`` (``u`` distinct rows; network-seeded class-aware patterns have
    few: digits-2v8 6 of 245 points at n_patterns 16). The same program (every feasible point
    maps to one of equal objective), hence the same optimum. ``layout="points"``: one epigraph
    row per point (the formulation before the change; kept for comparison tests).
    """
    import cvxpy as cp
    import scipy.sparse as sp

    if layout == "points":
        Zp = D @ U[pert, :].T  # (n, d): effective weights without the bias coordinate
        T = cp.Variable((D.shape[0], pert.size), name="abs_effective_weights")
        return eps * cp.sum(T, axis=1), [T >= Zp, T >= -Zp]
    rows, inverse = np.unique(D, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    Zr = rows @ U[pert, :].T  # (u, d): effective weights of each distinct pattern row
    T = cp.Variable((rows.shape[0], pert.size), name="abs_effective_weights_by_row")
    n = D.shape[0]
    select = sp.csr_matrix((np.ones(n), (np.arange(n), inverse)), shape=(n, rows.shape[0]))
    return eps * (select @ cp.sum(T, axis=1)), [T >= Zr, T >= -Zr]


def _weights(Xa: np.ndarray, P: int, name: str, *, drop_dead: bool) -> Any:
    """The ``(d_aug, P)`` weights ``V`` or ``W``: a CVXPY variable, or with ``drop_dead`` a
    variable over the coordinates where some training input is non-zero, placed into the
    ``(d_aug, P)`` shape by a sparse selection (zero rows elsewhere).

    Why it is the same program: a coordinate ``j`` with ``Xa[:, j] == 0`` (digits-2v8: 9 border
    pixels of 64; mnist-2v8-t10k at downsample 3: 36 of 100) leaves the predictions and the
    stability left-hand sides unchanged and enters only the group norms, the robust radius and
    the stability right-hand sides, all non-decreasing in ``|m_j|``: setting it to zero keeps
    a solution feasible and its objective no larger, so the optimum is the same. It shrinks the
    dense block ``2 d_aug P`` that the robust programs' KKT factorization carries."""
    import cvxpy as cp
    import scipy.sparse as sp

    d_aug = Xa.shape[1]
    live = np.flatnonzero(np.any(Xa != 0, axis=0)) if drop_dead else np.arange(d_aug)
    if live.size == d_aug:
        return cp.Variable((d_aug, P), name=name)
    select = sp.csr_matrix(
        (np.ones(live.size), (live, np.arange(live.size))), shape=(d_aug, live.size)
    )
    return select @ cp.Variable((live.size, P), name=f"{name}_live")


def build_cvxpy_program(
    problem: ConvexReLUProblem,
    *,
    epigraph: EpigraphLayout = "rows",
    drop_zero_features: bool = True,
) -> tuple[Any, Any, Any]:
    """The CVXPY problem of ``problem.program`` (see ``formulations`` module docstring).

    Args:
        problem: the program to build.
        epigraph: layout of the l1 epigraph of the effective weights in the robust loss:
            ``"rows"`` shares it among the points of one distinct pattern row (default: same
            optimum, far fewer variables: measured 4.5x faster on digits-2v8 with IBP-seeded
            patterns), ``"points"`` gives every point its own (the earlier formulation).
        drop_zero_features: robust programs only: fix to zero the rows of ``V, W`` at input
            coordinates that are zero on every training point (same optimum, smaller program;
            see ``_weights``). False keeps them as free variables (for comparison tests).

    Returns:
        ``(cvxpy_problem, V, W)`` with ``V, W`` the ``(d_aug, P)`` CVXPY variables (robust
        programs whose training inputs have all-zero coordinates: ``(d_aug, P)`` expressions
        fixing those rows to zero, an equivalent program; ``.value`` works for both).
    """
    import cvxpy as cp

    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
    if epigraph not in ("rows", "points"):
        raise ValueError(f"epigraph must be 'rows' or 'points', got {epigraph!r}")
    n, P = problem.n, problem.P
    Xa, D, eps = problem.Xa, problem.D, problem.robust_eps
    pert = np.flatnonzero(problem.perturbable)
    drop = bool(drop_zero_features) and eps > 0
    V = _weights(Xa, P, "V", drop_dead=drop)
    W = _weights(Xa, P, "W", drop_dead=drop)
    constraints: list = []
    objective = problem.beta * (cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0)))

    yhat = cp.sum(cp.multiply(D, Xa @ (V - W)), axis=1)  # sum_i D_i Xa (v_i - w_i)
    radius = None
    if eps > 0:
        radius, epigraph = _robust_radius(D, V - W, pert, eps, epigraph)
        constraints += epigraph
    loss, loss_constraints = _loss_expression(problem, yhat, radius)
    objective = objective + loss
    constraints += loss_constraints

    sign = 2.0 * D - 1.0
    program = problem.program
    for M, name, constrained in ((V, "v", problem.y < 0), (W, "w", problem.y > 0)):
        if program == "class-aware":
            rows = np.flatnonzero(constrained)  # v: negatives, w: positives
        else:
            rows = np.arange(n)
        if rows.size == 0:
            continue
        lhs = cp.multiply(sign[rows], Xa[rows] @ M)  # (rows, P): (2 d_ik - 1) x_k^T m_i
        if program in ("nominal", "relaxed"):
            constraints.append(lhs >= 0)
            continue
        A = cp.Variable((pert.size, P), name=f"abs_{name}")
        constraints += [A >= M[pert, :], A >= -M[pert, :]]
        rhs = eps * cp.sum(A, axis=0)  # (P,): eps * ||m_i||_1'
        if problem.stability_penalty is None:
            constraints.append(lhs >= rhs)
        else:
            S = cp.Variable((rows.size, P), nonneg=True, name=f"slack_{name}")
            constraints.append(lhs + S >= rhs)
            objective = objective + problem.stability_penalty * cp.sum(S)
    return cp.Problem(cp.Minimize(objective), constraints), V, W


@functools.lru_cache(maxsize=1)
def clarabel_has_faer() -> bool:
    """Whether the installed Clarabel offers the supernodal ``faer`` LDL factorization (0.10+;
    checked once per process on a one-variable program)."""
    try:
        import clarabel
        import scipy.sparse as sp

        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.direct_solve_method = "faer"
        settings.max_threads = 1
        A = sp.csc_matrix(np.array([[-1.0]]))
        P = sp.csc_matrix((1, 1))
        solver = clarabel.DefaultSolver(
            P, np.array([1.0]), A, np.array([0.0]), [clarabel.NonnegativeConeT(1)], settings
        )
        return str(solver.solve().status) == "Solved"
    except Exception:  # older Clarabel: no such option, or the build lacks faer
        return False


def _clarabel_robust_defaults(options: dict[str, Any], info: dict[str, Any]) -> None:
    """Clarabel options for the robust programs, unless the caller set them: the ``faer``
    factorization with torch's thread count.

    Why: the robust loss couples every weight of ``V`` and ``W`` (``2 d_aug P`` variables), so the
    KKT factor holds a dense block of that size; Clarabel's default ``qdldl`` is a simplicial
    LDL, ``faer`` a supernodal one (dense kernels). Measured on breast-cancer (IBP-seeded
    patterns, P = 60, hinge, eps 0.1, penalty 1; same 34 iterations, same optimum to 9
    digits): 52 s against 188 s (benchmarks/robust_quick_cell.py)."""
    if "direct_solve_method" not in options and clarabel_has_faer():
        import torch

        options["direct_solve_method"] = "faer"
        options.setdefault("max_threads", int(torch.get_num_threads()))
    info["clarabel_factorization"] = options.get("direct_solve_method", "default (qdldl)")


_STATUS_MAP = {
    "optimal": "converged",
    "optimal_inaccurate": "inaccurate",
    "user_limit": "max_iter",
}


def solve_cvxpy(
    problem: ConvexReLUProblem,
    solver: str | None = None,
    verbose: bool = False,
    **solver_options: Any,
) -> ConvexSolution:
    """Solve ``problem`` (nominal, certified, relaxed or class-aware; hard or soft stability) with
    CVXPY.

    Args:
        problem: the :class:`~robustbench_convex.formulations.ConvexReLUProblem` to solve.
        solver: a CVXPY solver name (``"CLARABEL"``, ``"MOSEK"``, ``"SCS"``, ...); None picks MOSEK
            when installed and licensed, else CLARABEL, else SCS. The one used is
            ``solution.solver`` and why is ``solution.info["solver_choice"]``.
        verbose: print the solver's log.
        **solver_options: passed to ``cvxpy.Problem.solve`` (e.g. Clarabel's ``tol_gap_abs``,
            ``tol_gap_rel``, ``tol_feas``, ``max_iter``; SCS's ``eps_abs``, ``max_iters``).
            Robust programs with Clarabel default to ``direct_solve_method="faer"`` (when the
            installed Clarabel has it) and ``max_threads`` = torch's thread count; the choice is
            ``info["clarabel_factorization"]``.

    Returns:
        A :class:`~robustbench_convex.solution.ConvexSolution`. ``objective`` is
        ``problem.convex_objective(V, W)`` at the returned arrays (the solver's own optimal value is
        ``info["solver_objective"]``). ``status`` is ``"converged"`` (CVXPY ``optimal``),
        ``"inaccurate"`` (``optimal_inaccurate``), ``"max_iter"`` (``user_limit``: iteration or time
        budget hit, with a solution), or ``"failed"`` (infeasible, unbounded, solver error, or no
        finite solution: ``V, W`` are zeros, ``objective`` is NaN and ``message`` holds the
        solver's message). ``info`` records build / compile / solve times (seconds), iterations,
        the CVXPY status, the largest constraint violation and the number of active neurons.

    Raises:
        TypeError: ``problem`` is not a ConvexReLUProblem, or the solver rejected an option.
        ValueError: the solver is not installed (the message lists the installed ones) or is
            MOSEK without a license.
    """
    import cvxpy as cp

    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
    name, choice_note = choose_solver(solver)
    start = time.perf_counter()
    prob, V, W = build_cvxpy_program(problem)
    build_time = time.perf_counter() - start
    info: dict[str, Any] = {
        "solver_choice": choice_note,
        "build_time": build_time,
        "program": problem.program,
        "n_variables": int(sum(v.size for v in prob.variables())),
        "solver_options": dict(solver_options),
    }
    # CVXPY's C++ canonicalization backend does not cover every atom used here and would fall back
    # to the SciPy backend with a warning; ask for the SciPy backend directly.
    solver_options.setdefault("canon_backend", cp.SCIPY_CANON_BACKEND)
    if name == "CLARABEL" and problem.robust_eps > 0:
        _clarabel_robust_defaults(solver_options, info)
    error: str | None = None
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Solution may be inaccurate", category=UserWarning
        )
        try:
            prob.solve(solver=name, verbose=verbose, **solver_options)
        except cp.error.SolverError as exc:
            error = f"{name} raised SolverError: {exc}"
        except TypeError as exc:
            raise TypeError(f"solver options {sorted(solver_options)} rejected: {exc}") from exc
    total = time.perf_counter() - start
    info["compile_time"] = getattr(prob, "compilation_time", None)
    stats = prob.solver_stats if error is None else None
    info["solve_time"] = None if stats is None else stats.solve_time
    info["iterations"] = None if stats is None else stats.num_iters
    info["cvxpy_status"] = prob.status if error is None else "solver_error"

    status = _STATUS_MAP.get(prob.status) if error is None else None
    values = (V.value, W.value)
    if status is not None and (
        values[0] is None
        or values[1] is None
        or not (np.all(np.isfinite(values[0])) and np.all(np.isfinite(values[1])))
    ):
        status, error = None, f"{name} returned status {prob.status!r} without a finite solution"
    if status is None:
        message = error or f"{name}: CVXPY status {prob.status!r} (no usable solution)"
        zeros = np.zeros((problem.d_aug, problem.P))
        info["solver_objective"] = None if error else prob.value
        return ConvexSolution(
            V=zeros,
            W=zeros.copy(),
            objective=float("nan"),
            status="failed",
            solver=name,
            time=total,
            problem=problem,
            message=message,
            info=info,
        )

    Vv = np.asarray(values[0], dtype=np.float64)
    Wv = np.asarray(values[1], dtype=np.float64)
    info["solver_objective"] = float(prob.value)
    info["constraint_violation"] = problem.constraint_violation(Vv, Wv)
    solution = ConvexSolution(
        V=Vv,
        W=Wv,
        objective=problem.convex_objective(Vv, Wv),
        status=status,
        solver=name,
        time=total,
        problem=problem,
        message=f"{name}: CVXPY status {prob.status!r} after {info['iterations']} iterations",
        info=info,
    )
    info["n_active"] = solution.n_active()
    info["n_relu_active"] = solution.n_relu_active()
    if problem.program != "nominal" and solution.collapsed:  # ConvexSolution warns too
        solution.message += (
            f"; the {problem.program} program collapsed (no effective ReLU neuron: the zero network "
            "or a linear model; MATH.md section 6)"
        )
    return solution
