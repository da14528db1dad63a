"""HiGHS through ``highspy``, silent: the one place that makes a ``highspy.Highs``.

Two reasons it exists:

- HiGHS prints a two-line banner on stdout when a process makes its first ``Highs`` (highspy
  1.16), before any option can be set, from C (``sys.stdout`` cannot catch it);
- SciPy's own copy of HiGHS (``scipy.optimize.milp``, HiGHS 1.12 in SciPy 1.17) prints a stray
  debug line (``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();``)
  during some MILP solves, whatever its options: six lines under ``rbconvex run --preset quick
  --quiet``. The standalone ``highspy`` (1.13+) does not.

So the exact verifier's MILPs (:func:`solve_milp`) and the pricing's QP refit
(``robustbench_convex.pricing``) use ``highspy`` through :func:`quiet_highs`.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

__all__ = ["MilpResult", "quiet_highs", "solve_milp"]

_GREETED = False  # whether this process has made its first highspy.Highs


def quiet_highs() -> Any:
    """A ``highspy.Highs`` with its output off, on one thread.

    The process's first construction (the one that prints the banner) runs with file descriptor
    1 pointed at ``os.devnull``, restored at once (also on error); later ones print nothing and
    are made as usual."""
    import highspy

    global _GREETED
    if _GREETED:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _GREETED = True
    h.setOptionValue("output_flag", False)
    # one thread, as SciPy's copy of HiGHS ran and as the project's solvers run by default:
    # highspy's default starts a worker pool (measured on benchmarks/exact_verifier.py, MILPs at
    # eps 0.2: 11.1 s CPU for 7.6 s wall, against 6.5 s for 6.5 s on one thread)
    h.setOptionValue("threads", 1)
    return h


@dataclass(frozen=True)
class MilpResult:
    """What :func:`solve_milp` found.

    Attributes:
        status: ``"optimal"`` (within ``mip_rel_gap``), ``"time_limit"`` (stopped by the time
            limit; ``x`` and ``objective`` hold the best solution found, if any) or ``"error"``.
        x: ``(n,)`` best solution found, or None.
        objective: ``c^T x`` at ``x`` (NaN without one).
        dual_bound: a valid lower bound on the optimum (``-inf`` when none is known).
    """

    status: Literal["optimal", "time_limit", "error"]
    x: np.ndarray | None
    objective: float
    dual_bound: float


def solve_milp(
    c: np.ndarray,
    A: sp.csr_matrix,
    rhs: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    integer: np.ndarray,
    *,
    time_limit: float,
    mip_rel_gap: float,
) -> MilpResult:
    """``min c^T x`` s.t. ``A x <= rhs``, ``lb <= x <= ub``, ``x_j`` integer where ``integer``
    (boolean ``(n,)``), by HiGHS's branch and bound (presolve on)."""
    import highspy

    n = c.size
    A = sp.csr_matrix(A)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, A.shape[0]
    inf = highspy.kHighsInf
    lp.col_cost_ = np.asarray(c, dtype=np.float64)
    lp.col_lower_ = np.where(np.isfinite(lb), lb, -inf).astype(np.float64)
    lp.col_upper_ = np.where(np.isfinite(ub), ub, inf).astype(np.float64)
    lp.row_lower_ = np.full(A.shape[0], -inf)
    lp.row_upper_ = np.asarray(rhs, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(np.float64)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, A.shape[0]
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in np.asarray(integer, dtype=bool)
    ]
    h = quiet_highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("presolve", "on")
    h.passModel(lp)
    h.run()
    model_status = h.getModelStatus()
    info = h.getInfo()
    has_x = int(info.primal_solution_status) == int(highspy.SolutionStatus.kSolutionStatusFeasible)
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_x else None
    objective = float(info.objective_function_value) if has_x else math.nan
    dual = float(info.mip_dual_bound)
    dual = dual if np.isfinite(dual) else -math.inf
    if model_status == highspy.HighsModelStatus.kOptimal:
        status: Literal["optimal", "time_limit", "error"] = "optimal"
    elif model_status == highspy.HighsModelStatus.kTimeLimit:
        status = "time_limit"
    else:
        status = "error"
    return MilpResult(status=status, x=x, objective=objective, dual_bound=dual)
