"""A structure-exploiting primal-dual interior-point method for the nominal programs (squared,
hinge and logistic loss).

The program (MATH.md section 3, sampled or exact patterns) is

    min  L(sum_i D_i Xa (v_i - w_i)) + beta sum_i (||v_i|| + ||w_i||)
    s.t. (2 D_i - I) Xa v_i >= 0,  (2 D_i - I) Xa w_i >= 0        (2 n P linear inequalities),

``L(f) = 1/2 ||f - y||^2`` (squared), ``sum_k max(0, 1 - y_k f_k)`` (hinge) or
``sum_k log(1 + exp(-y_k f_k))`` (logistic).

Generic interior-point solvers (Clarabel through CVXPY) see ``2 n P`` dense constraint rows and
an ``n x 2 d P`` loss matrix, and run out of time or memory past a few thousand samples. This
solver keeps the structure:

- Slacks ``s = G u`` and multipliers ``lambda`` for the sign constraints; Mehrotra's
  predictor-corrector on the perturbed KKT system with separate primal and dual step lengths.
  Infeasible start: ``G u = s`` is only reached in the limit, so any starting point works.
- Each group norm in its perspective form, ``beta ||u|| = min_{t > 0} beta/2 (||u||^2 / t + t)``:
  the objective ``h(u, t)`` is jointly convex and smooth for ``t > 0``, and ``t >= 0`` is one more
  inequality with its own multiplier ``z`` (so a block that is zero at the optimum is handled by
  complementarity, not by a smoothing parameter). ``t`` is eliminated from the Newton system
  block by block. After each step ``t`` is lifted to ``||u||`` where it fell below (``h``
  decreases in ``t`` up to ``||u||``: a free primal improvement that keeps ``u / t`` bounded).
- The Newton system ``[[A + B_v, -A], [-A, A + B_w]]`` (``A = F^T F``, ``d P x d P``, formed
  once; ``B`` block diagonal, ``d x d`` per block: the barrier curvature ``Xa^T diag(lambda/s)
  Xa`` plus the eliminated perspective term) is reduced exactly to one ``d P x d P`` system
  ``(A + B_h) p = r`` with ``B_h = B_v (B_v + B_w)^{-1} B_w`` block diagonal and ``p = dv - dw``:
  only ``B_v + B_w`` is inverted, never ``B_v`` or ``B_w`` alone (they become nearly singular
  along an active block's own direction as the method converges: inverting them separately was
  measured to lose all accuracy).
- The losses enter the Newton system only through ``A = F^T diag(h) F`` and the gradient
  ``g = grad L(f)`` (the dual vector ``theta``): ``h = 1`` for the squared loss (``A`` formed
  once); ``h = sigma(y f) sigma(-y f)`` for the logistic loss (``A`` re-formed every iteration;
  a step changes no prediction by more than ``max(2, max |f|)``, the range where Newton's
  quadratic model of the loss is trusted; measured: without it a start with predictions of
  order 10 diverged); the hinge loss through its epigraph ``xi >= 0``, ``xi + y f - 1 >= 0``
  (multipliers ``a``, ``b``; ``g = -y b``), eliminated exactly: ``h = w_1 w_2 / (w_1 + w_2)``
  with ``w_1 = a / xi``, ``w_2 = b / (xi + y f - 1)`` and one extra right-hand-side term
  (:func:`_direction`): an LP-like program solved with the same ``d P`` (or ``n``) system.
- Where ``n <= 0.75 d P`` (few samples, many blocks: pricing's restricted programs on tabular
  data) the system ``(A + B_h) p = r`` is solved through its ``n x n`` capacitance matrix
  ``I + Y^T Y``, ``Y = C^{-1} F^T diag(h)^{1/2}``, ``C C^T = B_h`` block by block (Woodbury),
  as the preconditioner of conjugate gradients on the exact ``A + B_h`` (applied without
  forming it) down to a residual of 1e-10 relative; when that fails the dense path takes over
  for the rest of the solve. Measured (network-seeded programs, one thread):
  digits-2v8 hinge beta 1 (n = 245, d P = 1885) 3.4 s dense against 0.8-1.2 s.
- From order ``d P >= 2000`` the Newton matrix is factored in float32 and the solve refined in
  float64 against the float64 matrix (residual below 1e-10 relative); when refinement fails
  (late iterations, ill-conditioned) the method switches to float64 factors for good.

Cost (dense path): forming ``A`` is ``n (d P)^2`` flops once (every iteration for the logistic
and hinge losses) (in float32 when large; the gradient and
residuals are always exact, so this only perturbs the Newton direction, never the point the
method converges to); each iteration is one GEMM of ``2P x n x d(d+1)/2`` for the block
curvatures plus one dense Cholesky factorization of order ``d P``. Memory: about three ``(d P)^2``
matrices plus ``n d^2 / 2`` (``ipm_memory_bytes``). At n = 12000, d = 101, P = 64 on 2 cores:
1.7-2.5 s per iteration, 40-60 iterations, peak RSS 2.8 GiB (benchmarks/README.md).

Convergence: Mehrotra's method has no global convergence proof (it is the method of practice:
Clarabel, MOSEK, OOQP); the result is instead *checked*. Every iteration records the
Lagrange-dual lower bound of ``duality.lower_bound`` at ``theta = g`` and the iteration's
own multipliers (a proof, valid for any input); once the iterate's complementarity gap is within
``tol`` the multipliers are first refined by ``CERTIFICATE_REFINE_STEPS`` projected-gradient
steps (still a proof; measured: breast-cancer, squared, beta 0.1, P = 32: without it the bound
stayed 2e-6 above tol for 75 iterations). The solver stops with status ``"converged"`` only
when the convex objective of the iterate is within ``tol`` (relative) of the best bound and the
iterate's constraint violation is at most ``tol``: a converged result carries its own
optimality certificate. When the certificate stops closing although the complementarity gap
is within ``tol`` (``STALL_ITERATIONS`` iterations without progress) the status is
``"inaccurate"`` and the message gives the certified gap reached. Known weak spot: problems
with far more blocks than samples (e.g. ``patterns="all"`` on 14 points: 366 blocks, nearly
all zero at the optimum) can stall near ``1e-3``; ``solve_cvxpy`` is the tool for them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from robustbench_convex.duality import LagrangeDual
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solution import DEFAULT_RECOVERY_RTOL, ConvexSolution
from robustbench_convex.solvers._common import (
    Evaluator,
    check_budget,
    check_device,
    convex_solution,
    torch_threads,
)
from robustbench_convex.solvers.warm_start import warm_start_blocks

__all__ = [
    "DEFAULT_IPM_MAX_ITER",
    "DEFAULT_IPM_TOL",
    "IPM_LOSSES",
    "IPM_MAX_ORDER",
    "ipm_memory_bytes",
    "solve_ipm",
]

IPM_LOSSES = ("squared", "hinge", "logistic")

DEFAULT_IPM_MAX_ITER = 100
DEFAULT_IPM_TOL = 1e-6
FLOAT32_GRAM_FLOPS = 1e10  # form A = F^T F in float32 above this many flops (see module docstring)
_STEP_TO_BOUNDARY = 0.995
MIXED_PRECISION_ORDER = 2000  # float32 Newton factors (refined in float64) from this order d P on
REFINE_RTOL = 1e-10
REFINE_STEPS = 4
LOGISTIC_MAX_PREDICTION_STEP = 2.0  # logistic: a step changes no prediction by more than this
# or the largest |prediction| (Newton's quadratic model of the loss is trusted that far)
WOODBURY_MAX_RATIO = 0.75  # n x n capacitance solves where n <= this times d_aug P
WOODBURY_CG_STEPS = 50  # preconditioned conjugate-gradient steps of a capacitance solve
STALL_ITERATIONS = 5  # finished iterations without progress before an "inaccurate" stop
CERTIFICATE_REFINE_STEPS = 50  # projected-gradient steps on the certificate's multipliers
IPM_MAX_ORDER = 4000  # d_aug * P: one dense Cholesky of this order per iteration; callers that
# choose a solver by size (pricing.resolve_solver, front.choose_convex_solver) use the interior
# point up to it


def ipm_memory_bytes(n: int, d_aug: int, P: int) -> int:
    """Bytes the solver holds (float64): ``A``, the Newton matrix and its factor (``(d P)^2``
    each), the ``n x d P`` loss matrix used once to form ``A`` (float32), the ``n x d(d+1)/2``
    products ``x_k x_k^T`` and ``O(n P)`` iterates."""
    dP = d_aug * P
    return 3 * 8 * dP * dP + 8 * n * dP + 8 * n * d_aug * (d_aug + 1) // 2 + 40 * 8 * n * P


def _check(problem: ConvexReLUProblem, max_iter, tol, time_limit, device, max_bytes):
    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
    if problem.robust_eps != 0 or problem.loss not in IPM_LOSSES:
        raise NotImplementedError(
            "solve_ipm handles the nominal squared, hinge and logistic programs only (got "
            f"loss={problem.loss!r}, robust_eps={problem.robust_eps:g}); use solve_admm or "
            "solve_cvxpy for the others"
        )
    if problem.loss != "squared" and not np.all(np.abs(np.asarray(problem.y)) == 1):
        raise ValueError(
            f"solve_ipm with loss={problem.loss!r} needs labels y in {{-1, +1}}; map the "
            "classes to -1 / +1 first"
        )
    if problem.stability_penalty is not None:
        raise NotImplementedError("solve_ipm does not handle stability penalties; use solve_admm")
    check_budget(max_iter, tol, time_limit)
    need = ipm_memory_bytes(problem.n, problem.d_aug, problem.P)
    if need > max_bytes:
        raise MemoryError(
            f"solve_ipm needs about {need / 2**30:.1f} GiB at d_aug={problem.d_aug}, "
            f"P={problem.P} (three (d P)^2 matrices), over max_bytes={max_bytes / 2**30:.1f} GiB; "
            "raise max_bytes, or use solve_admm (its memory is linear in P)"
        )
    return check_device(device)


def _warm_start(problem: ConvexReLUProblem, warm_start: Any) -> tuple[np.ndarray, np.ndarray]:
    blocks = warm_start_blocks(problem, warm_start)
    if blocks is not None:
        return blocks
    rng = np.random.default_rng(problem.seed)
    row_rms = float(np.sqrt(np.mean(np.sum(problem.Xa**2, axis=1))))
    V = rng.standard_normal((problem.d_aug, problem.P)) / max(row_rms, 1e-12)  # |x^T v| ~ 1
    return V, V.copy()


def _cholesky(M: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of a (batch of) symmetric positive-definite matrices; on failure (rounding
    late in the method) retry with a diagonal shift growing from 1e-12 of the mean diagonal."""
    L, info = torch.linalg.cholesky_ex(M)
    shift = 1e-12
    while bool((info != 0).any()):
        if shift > 1e-4:
            raise torch.linalg.LinAlgError("Newton matrix not positive definite even when shifted")
        scale = M.diagonal(dim1=-2, dim2=-1).abs().mean(dim=-1)
        eye = torch.eye(M.shape[-1], dtype=M.dtype, device=M.device)
        L, info = torch.linalg.cholesky_ex(M + (shift * scale)[..., None, None] * eye)
        shift *= 100
    return L


def solve_ipm(
    problem: ConvexReLUProblem,
    *,
    max_iter: int = DEFAULT_IPM_MAX_ITER,
    tol: float = DEFAULT_IPM_TOL,
    time_limit: float | None = None,
    warm_start: ConvexSolution | tuple[np.ndarray, np.ndarray] | None = None,
    device: str | torch.device = "cpu",
    callback: Callable[[int, dict[str, Any]], dict[str, Any] | None] | None = None,
    verbose: bool = False,
    num_threads: int | None = None,
    max_bytes: float = 8 * 1024**3,
    recovery_rtol: float = DEFAULT_RECOVERY_RTOL,
    rows: list[np.ndarray] | None = None,
) -> ConvexSolution:
    """Solve a nominal squared-loss ``ConvexReLUProblem`` by a primal-dual interior-point method
    that exploits the program's structure (module docstring). Iterates, gradients, residuals and
    the certificate are float64; large Gram and Newton matrices are factored in float32 and
    refined (module docstring).

    Args:
        problem: nominal (``robust_eps = 0``) program with the squared loss; sampled or exact
            patterns. Other programs raise ``NotImplementedError`` (use ``solve_admm``).
        max_iter: iteration budget (each iteration: one ``d P`` Cholesky factorization).
        tol: relative certified gap at which to stop: ``objective - lower_bound <= tol *
            |objective|``, with the lower bound of ``duality.lower_bound`` (a proof, not an
            estimate). Also the largest sign-constraint violation accepted, in the units of the
            predictions.
        time_limit: wall-clock budget in seconds (None: none).
        warm_start: a ``ConvexSolution`` or ``(V, W)`` to start from (e.g. a few hundred ADMM
            iterations); infeasible points are fine. None: a seeded random point with
            ``|x^T v|`` of order 1 (and ``W = V``, so the predictions start at zero).
        device: torch device (``"cuda"`` works; nothing requires it).
        callback: ``callback(iteration, state) -> dict | None`` at every iteration, as in
            ``solve_admm``: ``state`` holds ``V, W`` (numpy, the current iterate) and the
            ``record``; the returned dict is merged into the history record (e.g. test
            accuracy).
        verbose: print one line per iteration.
        num_threads: torch threads during the solve (None: leave as is).
        max_bytes: refuse (``MemoryError``) when ``ipm_memory_bytes`` exceeds this.
        recovery_rtol: block-norm threshold for the recovered network (as ``solve_admm``).
        rows: per block ``i``, the sample indices whose sign constraints are kept (for ``v_i``
            and ``w_i``); None: all. Leaving out constraints that the kept ones imply (the
            facets of each block's cone, ``pricing._facet_rows`` on 2-D data with biases)
            solves the same program in far fewer iterations (measured: synthetic-spirals, hinge,
            beta 0.1, P = 177: 25 against 79; squared and logistic 1.3-2x fewer); the ones left
            out get no slack nor multiplier (zero in ``info["multipliers"]``; the certificate
            stays a proof), and the constraint violation reported is still over all of them.
            Only the kept ones are stored and iterated on (``(E,)`` slacks and multipliers;
            gathers and scatters over them): measured on the 22 restricted programs of a
            synthetic-spirals hinge beta 0.1 fit (P = 26-139, n = 280), 2.76 s of process time
            against 3.96 s with ``(n, 2P)`` arrays masked, in the same iterations (489 / 493).

    Returns:
        ``ConvexSolution`` with ``solver="IPM"``; ``status`` ``"converged"`` (certified gap <=
        ``tol``), ``"inaccurate"`` (stalled: the iterate's complementarity gap is within ``tol``
        but the certificate stopped closing for ``STALL_ITERATIONS`` iterations; the message
        gives the certified gap reached, ``info["lower_bound"]`` the bound), ``"max_iter"`` or
        ``"time_limit"``. ``history`` holds one record per iteration:
        ``iteration, time, objective, network_objective, lower_bound, mu, primal_residual,
        dual_residual, constraint_violation, n_active``; ``info`` holds ``lower_bound``
        (the best certified bound), ``iterations``, ``setup_time``, ``gram_dtype`` and
        ``multipliers`` (``(n, 2P)``, the last iterate's sign-constraint multipliers: a dual
        candidate for ``duality.lower_bound``). The returned ``(V, W)`` is the
        iterate of lowest objective among those whose constraint violation is at most ``tol``
        (in the units of the predictions; the last iterate when none is): an infeasible-start
        method meets the sign constraints only in the limit.
    """
    dev = _check(problem, max_iter, tol, time_limit, device, max_bytes)
    with torch_threads(num_threads):
        return _solve(
            problem, max_iter, tol, time_limit, warm_start, dev, callback, verbose, recovery_rtol,
            rows,
        )  # fmt: skip


@dataclass
class _Hinge:
    """The hinge loss's epigraph (module docstring): ``xi >= 0`` with multiplier ``a`` and
    ``c = xi + y f - 1 >= 0`` with multiplier ``b`` (all ``(n,)``; ``c`` is kept exactly, the
    constraints being linear in ``(xi, U)``)."""

    xi: torch.Tensor
    c: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor


@dataclass
class _PrimalDual:
    """The interior-point iterate: ``U = [V, W]`` (d, 2P), slacks ``S`` and multipliers ``L`` of
    ``G U >= 0`` ((n, 2P); (E,) over the kept ones with ``rows``, ``_Structure.keep_rows``),
    group-norm epigraph variables ``T`` and their multipliers ``Z`` (2P,), and for the hinge
    loss its epigraph (:class:`_Hinge`)."""

    U: torch.Tensor
    T: torch.Tensor
    S: torch.Tensor
    L: torch.Tensor
    Z: torch.Tensor
    hinge: _Hinge | None = None

    def pairs(self) -> int:
        """Complementary pairs: the sign constraints kept (``2 n P`` without ``rows``) plus
        ``2P`` (``+ 2 n`` with the hinge epigraph)."""
        return (
            self.S.numel()
            + self.T.numel()
            + (0 if self.hinge is None else 2 * self.hinge.xi.numel())
        )

    def complementarity(self) -> float:
        """Mean complementarity ``mu`` over the pairs."""
        total = (self.S * self.L).sum() + (self.T * self.Z).sum()
        if self.hinge is not None:
            h = self.hinge
            total = total + (h.xi * h.a).sum() + (h.c * h.b).sum()
        return float(total) / self.pairs()


@dataclass
class _Residuals:
    """Loss gradient ``res`` at the predictions ``f = F u`` (n,; ``f - y`` for the squared loss,
    ``-y b`` for the hinge epigraph: the dual vector ``theta``), dual residuals of ``u`` and
    ``t``, primal residual ``G U - S``; the loss's Newton weights ``h`` (n,; None for the squared
    loss, whose ``A`` is constant) and, for the hinge loss, the dual residual ``r_xi = 1 - a - b``
    of ``xi``."""

    res: torch.Tensor
    rd: torch.Tensor
    rd_t: torch.Tensor
    rp: torch.Tensor
    h: torch.Tensor | None = None
    r_xi: torch.Tensor | None = None
    f: torch.Tensor | None = None


@dataclass
class _IpmRun:
    """What the loop reads and writes besides the iterate: records, best point, status."""

    start: float
    history: list[dict[str, Any]]
    status: str = "max_iter"
    message: str = ""
    best_bound: float = -math.inf
    best: tuple[float, torch.Tensor, torch.Tensor] | None = None  # lowest feasible objective
    record_time: float = 0.0
    stalled: int = 0  # consecutive finished iterations without progress (_stalled)
    progress: tuple[float, float] = (-math.inf, math.inf)  # (best bound, best objective) seen


def _setup(problem: ConvexReLUProblem, dev: torch.device):
    """``(Xa, D, y, structure, gram dtype)``: the data as float64 tensors and the Newton
    system's structure with ``A = F^T F`` (formed in float32 when large; for the hinge and
    logistic losses ``A = F^T diag(h) F`` is re-formed at every iteration from the kept ``F``)."""
    f64 = torch.float64
    Xa, D, y = (
        torch.as_tensor(a, dtype=f64, device=dev) for a in (problem.Xa, problem.D, problem.y)
    )
    n, d = Xa.shape
    P = D.shape[1]
    # A = F^T F, F = [D_1 Xa, ..., D_P Xa] (n x dP): block (i, j) is Xa^T diag(d_i d_j) Xa
    low = torch.float32 if n * (d * P) ** 2 > FLOAT32_GRAM_FLOPS else f64
    F = (D.to(low)[:, :, None] * Xa.to(low)[:, None, :]).reshape(n, P * d)
    kkt = _Structure(Xa, D, float(problem.beta), F)
    if n <= WOODBURY_MAX_RATIO * d * P:  # fewer samples than Newton unknowns: n x n solves
        kkt.woodbury = True
        kkt.FwT = F.to(f64).T.reshape(P, d, n).contiguous()  # F^T block by block (P, d, n)
    elif problem.loss == "squared":
        kkt.A = (F.T @ F).to(f64)  # constant: formed once (the other losses: every iteration)
        kkt.F = None  # not needed again (n x dP: the largest array at large n)
    return Xa, D, y, kkt, low


def _initial_point(
    kkt: _Structure, U: torch.Tensor, beta: float, D=None, Xa=None, y=None, loss: str = "squared"
) -> _PrimalDual:
    """Starting slacks and multipliers (Mehrotra's heuristic with a uniform multiplier guess):
    shift the constraint values to be positive and well inside the orthant; the group norms
    through their perspective form (module docstring): ``t_j >= 0`` with multiplier ``z_j``;
    the hinge epigraph at ``xi = max(0, 1 - y f) + 1`` with multipliers ``a = b = 1/2``."""
    C = kkt.G(U)  # (n, 2P), or (E,) over the kept constraints (_Structure.keep_rows)
    shift = max(-1.5 * float(C.min()), 0.0)
    shift += 0.5 * float((C + shift).mean()) + 1e-8
    S = C + shift
    T = torch.linalg.vector_norm(U, dim=0)
    T = T + T.mean() + 1e-8
    hinge = None
    if loss == "hinge":
        f = _predictions(D, Xa, U)
        xi = torch.clamp(1.0 - y * f, min=0.0) + 1.0
        half = torch.full_like(xi, 0.5)
        hinge = _Hinge(xi, xi + y * f - 1.0, half, half.clone())
    L = torch.full_like(S, 0.1)
    return _PrimalDual(U, T, S, L, torch.full_like(T, 0.1 * beta), hinge)


def _predictions(D: torch.Tensor, Xa: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """``f = sum_i D_i Xa (v_i - w_i)`` (n,) at ``U = [V, W]``."""
    P = D.shape[1]
    return (D * (Xa @ (U[:, :P] - U[:, P:]))).sum(dim=1)


def _residuals(kkt: _Structure, D, Xa, y, x: _PrimalDual, loss: str = "squared") -> _Residuals:
    beta, U = kkt.beta, x.U
    f = _predictions(D, Xa, U)
    h = r_xi = None
    if loss == "squared":
        res = f - y
    elif loss == "logistic":
        res = -y * torch.sigmoid(-y * f)
        h = torch.sigmoid(y * f) * torch.sigmoid(-y * f)
    else:  # hinge: the epigraph's multiplier b is the loss's (sub)gradient, -y b
        res = -y * x.hinge.b
        r_xi = 1.0 - x.hinge.a - x.hinge.b
    FTr = Xa.T @ (D * res[:, None])
    # dual residuals of u and of t (gradient of the Lagrangian), primal residual
    rd = torch.cat([FTr, -FTr], dim=1) + beta * U / x.T - kkt.GT(x.L)
    rd_t = 0.5 * beta * (1.0 - (U * U).sum(0) / x.T**2) - x.Z
    rp = kkt.G(U) - x.S
    return _Residuals(res, rd, rd_t, rp, h, r_xi, f)


def _mehrotra_step(
    kkt: _Structure, x: _PrimalDual, r: _Residuals, mu: float, y: torch.Tensor | None = None
) -> _PrimalDual:
    """One Mehrotra predictor-corrector step with separate primal and dual step lengths
    (measured: 20% fewer iterations than one common step at n = 12000, d = 101, P = 32)."""
    U, T, S, L, Z, hg = x.U, x.T, x.S, x.L, x.Z, x.hinge
    h = r.h
    if hg is not None:  # the hinge epigraph eliminated: the loss's Newton weight (docstring)
        w1, w2 = hg.a / hg.xi, hg.b / hg.c
        h = w1 * w2 / (w1 + w2)
    kkt.factor(U, T, Z, L / S, h)
    # predictor (affine scaling)
    rh = None if hg is None else (hg.xi * hg.a, hg.c * hg.b)
    dU, dT, dS, dL, dZ, dH = _direction(kkt, x, r, y, S * L, T * Z, rh)
    hinge_pairs = [] if hg is None else [(hg.xi, dH.xi), (hg.c, dH.c), (hg.a, dH.a), (hg.b, dH.b)]
    a_aff = _max_step((S, dS), (L, dL), (T, dT), (Z, dZ), *hinge_pairs)
    comp_aff = ((S + a_aff * dS) * (L + a_aff * dL)).sum() + (
        (T + a_aff * dT) * (Z + a_aff * dZ)
    ).sum()
    if hg is not None:
        comp_aff = comp_aff + ((hg.xi + a_aff * dH.xi) * (hg.a + a_aff * dH.a)).sum()
        comp_aff = comp_aff + ((hg.c + a_aff * dH.c) * (hg.b + a_aff * dH.b)).sum()
    sigma = min(1.0, (float(comp_aff) / x.pairs() / mu) ** 3)
    rc = S * L + dS * dL - sigma * mu  # corrector
    rc_t = T * Z + dT * dZ - sigma * mu
    if hg is not None:
        rh = (
            hg.xi * hg.a + dH.xi * dH.a - sigma * mu,
            hg.c * hg.b + dH.c * dH.b - sigma * mu,
        )
    dU, dT, dS, dL, dZ, dH = _direction(kkt, x, r, y, rc, rc_t, rh)
    primal = [] if hg is None else [(hg.xi, dH.xi), (hg.c, dH.c)]
    dual = [] if hg is None else [(hg.a, dH.a), (hg.b, dH.b)]
    a_primal = _STEP_TO_BOUNDARY * _max_step((S, dS), (T, dT), *primal)
    if r.h is not None:  # logistic: Newton's model of the loss holds near f only (docstring)
        largest = float(_predictions(kkt.D, kkt.Xa, dU).abs().max())
        reach = max(LOGISTIC_MAX_PREDICTION_STEP, float(r.f.abs().max()))
        a_primal = min(a_primal, reach / max(largest, 1e-300))
    a_dual = _STEP_TO_BOUNDARY * _max_step((L, dL), (Z, dZ), *dual)
    U, T, S = U + a_primal * dU, T + a_primal * dT, S + a_primal * dS
    # t_j below ||u_j|| only raises h(u, t) (h decreases in t up to t = ||u||): lifting it
    # there is a free primal improvement, and it keeps u / t bounded (without it the method
    # stalled on problems with many zero blocks)
    T = torch.maximum(T, torch.linalg.vector_norm(U, dim=0))
    if hg is not None:
        hg = _Hinge(
            hg.xi + a_primal * dH.xi,
            hg.c + a_primal * dH.c,
            hg.a + a_dual * dH.a,
            hg.b + a_dual * dH.b,
        )
    return _PrimalDual(U, T, S, L + a_dual * dL, Z + a_dual * dZ, hg)


def _direction(kkt: _Structure, x: _PrimalDual, r: _Residuals, y, rc, rc_t, rh):
    """Newton direction ``(dU, dT, dS, dL, dZ, dH)`` with complementarity residuals ``rc``,
    ``rc_t`` and, for the hinge epigraph, ``rh = (rc_1, rc_2)`` of ``xi * a`` and ``c * b``
    (``dH``: a :class:`_Hinge` of directions; None without the hinge).

    The hinge epigraph is eliminated exactly: with ``w_1 = a / xi``, ``w_2 = b / c`` and
    ``q = -r_xi - rc_1 / xi - rc_2 / c``, the linearized stationarity of ``xi`` gives
    ``dxi = (q - w_2 y df) / (w_1 + w_2)``, and the change of the loss gradient ``-y b`` is
    ``h df + e`` with ``h = w_1 w_2 / (w_1 + w_2)`` (the Newton weight in ``A``) and
    ``e = y (rc_2 / c + w_2 q / (w_1 + w_2))`` (a right-hand-side term)."""
    hg = x.hinge
    e = None
    if hg is not None:
        rc1, rc2 = rh
        w1, w2 = hg.a / hg.xi, hg.b / hg.c
        q = -r.r_xi - rc1 / hg.xi - rc2 / hg.c
        e = y * (rc2 / hg.c + w2 * q / (w1 + w2))
    dU, dT, dS, dL, dZ = kkt.direction(r.rd, r.rd_t, r.rp, x.S, x.L, rc, rc_t, e)
    if hg is None:
        return dU, dT, dS, dL, dZ, None
    df = _predictions(kkt.D, kkt.Xa, dU)
    dxi = (q - w2 * y * df) / (w1 + w2)
    dc = dxi + y * df
    da = -(rc1 + hg.a * dxi) / hg.xi
    db = -(rc2 + hg.b * dc) / hg.c
    return dU, dT, dS, dL, dZ, _Hinge(dxi, dc, da, db)


def _record(
    run: _IpmRun, it: int, x: _PrimalDual, r: _Residuals, evaluate, dual, opt, kkt: _Structure
) -> dict:
    """Evaluate and record iteration ``it`` (objectives, certified bound, residuals), keep the
    best nearly feasible point; the recording time is excluded from the solver's clock."""
    t_rec = time.perf_counter()
    P, tol = x.U.shape[1] // 2, opt["tol"]
    objective, network_objective, n_active, violation = evaluate(x.U)
    L = kkt.multipliers(x.L)
    run.best_bound = max(run.best_bound, dual.lower_bound(r.res, L, refine_steps=0).value)
    if _refine_due(run, x, objective, tol):
        # the multipliers of a nearly optimal iterate satisfy the dual's block-norm constraints
        # only up to the Newton residual; a few projected-gradient steps on them (still a
        # proof) close the certificate (measured: breast-cancer, squared, beta 0.1, P = 32:
        # gap 6.8e-5 unrefined against 6.5e-7 refined at iteration 25; unrefined, the bound
        # never reached tol = 1e-6 in 100 iterations)
        refined = dual.lower_bound(r.res, L, refine_steps=CERTIFICATE_REFINE_STEPS).value
        run.best_bound = max(run.best_bound, refined)
    record = {
        "iteration": it - 1,
        # solver time up to this record: monotone, whatever the recording itself costs
        "time": t_rec - run.start - run.record_time,
        "objective": objective,
        "network_objective": network_objective,
        "lower_bound": run.best_bound,
        "mu": x.complementarity(),
        "primal_residual": float(r.rp.abs().max()),
        "dual_residual": float(torch.sqrt((r.rd * r.rd).sum() + (r.rd_t * r.rd_t).sum())),
        "constraint_violation": violation,
        "n_active": n_active,
    }
    if opt["callback"] is not None:
        Un = x.U.cpu().numpy()
        extra = opt["callback"](it - 1, {"V": Un[:, :P], "W": Un[:, P:], "record": dict(record)})
        if extra:
            record.update(extra)
    run.history.append(record)
    if violation <= tol and (run.best is None or objective < run.best[0]):
        run.best = (objective, x.U[:, :P].clone(), x.U[:, P:].clone())
    run.record_time += time.perf_counter() - t_rec
    if opt["verbose"]:
        print(
            f"ipm {it - 1:3d}  t={record['time']:7.1f}s  obj={objective:.10g}  "
            f"bound={run.best_bound:.10g}  mu={record['mu']:.2e}  violation={violation:.1e}"
        )
    return record


def _refine_due(run: _IpmRun, x: _PrimalDual, objective: float, tol: float) -> bool:
    """Refine the certificate's multipliers (``CERTIFICATE_REFINE_STEPS`` projected-gradient
    steps of ``duality.lower_bound``) when the unrefined bound misses ``tol`` although the
    iterate's complementarity gap (``mu`` times the pairs) is already within ``tol`` of the
    objective: the primal side is done, the bound lags (a refinement costs about as much as
    ``CERTIFICATE_REFINE_STEPS`` products with ``Xa``, so it is not done every iteration)."""
    if objective - run.best_bound <= tol * abs(objective):
        return False
    return x.complementarity() * x.pairs() <= tol * max(abs(objective), 1e-12)


def _stopped(run: _IpmRun, record: dict, opt: dict) -> bool:
    """The certified stop (gap and violation within ``tol``) or the time limit."""
    objective, tol, limit = record["objective"], opt["tol"], opt["time_limit"]
    if objective - run.best_bound <= tol * abs(objective) and record["constraint_violation"] <= tol:
        run.status = "converged"
        run.message = (
            f"certified: objective {objective:.10g} within {tol:g} (relative) of the "
            f"Lagrange-dual lower bound {run.best_bound:.10g}"
        )
        return True
    if limit is not None and time.perf_counter() - run.start > limit:
        run.status, run.message = "time_limit", f"time limit ({limit:g} s) reached"
        return True
    return False


def _stalled(run: _IpmRun, x: _PrimalDual, record: dict, opt: dict) -> bool:
    """Stop as ``"inaccurate"`` after ``STALL_ITERATIONS`` consecutive iterations whose
    complementarity gap is already within ``tol`` of the objective but that improve neither
    the certificate nor the best feasible objective by ``1e-2 tol`` (relative): the primal is
    done and the Lagrange-dual certificate does not close further (measured: synthetic-spirals,
    squared, beta 0.1, P = 81 blocks on n = 280: the gap stays at 2.6e-6 from iteration 22 and
    the bound only worsens as ``mu -> 0``; 100 iterations were spent on it). The message
    states the certified gap reached."""
    objective, tol = record["objective"], opt["tol"]
    scale = max(abs(objective), 1e-12)
    best_objective = run.best[0] if run.best is not None else math.inf
    moved = (
        run.best_bound > run.progress[0] + 1e-2 * tol * scale
        or best_objective < run.progress[1] - 1e-2 * tol * scale
    )
    run.progress = (max(run.best_bound, run.progress[0]), min(best_objective, run.progress[1]))
    done = x.complementarity() * x.pairs() <= tol * scale
    run.stalled = 0 if moved or not done else run.stalled + 1
    if run.stalled < STALL_ITERATIONS:
        return False
    gap = (best_objective - run.best_bound) / scale
    run.status = "inaccurate"
    run.message = (
        f"stalled: certified gap {gap:.2g} (relative) above tol {tol:g} for {STALL_ITERATIONS} "
        "iterations whose complementarity gap is within tol (the Lagrange-dual certificate "
        "does not close further)"
    )
    return True


def _solve(
    problem, max_iter, tol, time_limit, warm_start, dev, callback, verbose, recovery_rtol, rows=None
):
    opt = {"tol": tol, "time_limit": time_limit, "callback": callback, "verbose": verbose}
    run = _IpmRun(time.perf_counter(), [], message=f"iteration budget ({max_iter}) reached")
    kept = _kept_rows(rows, problem.n, problem.P)  # bad rows named before any work
    V0, W0 = _warm_start(problem, warm_start)
    Xa, D, y, kkt, low = _setup(problem, dev)
    if kept is not None:
        kkt.keep_rows(*kept)
    dual = LagrangeDual(problem, device=dev)
    evaluate = Evaluator(problem, dev, recovery_rtol)
    setup_time = time.perf_counter() - run.start
    U0 = torch.as_tensor(np.hstack([V0, W0]), dtype=torch.float64, device=dev)
    loss = problem.loss
    x = _initial_point(kkt, U0, kkt.beta, D, Xa, y, loss)
    it = 0
    for it in range(1, max_iter + 1):
        mu = x.complementarity()
        r = _residuals(kkt, D, Xa, y, x, loss)
        record = _record(run, it, x, r, evaluate, dual, opt, kkt)
        if _stopped(run, record, opt) or _stalled(run, x, record, opt) or it == max_iter:
            break
        x = _mehrotra_step(kkt, x, r, mu, y)
    P = problem.P
    best = run.best or (math.inf, x.U[:, :P], x.U[:, P:])  # none feasible: the last iterate
    info = {
        "iterations": it,
        "lower_bound": run.best_bound,
        "setup_time": setup_time,
        "gram_dtype": str(low).replace("torch.", ""),
        "multipliers": kkt.multipliers(x.L).cpu().numpy(),
    }
    if loss == "hinge":  # the predictions do not determine the subgradient at margin 1
        info["theta"] = r.res.cpu().numpy()
    U = torch.cat([best[1], best[2]], dim=1)
    return convex_solution(problem, U, solver="IPM", start=run.start, run=run, info=info)


def _kept_rows(rows, n: int, P: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The sign constraints kept, ``(samples, blocks)``, two ``(E,)`` index arrays over the
    ``(n, 2P)`` constraint array (``rows[i]``: block ``i``'s samples, for both ``v_i`` (block
    ``i``) and ``w_i`` (block ``P + i``)), or None for all."""
    if rows is None:
        return None
    if len(rows) != P:
        raise ValueError(f"rows must list one index array per block ({P}), got {len(rows)}")
    samples, blocks = [], []
    for i, r in enumerate(rows):
        r = np.unique(np.asarray(r, dtype=np.int64).reshape(-1))
        if r.size and (r.min() < 0 or r.max() >= n):
            raise ValueError(f"rows[{i}] holds sample indices outside [0, {n}); pass 0..n-1")
        samples.append(r)
        blocks.append(np.full(r.size, i, dtype=np.int64))
    k, j = np.concatenate(samples), np.concatenate(blocks)
    return np.concatenate([k, k]), np.concatenate([j, j + P])


def _max_step(*pairs: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Largest ``a <= 1`` keeping every ``x + a dx >= 0`` (``x > 0``)."""
    a = 1.0
    for x, dx in pairs:
        ratio = torch.where(dx < 0, -x / dx, math.inf)  # the quotients elsewhere are unused
        a = min(a, float(ratio.min()))
    return a


class _Structure:
    """The program's operators and the reduced Newton system (module docstring).

    ``G U = sign * (Xa U)`` stacks the sign constraints of all ``2P`` blocks (``(n, 2P)``; the
    kept ones only, ``(E,)``, after :meth:`keep_rows`); the Newton matrix for ``dU = [dv, dw]``
    is ``[[A + B_v, -A], [-A, A + B_w]]``, solved through ``(A + B_h) p = r_1 - B_v (B_v +
    B_w)^{-1} (r_1 + r_2)``, ``dv = (B_v + B_w)^{-1} (r_1 + r_2 + B_w p)``, ``dw = dv - p``
    (obtained by adding the two block rows)."""

    def __init__(self, Xa: torch.Tensor, D: torch.Tensor, beta: float, F: torch.Tensor) -> None:
        self.Xa, self.D, self.beta = Xa, D, beta
        self.F: torch.Tensor | None = F  # [D_1 Xa, ..., D_P Xa] (n, dP)
        self.A: torch.Tensor | None = None  # F^T diag(h) F, formed by the dense path
        self.P, self.d = D.shape[1], Xa.shape[1]
        self.sign = (2.0 * D - 1.0).repeat(1, 2)
        self.eye = torch.eye(self.d, dtype=Xa.dtype, device=Xa.device)
        # x_k x_k^T for every sample, upper triangle only ((n, d(d+1)/2)): the 2P block
        # curvatures Xa^T diag(w_j) Xa are then one GEMM instead of 2P thin ones
        self.rows, self.cols = torch.triu_indices(self.d, self.d, device=Xa.device)
        self.outer = Xa[:, self.rows] * Xa[:, self.cols]
        self.K: torch.Tensor | None = None  # the dense Newton matrix (allocated when used)
        self.mixed = Xa.device.type == "cpu" and self.d * self.P >= MIXED_PRECISION_ORDER
        self.woodbury = False  # set by _setup (WOODBURY_MAX_RATIO)
        self.kept: tuple[torch.Tensor, torch.Tensor] | None = None  # (samples, blocks), (E,)
        self.mode = "dense"

    def keep_rows(self, samples: np.ndarray, blocks: np.ndarray) -> None:
        """Keep only these sign constraints (``(E,)`` sample and block indices into the
        ``(n, 2P)`` constraint array): slacks, multipliers and residuals of the sign
        constraints are then ``(E,)`` vectors, and ``G``, ``GT`` and the block curvatures
        gather and scatter over the kept entries only (on 2-D data a block keeps 3-10 of its
        ``n`` rows: the dense ``(n, 2P)`` arrays were most of an iteration's work)."""
        dev = self.Xa.device
        k = torch.as_tensor(samples, dtype=torch.long, device=dev)
        j = torch.as_tensor(blocks, dtype=torch.long, device=dev)
        self.kept = (k, j)
        self.sign_e = self.sign[k, j]  # (E,)
        self.X_e = self.Xa[k]  # (E, d)
        self.outer_e = self.outer[k]  # (E, d(d+1)/2)

    def G(self, U: torch.Tensor) -> torch.Tensor:
        """The sign constraints' values at ``U``: ``(n, 2P)``, or ``(E,)`` over the kept."""
        if self.kept is not None:
            return self.sign_e * (self.X_e * U.T[self.kept[1]]).sum(1)
        return self.sign * (self.Xa @ U)

    def GT(self, L: torch.Tensor) -> torch.Tensor:
        """``G^T L`` (``(d, 2P)``) for ``L`` shaped as :meth:`G`'s values."""
        if self.kept is not None:
            out = torch.zeros(2 * self.P, self.d, dtype=L.dtype, device=L.device)
            return out.index_add_(0, self.kept[1], (self.sign_e * L)[:, None] * self.X_e).T
        return self.Xa.T @ (self.sign * L)

    def _curvatures(self, weights: torch.Tensor) -> torch.Tensor:
        """Upper triangles of the ``2P`` block curvatures ``Xa^T diag(w_j) Xa``
        (``(2P, d(d+1)/2)``) for barrier weights shaped as :meth:`G`'s values."""
        if self.kept is not None:
            out = torch.zeros(2 * self.P, self.outer.shape[1], dtype=weights.dtype,
                              device=weights.device)  # fmt: skip
            return out.index_add_(0, self.kept[1], weights[:, None] * self.outer_e)
        return weights.T @ self.outer

    def multipliers(self, L: torch.Tensor) -> torch.Tensor:
        """The sign-constraint multipliers as the ``(n, 2P)`` array (zero where not kept)."""
        if self.kept is None:
            return L
        out = torch.zeros(self.Xa.shape[0], 2 * self.P, dtype=L.dtype, device=L.device)
        out[self.kept] = L
        return out

    def factor(
        self,
        U: torch.Tensor,
        T: torch.Tensor,
        Z: torch.Tensor,
        weights: torch.Tensor,
        h: torch.Tensor | None = None,
    ):
        """Factor the Newton matrix at ``(U, T)`` (multipliers ``Z`` of ``T >= 0``) with barrier
        weights ``lambda / s`` (shaped as :meth:`G`'s values). Each ``t_j`` is eliminated: with
        ``h(u, t) = beta/2 (||u||^2 / t + t)``, ``h_uu = beta/t I``, ``h_ut = -beta u / t^2``,
        ``tau = h_tt + z/t = beta ||u||^2 / t^3 + z / t``, block ``j`` of ``B`` is
        ``Xa^T diag(w_j) Xa + h_uu - h_ut h_ut^T / tau``. With the loss's Newton weights ``h``
        (``(n,)``; hinge and logistic) ``A = F^T diag(h) F`` is re-formed first."""
        Xa, P, d, beta = self.Xa, self.P, self.d, self.beta
        self.T, self.Z = T, Z
        self.h_ut = -beta * U / T**2  # (d, 2P)
        self.tau = beta * (U * U).sum(0) / T**3 + Z / T
        B = torch.zeros(2 * P, d, d, dtype=Xa.dtype, device=Xa.device)
        upper = self._curvatures(weights)
        B[:, self.rows, self.cols] = upper
        B[:, self.cols, self.rows] = upper
        H = self.h_ut.T
        B += (beta / T)[:, None, None] * self.eye[None]
        B -= H[:, :, None] * H[:, None, :] / self.tau[:, None, None]
        self.Bv, self.Bw = B[:P], B[P:]
        self.C_sum = _cholesky(self.Bv + self.Bw)
        Y = torch.linalg.solve_triangular(self.C_sum, self.Bv, upper=False)
        Bh = self.Bv - Y.transpose(1, 2) @ Y  # = B_v (B_v + B_w)^{-1} B_w
        self.Bh = 0.5 * (Bh + Bh.mT)
        self.h = h
        if self.woodbury and self._factor_woodbury(h):
            return
        self._factor_dense(h)

    def _factor_woodbury(self, h: torch.Tensor | None) -> bool:
        """Factor ``K = B_h + F^T diag(h) F`` through its ``n x n`` capacitance matrix
        ``M = I + Y^T Y``, ``Y = C^{-1} F^T diag(h)^{1/2}`` (``C C^T = B_h``, block by block):
        ``P d^3 + n^2 d P + n^3 / 3`` flops instead of the dense ``(d P)^3 / 3`` (plus ``n (d P)^2``
        to form ``A`` for the hinge and logistic losses). ``M >= I`` is well conditioned; ``B_h``
        may not be late in the method (an active block's own direction), so every solve is
        refined against ``K`` (:meth:`_woodbury_solve`). False when ``B_h`` cannot be factored
        (the dense path is used)."""
        P, d = self.P, self.d
        try:
            C_B = _cholesky(self.Bh)
        except torch.linalg.LinAlgError:
            return False
        FhT = self.FwT if h is None else self.FwT * torch.sqrt(h)  # (P, d, n)
        n = FhT.shape[2]
        # C_B^{-1} block by block (d x d), then one batched product: a batched triangular solve
        # against the (P, d, n) right-hand side copies it into column-major order first
        C_inv = torch.linalg.solve_triangular(C_B, self.eye.expand(P, d, d), upper=False)
        Yw = torch.bmm(C_inv, FhT)
        Yw = Yw.reshape(P * d, n)
        M = Yw.T @ Yw
        M.diagonal().add_(1.0)
        self.C_B, self.Yw, self.C_M = C_B, Yw, torch.linalg.cholesky(M)
        self.FhT = FhT.reshape(P * d, n)
        self.mode = "woodbury"
        return True

    def _woodbury_apply(self, b: torch.Tensor) -> torch.Tensor:
        """``K^{-1} b`` by the capacitance factors (``b`` of shape ``(dP, 1)``), unrefined."""
        P, d = self.P, self.d
        z = torch.linalg.solve_triangular(self.C_B, b.reshape(P, d, 1), upper=False)
        # two triangular solves (torch.cholesky_solve copies the n x n factor on every call)
        w = torch.linalg.solve_triangular(self.C_M, self.Yw.T @ z.reshape(-1, 1), upper=False)
        w = torch.linalg.solve_triangular(self.C_M.mT, w, upper=True)
        z = z - (self.Yw @ w).reshape(P, d, 1)
        return torch.linalg.solve_triangular(self.C_B.mT, z, upper=True).reshape(-1, 1)

    def _K_times(self, x: torch.Tensor) -> torch.Tensor:
        """``K x = B_h x + F^T diag(h) F x`` without forming ``K``."""
        P, d = self.P, self.d
        Bx = (self.Bh @ x.reshape(P, d, 1)).reshape(-1, 1)
        return Bx + self.FhT @ (self.FhT.T @ x)

    def _woodbury_solve(self, b: torch.Tensor) -> torch.Tensor | None:
        """``K^{-1} b`` by conjugate gradients on ``K`` preconditioned with the capacitance
        factors, until the residual is below ``REFINE_RTOL ||b||``: the factors are exact up to
        rounding, which late in the method is large only along the few near-singular
        directions of ``B_h`` (one per active block), and conjugate gradients remove those in
        about as many steps. None when ``WOODBURY_CG_STEPS`` steps do not get there."""
        target = REFINE_RTOL * float(torch.linalg.vector_norm(b))
        x = self._woodbury_apply(b)
        r = b - self._K_times(x)
        z = self._woodbury_apply(r)
        p, rz = z, float((r * z).sum())
        for _ in range(WOODBURY_CG_STEPS):
            if float(torch.linalg.vector_norm(r)) <= target:
                return x
            Kp = self._K_times(p)
            curvature = float((p * Kp).sum())
            if not curvature > 0 or not rz > 0:
                break
            alpha = rz / curvature
            x, r = x + alpha * p, r - alpha * Kp
            z = self._woodbury_apply(r)
            rz, rz_old = float((r * z).sum()), rz
            p = z + (rz / rz_old) * p
        return x if float(torch.linalg.vector_norm(b - self._K_times(x))) <= target else None

    def _factor_dense(self, h: torch.Tensor | None) -> None:
        """Form ``K = A + B_h`` (``A = F^T diag(h) F`` re-formed when ``h`` is given) and factor
        it (float32 factors refined in float64 from ``MIXED_PRECISION_ORDER``)."""
        P, d, Xa = self.P, self.d, self.Xa
        self.mode = "dense"
        F = self.F
        if h is not None:
            self.A = (F.T @ (h.to(F.dtype)[:, None] * F)).to(Xa.dtype)
        elif self.A is None:  # squared loss, first dense factorization (after capacitance ones)
            self.A = (F.T @ F).to(Xa.dtype)
        if self.K is None:
            self.K = torch.empty_like(self.A)
        K = self.K
        K.copy_(self.A)
        # the P diagonal d x d blocks of K as one (d, d, P) view
        K.view(P, d, P, d).diagonal(dim1=0, dim2=2).add_(self.Bh.permute(1, 2, 0))
        self.C_K = None
        if self.mixed:  # float32 factor, refined in float64 in _reduced_solve
            C, info = torch.linalg.cholesky_ex(K.to(torch.float32))
            self.C_K = C if int(info) == 0 else None
        if self.C_K is None:
            self.C_K = _cholesky(K)

    def _triangular_solve(self, b: torch.Tensor) -> torch.Tensor:
        # two triangular solves (torch.cholesky_solve copies the (dP)^2 factor on every call)
        C = self.C_K
        z = torch.linalg.solve_triangular(C, b.to(C.dtype), upper=False)
        return torch.linalg.solve_triangular(C.mT, z, upper=True).to(b.dtype)

    def _reduced_solve(self, b: torch.Tensor) -> torch.Tensor:
        """``K^{-1} b`` (``b`` of shape ``(dP, 1)``). With a float32 factor, iterative refinement
        against the float64 ``K`` until the residual is below ``REFINE_RTOL ||b||``; when that
        fails (``K`` too ill-conditioned for float32, late in the method) the solver switches to
        float64 factors for good."""
        x = self._triangular_solve(b)
        if self.C_K.dtype == b.dtype:
            return x
        target = REFINE_RTOL * float(torch.linalg.vector_norm(b))
        for _ in range(REFINE_STEPS):
            r = b - self.K @ x
            if float(torch.linalg.vector_norm(r)) <= target:
                return x
            x = x + self._triangular_solve(r)
        if float(torch.linalg.vector_norm(b - self.K @ x)) <= target:
            return x
        self.mixed = False
        self.C_K = _cholesky(self.K)
        return self._triangular_solve(b)

    def _sum_solve(self, R: torch.Tensor) -> torch.Tensor:
        return torch.cholesky_solve(R.T[:, :, None], self.C_sum)[:, :, 0].T

    def direction(self, rd, rd_t, rp, S, L, rc, rc_t, e=None):
        """Newton direction ``(dU, dT, dS, dL, dZ)`` of the KKT system linearized at the point
        given to :meth:`factor` and ``(S, L)``, with dual residuals ``rd`` (of ``u``), ``rd_t``
        (of ``t``), primal residual ``rp = G U - S`` and complementarity residuals ``rc`` (of
        ``S * L``) and ``rc_t`` (of ``T * Z``) driven to zero; ``e`` (``(n,)``, or None) a constant
        term of the loss gradient's linearization ``h df + e`` (the hinge epigraph)."""
        P, d = self.P, self.d
        g_t = -rd_t - rc_t / self.T  # tau dt = g_t - h_ut^T du
        r = -rd - self.GT((rc + L * rp) / S) - self.h_ut * (g_t / self.tau)
        if e is not None:
            FTe = self.Xa.T @ (self.D * e[:, None])
            r = r - torch.cat([FTe, -FTe], dim=1)
        r1, r12 = r[:, :P], r[:, :P] + r[:, P:]
        rhs = r1 - torch.einsum("pij,jp->ip", self.Bv, self._sum_solve(r12))
        b = rhs.T.reshape(-1, 1)
        sol = self._woodbury_solve(b) if self.mode == "woodbury" else None
        if sol is None and self.mode == "woodbury":
            # the capacitance solve did not refine (B_h too ill-conditioned): dense from now on
            self.woodbury = False
            self._factor_dense(self.h)
        p = (sol if sol is not None else self._reduced_solve(b)).reshape(P, d).T
        dv = self._sum_solve(r12 + torch.einsum("pij,jp->ip", self.Bw, p))
        dU = torch.cat([dv, dv - p], dim=1)
        dT = (g_t - (self.h_ut * dU).sum(0)) / self.tau
        dZ = -(rc_t + self.Z * dT) / self.T
        dS = self.G(dU) + rp
        dL = -(rc + L * dS) / S
        return dU, dT, dS, dL, dZ
