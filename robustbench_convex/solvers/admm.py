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
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import torch

from robustbench_convex.duality import LagrangeDual
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

__all__ = ["DEFAULT_MAX_ITER", "DEFAULT_TOL", "solve_admm"]

DEFAULT_MAX_ITER = 5000
DEFAULT_TOL = 1e-5
DEFAULT_MAX_FACTOR_BYTES = 2 * 1024**3
REFACTOR_ITERATIONS = 400  # "auto" splitting: refactoring may cost this many iterations' products
SMALL_PROBLEM_WORK = 3e7  # n * d * 2P below which one torch thread is used (see num_threads)


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


def _check_args(rho, gamma, relaxation, max_iter, tol, time_limit, device, history_every):
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
    if isinstance(history_every, bool) or not isinstance(history_every, int) or history_every < 1:
        raise ValueError(f"history_every must be an int >= 1, got {history_every!r}")
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
    history_every: int = 1,
    num_threads: int | None = None,
    recovery_rtol: float = DEFAULT_RECOVERY_RTOL,
    certify: bool = False,
    gap_tol: float | None = None,
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
        history_every: record (objectives, residuals, callback) and test convergence every k
            iterations (1: every iteration; each record costs about one extra iteration).
        num_threads: torch threads for the solve (restored afterwards); None: one thread when
            ``n * d * 2P < SMALL_PROBLEM_WORK`` (small products are latency bound and extra BLAS
            threads only add wake-up cost), else torch's current setting.
        recovery_rtol: relative threshold of ``recover_network`` used for the recorded network
            objective and active-neuron count.
        certify: nominal programs only: add to every record a certified ``lower_bound`` on the
            optimum (``duality.LagrangeDual`` from the iteration's dual variables: ``theta`` = the
            multiplier of ``F u = e``, or ``F u - y`` when the squared loss is in the u-step;
            ``lambda = -rho nu``), and the best one to ``info["lower_bound"]``. Costs about half
            an iteration per record. With an objective ``f`` of a feasible point,
            ``(f - lower_bound) / lower_bound`` bounds its relative suboptimality.
        gap_tol: nominal programs only (implies ``certify``): also stop, with status
            ``"converged"``, at the first record where the recovered network's objective is at
            most ``(1 + gap_tol)`` times the best lower bound so far: the network returned is then
            *certified* within ``gap_tol`` of the convex optimum (above it by at most that much;
            it may be below it, being a network rather than a point of the program). None: stop
            on the residuals only. Measured at n = 2000, d = 50, P = 32 (squared, history
            every 10): ``gap_tol=1e-3`` stops after 2020 iterations (17.6 s, network 4.9e-4
            below Clarabel's optimum), the default residual test after 4320 (30.9 s).

    Returns:
        ``ConvexSolution`` with ``V, W`` = the group-lasso split variable ``v`` (exactly sparse;
        the recovered network is built from it), ``objective = problem.convex_objective(V, W)``,
        ``status`` ``"converged"``, ``"max_iter"`` or ``"time_limit"``, ``history`` (one dict per
        recorded iteration: ``iteration, time`` (seconds since the start, the time spent on the
        records themselves excluded), ``objective`` (convex, at ``v``), ``network_objective``
        (of the network recovered from ``v``), ``primal_residual``, ``dual_residual`` (relative),
        ``rho``, ``n_active``, ``constraint_violation``, ``lower_bound`` with ``certify``, and
        callback extras) and ``info`` (``linear_solver``, ``factor_bytes``, ``rho``,
        ``rho_updates``, ``iterations``, ``setup_time``, ``constraint_violation``,
        ``network_objective``, ``lower_bound`` with ``certify``, ``threads``...).

    Memory: the q-system factor (``admm_linsys.memory_bytes``: ``8 (P d)^2`` bytes for
    ``"cholesky"``, ``8 n^2`` for ``"woodbury"``, ``O(n P + P d^2)`` for ``"cg"``) plus about
    ``12 * 8 * n * P`` bytes of iterates (``+ 6 * 8 * n * d`` for robust programs).
    """
    dev = _check_args(rho, gamma, relaxation, max_iter, tol, time_limit, device, history_every)
    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
    if splitting not in ("auto", "paper", "loss"):
        raise ValueError(f"splitting must be 'auto', 'paper' or 'loss', got {splitting!r}")
    if linear_solver not in ("auto", "cholesky", "woodbury", "cg"):
        raise ValueError(
            f"linear_solver must be 'auto', 'cholesky', 'woodbury' or 'cg', got {linear_solver!r}"
        )
    if gap_tol is not None:
        if isinstance(gap_tol, bool) or not isinstance(gap_tol, (int, float)) or not gap_tol > 0:
            raise ValueError(f"gap_tol must be > 0 (e.g. 1e-3) or None, got {gap_tol!r}")
        certify = True
    if certify and problem.robust_eps > 0:
        raise ValueError(
            "certify=True (and gap_tol) need a nominal program (robust_eps = 0): lower bounds "
            "for the robust programs are not implemented"
        )
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
            certify=bool(certify),
            gap_tol=None if gap_tol is None else float(gap_tol),
        )


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

    rho = float(opt["rho"]) if opt["rho"] is not None else 1.0
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
    setup_time = time.perf_counter() - t_start

    zeros = lambda *shape: torch.zeros(*shape, dtype=dtype, device=dev)  # noqa: E731
    dp = int(pert.sum())
    U, V, Lam = zeros(d, 2 * P), zeros(d, 2 * P), zeros(d, 2 * P)
    S, Nu = zeros(n, 2 * P), zeros(n, 2 * P)
    e, Mu = zeros(n), zeros(n)
    if paper:
        e = y.clone()  # enters the u-step right-hand side as c F^T y
    Zs = Xi = Acp = Kap = None
    if robust_loss:
        Zs, Xi = zeros(n, dp), zeros(n, dp)
    if cone:
        Acp, Kap = zeros(dp, 2 * P), zeros(dp, 2 * P)

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
    alpha, gamma, tol = opt["relaxation"], opt["gamma"], opt["tol"]
    beta = pr.beta
    lam_soft = pr.stability_penalty  # soft stability: the cone step becomes a capped prox
    history: list[dict[str, Any]] = []
    status, message = "max_iter", f"reached max_iter={opt['max_iter']}"
    rho_updates, last_update = 0, 0
    record_time = 0.0
    best_bound = -math.inf
    dual = LagrangeDual(pr, dev) if opt["certify"] else None
    every = opt["history_every"]
    it = 0
    r_pri = r_dual = float("nan")
    for it in range(1, opt["max_iter"] + 1):
        check = it % every == 0 or it == opt["max_iter"]
        # ---- u-step: K^T K u = K^T (w - lambda)
        R = KT(
            V - Lam,
            S - Nu,
            e - Mu,
            None if Zs is None else Zs - Xi,
            None if Acp is None else Acp - Kap,
        )
        U = system.solve(R)
        XU = Xa @ U
        FU = (Dpm * XU).sum(dim=1)
        GU = XU.mul_(Sgn)  # XU is not needed any more
        Up = U[pert]
        AU = D @ (Up[:, :P] - Up[:, P:]).T if robust_loss else None
        if check:
            old = (V, S, e, Zs, Acp)
        # ---- relaxation and block 2
        Uh = alpha * U + (1 - alpha) * V
        GUh = torch.lerp(S, GU, alpha)  # alpha GU + (1 - alpha) S
        FUh = alpha * FU + (1 - alpha) * e
        V = group_soft_threshold(Uh + Lam, beta / (rho * sig))
        if cone:
            EUh = alpha * Up + (1 - alpha) * Acp
            cap = None if lam_soft is None else lam_soft / rho
            S, Acp = cone_projection(GUh + Nu, EUh + Kap, eps, rows, cap)
            Kap = Kap + gamma * (EUh - Acp)
        else:
            S = (GUh + Nu).clamp_(min=0.0)
        if robust_loss:
            AUh = alpha * AU + (1 - alpha) * Zs
            e, Zs = loss_prox(pr.loss, FUh + Mu, AUh + Xi, y, eps, rho * c)
            Xi = Xi + gamma * (AUh - Zs)
        else:
            if not paper:
                e, _ = loss_prox(pr.loss, FUh + Mu, None, y, 0.0, rho * c)
        Lam = Lam + gamma * (Uh - V)
        Nu.add_(GUh, alpha=gamma).sub_(S, alpha=gamma)
        if not paper:
            Mu = Mu + gamma * (FUh - e)

        elapsed = time.perf_counter() - t_start
        if check:
            t_rec = time.perf_counter()
            sq = lambda t: 0.0 if t is None else float(torch.sum(t * t))  # noqa: E731
            cl = 0.0 if paper else c
            prim = sig * sq(U - V) + sq(GU - S) + cl * sq(FU - e)
            ku = sig * sq(U) + sq(GU) + cl * sq(FU)
            wn = sig * sq(V) + sq(S) + cl * sq(e)
            if robust_loss:
                prim += c * sq(AU - Zs)
                ku += c * sq(AU)
                wn += c * sq(Zs)
            if cone:
                prim += sq(Up - Acp)
                ku += sq(Up)
                wn += sq(Acp)
            dres = KT(
                V - old[0],
                S - old[1],
                e - old[2],
                None if Zs is None else Zs - old[3],
                None if Acp is None else Acp - old[4],
            )
            # K^T lambda = 0 at a solution; its terms' sizes set the scale of the dual residual
            parts = Xa.T @ torch.cat([Sgn * Nu, c * Dpm * Mu[:, None]], dim=1)
            dual_sq = sq(sig * Lam) + sq(parts) + sq(Kap)
            if Xi is not None:
                dual_sq += sq(c * (Xi.T @ D))
            r_pri = math.sqrt(prim) / max(math.sqrt(max(ku, wn)), 1e-300)
            r_dual = float(torch.linalg.vector_norm(dres)) / max(math.sqrt(dual_sq), 1e-300)
            conv, net, n_act, viol = evaluate(V)
            if dual is not None:
                theta = FU - y if paper else (rho * c) * Mu
                bound = dual.lower_bound(theta, (-rho) * Nu, refine_steps=0).value
                best_bound = max(best_bound, bound)
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
            if dual is not None:
                record["lower_bound"] = bound
            if opt["callback"] is not None:
                Vn = V.detach().cpu().numpy()
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
                )
            if r_pri <= tol and r_dual <= tol:
                status, message = "converged", f"relative residuals below tol={tol:g}"
                record_time += time.perf_counter() - t_rec
                break
            gap_tol = opt["gap_tol"]
            if gap_tol is not None and best_bound > 0 and net <= (1 + gap_tol) * best_bound:
                status = "converged"
                message = (
                    f"certified: network objective {net:.10g} <= (1 + gap_tol={gap_tol:g}) x "
                    f"lower bound {best_bound:.10g}"
                )
                record_time += time.perf_counter() - t_rec
                break
            # ---- residual balancing (scaled duals rescale with rho)
            if (
                opt["adaptive_rho"]
                and rho_updates < opt["max_rho_updates"]
                and it - last_update >= 10
                and r_dual > 0
            ):
                ratio = math.sqrt(r_pri / r_dual)
                if ratio > 5.0 or ratio < 0.2:
                    ratio = min(max(ratio, 1e-3), 1e3)
                    rho *= ratio
                    if paper:
                        c = 1.0 / rho
                        system = make_system(c)
                    Lam, Nu, Mu = Lam / ratio, Nu / ratio, Mu / ratio
                    if Xi is not None:
                        Xi = Xi / ratio
                    if Kap is not None:
                        Kap = Kap / ratio
                    rho_updates += 1
                    last_update = it
            record_time += time.perf_counter() - t_rec
        if opt["time_limit"] is not None and time.perf_counter() - t_start >= opt["time_limit"]:
            status, message = "time_limit", f"reached time_limit={opt['time_limit']} s"
            break

    Vn = V.detach().cpu().numpy().astype(np.float64)
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
    sol.info.update(
        {
            "linear_solver": path,
            "splitting": splitting,
            "factor_bytes": memory_bytes(path, n, d, P, itemsize),
            "rho": rho,
            "rho_updates": rho_updates,
            "loss_weight": c,
            "relaxation": alpha,
            "gamma": gamma,
            "iterations": it,
            "setup_time": setup_time,
            "record_time": record_time,
            "primal_residual": r_pri,
            "dual_residual": r_dual,
            "constraint_violation": pr.constraint_violation(Vsol, Wsol),
            "network_objective": pr.network_objective(sol.to_network(opt["recovery_rtol"])),
            "threads": torch.get_num_threads(),
            "device": str(dev),
            "dtype": str(dtype).replace("torch.", ""),
        }
    )
    if dual is not None:
        sol.info["lower_bound"] = best_bound
    if path == "cg":
        its = system.cg_iterations
        sol.info["cg_iterations_mean"] = float(np.mean(its)) if its else 0.0
    return sol
