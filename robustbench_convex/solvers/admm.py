"""ADMM for the convex ReLU programs (MATH.md sections 4 and 6), in PyTorch (CPU or GPU).

The splitting (derived here; it extends the paper's Algorithm 3.1). With ``u = (u_1..u_P,
z_1..z_P)`` (``U`` of shape ``(d, 2P)``, ``d`` = augmented dimension) the program is written as

    min  l(e, Z) + beta ||v||_{2,1} + I_C(s, a)
    s.t. u = v,  G u = s,  F u = e,  A u = Z,  E u = a

- ``v`` (group lasso, prox: group soft threshold), ``s`` (slacks of the sign constraints
  ``(2 D_i - I) Xa u_i``), ``e = F u`` (the convex model's predictions), ``Z = A u`` (robust
  programs only: the perturbable parts of the effective weights ``z_k = sum_i d_ik (v_i - w_i)``),
  ``a = E u`` (certified / class-aware programs only: a copy of the perturbable coordinates).
- ``l`` is the (robust) loss, prox per sample in closed form or by a scalar monotone root
  (``admm_prox.loss_prox``); ``C`` is ``{s >= 0}`` for nominal and relaxed programs and the cone
  ``{s_ik >= eps ||a_i||_1}`` of the certified program (rows restricted for class-aware), projected
  by ``admm_prox.cone_projection``; with soft stability (``stability_penalty = lam``) ``I_C`` is
  replaced by the penalty ``lam * sum (eps ||a_i||_1 - s_ik)_+``, whose prox is the same
  projection with each row's lift capped at ``lam / rho``.

So the loss, hinge and logistic included, is handled by its own exact prox ("a further split
``y_hat = F u``"), and **every u-step is the same fixed linear system** ``K^T K u = K^T(w - lam)``
with ``K^T K = I + G^T G + c F^T F + c A^T A + E``: it is factored once (rotated coordinates,
``admm_linsys``), and the algorithm is plain two-block ADMM (block 1: ``u``; block 2: ``(v, s, e,
Z, a)``, whose sub-steps are separable). Convergence guarantee: two-block ADMM on a closed proper
convex problem with a solution converges (objective, residuals) for every penalty ``rho > 0``, dual
step ``gamma in (0, (1 + sqrt5)/2)`` and relaxation ``alpha in (0, 2)`` (the combination
``gamma != 1`` with ``alpha != 1`` is outside the classical proofs; defaults ``gamma = 1``). The
penalty is adapted by residual balancing a bounded number of times (``max_rho_updates``), after
which the fixed-penalty guarantee applies. Every prox is exact (closed form or a monotone scalar
root to machine precision), so no inner-solver accuracy has to be controlled.

For the squared loss this is the paper's algorithm with the loss moved out of the u-step (the
u-step matrix then does not depend on ``rho``, so ``rho`` can adapt without refactoring).

Scales. One penalty ``rho`` (default 1, adapted by residual balancing) for all constraints, with
fixed weights: ``c`` (``loss_weight``) on ``F u = e`` and ``A u = Z``, ``copy_weight`` on
``u = v``. The losses are sums and the sign and prediction constraints are in the units of the
predictions, so ``rho`` is dimensionless for them: the same ``rho`` fits n = 2000 and n = 12000
(residual balancing settles near 0.2 at both sizes, measured at P = 32 and P = 16). The copy
weight is not scale-free, but it measured irrelevant (1, 30 and 300 gave the same trajectories at
n = 12000, P = 16).

Convergence speed is the weak point (benchmarks/README.md): a few hundred iterations for 1e-4 on
small problems, about 600-2000 for 1e-3 at n = 2000, d = 50, P = 32, and many thousands at
n = 12000, d = 101, P = 64, where every setting we tried is in ADMM's sublinear regime (1300
default iterations end 1.6% above the certified lower bound). ``certify=True`` records a
Lagrange-dual lower bound (``duality.lower_bound``) from the iteration's dual variables, so the
accuracy of any run can be checked without a reference solver. For the nominal squared-loss
program at high accuracy, ``solve_ipm`` (``solvers/ipm.py``) is much faster at these sizes
(certified 1e-3 in 108 s at n = 12000, d = 101, P = 64, where ADMM is still 1% off after 3500
iterations); ADMM remains the solver for the other losses, the robust programs and large P.

Defaults (issue 18). Nominal programs stop on the certificate (``gap_tol = 1e-3``), robust ones
on the residuals; ``rho`` is balanced within ``[rho0 / 100, rho0 * 100]`` with an interval that
doubles when the balancing oscillates (before, it could divide ``rho`` by 5 forty times and
return the zero network); a blown-up objective restarts the run from its best record and, the
third time, ends with status ``"diverged"``. ``robustbench_convex.solve`` picks the fastest
certified solver per program (``solvers/front.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from robustbench_convex.duality import LagrangeDual, loss_gradient
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.losses import robust_loss_value
from robustbench_convex.solution import DEFAULT_RECOVERY_RTOL, ConvexSolution
from robustbench_convex.solvers.admm_linsys import (
    LinearSolverName,
    RotatedSystem,
    choose_linear_solver,
    factor_flops,
    memory_bytes,
)
from robustbench_convex.solvers.admm_prox import cone_projection, group_soft_threshold, loss_prox
from robustbench_convex.solvers.warm_start import warm_start_blocks

__all__ = ["DEFAULT_GAP_TOL", "DEFAULT_MAX_ITER", "DEFAULT_TOL", "StopReason", "solve_admm"]

DEFAULT_MAX_ITER = 5000
DEFAULT_TOL = 1e-5
DEFAULT_MAX_FACTOR_BYTES = 2 * 1024**3
REFACTOR_ITERATIONS = 400  # "auto" splitting: refactoring may cost this many iterations' products
SMALL_PROBLEM_WORK = 3e7  # n * d * 2P below which one torch thread is used (see num_threads)
DEFAULT_HISTORY_EVERY = 10  # records (and stopping tests) every 10 iterations without a callback
DEFAULT_GAP_TOL = 1e-3  # certified stop of the nominal programs (gap_tol="auto")
DEFAULT_RHO_RANGE = 100.0  # rho stays within [rho0 / range, rho0 * range]
RHO_MISMATCH = 5.0  # balance rho when the relative residuals differ by more than this factor
RHO_MIN_INTERVAL = 10  # iterations between rho updates (doubled at every oscillation)
BLOWUP_FACTOR = 100.0  # a convex objective above this many times the zero network's is a blow-up
MAX_RESTARTS = 2  # restarts from the best record before the status becomes "diverged"
RESTART_RHO_FACTOR = 10.0  # the last restart multiplies the best record's rho by this
CERTIFY_PRIMAL_FRACTION = 0.1  # the certified stop also needs primal residual <= this * gap_tol
REFINE_WITHIN = 10.0  # refine the lower bound once the gap is within this many gap_tol...
REFINE_INTERVAL = 200  # ...at most once per this many iterations (50 dual steps cost ~50 its)

StopReason = Literal["certified", "residuals", "max_iter", "time_limit", "diverged"]
"""Which stop fired (``info["stop"]``): the certified gap, the residual test, a budget, or the
divergence guard."""


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(n)`` and restore the previous count."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_args(
    rho, gamma, relaxation, max_iter, tol, time_limit, device, history_every, rho_range
):
    if rho is not None:
        if isinstance(rho, bool) or not isinstance(rho, (int, float)):
            raise TypeError(f"rho must be a positive float or None (automatic), got {rho!r}")
        if not math.isfinite(rho) or rho <= 0:
            raise ValueError(f"rho must be > 0 (or None for the automatic default), got {rho}")
    if not isinstance(gamma, (int, float)) or not (0 < gamma < 2):
        raise ValueError(f"gamma (dual step) must lie in (0, 2), got {gamma!r}; 1.0 is standard")
    if not isinstance(relaxation, (int, float)) or not (0 < relaxation < 2):
        raise ValueError(f"relaxation must lie in (0, 2), got {relaxation!r}; try 1.6")
    check_budget(max_iter, tol, time_limit)
    if history_every is not None and (
        isinstance(history_every, bool) or not isinstance(history_every, int) or history_every < 1
    ):
        raise ValueError(f"history_every must be an int >= 1 or None, got {history_every!r}")
    if (
        isinstance(rho_range, bool)
        or not isinstance(rho_range, (int, float))
        or not (rho_range >= 1 and math.isfinite(rho_range))
    ):
        raise ValueError(f"rho_range must be a finite float >= 1 (1 fixes rho), got {rho_range!r}")
    return check_device(device)


def check_budget(max_iter: Any, tol: Any, time_limit: Any) -> None:
    """Validate an iterative solver's budget: ``max_iter`` an int >= 1, ``tol`` in (0, 1),
    ``time_limit`` > 0 seconds or None (shared by ``solve_admm`` and ``solve_ipm``)."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    if not isinstance(tol, (int, float)) or not (0 < tol < 1):
        raise ValueError(f"tol must lie in (0, 1), got {tol!r}")
    if time_limit is not None and (not isinstance(time_limit, (int, float)) or not time_limit > 0):
        raise ValueError(f"time_limit must be > 0 seconds or None, got {time_limit!r}")


def check_device(device: Any) -> torch.device:
    """``torch.device(device)``, refusing unknown devices and CUDA when it is not available."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but CUDA is not available; use device='cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'mps', got {device!r}")
    return dev


def _resolve_certificate(
    problem: ConvexReLUProblem, certify: bool | None, gap_tol: Any
) -> tuple[bool, float | None]:
    """``(certify, gap_tol)`` after the defaults: nominal programs certify and stop at
    ``DEFAULT_GAP_TOL``; robust programs (no dual bound) use the residual stop."""
    nominal = problem.robust_eps == 0
    if certify is not None and not isinstance(certify, bool):
        raise ValueError(f"certify must be True, False or None (automatic), got {certify!r}")
    auto = isinstance(gap_tol, str)
    if auto and gap_tol != "auto":
        raise ValueError(f"gap_tol must be > 0 (e.g. 1e-3), 'auto' or None, got {gap_tol!r}")
    if gap_tol is not None and not auto:
        if isinstance(gap_tol, bool) or not isinstance(gap_tol, (int, float)) or not gap_tol > 0:
            raise ValueError(f"gap_tol must be > 0 (e.g. 1e-3), 'auto' or None, got {gap_tol!r}")
        if certify is False:
            raise ValueError("gap_tol needs certify=True (or None); pass gap_tol=None to opt out")
        certify = True
    certify = nominal if certify is None else certify
    if certify and not nominal:
        raise ValueError(
            "certify=True (and gap_tol) need a nominal program (robust_eps = 0): lower bounds "
            "for the robust programs are not implemented; leave gap_tol='auto' (residual stop)"
        )
    if auto:
        return certify, (DEFAULT_GAP_TOL if certify else None)
    return certify, None if gap_tol is None else float(gap_tol)


class _Evaluator:
    """Convex objective at ``v`` and objective of the network recovered from ``v`` (torch, on the
    solver's device; the same numbers as ``problem.convex_objective`` and
    ``problem.network_objective(recover_network(...))``, checked in the tests)."""

    def __init__(self, problem: ConvexReLUProblem, Xa, D, y, pert, rtol: float) -> None:
        self.problem, self.Xa, self.D, self.y, self.pert, self.rtol = problem, Xa, D, y, pert, rtol
        self.P = D.shape[1]
        self.eps = problem.robust_eps
        self.sign = 2.0 * D - 1.0

    def __call__(self, V: torch.Tensor) -> tuple[float, float, int, float]:
        """``(convex objective, network objective, active neurons, constraint violation)``."""
        P, pr = self.P, self.problem
        norms = torch.linalg.vector_norm(V, dim=0)
        top = norms.max()
        keep = norms > self.rtol * top if top > 0 else torch.zeros_like(norms, dtype=torch.bool)
        Vk = V * keep
        XV = self.Xa @ V
        Vv, Vw = V[:, :P], V[:, P:]
        pred = (self.D * (XV[:, :P] - XV[:, P:])).sum(dim=1)
        XVk = XV * keep
        relu = torch.clamp(XVk, min=0.0)
        net_pred = relu[:, :P].sum(dim=1) - relu[:, P:].sum(dim=1)
        reg = pr.beta * float(norms.sum())
        reg_net = pr.beta * float(norms[keep].sum())
        if self.eps == 0:
            conv = float(_loss(pr.loss, pred, self.y)) + reg
            net = float(_loss(pr.loss, net_pred, self.y)) + reg_net
        else:
            Zc = self.D @ (Vv - Vw)[self.pert].T
            active = (XVk > 0).to(V.dtype)
            Vkp = Vk[self.pert]
            Zn = active[:, :P] @ Vkp[:, :P].T - active[:, P:] @ Vkp[:, P:].T
            rc = self.eps * Zc.abs().sum(dim=1)
            rn = self.eps * Zn.abs().sum(dim=1)
            conv = float(robust_loss_value(pr.loss, pred, self.y, rc)) + reg
            net = float(robust_loss_value(pr.loss, net_pred, self.y, rn)) + reg_net
        # constraint violation (hard constraints), as problem.constraint_violation
        lhs = self.sign.repeat(1, 2) * XV
        if pr.program in ("certified", "class-aware"):
            rhs = self.eps * V[self.pert].abs().sum(dim=0)
        else:
            rhs = torch.zeros(2 * P, dtype=V.dtype, device=V.device)
        slack = torch.clamp(rhs[None, :] - lhs, min=0.0)
        if pr.program == "class-aware":
            neg = (self.y < 0).to(V.dtype)[:, None]
            slack = torch.cat([slack[:, :P] * neg, slack[:, P:] * (1.0 - neg)], dim=1)
        if pr.stability_penalty is None:
            violation = float(slack.max())
        else:  # soft stability: the minimal slacks are priced, nothing is violated
            violation = 0.0
            conv += pr.stability_penalty * float(slack.sum())
        return conv, net, int(keep.sum()), violation


def _loss(name: str, yhat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return robust_loss_value(name, yhat, y, 0.0)


def solve_admm(
    problem: ConvexReLUProblem,
    *,
    rho: float | None = None,
    gamma: float = 1.0,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    time_limit: float | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    callback: Callable[[int, dict[str, Any]], dict[str, Any] | None] | None = None,
    verbose: bool = False,
    relaxation: float = 1.6,
    adaptive_rho: bool = True,
    max_rho_updates: int = 40,
    loss_weight: float | None = None,
    splitting: Literal["auto", "paper", "loss"] = "auto",
    copy_weight: float | None = None,
    linear_solver: LinearSolverName = "auto",
    max_factor_bytes: float = DEFAULT_MAX_FACTOR_BYTES,
    history_every: int | None = None,
    num_threads: int | None = None,
    recovery_rtol: float = DEFAULT_RECOVERY_RTOL,
    certify: bool | None = None,
    gap_tol: float | Literal["auto"] | None = "auto",
    warm_start: ConvexSolution | tuple[np.ndarray, np.ndarray] | None = None,
    rho_range: float = DEFAULT_RHO_RANGE,
) -> ConvexSolution:
    """Solve a ``ConvexReLUProblem`` by ADMM (see the module docstring for the splitting).

    Args:
        problem: the program (nominal, relaxed ``Rx``, certified ``R`` or class-aware ``Rc``;
            squared, hinge or logistic loss; hard or soft stability).
        rho: initial penalty (``> 0``); None picks the scale-aware default ``rho = 1`` on
            constraints that are all measured in the units of the data (see ``loss_weight``).
            With ``adaptive_rho`` it is then adapted by residual balancing; pass
            ``adaptive_rho=False`` to keep a fixed ``rho``.
        gamma: dual step in ``(0, 2)`` (1 is standard ADMM).
        max_iter: iteration budget (``>= 1``).
        tol: relative tolerance of the primal and dual residuals (relative to the norms of
            ``K u``, ``w`` and ``K^T lambda``); the default reaches about ``1e-5`` relative
            objective accuracy on the data sets we tried (``1e-3`` is the contract).
        time_limit: wall-clock budget in seconds (None: none).
        device: torch device of every tensor (``"cpu"``, ``"cuda"``...). Nothing needs a GPU.
        dtype: floating type (float64 default; float32 on a GPU is faster and less accurate).
        callback: ``callback(iteration, state) -> dict | None`` called at every recorded
            iteration; ``state`` holds ``V, W`` (numpy, current ``v``) and the record; the returned
            dict is merged into the history record (e.g. test accuracy).
        verbose: print a line per recorded iteration.
        relaxation: over-relaxation ``alpha in (0, 2)`` (1.6 default; 1 is plain ADMM).
        adaptive_rho: residual balancing (``rho`` multiplied by ``sqrt(primal/dual)`` ratio of
            the relative residuals when it exceeds 5 or falls below 1/5, at most
            ``max_rho_updates`` times). Free: the u-step matrix does not depend on ``rho``.
        loss_weight: weight ``c`` of the prediction (and effective-weight) constraints in the
            u-step matrix ``I + G^T G + c F^T F + ...`` (None: 1, the best of the values we tried
            on hinge, logistic and class-aware test problems). Ignored for the nominal squared
            loss, which keeps the loss in the u-step (the paper's Algorithm 3.1, ``c = 1/rho``,
            refactored when ``rho`` changes) under ``splitting="paper"``.
        splitting: ``"paper"`` (the nominal squared loss in the u-step, as above), ``"loss"``
            (always split ``e = F u``: one factorization for the whole run) or ``"auto"``:
            ``"paper"`` for the nominal squared loss when a refactorization costs at most
            ``REFACTOR_ITERATIONS`` iterations' worth of products (measured at n=2000, d=50,
            P=32: 630 iterations to 1e-3 vs 790 with ``"loss"``), else ``"loss"`` (at n=12000,
            d=101, P=64 forming the factor takes about 800 iterations' worth). Recorded in
            ``info["splitting"]``.
        copy_weight: weight of the copy constraint ``u = v`` relative to the sign constraints
            (None: 1, as in the paper).
        linear_solver: ``"auto"`` (from the sizes: the direct path with the smaller factor
            unless it exceeds ``max_factor_bytes``, else ``"cg"``), ``"cholesky"``,
            ``"woodbury"`` (nominal programs) or ``"cg"``. The choice is in ``info``.
        max_factor_bytes: memory cap of the direct factors for ``"auto"`` (default 2 GiB).
        history_every: record (objectives, residuals, certificate, callback) and test the stops
            every k iterations (each record costs about one iteration, 1.5 with the certificate).
            None: ``DEFAULT_HISTORY_EVERY`` (10), or 1 when a ``callback`` is given.
        num_threads: torch threads for the solve (restored afterwards); None: one thread when
            ``n * d * 2P < SMALL_PROBLEM_WORK`` (small products are latency bound and extra BLAS
            threads only add wake-up cost), else torch's current setting.
        recovery_rtol: relative threshold of ``recover_network`` used for the recorded network
            objective and active-neuron count.
        certify: record at every record a certified ``lower_bound`` on the optimum
            (``duality.LagrangeDual`` from the iteration's dual variables: ``theta`` = the
            multiplier of ``F u = e``, or ``F u - y`` when the squared loss is in the u-step;
            ``lambda = -rho nu``; refined by 50 dual steps, at most every ``REFINE_INTERVAL``
            iterations, once the gap is within ``REFINE_WITHIN * gap_tol``). None (default): on
            for nominal programs, off for robust ones (no bound is implemented for them; True
            raises there).
        gap_tol: the certified stop. ``"auto"`` (default): ``DEFAULT_GAP_TOL = 1e-3`` where a
            bound exists (nominal programs), else the residual stop. A float: stop with status
            ``"converged"`` (``info["stop"] == "certified"``) at the first record where
            ``max(convex objective, recovered network's objective) <= (1 + gap_tol) x`` the best
            lower bound, the convex objective is not below the bound (which would prove the
            iterate infeasible), the relative primal residual is at most
            ``CERTIFY_PRIMAL_FRACTION * gap_tol`` and ``|convex - network objective| <=
            CERTIFY_PRIMAL_FRACTION * gap_tol * bound`` (a nearly feasible point: on feasible
            points the two objectives are equal). The *network* returned is then certified to
            be at most ``gap_tol`` above the program's optimum (it may be below it: with sampled
            patterns its own activation patterns can do better). With a ``gap_tol``, meeting
            the residual test first ends with status ``"inaccurate"`` (residuals small, gap not
            certified). None: the residual stop alone (with ``certify``, an iterate whose convex
            objective is below the bound is never accepted).
        warm_start: a ``ConvexSolution`` or ``(V, W)`` of arrays ``(d_aug, P)`` to start from
            (validated as in ``solve_ipm``). ``u = v`` starts at it, the slacks and predictions
            at its constraint values; for nominal programs the duals are those of a fixed point:
            ``theta = grad l(F u)``, the sign-constraint multipliers of a ``ConvexSolution``'s
            ``info["multipliers"]`` (``solve_admm`` and ``solve_ipm`` record them) or zeros,
            and the copy dual from the u-step's stationarity; robust programs start their duals
            at zero. From an accurate solution with multipliers the certified stop fires within
            a few records. None: the cold start at zero.
        rho_range: ``rho`` stays within ``[rho0 / rho_range, rho0 * rho_range]`` (``rho0`` =
            ``rho`` or 1); 1 fixes it. Default 100.

    Returns:
        ``ConvexSolution`` with ``V, W`` = the group-lasso split variable ``v`` (exactly sparse;
        the recovered network is built from it), ``objective = problem.convex_objective(V, W)``,
        ``status`` ``"converged"`` (a stop fired: ``info["stop"]`` says which),
        ``"inaccurate"`` (residual stop without the certificate), ``"max_iter"``,
        ``"time_limit"`` or ``"diverged"`` (the divergence guard: the convex objective exceeded
        ``BLOWUP_FACTOR`` times the zero network's, or a value became non-finite, after
        ``MAX_RESTARTS`` restarts from the best record; the best record is returned). The last
        iterate is returned otherwise. ``history``: one dict per recorded iteration
        (``iteration, time`` (seconds since the start, the time spent on the records
        themselves excluded), ``objective`` (convex, at ``v``), ``network_objective`` (of the
        network recovered from ``v``), ``primal_residual``, ``dual_residual`` (relative),
        ``rho``, ``n_active``, ``constraint_violation``, ``lower_bound`` when certifying,
        ``event = "blow-up"`` on a record that triggered a restart, and callback extras).
        ``info``: ``stop`` (``StopReason``), ``certified_gap`` (``(upper_bound - lower_bound) /
        lower_bound`` of the returned point, ``upper_bound = max(objective,
        network_objective)``; negative when its network beats the sampled program),
        ``lower_bound``, ``multipliers`` (nominal), ``rho``, ``rho_updates``, ``rho_backoffs``,
        ``rho_bounds``, ``restarts``, ``returned_iteration``, ``linear_solver``,
        ``factor_bytes``, ``iterations``, ``setup_time``, ``constraint_violation``,
        ``network_objective``, ``threads``...

    Safety (issue 18): the penalty is adapted by residual balancing within ``rho_range`` (its
    move interval doubles whenever the direction flips), so it cannot run away; a record whose
    convex objective blows up restarts the run from the best record (the second time with a
    10x larger ``rho``), then reports ``"diverged"``.

    Memory: the q-system factor (``admm_linsys.memory_bytes``: ``8 (P d)^2`` bytes for
    ``"cholesky"``, ``8 n^2`` for ``"woodbury"``, ``O(n P + P d^2)`` for ``"cg"``) plus about
    ``12 * 8 * n * P`` bytes of iterates (``+ 6 * 8 * n * d`` for robust programs).
    """
    dev = _check_args(
        rho, gamma, relaxation, max_iter, tol, time_limit, device, history_every, rho_range
    )
    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
    if splitting not in ("auto", "paper", "loss"):
        raise ValueError(f"splitting must be 'auto', 'paper' or 'loss', got {splitting!r}")
    if linear_solver not in ("auto", "cholesky", "woodbury", "cg"):
        raise ValueError(
            f"linear_solver must be 'auto', 'cholesky', 'woodbury' or 'cg', got {linear_solver!r}"
        )
    certify, gap_tol = _resolve_certificate(problem, certify, gap_tol)
    blocks = warm_start_blocks(problem, warm_start)
    if blocks is not None:
        mult = None
        if isinstance(warm_start, ConvexSolution):
            mult = warm_start.info.get("multipliers")
        blocks = (*blocks, None if mult is None else np.asarray(mult, dtype=np.float64))
    if history_every is None:
        history_every = 1 if callback is not None else DEFAULT_HISTORY_EVERY
    if loss_weight is not None and not (isinstance(loss_weight, (int, float)) and loss_weight > 0):
        raise ValueError(f"loss_weight must be > 0 or None, got {loss_weight!r}")
    if num_threads is None and dev.type == "cpu":
        # Small products are latency bound: waking a second BLAS thread costs more than the
        # arithmetic (measured: 1.3 ms vs 40-110 ms per iteration at n=300, P=8 on 2 busy cores).
        work = problem.n * problem.d_aug * 2 * problem.P
        num_threads = 1 if work < SMALL_PROBLEM_WORK else None
    with torch_threads(num_threads), torch.no_grad():
        return _solve(
            problem,
            rho=rho,
            gamma=float(gamma),
            max_iter=int(max_iter),
            tol=float(tol),
            time_limit=time_limit,
            device=dev,
            dtype=dtype,
            callback=callback,
            verbose=verbose,
            relaxation=float(relaxation),
            adaptive_rho=adaptive_rho,
            max_rho_updates=int(max_rho_updates),
            loss_weight=loss_weight,
            copy_weight=copy_weight,
            splitting=splitting,
            linear_solver=linear_solver,
            max_factor_bytes=max_factor_bytes,
            history_every=history_every,
            recovery_rtol=recovery_rtol,
            certify=certify,
            gap_tol=gap_tol,
            warm_start=blocks,
            rho_range=float(rho_range),
        )


@dataclass
class _Iterate:
    """The state that continues an ADMM run: the block-2 variables ``(v, s, e, Z, a)`` and the
    scaled duals of ``u = v``, ``G u = s``, ``F u = e``, ``A u = Z``, ``E u = a`` (None where the
    program has no such constraint)."""

    V: torch.Tensor
    S: torch.Tensor
    e: torch.Tensor
    Zs: torch.Tensor | None
    Acp: torch.Tensor | None
    Lam: torch.Tensor
    Nu: torch.Tensor
    Mu: torch.Tensor
    Xi: torch.Tensor | None
    Kap: torch.Tensor | None

    def copy(self) -> _Iterate:
        values = (getattr(self, f.name) for f in dataclasses.fields(self))
        return _Iterate(*(None if t is None else t.clone() for t in values))

    def rescale_duals(self, ratio: float) -> None:
        """Scaled duals are ``y / rho``: divide them by ``ratio`` when ``rho`` is multiplied by it."""
        self.Lam, self.Nu, self.Mu = self.Lam / ratio, self.Nu / ratio, self.Mu / ratio
        if self.Xi is not None:
            self.Xi = self.Xi / ratio
        if self.Kap is not None:
            self.Kap = self.Kap / ratio


class _RhoControl:
    """Residual balancing that cannot run away: ``rho`` stays in ``[rho0 / rho_range, rho0 *
    rho_range]``, moves only when the relative residuals differ by more than ``RHO_MISMATCH``,
    at least ``interval`` iterations apart, and the interval doubles whenever the direction of
    the move flips (an oscillation). ``propose`` returns the factor applied (None: no change)."""

    def __init__(self, rho0: float, enabled: bool, max_updates: int, rho_range: float) -> None:
        self.rho, self.enabled, self.max_updates = rho0, enabled, max_updates
        self.lo, self.hi = rho0 / rho_range, rho0 * rho_range
        self.updates = self.backoffs = self.last = self.direction = 0
        self.interval = RHO_MIN_INTERVAL

    def propose(self, it: int, r_pri: float, r_dual: float) -> float | None:
        if not self.enabled or self.updates >= self.max_updates or it - self.last < self.interval:
            return None
        if not (r_dual > 0 and r_pri > 0 and math.isfinite(r_pri) and math.isfinite(r_dual)):
            return None
        ratio = math.sqrt(r_pri / r_dual)
        if 1.0 / RHO_MISMATCH <= ratio <= RHO_MISMATCH:
            return None
        new = min(max(self.rho * ratio, self.lo), self.hi)
        if abs(math.log(new / self.rho)) < 1e-3:  # pinned at a bound
            return None
        direction = 1 if new > self.rho else -1
        if self.direction and direction != self.direction:
            self.interval *= 2
            self.backoffs += 1
        factor, self.rho = new / self.rho, new
        self.direction, self.last = direction, it
        self.updates += 1
        return factor

    def reset(self, rho: float, it: int) -> None:
        """After a restart: continue at ``rho`` with balancing switched off."""
        self.rho, self.last, self.enabled = rho, it, False


def _solve(problem: ConvexReLUProblem, **opt: Any) -> ConvexSolution:
    t_start = time.perf_counter()
    dev, dtype = opt["device"], opt["dtype"]
    pr = problem
    n, d, P = pr.n, pr.d_aug, pr.P
    eps = pr.robust_eps
    robust_loss = eps > 0
    cone = pr.program in ("certified", "class-aware")
    as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=dev)  # noqa: E731
    Xa, D, y = as_t(pr.Xa), as_t(pr.D), as_t(pr.y)
    pert = torch.as_tensor(pr.perturbable, device=dev)
    Sgn = (2.0 * D - 1.0).repeat(1, 2)
    Dpm = torch.cat([D, -D], dim=1)
    rows = None
    if pr.program == "class-aware":
        neg = (y < 0).to(dtype)[:, None].expand(n, P)
        rows = torch.cat([neg, 1.0 - neg], dim=1)

    rho0 = float(opt["rho"]) if opt["rho"] is not None else 1.0
    control = _RhoControl(rho0, opt["adaptive_rho"], opt["max_rho_updates"], opt["rho_range"])
    rho = rho0
    sig = opt["copy_weight"] if opt["copy_weight"] is not None else 1.0
    path = opt["linear_solver"]
    itemsize = torch.finfo(dtype).bits // 8
    if path == "auto":
        path = choose_linear_solver(
            n, d, P, robust_loss=robust_loss, max_bytes=opt["max_factor_bytes"], itemsize=itemsize
        )
    elif path == "woodbury" and robust_loss:
        raise ValueError("linear_solver='woodbury' applies to nominal programs only")
    # "paper": squared nominal loss kept in the u-step (Algorithm 3.1), matrix depends on rho
    splitting = opt["splitting"]
    if pr.loss != "squared" or robust_loss:
        splitting = "loss"
    elif splitting == "auto":
        cheap = factor_flops(path, n, d, P) <= REFACTOR_ITERATIONS * 8.0 * n * d * P
        splitting = "paper" if cheap else "loss"
    paper = splitting == "paper"
    c = opt["loss_weight"] if opt["loss_weight"] is not None else 1.0
    if paper:
        c = 1.0 / rho
    make_system = lambda c: RotatedSystem(  # noqa: E731
        Xa,
        D,
        c=c,
        c_z=c if robust_loss else 0.0,
        cone_weight=1.0 if cone else 0.0,
        perturbable=pert,
        path=path,
        copy_weight=sig,
    )
    system = make_system(c)
    x = _start(pr, opt["warm_start"], Xa, D, y, Sgn, Dpm, pert, rho, c, sig, paper, cone)
    setup_time = time.perf_counter() - t_start

    def KT(Vp, Sp, ep, Zp, Ap):
        """K^T applied to a point of the constraint space. ``Sp`` (n, 2P) is overwritten: the
        callers pass fresh differences, and the n x 2P arrays are the iteration's memory
        traffic (allocating them costs as much as the arithmetic)."""
        out = Xa.T @ Sp.mul_(Sgn)
        pred = (Xa.T * ep[None, :]) @ D  # F^T e without the (n, 2P) array Dpm * e
        out[:, :P].add_(pred, alpha=c)
        out[:, P:].sub_(pred, alpha=c)
        out.add_(Vp, alpha=sig)
        if Zp is not None:
            ATz = Zp.T @ D
            out[pert] += c * torch.cat([ATz, -ATz], dim=1)
        if Ap is not None:
            out[pert] += Ap
        return out

    evaluate = _Evaluator(pr, Xa, D, y, pert, opt["recovery_rtol"])
    zero_objective = evaluate(torch.zeros(d, 2 * P, dtype=dtype, device=dev))[0]
    label_norm = float(torch.linalg.vector_norm(y))  # the scale of the predictions
    alpha, gamma, tol, gap_tol = opt["relaxation"], opt["gamma"], opt["tol"], opt["gap_tol"]
    beta = pr.beta
    lam_soft = pr.stability_penalty  # soft stability: the cone step becomes a capped prox
    history: list[dict[str, Any]] = []
    stop: StopReason = "max_iter"
    status, message = "max_iter", f"reached max_iter={opt['max_iter']}"
    record_time = 0.0
    best_bound = -math.inf
    dual = LagrangeDual(pr, dev) if opt["certify"] else None
    every = opt["history_every"]
    # best record by its feasible-corrected objective max(convex, network): (merit, iteration,
    # iterate, rho); the restart point after a blow-up and the answer when no stop fires
    best: tuple[float, int, _Iterate, float] | None = None
    restarts, last_refine = 0, -REFINE_INTERVAL
    it = 0
    r_pri = r_dual = float("nan")
    for it in range(1, opt["max_iter"] + 1):
        check = it % every == 0 or it == opt["max_iter"]
        # ---- u-step: K^T K u = K^T (w - lambda)
        R = KT(
            x.V - x.Lam,
            x.S - x.Nu,
            x.e - x.Mu,
            None if x.Zs is None else x.Zs - x.Xi,
            None if x.Acp is None else x.Acp - x.Kap,
        )
        U = system.solve(R)
        XU = Xa @ U
        FU = (Dpm * XU).sum(dim=1)
        GU = XU.mul_(Sgn)  # XU is not needed any more
        Up = U[pert]
        AU = D @ (Up[:, :P] - Up[:, P:]).T if robust_loss else None
        if check:
            old = (x.V, x.S, x.e, x.Zs, x.Acp)
        # ---- relaxation and block 2
        Uh = alpha * U + (1 - alpha) * x.V
        GUh = torch.lerp(x.S, GU, alpha)  # alpha GU + (1 - alpha) S
        FUh = alpha * FU + (1 - alpha) * x.e
        x.V = group_soft_threshold(Uh + x.Lam, beta / (rho * sig))
        if cone:
            EUh = alpha * Up + (1 - alpha) * x.Acp
            cap = None if lam_soft is None else lam_soft / rho
            x.S, x.Acp = cone_projection(GUh + x.Nu, EUh + x.Kap, eps, rows, cap)
            x.Kap = x.Kap + gamma * (EUh - x.Acp)
        else:
            x.S = (GUh + x.Nu).clamp_(min=0.0)
        if robust_loss:
            AUh = alpha * AU + (1 - alpha) * x.Zs
            x.e, x.Zs = loss_prox(pr.loss, FUh + x.Mu, AUh + x.Xi, y, eps, rho * c)
            x.Xi = x.Xi + gamma * (AUh - x.Zs)
        elif not paper:
            x.e, _ = loss_prox(pr.loss, FUh + x.Mu, None, y, 0.0, rho * c)
        x.Lam = x.Lam + gamma * (Uh - x.V)
        x.Nu.add_(GUh, alpha=gamma).sub_(x.S, alpha=gamma)
        if not paper:
            x.Mu = x.Mu + gamma * (FUh - x.e)

        elapsed = time.perf_counter() - t_start
        if check:
            t_rec = time.perf_counter()
            sq = lambda t: 0.0 if t is None else float(torch.sum(t * t))  # noqa: E731
            cl = 0.0 if paper else c
            prim = sig * sq(U - x.V) + sq(GU - x.S) + cl * sq(FU - x.e)
            ku = sig * sq(U) + sq(GU) + cl * sq(FU)
            wn = sig * sq(x.V) + sq(x.S) + cl * sq(x.e)
            if robust_loss:
                prim += c * sq(AU - x.Zs)
                ku += c * sq(AU)
                wn += c * sq(x.Zs)
            if cone:
                prim += sq(Up - x.Acp)
                ku += sq(Up)
                wn += sq(x.Acp)
            dres = KT(
                x.V - old[0],
                x.S - old[1],
                x.e - old[2],
                None if x.Zs is None else x.Zs - old[3],
                None if x.Acp is None else x.Acp - old[4],
            )
            # K^T lambda = 0 at a solution; its terms' sizes set the scale of the dual residual
            parts = Xa.T @ torch.cat([Sgn * x.Nu, c * Dpm * x.Mu[:, None]], dim=1)
            dual_sq = sq(sig * x.Lam) + sq(parts) + sq(x.Kap)
            if x.Xi is not None:
                dual_sq += sq(c * (x.Xi.T @ D))
            r_pri = math.sqrt(prim) / max(math.sqrt(max(ku, wn)), 1e-300)
            r_dual = float(torch.linalg.vector_norm(dres)) / max(math.sqrt(dual_sq), 1e-300)
            conv, net, n_act, viol = evaluate(x.V)
            merit = max(conv, net)
            record = {
                "iteration": it,
                "time": elapsed - record_time,
                "objective": conv,
                "network_objective": net,
                "primal_residual": r_pri,
                "dual_residual": r_dual,
                "rho": rho,
                "n_active": n_act,
                "constraint_violation": viol,
            }
            # ---- divergence guard: restart from the best record, or give up
            healthy = all(math.isfinite(t) for t in (conv, net, r_pri, r_dual)) and (
                conv <= BLOWUP_FACTOR * max(zero_objective, 1e-12)
            )
            if not healthy:
                record["event"] = "blow-up"
                history.append(record)
                if restarts >= MAX_RESTARTS:
                    stop, status = "diverged", "diverged"
                    message = (
                        f"diverged: objective {conv:.3g} (the zero network's is "
                        f"{zero_objective:.3g}) at iteration {it} after {restarts} restarts"
                    )
                    record_time += time.perf_counter() - t_rec
                    break
                restarts += 1
                if best is not None:
                    x, new_rho = best[2].copy(), best[3]
                else:
                    x = _start(pr, None, Xa, D, y, Sgn, Dpm, pert, rho0, c, sig, paper, cone)
                    new_rho = rho0
                if restarts == MAX_RESTARTS:  # second restart: a more damped penalty
                    x.rescale_duals(RESTART_RHO_FACTOR)
                    new_rho *= RESTART_RHO_FACTOR
                rho = new_rho
                control.reset(rho, it)
                if paper:
                    c = 1.0 / rho
                    system = make_system(c)
                record_time += time.perf_counter() - t_rec
                continue
            if dual is not None:
                theta = FU - y if paper else (rho * c) * x.Mu
                mult = (-rho) * x.Nu
                bound = dual.lower_bound(theta, mult, refine_steps=0).value
                if gap_tol is not None and bound > 0 and it - last_refine >= REFINE_INTERVAL:
                    promising = merit <= (1 + REFINE_WITHIN * gap_tol) * bound
                    if promising and merit > (1 + gap_tol) * max(bound, best_bound):
                        bound = max(bound, dual.lower_bound(theta, mult).value)
                        last_refine = it
                best_bound = max(best_bound, bound)
                record["lower_bound"] = bound
            if best is None or merit < best[0]:
                best = (merit, it, x.copy(), rho)
            if opt["callback"] is not None:
                Vn = x.V.detach().cpu().numpy()
                extra = opt["callback"](
                    it, {"V": Vn[:, :P], "W": Vn[:, P:], "record": dict(record), "rho": rho}
                )
                if extra:
                    record.update(extra)
            history.append(record)
            if opt["verbose"]:
                print(
                    f"admm it {it:5d}  obj {conv:.8e}  net {net:.8e}  pri {r_pri:.2e}  "
                    f"dual {r_dual:.2e}  rho {rho:.3g}  active {n_act}"
                    + (f"  lb {best_bound:.8e}" if dual is not None else "")
                )
            # a convex objective below a certified lower bound proves the iterate infeasible
            below = dual is not None and conv < best_bound
            # the certificate is for the network; the convex point must also be nearly feasible
            # (small primal residual; objective equal to its network's, as on feasible points)
            g_feas = CERTIFY_PRIMAL_FRACTION * (gap_tol or 0.0)
            near = r_pri <= g_feas or math.sqrt(prim) <= g_feas * label_norm  # absolute at 0
            feasible = near and abs(conv - net) <= g_feas * abs(best_bound)
            if gap_tol is not None and not below and feasible and best_bound > 0:
                if merit <= (1 + gap_tol) * best_bound:
                    stop, status = "certified", "converged"
                    message = (
                        f"certified: max(convex, network objective) {merit:.10g} <= (1 + "
                        f"gap_tol={gap_tol:g}) x lower bound {best_bound:.10g}"
                    )
                    record_time += time.perf_counter() - t_rec
                    break
            if r_pri <= tol and r_dual <= tol and not below:
                stop, status = "residuals", "converged"
                message = f"relative residuals below tol={tol:g}"
                if gap_tol is not None:  # not certified at this point: say so
                    status = "inaccurate"
                    message += (
                        f", but the certified gap {_gap(merit, best_bound):.3g} is above "
                        f"gap_tol={gap_tol:g}"
                    )
                record_time += time.perf_counter() - t_rec
                break
            # ---- bounded residual balancing (scaled duals rescale with rho)
            factor = control.propose(it, r_pri, r_dual)
            if factor is not None:
                rho = control.rho
                if paper:
                    c = 1.0 / rho
                    system = make_system(c)
                x.rescale_duals(factor)
            record_time += time.perf_counter() - t_rec
        if opt["time_limit"] is not None and time.perf_counter() - t_start >= opt["time_limit"]:
            stop, status = "time_limit", "time_limit"
            message = f"reached time_limit={opt['time_limit']} s"
            break

    returned = it
    if stop == "diverged" and best is not None:
        x, returned = best[2], best[1]
        message += f"; returned the best recorded iterate (iteration {returned})"
    Vn = x.V.detach().cpu().numpy().astype(np.float64)
    Vsol, Wsol = np.ascontiguousarray(Vn[:, :P]), np.ascontiguousarray(Vn[:, P:])
    total = time.perf_counter() - t_start
    sol = ConvexSolution(
        V=Vsol,
        W=Wsol,
        objective=pr.convex_objective(Vsol, Wsol),
        status=status,
        solver="ADMM",
        time=total,
        problem=pr,
        message=message,
        history=history,
        info={},
    )
    network_objective = pr.network_objective(sol.to_network(opt["recovery_rtol"]))
    upper = max(sol.objective, network_objective)
    sol.info.update(
        {
            "stop": stop,
            "linear_solver": path,
            "splitting": splitting,
            "factor_bytes": memory_bytes(path, n, d, P, itemsize),
            "rho": rho,
            "rho_updates": control.updates,
            "rho_backoffs": control.backoffs,
            "rho_bounds": (control.lo, control.hi),
            "restarts": restarts,
            "loss_weight": c,
            "relaxation": alpha,
            "gamma": gamma,
            "iterations": it,
            "returned_iteration": returned,
            "setup_time": setup_time,
            "record_time": record_time,
            "primal_residual": r_pri,
            "dual_residual": r_dual,
            "constraint_violation": pr.constraint_violation(Vsol, Wsol),
            "network_objective": network_objective,
            "upper_bound": upper,
            "gap_tol": gap_tol,
            "warm_start": opt["warm_start"] is not None,
            "threads": torch.get_num_threads(),
            "device": str(dev),
            "dtype": str(dtype).replace("torch.", ""),
        }
    )
    if dual is not None:
        sol.info["lower_bound"] = best_bound
        # the sign-constraint multipliers (n, 2P): a dual candidate, and the duals of a warm start
        sol.info["multipliers"] = ((-rho) * x.Nu).clamp(min=0.0).cpu().numpy().astype(np.float64)
        sol.info["certified_gap"] = _gap(upper, best_bound)
    if path == "cg":
        its = system.cg_iterations
        sol.info["cg_iterations_mean"] = float(np.mean(its)) if its else 0.0
    return sol


def _gap(upper: float, lower: float) -> float:
    """Relative certified gap ``(upper - lower) / lower`` (inf without a positive bound)."""
    return (upper - lower) / lower if lower > 0 and math.isfinite(upper) else math.inf


def _start(pr, blocks, Xa, D, y, Sgn, Dpm, pert, rho, c, sig, paper, cone) -> _Iterate:
    """The first iterate: zeros (cold), or ``(V, W)`` with the block-2 variables at their
    constraint values and, for nominal programs, the duals that make it a fixed point when it
    is optimal: ``theta = grad l(F u)`` for the loss, the warm start's sign-constraint
    ``multipliers`` (``info["multipliers"]`` of a ``ConvexSolution``, e.g. from ``solve_ipm``)
    or zeros, and ``Lambda = (G^T lambda - F^T theta) / (rho sig)`` (stationarity of the
    u-step)."""
    dtype, dev = Xa.dtype, Xa.device
    n, d, P = Xa.shape[0], Xa.shape[1], D.shape[1]
    zeros = lambda *shape: torch.zeros(*shape, dtype=dtype, device=dev)  # noqa: E731
    dp = int(pert.sum())
    robust_loss = pr.robust_eps > 0
    if blocks is None:
        return _Iterate(
            V=zeros(d, 2 * P),
            S=zeros(n, 2 * P),
            e=y.clone() if paper else zeros(n),  # paper: enters the u-step as c F^T y
            Zs=zeros(n, dp) if robust_loss else None,
            Acp=zeros(dp, 2 * P) if cone else None,
            Lam=zeros(d, 2 * P),
            Nu=zeros(n, 2 * P),
            Mu=zeros(n),
            Xi=zeros(n, dp) if robust_loss else None,
            Kap=zeros(dp, 2 * P) if cone else None,
        )
    V0, W0, mult = blocks
    U = torch.as_tensor(np.hstack([V0, W0]), dtype=dtype, device=dev)
    XU = Xa @ U
    FU = (Dpm * XU).sum(dim=1)
    Up = U[pert]
    x = _Iterate(
        V=U.clone(),
        S=(Sgn * XU).clamp_(min=0.0),
        e=y.clone() if paper else FU.clone(),
        Zs=D @ (Up[:, :P] - Up[:, P:]).T if robust_loss else None,
        Acp=Up.clone() if cone else None,
        Lam=zeros(d, 2 * P),
        Nu=zeros(n, 2 * P),
        Mu=zeros(n),
        Xi=zeros(n, dp) if robust_loss else None,
        Kap=zeros(dp, 2 * P) if cone else None,
    )
    if robust_loss:  # no closed-form duals for the robust losses: they start at zero
        return x
    theta = loss_gradient(pr.loss, FU, y)
    lam = zeros(n, 2 * P)
    if mult is not None and tuple(mult.shape) == (n, 2 * P):
        lam = torch.as_tensor(mult, dtype=dtype, device=dev).clamp(min=0.0)
    x.Nu = -lam / rho
    if not paper:
        x.Mu = theta / (rho * c)
    x.Lam = (Xa.T @ (Sgn * lam - Dpm * theta[:, None])) / (rho * sig)
    return x
