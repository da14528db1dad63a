"""Reference solver: every program of ``robustbench_convex.formulations`` built with CVXPY and
solved by an interior-point method (MOSEK when installed and licensed, else Clarabel, else SCS).

The model is built from matrix expressions only (no Python loop over patterns or samples):

- predictions ``yhat = sum(D * (Xa @ (V - W)), axis=1)`` (``(n,)``);
- robust loss radius ``r = eps * ||Z[:, pert]||_1`` row-wise, through an epigraph of the
  effective weights ``Z = D @ (V - W).T`` shared by the points of one distinct pattern row
  (``T >= |unique(D) @ (V - W)[pert].T|``, ``(u, d)``; ``u <= n`` distinct rows);
- stability right-hand sides ``eps * l1`` with ``l1 = A.sum(axis=0)`` (one scalar per block)
  and an epigraph ``A >= |M[pert]|`` (``(d, P)``) for ``M = V`` and ``M = W``;
- in the class-aware program with the hinge / logistic loss and a penalty >= 1 (or hard
  stability), the wrong-side block of every one-class pattern fixed to zero
  (:func:`one_sided_blocks`: provably the same optimum, about half the weights); the blocks
  that ``problem.output_signs`` excludes fixed to zero (a restriction the problem asks for);
- input coordinates that are zero on every training point: their weight rows fixed to zero
  and no epigraph entry at them (``drop_zero_features``: the same optimum);
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

__all__ = ["build_cvxpy_program", "one_sided_blocks", "solve_cvxpy"]


def _loss_expression(problem: ConvexReLUProblem, yhat: Any, radius: Any) -> tuple[Any, list]:
    """Summed (robust when ``radius`` is not None) loss of predictions ``yhat`` as a CVXPY
    expression, plus the constraints of any auxiliary variable it needs. A robust loss is mixed
    with the nominal one as ``(1 - kappa) * robust + kappa * nominal`` when the problem's
    ``clean_weight = kappa > 0`` (``ConvexReLUProblem.data_loss``)."""
    kappa = problem.clean_weight
    if radius is None or kappa == 0:
        return _plain_loss_expression(problem, yhat, radius)
    robust, constraints = _plain_loss_expression(problem, yhat, radius)
    clean, more = _plain_loss_expression(problem, yhat, None)
    return (1.0 - kappa) * robust + kappa * clean, constraints + more


def _plain_loss_expression(problem: ConvexReLUProblem, yhat: Any, radius: Any) -> tuple[Any, list]:
    """Summed loss of ``yhat`` (robust when ``radius`` is not None), without the clean mix."""
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


def _robust_radius_box(
    problem: ConvexReLUProblem, U: Any, pert: np.ndarray, layout: EpigraphLayout
) -> tuple[Any, list]:
    """The robust loss radius of :func:`_robust_radius` over the ball clipped to the input
    bounds: ``r_k = sum_j a_kj (y_k z_kj)_+ + h_kj (y_k z_kj)_-`` (``(a, h)`` =
    ``problem.box_allowance()``), the worst drop of the margin ``y_k z_k^T x`` on the box.

    One split ``T+ - T- = Z_r``, ``T+, T- >= 0`` per distinct pattern row (``layout="rows"``;
    ``"points"``: per point); the coefficients are per point (the box depends on ``x_k``), and
    since they are ``>= 0`` the minimization makes the split the minimal one, ``T+ = (z)_+``,
    ``T- = (z)_-``: the same program as the closed form."""
    import cvxpy as cp
    import scipy.sparse as sp

    D, y, n = problem.D, problem.y, problem.n
    a, h = (m[:, pert] for m in problem.box_allowance())
    pos = (y > 0)[:, None]
    coef_plus = np.where(pos, a, h)  # coefficient of (z)_+: a for positives, h for negatives
    coef_minus = np.where(pos, h, a)
    if layout == "points":
        rows, inverse = D, np.arange(n)
    else:
        rows, inverse = np.unique(D, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).ravel()
    Zr = rows @ U[pert, :].T  # (u, d'): effective weights of each distinct pattern row
    Tp = cp.Variable(Zr.shape, nonneg=True, name="pos_effective_weights")
    Tm = cp.Variable(Zr.shape, nonneg=True, name="neg_effective_weights")
    select = sp.csr_matrix((np.ones(n), (np.arange(n), inverse)), shape=(n, rows.shape[0]))
    radius = cp.sum(cp.multiply(coef_plus, select @ Tp), axis=1) + cp.sum(
        cp.multiply(coef_minus, select @ Tm), axis=1
    )
    return radius, [Tp - Tm == Zr]


def _box_stability_rhs(
    problem: ConvexReLUProblem,
    M: Any,
    rows: np.ndarray,
    cols: np.ndarray,
    name: str,
    pert: np.ndarray,
) -> tuple[Any, list]:
    """``(rhs, constraints)``: the ``(rows, cols)`` right-hand sides of the stability rows over
    the ball clipped to the input bounds, ``sum_j a_kj (s_ki m_ij)_+ + h_kj (s_ki m_ij)_-``
    with ``s_ki = 2 d_ik - 1`` (the worst drop of ``s_ki x^T m_i`` on the box at ``x_k``), through
    one split ``M+ - M- = M[pert]``, ``M+, M- >= 0`` per kept block. Coefficients ``>= 0``, so a
    non-minimal split only tightens a row: the program's optimum uses the minimal one.

    Each product ``c @ M+-`` (``c`` = ``a`` or ``h``, entries in ``[0, eps]``) is written
    through its complement where that is sparser (:func:`_sparse_box_product`)."""
    import cvxpy as cp

    a, h = (m[np.ix_(rows, pert)] for m in problem.box_allowance())
    Mp = cp.Variable((pert.size, cols.size), nonneg=True, name=f"pos_{name}")
    Mm = cp.Variable((pert.size, cols.size), nonneg=True, name=f"neg_{name}")
    constraints = [Mp - Mm == M[pert, :]]
    sums: dict[int, Any] = {}
    eps = problem.robust_eps

    def product(c: np.ndarray, X: Any) -> Any:
        return _sparse_box_product(c, X, eps, sums, constraints)

    sign = 2.0 * problem.D[np.ix_(rows, cols)] - 1.0
    if np.all(sign > 0):
        rhs = product(a, Mp) + product(h, Mm)
    elif np.all(sign < 0):
        rhs = product(a, Mm) + product(h, Mp)
    else:
        plus = product(a, Mp) + product(h, Mm)  # s = +1
        minus = product(a, Mm) + product(h, Mp)  # s = -1
        rhs = cp.multiply(sign > 0, plus) + cp.multiply(sign < 0, minus)
    return rhs, constraints


def _sparse_box_product(
    c: np.ndarray, X: Any, eps: float, sums: dict[int, Any], constraints: list
) -> Any:
    """``c @ X`` (``c``: ``(r, p)`` box allowances in ``[0, eps]``; ``X``: ``(p, C)``) as a
    CVXPY expression with as few non-zeros per row as possible: directly, or as ``eps *
    1 s^T - (eps - c) @ X`` with ``s = 1^T X`` one scalar variable per column (made once per
    variable ``X``, kept in ``sums`` under ``X.id``, its definition appended to
    ``constraints``) when ``eps - c`` has fewer non-zeros than ``c`` (the same expression).
    Why: on image data most allowances sit at
    ``eps`` (mnist-2v8-t10k: ``h = min(eps, 1 - x) = eps`` on the 86% of pixels below
    ``1 - eps``), and the stability rows carrying them were half of Clarabel's non-zeros."""
    import cvxpy as cp

    rest = eps - c
    if np.count_nonzero(rest) + c.shape[0] >= np.count_nonzero(c):
        return c @ X
    if X.id not in sums:
        sums[X.id] = cp.Variable(X.shape[1], name=f"sum_{X.name()}")
        constraints.append(sums[X.id] == cp.sum(X, axis=0))
    s = cp.reshape(sums[X.id], (1, X.shape[1]), order="F")
    return eps * (np.ones((c.shape[0], 1)) @ s) - rest @ X


def _weights(
    Xa: np.ndarray, P: int, name: str, *, drop_dead: bool, columns: np.ndarray | None = None
) -> tuple[Any, Any]:
    """The ``(d_aug, P)`` weights ``V`` or ``W`` and their kept columns.

    Returns ``(M, M_kept)``: ``M`` is ``(d_aug, P)`` and ``M_kept = M[:, columns]`` (``columns``:
    sorted block indices the program keeps, default all); columns outside ``columns`` are fixed
    to zero (see :func:`one_sided_blocks`). With ``drop_dead`` the variable covers only the
    coordinates where some training input is non-zero, placed into the ``d_aug`` rows by a sparse
    selection (zero rows elsewhere).

    Why ``drop_dead`` is the same program: a coordinate ``j`` with ``Xa[:, j] == 0``
    (digits-2v8: 9 border pixels of 64; mnist-2v8-t10k at downsample 3: 36 of 100) leaves the
    predictions and the stability left-hand sides unchanged and enters only the group norms, the
    robust radius and the stability right-hand sides, all non-decreasing in ``|m_j|``: setting
    it to zero keeps a solution feasible and its objective no larger, so the optimum is the
    same. It shrinks the dense block ``2 d_aug P`` that the robust programs' KKT factorization
    carries."""
    import cvxpy as cp
    import scipy.sparse as sp

    d_aug = Xa.shape[1]
    cols = np.arange(P) if columns is None else np.asarray(columns, dtype=np.int64)
    if cols.size == 0:  # every block of this side fixed to zero (output_signs)
        return cp.Constant(np.zeros((d_aug, P))), cp.Constant(np.zeros((d_aug, 0)))
    live = np.flatnonzero(np.any(Xa != 0, axis=0)) if drop_dead else np.arange(d_aug)
    suffix = "" if live.size == d_aug else "_live"
    var = cp.Variable((live.size, cols.size), name=f"{name}{suffix}")
    kept = var
    if live.size != d_aug:
        rows = sp.csr_matrix(
            (np.ones(live.size), (live, np.arange(live.size))), shape=(d_aug, live.size)
        )
        kept = rows @ var
    if cols.size == P:
        return kept, kept
    place = sp.csr_matrix((np.ones(cols.size), (np.arange(cols.size), cols)), shape=(cols.size, P))
    return kept @ place, kept


def one_sided_blocks(problem: ConvexReLUProblem) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(P,)`` masks ``(keep_v, keep_w)`` of the blocks a program needs.

    In the class-aware program (Rc) with the hinge or logistic loss and hard stability or a
    penalty ``>= 1``, a block whose pattern covers one class only is zero at some optimum on its
    wrong side: ``v_i`` (positive output weight) where pattern ``i`` is active on no positive
    point, ``w_i`` where it is active on no negative point. Proof for ``w_i`` of a pattern active
    on positives only (``v_i`` is symmetric): ``w_i`` enters only the losses of the positives
    ``k`` in the pattern, whose robust margin ``y_k x_k^T z_k - eps ||z_k'||_1`` (``z_k`` holds
    ``-w_i``) rises by at least ``x_k^T w_i - eps ||w_i'||_1`` when ``w_i`` is set to zero, so
    each such loss (slope <= 1 in the margin) rises by at most ``max(0, eps ||w_i'||_1 -
    x_k^T w_i)``, the stability slack of ``(k, i)`` that the penalty (``>= 1``; or the hard
    constraint) pays and that disappears with ``w_i``, as do the other slacks of ``w_i`` and
    ``beta ||w_i||_2``. So fixing these blocks to zero keeps the optimal value; the dense weight
    block of the KKT system (``2 d P`` weights tied by the robust loss) nearly halves, about 8x
    fewer flops per interior-point factorization (class-aware split patterns are one-class
    except the all-active one). Every other program, loss or penalty keeps all blocks.
    """
    P = problem.P
    keep = np.ones(P, dtype=bool)
    penalty = problem.stability_penalty
    if (
        problem.program != "class-aware"
        or problem.loss not in ("hinge", "logistic")
        or (penalty is not None and penalty < 1.0)
    ):
        return keep, keep.copy()
    D = problem.D
    keep_v = np.any(D[problem.y > 0] != 0, axis=0)
    keep_w = np.any(D[problem.y < 0] != 0, axis=0)
    return keep_v, keep_w


def build_cvxpy_program(
    problem: ConvexReLUProblem,
    *,
    epigraph: EpigraphLayout = "rows",
    drop_zero_features: bool = True,
    one_sided: bool = True,
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
        one_sided: fix to zero the wrong-side blocks of one-class patterns where that keeps the
            optimal value (class-aware program, hinge / logistic loss, hard stability or penalty
            ``>= 1``: :func:`one_sided_blocks`); False keeps every block the program has
            (comparison tests; ``problem.output_signs`` still fixes the blocks it excludes).

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
    if drop:  # weights at all-zero coordinates are fixed to zero (_weights): no epigraph there
        pert = pert[np.any(Xa[:, pert] != 0, axis=0)]
    keep_v, keep_w = one_sided_blocks(problem) if one_sided else (None, None)
    signs = problem.output_signs
    if signs is not None:  # part of the program (not an equivalence like one_sided)
        keep_v = (signs >= 0) if keep_v is None else keep_v & (signs >= 0)
        keep_w = (signs <= 0) if keep_w is None else keep_w & (signs <= 0)
    cols_v = None if keep_v is None else np.flatnonzero(keep_v)
    cols_w = None if keep_w is None else np.flatnonzero(keep_w)
    V, V_kept = _weights(Xa, P, "V", drop_dead=drop, columns=cols_v)
    W, W_kept = _weights(Xa, P, "W", drop_dead=drop, columns=cols_w)
    constraints: list = []
    objective = problem.beta * sum(
        cp.sum(cp.norm(M, 2, axis=0)) for M in (V_kept, W_kept) if M.shape[1] > 0
    )

    yhat = cp.sum(cp.multiply(D, Xa @ (V - W)), axis=1)  # sum_i D_i Xa (v_i - w_i)
    radius = None
    box = eps > 0 and problem.has_input_bounds
    if box:
        radius, epigraph = _robust_radius_box(problem, V - W, pert, epigraph)
        constraints += epigraph
    elif eps > 0:
        radius, epigraph = _robust_radius(D, V - W, pert, eps, epigraph)
        constraints += epigraph
    loss, loss_constraints = _loss_expression(problem, yhat, radius)
    objective = objective + loss
    constraints += loss_constraints

    sign = 2.0 * D - 1.0
    program = problem.program
    for M, cols, name, constrained in (
        (V_kept, cols_v, "v", problem.y < 0),
        (W_kept, cols_w, "w", problem.y > 0),
    ):
        cols = np.arange(P) if cols is None else cols
        if program == "class-aware":
            rows = np.flatnonzero(constrained)  # v: negatives, w: positives
        else:
            rows = np.arange(n)
        if rows.size == 0 or cols.size == 0:
            continue
        # (rows, kept blocks): (2 d_ik - 1) x_k^T m_i
        lhs = cp.multiply(sign[np.ix_(rows, cols)], Xa[rows] @ M)
        if program in ("nominal", "relaxed"):
            constraints.append(lhs >= 0)
            continue
        if box:
            rhs, split = _box_stability_rhs(problem, M, rows, cols, name, pert)
            constraints += split
        else:
            rhs = _l1_stability_rhs(M, pert, cols, eps, name, constraints)
        if problem.stability_penalty is None:
            constraints.append(lhs >= rhs)
        else:
            S = cp.Variable((rows.size, cols.size), nonneg=True, name=f"slack_{name}")
            constraints.append(lhs + S >= rhs)
            objective = objective + problem.stability_penalty * cp.sum(S)
    return cp.Problem(cp.Minimize(objective), constraints), V, W


def _l1_stability_rhs(
    M: Any, pert: np.ndarray, cols: np.ndarray, eps: float, name: str, constraints: list
) -> Any:
    """``eps * ||m_i||_1'`` per kept block (unbounded ball), appending its epigraph to
    ``constraints``."""
    import cvxpy as cp

    A = cp.Variable((pert.size, cols.size), name=f"abs_{name}")
    constraints += [A >= M[pert, :], A >= -M[pert, :]]
    # eps * ||m_i||_1' through one scalar per block: each stability row then holds
    # d_aug + 2 non-zeros instead of 2 d_aug + 1 (measured 25% less Clarabel CPU time on
    # digits-2v8 and breast-cancer, same iterations and optimum)
    l1 = cp.Variable(cols.size, name=f"l1_{name}")
    constraints.append(l1 == cp.sum(A, axis=0))
    return eps * l1  # (kept,)


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
    factorization on one thread.

    Why faer: the robust loss couples every weight of ``V`` and ``W`` (``2 d_aug P`` variables),
    so the KKT factor holds a dense block of that size; Clarabel's default ``qdldl`` is a
    simplicial LDL, ``faer`` a supernodal one (dense kernels). Measured on breast-cancer
    (IBP-seeded patterns, P = 60, hinge, eps 0.1, penalty 1; same 34 iterations, same optimum to
    9 digits): 52 s against 188 s (benchmarks/robust_quick_cell.py).

    Why one thread (until 2026-12-02 torch's thread count): on the 2-core machines here faer's
    parallel factorization was slower than its serial one on every robust program measured,
    with the same iterations (mnist-2v8-t10k own rung, 53 iterations: 49.9 s on 2 threads
    against 31.8 s on one, nothing else running; breast-cancer 5.9 s against 4.2 s; digits-2v8
    4.0 s against 3.4 s). Pass ``max_threads`` to choose."""
    if "direct_solve_method" not in options and clarabel_has_faer():
        options["direct_solve_method"] = "faer"
        options.setdefault("max_threads", 1)
    info["clarabel_factorization"] = options.get("direct_solve_method", "default (qdldl)")
    if "max_threads" in options:
        info["clarabel_threads"] = options["max_threads"]


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
            installed Clarabel has it) on one thread (``max_threads=1``); the choice is
            ``info["clarabel_factorization"]`` (and ``info["clarabel_threads"]``).

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
        "blocks_fixed_one_sided": int(sum((~m).sum() for m in one_sided_blocks(problem))),
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
