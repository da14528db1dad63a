"""Robust convex training: pattern generators, collapse diagnostics and certificate checks
(MATH.md section 6).

The three robust programs live in :class:`~robustbench_convex.formulations.ConvexReLUProblem`
(``robust="certified" | "relaxed" | "class-aware"`` with ``robust_eps``); this module helps to use
them and to check what they claim:

- pattern generators that keep blocks feasible under the stability constraints (re-exported from
  :mod:`robustbench_convex.patterns`): :func:`gap_patterns` (hyperplanes in gaps of the projected
  data, for (R)), :func:`class_aware_patterns` / :func:`split_by_class` (for (Rc), optionally with
  the all-active pattern), :func:`patterns_from_network` (the arrangement of an existing network,
  e.g. one trained by ``train_pgd_at``);
- :func:`forced_zero_blocks`: which blocks the hard stability constraints force to zero, *before*
  solving (one pair of small LPs per block);
- :func:`diagnose`: one flat record per solution: program, certificate or not, active / ReLU /
  zero / forced-zero blocks, collapse, certified training points and accuracy;
- :func:`certified_training_accuracy` and :func:`check_certificates` (certified margin of every
  training point against the exact MILP worst case of the recovered network, ``attacks.exact``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from robustbench_convex.patterns import (
    class_aware_patterns,
    gap_patterns,
    patterns_from_network,
    split_by_class,
)
from robustbench_convex.solution import (
    DEFAULT_OUTPUT_ATOL,
    DEFAULT_RECOVERY_RTOL,
    ConvexSolution,
    recover_network,
)

if TYPE_CHECKING:
    import pandas as pd

    from robustbench_convex.formulations import ConvexReLUProblem

__all__ = [
    "RobustDiagnostics",
    "certified_margins",
    "certified_training_accuracy",
    "check_certificates",
    "class_aware_patterns",
    "diagnose",
    "forced_zero_blocks",
    "gap_patterns",
    "patterns_from_network",
    "pruned_network",
    "split_by_class",
]


def _check_solution(solution: Any) -> ConvexSolution:
    if not isinstance(solution, ConvexSolution):
        raise TypeError(f"solution must be a ConvexSolution, got {type(solution).__name__}")
    return solution


# ------------------------------------------------------------------------ forced-zero blocks
def _block_has_nonzero_weights(
    A: np.ndarray, eps: float, perturbable: np.ndarray, rng: np.random.Generator
) -> bool:
    """Whether ``{v : A v >= eps ||v'||_1}`` (``v'`` = perturbable part) holds a ``v`` with
    ``v' != 0``.

    Such a ``v`` can be scaled to ``||v'||_1 = 1`` and then satisfies ``A v >= eps``; conversely a
    ``v`` with ``A v >= eps * s``, ``|v'| <= s``, ``sum s <= 1`` is in the cone. So the projection
    of the cone on ``v'`` is non-trivial iff ``max c^T v'`` or ``max -c^T v'`` over the LP
    ``{A v >= eps * sum(s), -s <= v' <= s, sum(s) <= 1}`` is positive, for a random ``c`` (a cone
    other than {0} lies in the hyperplane ``c^T v' = 0`` with probability zero).
    """
    from scipy.optimize import linprog

    n_rows = A.shape[0]
    if n_rows == 0:
        return True
    free = np.flatnonzero(perturbable)
    fixed = np.flatnonzero(~perturbable)
    k = free.size
    # variables: v' (k), v_fixed (len(fixed)), s (k)
    A_free, A_fixed = A[:, free], A[:, fixed]
    # -(A_free v' + A_fixed vf) + eps * 1^T s <= 0
    rows = [np.hstack([-A_free, -A_fixed, np.full((n_rows, k), eps)])]
    eye = np.eye(k)
    zeros_f = np.zeros((k, fixed.size))
    rows.append(np.hstack([eye, zeros_f, -eye]))  # v' - s <= 0
    rows.append(np.hstack([-eye, zeros_f, -eye]))  # -v' - s <= 0
    rows.append(np.concatenate([np.zeros(k + fixed.size), np.ones(k)])[None, :])  # sum s <= 1
    A_ub = np.vstack(rows)
    b_ub = np.concatenate([np.zeros(n_rows + 2 * k), [1.0]])
    bounds = [(None, None)] * (k + fixed.size) + [(0, None)] * k
    c = rng.standard_normal(k)
    c /= np.linalg.norm(c)
    for sign in (1.0, -1.0):
        obj = np.concatenate([-sign * c, np.zeros(fixed.size + k)])
        res = linprog(obj, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
        if res.status == 0 and -res.fun > 1e-9:
            return True
    return False


def forced_zero_blocks(
    problem: ConvexReLUProblem, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Blocks whose hard constraints admit no neuron with non-zero input weights.

    A block ``v_i`` (``w_i``) is *forced to zero* when every ``v`` satisfying its constraints
    ``(2 d_ik - 1) x_k^T v >= eps ||v||_1'`` (on the rows the program constrains: all rows for
    "certified", "relaxed" and "nominal" (with ``eps = 0``); negatives for ``v`` and positives for
    ``w`` in "class-aware") has zero weights ``v' = 0`` (only a bias, i.e. a constant neuron, or
    nothing). Soft stability (``stability_penalty``) forces nothing. Cost: two LPs per block
    (HiGHS), each with ``n`` rows and ``2 d + 1`` columns.

    Returns:
        ``(forced_v, forced_w)``: boolean ``(P,)`` masks.
    """
    P = problem.P
    forced_v = np.zeros(P, dtype=bool)
    forced_w = np.zeros(P, dtype=bool)
    if problem.stability_penalty is not None:
        return forced_v, forced_w
    if problem.has_input_bounds and problem.robust_eps > 0:
        raise ValueError(
            "forced_zero_blocks checks the constraints on the unclipped ball; this problem "
            "certifies the ball clipped to its input bounds (lower / upper): not available, use "
            "diagnose(solution) without forced=True"
        )
    hard_eps = problem.robust_eps if problem.is_certificate else 0.0
    rng = np.random.default_rng(seed)
    sign = 2.0 * problem.D - 1.0
    for i in range(P):
        A_full = sign[:, i : i + 1] * problem.Xa
        for forced, rows in ((forced_v, problem.y < 0), (forced_w, problem.y > 0)):
            A = A_full[rows] if problem.program == "class-aware" else A_full
            forced[i] = not _block_has_nonzero_weights(A, hard_eps, problem.perturbable, rng)
    return forced_v, forced_w


# ------------------------------------------------------------------------ certificates
def _pruned(solution: ConvexSolution, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """``V, W`` with every non-effective block (``solution.effective_blocks``: relatively or
    absolutely negligible) set to zero. Margins and the network of :func:`pruned_network` refer
    to exactly these blocks; a zero block satisfies every constraint, so pruning keeps the
    certificate's premises."""
    keep_v, keep_w = solution.effective_blocks(rtol, DEFAULT_OUTPUT_ATOL)
    return solution.V * keep_v[None, :], solution.W * keep_w[None, :]


def pruned_network(solution: ConvexSolution, *, rtol: float = DEFAULT_RECOVERY_RTOL):
    """The ``TwoLayerReLU`` of the effective blocks only (``solution.to_network`` keeps blocks by
    a relative threshold alone, so a numerically-zero solution gives a network of noise neurons;
    this one is then the width-0 network). Certified margins of this module refer to it."""
    solution = _check_solution(solution)
    V, W = _pruned(solution, rtol)
    return recover_network(V, W, bias=solution.problem.bias, rtol=rtol)


def certified_margins(
    solution: ConvexSolution, *, rtol: float = DEFAULT_RECOVERY_RTOL, tol: float = 1e-7
) -> np.ndarray:
    """Certified lower bound on the worst-case margin ``min_{||delta||_inf <= eps} y_k f(x_k +
    delta)`` of ``pruned_network(solution)`` at every training point, shape ``(n,)``: the
    program's certified margin, minus the stability slacks the point needs (zero where its
    constraints hold). NaN for programs that certify nothing. See
    ``ConvexReLUProblem.certified_margins``."""
    solution = _check_solution(solution)
    V, W = _pruned(solution, rtol)
    return solution.problem.certified_margins(V, W, tol=tol)


def certified_training_accuracy(
    solution: ConvexSolution, *, rtol: float = DEFAULT_RECOVERY_RTOL
) -> float:
    """Fraction of training points whose certified margin is ``> 0`` (0 for programs that certify
    nothing): a lower bound on the exact robust training accuracy of the recovered network at
    radius ``problem.robust_eps`` (unclipped l_inf ball, so also under input bounds)."""
    margins = certified_margins(solution, rtol=rtol)
    return float(np.mean(np.nan_to_num(margins, nan=-np.inf) > 0))


def check_certificates(
    solution: ConvexSolution,
    *,
    points: np.ndarray | None = None,
    rtol: float = DEFAULT_RECOVERY_RTOL,
    time_limit: float = 60.0,
    atol: float = 1e-6,
) -> pd.DataFrame:
    """Check the certified margins against the exact MILP worst case (``attacks.exact``) of the
    recovered network on training points, over the same l_inf ball (clipped to the problem's
    input bounds ``problem.lower`` / ``problem.upper`` when it has any).

    Args:
        solution: a solved certified or class-aware program.
        points: indices of training points to check (default: every point with a positive
            certified margin, i.e. certified robustly correct).
        rtol: block threshold of the recovery (the margins use the same pruned blocks).
        time_limit: seconds per MILP.
        atol: tolerance of the comparison, relative to ``1 + |exact margin|`` (solver accuracy).

    Returns:
        one row per checked point: ``index``, ``certified_margin``, ``exact_margin``,
        ``exact_lower_bound`` (the MILP's proven bound), ``status`` (of the MILP), ``gap``
        (``exact - certified``, >= 0 when the certificate holds) and ``ok``
        (``certified <= exact + atol * (1 + |exact|)``, judged against the proven lower bound
        when the MILP did not finish).
    """
    import pandas as pd

    import attacks

    solution = _check_solution(solution)
    problem = solution.problem
    if not problem.is_certificate:
        raise ValueError(
            f"the {problem.program!r} program certifies nothing; check_certificates needs "
            "robust='certified' or 'class-aware' with robust_eps > 0"
        )
    margins = certified_margins(solution, rtol=rtol)
    if points is None:
        idx = np.flatnonzero(margins > 0)
    else:
        idx = np.asarray(points, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= problem.n):
            raise ValueError(f"points must be indices in [0, {problem.n})")
    columns = ["index", "certified_margin", "exact_margin", "exact_lower_bound", "status"]
    if idx.size == 0:
        return pd.DataFrame(columns=[*columns, "gap", "ok"])
    net = pruned_network(solution, rtol=rtol)
    res = attacks.exact(
        net,
        problem.X[idx],
        problem.y[idx],
        problem.robust_eps,
        problem.lower,
        problem.upper,
        time_limit=time_limit,
    )
    exact_margin = np.where(np.isfinite(res.margin), res.margin, res.lower_bound)
    cert = margins[idx]
    frame = pd.DataFrame(
        {
            "index": idx,
            "certified_margin": cert,
            "exact_margin": res.margin,
            "exact_lower_bound": res.lower_bound,
            "status": res.status,
        }
    )
    frame["gap"] = exact_margin - cert
    # a NaN certified margin claims nothing; a finite one must not exceed the worst case
    reference = np.where(np.isfinite(res.margin), res.margin, res.upper_bound)
    frame["ok"] = ~(cert > reference + atol * (1.0 + np.abs(reference)))
    return frame


# ------------------------------------------------------------------------ diagnostics
@dataclass(frozen=True)
class RobustDiagnostics:
    """What a robust (or nominal) convex solution is: see :func:`diagnose`.

    Attributes:
        program: "nominal", "certified", "relaxed" or "class-aware".
        is_certificate: whether the program's robust claim is a certificate.
        eps: the l_inf radius of the program.
        pattern_source: sampler name or "given".
        P: patterns; n_blocks = 2 P.
        n_active: effective (non-zero) blocks: neurons of ``pruned_network(solution)``.
        n_relu_active: active blocks that are not all-active (genuine ReLU units).
        n_zero_blocks: blocks zero in the solution.
        n_forced_zero: blocks the hard constraints force to zero (None if not computed).
        collapsed: no ReLU neuron (zero network or linear model).
        n_certified_points: training points whose stability constraints all hold.
        certified_train_accuracy: fraction of training points with certified margin > 0.
        max_slack: largest stability slack (violation for hard programs).
    """

    program: str
    is_certificate: bool
    eps: float
    pattern_source: str
    P: int
    n_blocks: int
    n_active: int
    n_relu_active: int
    n_zero_blocks: int
    n_forced_zero: int | None
    collapsed: bool
    n_certified_points: int
    certified_train_accuracy: float
    max_slack: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(
    solution: ConvexSolution,
    *,
    forced: bool = False,
    rtol: float = DEFAULT_RECOVERY_RTOL,
) -> RobustDiagnostics:
    """Collapse and certificate diagnostics of a solution (see :class:`RobustDiagnostics`).

    Args:
        solution: any ``ConvexSolution``.
        forced: also count the blocks forced to zero by the constraints
            (:func:`forced_zero_blocks`; two LPs per block).
        rtol: relative threshold of non-zero blocks.
    """
    solution = _check_solution(solution)
    problem = solution.problem
    n_forced = None
    if forced:
        fv, fw = forced_zero_blocks(problem)
        n_forced = int(fv.sum() + fw.sum())
    V, W = _pruned(solution, rtol)
    Sv, Sw = problem.stability_slacks(V, W)
    certified = problem.certified_points(V, W)
    return RobustDiagnostics(
        program=problem.program,
        is_certificate=problem.is_certificate,
        eps=float(problem.robust_eps),
        pattern_source=problem.pattern_source,
        P=int(problem.P),
        n_blocks=2 * int(problem.P),
        n_active=int(sum(mask.sum() for mask in solution.effective_blocks(rtol))),
        n_relu_active=solution.n_relu_active(rtol),
        n_zero_blocks=solution.n_zero_blocks(rtol),
        n_forced_zero=n_forced,
        collapsed=solution.n_relu_active(rtol) == 0,
        n_certified_points=int(certified.sum()),
        certified_train_accuracy=certified_training_accuracy(solution, rtol=rtol),
        max_slack=float(max(Sv.max(initial=0.0), Sw.max(initial=0.0))),
    )
