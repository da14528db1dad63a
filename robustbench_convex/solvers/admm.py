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
on the residuals. The certificate is between two bounds a user can check: a Lagrange-dual lower
bound and the objective of a *feasible* point, the iterate projected onto the sign constraints
(``ConvexReLUProblem.project_feasible``); that point is what a certified run returns, so a
"converged" answer is never below the optimum (an ADMM iterate is slightly infeasible, and its
own convex objective can be; measured: 5e-4 below the optimum at n = 2000, and 2e-3 below on
the quick preset's breast-cancer program after 5000 iterations). ``rho`` is balanced within
``[rho0 / 100, rho0 * 100]`` with an interval that doubles when the balancing oscillates
(before, it could divide ``rho`` by 5 forty times and return the zero network), and doubled
when the iterate is proven infeasible (its objective below the bound) while its residuals are
small: balanced residuals can coexist with a stalled infeasible iterate (not for the hinge loss,
whose iterates oscillate around the optimum). A blown-up objective restarts the run from its
best record and, the third time, ends with status ``"diverged"``. ``robustbench_convex.solve``
picks the fastest certified solver per program (``solvers/front.py``).

The lower bound of the squared and logistic losses is polished when a feasible correction does
not certify with the plain one (``LagrangeDual.polished_bound``): an ADMM iterate's duals violate
every active block's dual constraint by about the same small factor (1e-3 at n = 2000), and
scaling them back onto the constraints cost 4e-4 of the objective, more than their unscaled dual
value's distance to the optimum (5e-5); maximizing the dual over a small affine family around
them instead brings the bound within 2e-4. Squared n = 2000 / 1000 / 500 then certify after
2490 / 2170 / 900 iterations instead of 2930 / 3330 / 1020. Polishing changes when a run stops,
never its iterates (the plain bounds alone steer it).

Precision (issue 18, part 2). Where the run stops on the certificate, the iterations run in
float32 (the u-step factor is formed in float64 and rounded once) while the objectives, the
dual bound and the duals it is built from (one float64 step from the float32 state) stay
float64: a float32 u-step solves only to ``cond x 6e-8``, which alone loosened the bound to a
10% gap. A run whose target falls below float32's resolution moves to float64.

Layout: ``solve_admm`` validates and bundles the settings (``_Penalty``, ``_Budget``,
``_Numerics``, ``_Output``); ``_Operator`` holds the data and ``K``; ``_Run`` does setup, step
(``_step``, ``_split``), records (``_record``, ``_residuals``, ``_lower_bound``), stops
(``_stop_test``, ``_blow_up``), penalty (``_balance``) and result (``_finish``); shared
utilities (evaluator, checks, threads) live in ``solvers/_common.py``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import torch

from robustbench_convex.duality import LagrangeDual, loss_gradient
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.solution import DEFAULT_RECOVERY_RTOL, ConvexSolution
from robustbench_convex.solvers._common import (
    Evaluator,
    check_budget,
    check_device,
    convex_solution,
    torch_threads,
)
from robustbench_convex.solvers.admm_linsys import (
    LinearSolverName,
    RotatedSystem,
    choose_linear_solver,
    factor_flops,
    memory_bytes,
)
from robustbench_convex.solvers.admm_prox import cone_projection, group_soft_threshold, loss_prox
from robustbench_convex.solvers.anderson import Anderson
from robustbench_convex.solvers.warm_start import warm_start_blocks

__all__ = [
    "DEFAULT_GAP_TOL",
    "DEFAULT_MAX_ITER",
    "DEFAULT_TOL",
    "StopReason",
    "check_budget",
    "check_device",
    "solve_admm",
    "torch_threads",
]

DEFAULT_MAX_ITER = 5000
DEFAULT_TOL = 1e-5
DEFAULT_MAX_FACTOR_BYTES = 2 * 1024**3
REFACTOR_ITERATIONS = 400  # "auto" splitting: refactoring may cost this many iterations' products
SMALL_PROBLEM_WORK = 3e7  # n * d * 2P below which one torch thread is used (see num_threads)
DEFAULT_HISTORY_EVERY = 10  # records (and stopping tests) every 10 iterations without a callback
RECORD_GROWTH = 0.02  # ...and, by default, every 2% of the iteration count once that is more
DEFAULT_GAP_TOL = 1e-3  # certified stop of the nominal programs (gap_tol="auto")
DEFAULT_RHO_RANGE = 100.0  # rho stays within [rho0 / range, rho0 * range]
RHO_MISMATCH = 5.0  # balance rho when the relative residuals differ by more than this factor
FEASIBILITY_RHO_FACTOR = 2.0  # rho x this at a record whose iterate is proven infeasible
RHO_MIN_INTERVAL = 10  # iterations between rho updates (doubled at every oscillation)
BLOWUP_FACTOR = 100.0  # a convex objective above this many times the zero network's is a blow-up
MAX_RESTARTS = 2  # restarts from the best record before the status becomes "diverged"
RESTART_RHO_FACTOR = 10.0  # the last restart multiplies the best record's rho by this
CERTIFY_PRIMAL_FRACTION = 0.1  # bound at every record once primal residual <= this * gap_tol
PROJECTION_SPACING = 0.1  # a failed feasible correction at iteration k: wait 0.1 k iterations...
PROJECTION_MIN_SPACING = 0.02  # ...or only 0.02 k once the correction is predicted to certify
REFINE_STEPS = 50  # dual steps refining the multipliers of the bound at a run's last record
BOUND_EVERY = 5  # far from a stop, the dual bound is computed at every 5th record only
BOUND_NEAR = 3.0  # ...and at every record once nearly feasible with a gap within 3 gap_tol
ANDERSON_MEMORY = 5  # pairs kept by the Anderson acceleration
FLOAT32_RESOLUTION = 100 * 2.0**-23  # float32 runs need gap_tol x objective above this x scale
GAMMA_MAX = (1.0 + math.sqrt(5.0)) / 2.0  # dual steps in (0, GAMMA_MAX) keep the guarantee

StopReason = Literal["certified", "residuals", "max_iter", "time_limit", "diverged"]
"""Which stop fired (``info["stop"]``): the certified gap, the residual test, a budget, or the
divergence guard."""

Acceleration = Literal["none", "anderson"]
"""``solve_admm(acceleration=)``: safeguarded Anderson acceleration of the iteration or none."""


def _check_args(rho, gamma, relaxation, budget, device, history_every, rho_range, acceleration):
    if rho is not None:
        if isinstance(rho, bool) or not isinstance(rho, (int, float)):
            raise TypeError(f"rho must be a positive float or None (automatic), got {rho!r}")
        if not math.isfinite(rho) or rho <= 0:
            raise ValueError(f"rho must be > 0 (or None for the automatic default), got {rho}")
    if not isinstance(gamma, (int, float)) or not (0 < gamma < GAMMA_MAX):
        raise ValueError(
            f"gamma (dual step) must lie in (0, {GAMMA_MAX:.4f}) = (0, (1 + sqrt5) / 2), got "
            f"{gamma!r}; 1.0 is standard"
        )
    if not isinstance(relaxation, (int, float)) or not (0 < relaxation < 2):
        raise ValueError(f"relaxation must lie in (0, 2), got {relaxation!r}; try 1.6")
    check_budget(*budget)
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
    if acceleration not in ("auto", "anderson", "none"):
        raise ValueError(f"acceleration must be 'auto', 'anderson' or 'none', got {acceleration!r}")
    if acceleration == "anderson" and gamma != 1:
        raise ValueError("acceleration='anderson' needs gamma=1 (the Douglas-Rachford form)")
    return check_device(device)


def _check_choices(problem, splitting, linear_solver, loss_weight, dtype) -> None:
    if not isinstance(problem, ConvexReLUProblem):
        raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
    if splitting not in ("auto", "paper", "loss"):
        raise ValueError(f"splitting must be 'auto', 'paper' or 'loss', got {splitting!r}")
    if linear_solver not in ("auto", "cholesky", "woodbury", "cg"):
        raise ValueError(
            f"linear_solver must be 'auto', 'cholesky', 'woodbury' or 'cg', got {linear_solver!r}"
        )
    if loss_weight is not None and not (isinstance(loss_weight, (int, float)) and loss_weight > 0):
        raise ValueError(f"loss_weight must be > 0 or None, got {loss_weight!r}")
    if not (dtype == "auto" or dtype in (torch.float32, torch.float64)):
        raise ValueError(f"dtype must be 'auto', torch.float32 or torch.float64, got {dtype!r}")


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


def _warm_blocks(problem: ConvexReLUProblem, warm_start: Any):
    """``(V, W, multipliers or None)`` of a warm start (None for a cold start)."""
    blocks = warm_start_blocks(problem, warm_start)
    if blocks is None:
        return None
    mult = warm_start.info.get("multipliers") if isinstance(warm_start, ConvexSolution) else None
    return (*blocks, None if mult is None else np.asarray(mult, dtype=np.float64))


def _resolve_dtype(dtype: Any, certify: bool, gap_tol: float | None) -> torch.dtype:
    """``"auto"``: float32 iterations when the run stops on a float64 certificate (nominal
    programs with a ``gap_tol`` of at least ``1e-4``), float64 otherwise."""
    if dtype != "auto":
        return dtype
    return torch.float32 if certify and gap_tol is not None and gap_tol >= 1e-4 else torch.float64


def _threads(num_threads: int | None, problem: ConvexReLUProblem, dev: torch.device):
    if num_threads is None and dev.type == "cpu":
        # Small products are latency bound: waking a second BLAS thread costs more than the
        # arithmetic (measured: 1.3 ms vs 40-110 ms per iteration at n=300, P=8 on 2 busy cores).
        work = problem.n * problem.d_aug * 2 * problem.P
        return 1 if work < SMALL_PROBLEM_WORK else None
    return num_threads


@dataclass(frozen=True)
class _Penalty:
    """The penalty settings: initial ``rho`` (None: 1), dual step, relaxation, balancing."""

    rho: float | None
    gamma: float
    relaxation: float
    adaptive: bool
    max_updates: int
    rho_range: float
    loss_weight: float | None
    copy_weight: float | None


@dataclass(frozen=True)
class _Budget:
    """When to stop: iterations, residual tolerance, seconds, certified gap (None: none)."""

    max_iter: int
    tol: float
    time_limit: float | None
    certify: bool
    gap_tol: float | None


@dataclass(frozen=True)
class _Numerics:
    """Where and how the iteration runs."""

    device: torch.device
    dtype: torch.dtype
    splitting: str
    linear_solver: str
    max_factor_bytes: float
    accelerate: bool
    auto_dtype: bool = False  # dtype="auto": a float32 run may move to float64


@dataclass(frozen=True)
class _Output:
    """What the run records and reports."""

    callback: Callable[[int, dict[str, Any]], dict[str, Any] | None] | None
    verbose: bool
    history_every: int
    recovery_rtol: float
    grow: bool  # records every max(history_every, RECORD_GROWTH x iteration) iterations

    def spacing(self, it: int) -> int:
        """Iterations from the record at ``it`` to the next: ``history_every``, or with ``grow``
        the largest multiple of it not above ``RECORD_GROWTH x it``, if larger (a stop then
        fires at most 2% of the run's iterations late; long runs save records, each worth
        several iterations)."""
        every = self.history_every
        if not self.grow:
            return every
        return max(every, every * int(RECORD_GROWTH * it / every))


def solve_admm(
    problem: ConvexReLUProblem,
    *,
    rho: float | None = None,
    gamma: float = 1.0,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    time_limit: float | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | Literal["auto"] = "auto",
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
    acceleration: Acceleration = "none",
) -> ConvexSolution:
    """Solve a ``ConvexReLUProblem`` by ADMM (see the module docstring for the splitting).

    Args:
        problem: the program (nominal, relaxed ``Rx``, certified ``R`` or class-aware ``Rc``;
            squared, hinge or logistic loss; hard or soft stability).
        rho: initial penalty (``> 0``); None picks the scale-aware default ``rho = 1`` on
            constraints that are all measured in the units of the data (see ``loss_weight``).
            With ``adaptive_rho`` it is then adapted by residual balancing; pass
            ``adaptive_rho=False`` to keep a fixed ``rho``.
        gamma: dual step in ``(0, (1 + sqrt5) / 2)`` (the range of the convergence guarantee;
            1 is standard ADMM and the only value the Anderson acceleration accepts).
        max_iter: iteration budget (``>= 1``).
        tol: relative tolerance of the primal and dual residuals (relative to the norms of
            ``K u``, ``w`` and ``K^T lambda``); the default reaches about ``1e-5`` relative
            objective accuracy on the data sets we tried (``1e-3`` is the contract).
        time_limit: wall-clock budget in seconds (None: none).
        device: torch device of every tensor (``"cpu"``, ``"cuda"``...). Nothing needs a GPU.
        dtype: floating type of the iteration. ``"auto"`` (default): float32 when the run stops
            on the certificate (nominal programs, ``gap_tol >= 1e-4``): the records, the
            objectives and the dual bound are evaluated in float64 whatever the iteration's
            dtype, so the certificate stays exact; the run continues in float64 from the first
            record where ``gap_tol x max(objective, network objective)`` falls below
            ``FLOAT32_RESOLUTION`` (100 float32 roundoffs) times the zero network's objective
            (``info["float64_from"]``). float64 otherwise (the residual stop at ``tol = 1e-5``
            is near float32's resolution). ``torch.float64`` or ``torch.float32`` force one.
            ``info["dtype"]`` is the dtype the run ended in.
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
            every k iterations (each record costs a few iterations' products, more with the
            certificate). None: ``DEFAULT_HISTORY_EVERY`` (10), and once ``RECORD_GROWTH``
            (2%) of the iteration count is more, every such multiple of 10 (a stop fires at
            most 2% late); 1 when a ``callback`` is given.
        num_threads: torch threads for the solve (restored afterwards); None: one thread when
            ``n * d * 2P < SMALL_PROBLEM_WORK`` (small products are latency bound and extra BLAS
            threads only add wake-up cost), else torch's current setting.
        recovery_rtol: relative threshold of ``recover_network`` used for the recorded network
            objective and active-neuron count.
        certify: record at every record the best certified ``lower_bound`` on the optimum so
            far, computed at the first record, at every ``BOUND_EVERY``-th record and at every
            record where a stop can fire (nearly feasible with the last gap within
            ``BOUND_NEAR * gap_tol``, residual test met, last iteration): each computation costs
            about two iterations. The bound comes from ``duality.LagrangeDual`` with the
            iteration's dual variables (a float32 run takes them from one float64 step from its
            state, so the certificate is float64 throughout): ``theta`` = the
            multiplier of ``F u = e``, or ``F u - y`` when the squared loss is in the u-step;
            ``lambda = -rho nu``; refined by ``REFINE_STEPS`` dual steps at the last record
            when the gap is still open). None (default): on
            for nominal programs, off for robust ones (no bound is implemented for them; True
            raises there).
        gap_tol: the certified stop. ``"auto"`` (default): ``DEFAULT_GAP_TOL = 1e-3`` where a
            bound exists (nominal programs), else the residual stop. A float: stop with status
            ``"converged"`` (``info["stop"] == "certified"``) at the first record where the
            *feasible correction* of the iterate (its projection onto the sign constraints,
            ``ConvexReLUProblem.project_feasible``) has ``max(convex objective, recovered
            network's objective) <= (1 + gap_tol) x`` the best lower bound; that feasible point
            is returned (``info["feasible_correction"] = True``), so its objective lies between
            the optimum and ``(1 + gap_tol)`` times it, and equals its network's. The correction
            (``P`` small NNLS solves) is tried at records where the uncorrected iterate already
            passes the test (or lies below the bound), its relative primal residual is at most
            ``gap_tol``, and the last failed try is ``PROJECTION_SPACING x`` its iteration old,
            and always at the last iteration and at the residual stop. With a ``gap_tol``,
            meeting the residual test first ends with status ``"inaccurate"`` (residuals small,
            gap not certified). None: the residual stop alone (with ``certify``, an iterate whose
            convex objective is below the bound is never accepted).
        warm_start: a ``ConvexSolution`` or ``(V, W)`` of arrays ``(d_aug, P)`` to start from
            (validated as in ``solve_ipm``). ``u = v`` starts at it, the slacks and predictions
            at its constraint values; for nominal programs the duals are those of a fixed point:
            ``theta = grad l(F u)``, the sign-constraint multipliers of a ``ConvexSolution``'s
            ``info["multipliers"]`` (``solve_admm`` and ``solve_ipm`` record them) or zeros,
            and the copy dual from the u-step's stationarity; robust programs start their duals
            at zero. From an accurate solution with multipliers the certified stop fires within
            a few records. None: the cold start at zero.
        acceleration: ``"none"`` (default): plain ADMM. ``"anderson"`` (needs ``gamma = 1``):
            safeguarded type-II Anderson acceleration (``solvers/anderson.py``, memory
            ``ANDERSON_MEMORY``) of the iteration in its Douglas-Rachford form (the prox
            inputs): an extrapolated point is kept only when the fixed-point residual it yields
            is not larger than the plain step's, otherwise the plain step is restored and the
            memory cleared (``info["anderson_steps"]``, ``info["anderson_rejected"]``); every
            record, stop and certificate is evaluated at a plain step's output. Not the default:
            measured (benchmarks/README.md) it saved 20% of the iterations to the certificate at
            n = 2000 and cost more than that per iteration, and took more iterations at n = 500.
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
        ``rho``, ``n_active``, ``constraint_violation``, ``lower_bound`` (the best so far) when
        certifying,
        ``event = "blow-up"`` on a record that triggered a restart, and callback extras).
        ``info``: ``stop`` (``StopReason``), ``certified_gap`` (``(upper_bound - lower_bound) /
        lower_bound``, never negative: ``upper_bound`` is the objective of a feasible point,
        the returned one when ``feasible_correction`` is True, else the projection of the
        returned iterate), ``lower_bound``, ``feasible_correction``, ``projections`` and
        ``projection_time`` (the corrections tried, the bound polishes they triggered
        included), ``bound_polishes`` and ``bound_polish_time`` (``LagrangeDual.polished_bound``,
        squared and logistic loss: when a correction does not certify with the plain bound),
        ``multipliers`` (nominal), ``rho``,
        ``rho_updates``, ``rho_backoffs``, ``rho_bounds``, ``restarts``, ``returned_iteration``, ``linear_solver``,
        ``factor_bytes``, ``iterations``, ``setup_time``, ``constraint_violation``,
        ``network_objective``, ``threads``...

    Safety (issue 18): the penalty is adapted by residual balancing within ``rho_range`` (its
    move interval doubles whenever the direction flips), so it cannot run away, and doubled
    (``FEASIBILITY_RHO_FACTOR``) at records whose iterate is proven infeasible with small
    residuals (smooth losses); a record whose convex objective blows up restarts the run from
    the best record (the second time with a 10x larger ``rho``), then reports ``"diverged"``.

    Memory: the q-system factor (``admm_linsys.memory_bytes``: ``8 (P d)^2`` bytes for
    ``"cholesky"``, ``8 n^2`` for ``"woodbury"``, ``O(n P + P d^2)`` for ``"cg"``) plus about
    ``12 * 8 * n * P`` bytes of iterates (``+ 6 * 8 * n * d`` for robust programs). A float32
    run that certifies keeps the float64 factor for its certificate beside the float32 copy
    (1.5 times the float64 factor's bytes). The paper splitting on the ``"cholesky"`` path
    also keeps ``F_q^T F_q`` (``(P d)^2`` entries in the iteration's dtype, where twice the
    factor fits in ``max_factor_bytes``): a ``rho`` change then refactors without the
    ``n (P d)^2`` flops.
    """
    dev = _check_args(
        rho,
        gamma,
        relaxation,
        (max_iter, tol, time_limit),
        device,
        history_every,
        rho_range,
        acceleration,
    )
    _check_choices(problem, splitting, linear_solver, loss_weight, dtype)
    certify, gap_tol = _resolve_certificate(problem, certify, gap_tol)
    blocks = _warm_blocks(problem, warm_start)
    every = history_every or (1 if callback is not None else DEFAULT_HISTORY_EVERY)
    grow = history_every is None and callback is None
    penalty = _Penalty(
        rho, float(gamma), float(relaxation), bool(adaptive_rho), int(max_rho_updates),
        float(rho_range), loss_weight, copy_weight,
    )  # fmt: skip
    budget = _Budget(int(max_iter), float(tol), time_limit, certify, gap_tol)
    accelerate = acceleration == "anderson"
    auto = dtype == "auto"
    dtype = _resolve_dtype(dtype, certify, gap_tol)
    numerics = _Numerics(dev, dtype, splitting, linear_solver, max_factor_bytes, accelerate, auto)
    output = _Output(callback, verbose, every, recovery_rtol, grow)
    with torch_threads(_threads(num_threads, problem, dev)), torch.no_grad():
        return _Run(problem, penalty, budget, numerics, output, blocks).solve()


@dataclass
class _Blocks:
    """A point of the block-2 space (or of the constraint space ``K u``): the copy ``v``
    ``(d, 2P)``, the sign slacks ``s`` ``(n, 2P)``, the predictions ``e`` ``(n,)``, the
    perturbable effective weights ``Z`` ``(n, d')`` of robust programs and the perturbable copy
    ``a`` ``(d', 2P)`` of the certified programs (None where absent)."""

    V: torch.Tensor
    S: torch.Tensor
    e: torch.Tensor | None  # None: not formed (the paper splitting's F u between records)
    Z: torch.Tensor | None
    A: torch.Tensor | None

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in (self.V, self.S, self.e, self.Z, self.A) if t is not None]

    def combine(self, fn: Callable[..., torch.Tensor], *others: _Blocks) -> _Blocks:
        """``fn`` applied field by field (None fields stay None)."""
        out = []
        for name in _BLOCK_FIELDS:
            own = getattr(self, name)
            out.append(None if own is None else fn(own, *(getattr(o, name) for o in others)))
        return _Blocks(*out)

    def __sub__(self, other: _Blocks) -> _Blocks:
        return self.combine(torch.sub, other)

    def __add__(self, other: _Blocks) -> _Blocks:
        return self.combine(torch.add, other)

    def scaled(self, factor: float) -> _Blocks:
        return self.combine(lambda t: t * factor)

    def sqnorm(self, weights: tuple[float, ...]) -> float:
        """``sum_k weights[k] ||field_k||^2`` over the present fields (weights per field)."""
        total = 0.0
        for name, wt in zip(_BLOCK_FIELDS, weights, strict=True):
            t = getattr(self, name)
            if t is not None and wt != 0:
                total += wt * float(torch.sum(t * t))
        return total

    def flat(self) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in self.tensors()])

    def unflat(self, vector: torch.Tensor) -> _Blocks:
        """A ``_Blocks`` of this one's shapes holding ``vector`` (views)."""
        out, at = [], 0
        for name in _BLOCK_FIELDS:
            t = getattr(self, name)
            if t is None:
                out.append(None)
                continue
            out.append(vector[at : at + t.numel()].view(t.shape))
            at += t.numel()
        return _Blocks(*out)


_BLOCK_FIELDS = tuple(f.name for f in fields(_Blocks))  # dataclasses.fields() is slow per step


@dataclass
class _Iterate:
    """The state that continues an ADMM run: the block-2 variables ``w = (v, s, e, Z, a)`` and
    the scaled duals ``lam`` of ``u = v``, ``G u = s``, ``F u = e``, ``A u = Z``, ``E u = a``."""

    w: _Blocks
    lam: _Blocks

    @property
    def V(self) -> torch.Tensor:
        return self.w.V

    def copy(self) -> _Iterate:
        clone = lambda t: t.clone()  # noqa: E731
        return _Iterate(self.w.combine(clone), self.lam.combine(clone))

    def rescale_duals(self, ratio: float) -> None:
        """Scaled duals are ``y / rho``: divide them by ``ratio`` when ``rho`` is multiplied by it."""
        self.lam = self.lam.scaled(1.0 / ratio)


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
        """Residual balancing: ``rho x sqrt(r_pri / r_dual)`` when that factor is outside
        ``[1 / RHO_MISMATCH, RHO_MISMATCH]``."""
        if not self._may_move(it):
            return None
        if not (r_dual > 0 and r_pri > 0 and math.isfinite(r_pri) and math.isfinite(r_dual)):
            return None
        ratio = math.sqrt(r_pri / r_dual)
        if 1.0 / RHO_MISMATCH <= ratio <= RHO_MISMATCH:
            return None
        return self._move(it, self.rho * ratio)

    def push_feasibility(self, it: int) -> float | None:
        """The iterate is proven infeasible (its convex objective is below a certified lower
        bound on the optimum): ``rho x FEASIBILITY_RHO_FACTOR``, which weights the constraints
        more. Balancing alone can settle on a ``rho`` whose residuals are balanced but whose
        iterates stay infeasible for thousands of iterations (measured: the quick preset's
        breast-cancer program, rho 0.037, still infeasible at 5000 iterations; with these
        pushes certified at 1960)."""
        if not self._may_move(it):
            return None
        # not an oscillation of the balancing: its direction and interval are left as they are
        direction, interval, backoffs = self.direction, self.interval, self.backoffs
        factor = self._move(it, self.rho * FEASIBILITY_RHO_FACTOR)
        self.direction, self.interval, self.backoffs = direction, interval, backoffs
        return factor

    def _may_move(self, it: int) -> bool:
        return self.enabled and self.updates < self.max_updates and it - self.last >= self.interval

    def _move(self, it: int, target: float) -> float | None:
        new = min(max(target, self.lo), self.hi)
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


class _Operator:
    """The program's tensors on the solver's device and the constraint operator ``K``: its
    image of a u-step (``images``), its transpose (``KT``) and the u-step solve (``solve``).

    ``paper``: the nominal squared loss stays in the u-step (``c = 1 / rho``, refactored by
    ``set_rho``); otherwise the predictions are split off with the fixed weight ``c``."""

    def __init__(
        self, pr: ConvexReLUProblem, num: _Numerics, pen: _Penalty, rho: float, dtype: torch.dtype
    ) -> None:
        dev = num.device
        n, d, P = pr.n, pr.d_aug, pr.P
        self.n, self.d, self.P = n, d, P
        self.robust_loss = pr.robust_eps > 0
        self.cone = pr.program in ("certified", "class-aware")
        as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=dev)  # noqa: E731
        self.Xa, self.D, self.y = as_t(pr.Xa), as_t(pr.D), as_t(pr.y)
        self.pert = torch.as_tensor(pr.perturbable, device=dev)
        self.Sgn = (2.0 * self.D - 1.0).repeat(1, 2)
        self.Dpm = torch.cat([self.D, -self.D], dim=1)
        self.rows = None
        if pr.program == "class-aware":
            neg = (self.y < 0).to(dtype)[:, None].expand(n, P)
            self.rows = torch.cat([neg, 1.0 - neg], dim=1)
        self.sig = pen.copy_weight if pen.copy_weight is not None else 1.0
        self.itemsize = torch.finfo(num.dtype).bits // 8  # the iteration's (memory model)
        self.path = self._path(pr, num)
        self.splitting = self._splitting(pr, num)
        self.paper = self.splitting == "paper"
        self.c = pen.loss_weight if pen.loss_weight is not None else 1.0
        if self.paper:
            self.c = 1.0 / rho
        self._label_term: tuple[float, torch.Tensor] | None = None
        # the paper splitting refactors at every rho change: keep F_q^T F_q when it fits
        factor_bytes = memory_bytes(self.path, n, d, P)
        self.keep_gram = self.paper and 2 * factor_bytes <= num.max_factor_bytes
        self.system = self._factor()

    def _path(self, pr: ConvexReLUProblem, num: _Numerics) -> str:
        n, d, P = self.n, self.d, self.P
        if num.linear_solver == "auto":
            return choose_linear_solver(
                n, d, P, robust_loss=self.robust_loss, max_bytes=num.max_factor_bytes,
                itemsize=self.itemsize,
            )  # fmt: skip
        if num.linear_solver == "woodbury" and self.robust_loss:
            raise ValueError("linear_solver='woodbury' applies to nominal programs only")
        return num.linear_solver

    def _splitting(self, pr: ConvexReLUProblem, num: _Numerics) -> str:
        """``"paper"`` (squared nominal loss in the u-step) or ``"loss"`` (see ``solve_admm``)."""
        if pr.loss != "squared" or self.robust_loss:
            return "loss"
        if num.splitting != "auto":
            return num.splitting
        cheap = factor_flops(self.path, self.n, self.d, self.P) <= (
            REFACTOR_ITERATIONS * 8.0 * self.n * self.d * self.P
        )
        return "paper" if cheap else "loss"

    def _factor(self) -> RotatedSystem:
        return RotatedSystem(
            self.Xa, self.D, c=self.c, c_z=self.c if self.robust_loss else 0.0,
            cone_weight=1.0 if self.cone else 0.0, perturbable=self.pert, path=self.path,
            copy_weight=self.sig, keep_gram=self.keep_gram,
            gram_dtype=torch.float32 if self.itemsize == 4 else None,
        )  # fmt: skip

    def cast(self, dtype: torch.dtype) -> _Operator:
        """A copy in ``dtype`` (the float32 iteration's operator; the factor rounded once)."""
        out = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                setattr(out, name, value.to(dtype))
        out.system = self.system.cast(dtype)
        out.itemsize = torch.finfo(dtype).bits // 8
        out._label_term = None  # formed again in dtype
        return out

    def set_rho(self, rho: float) -> None:
        """``rho`` changed: the paper splitting's u-step matrix (``c = 1 / rho``) is refactored."""
        if self.paper:
            self.c = 1.0 / rho
            self.system = self.system.with_c(self.c)

    @property
    def weights(self) -> tuple[float, ...]:
        """Weights of the fields of ``_Blocks`` in the constraint-space norm."""
        return (self.sig, 1.0, 0.0 if self.paper else self.c, self.c, 1.0)

    def KT(self, b: _Blocks) -> torch.Tensor:
        """``K^T`` applied to a point ``b`` of the constraint space, shape ``(d, 2P)``: the sign
        and prediction terms in one product ``Xa^T (Sgn o s + c Dpm o e)`` (``b.e`` None: no
        prediction term)."""
        M = self.Sgn * b.S
        if b.e is not None:
            M.addcmul_(self.Dpm, b.e[:, None], value=self.c)
        out = self.Xa.T @ M
        out.add_(b.V, alpha=self.sig)
        if b.Z is not None:
            ATz = b.Z.T @ self.D
            out[self.pert] += self.c * torch.cat([ATz, -ATz], dim=1)
        if b.A is not None:
            out[self.pert] += b.A
        return out

    def images(self, U: torch.Tensor, predictions: bool = True) -> _Blocks:
        """``K u`` unweighted: ``(u, G u, F u, A u, E u)`` (``F u`` None unless
        ``predictions``)."""
        P = self.P
        XU = self.Xa @ U
        FU = self.predictions(U, XU) if predictions else None
        GU = XU.mul_(self.Sgn)  # XU is not needed any more
        if not (self.robust_loss or self.cone):  # nominal programs: no perturbable parts
            return _Blocks(U, GU, FU, None, None)
        Up = U[self.pert]
        AU = self.D @ (Up[:, :P] - Up[:, P:]).T if self.robust_loss else None
        return _Blocks(U, GU, FU, AU, Up if self.cone else None)

    def predictions(self, U: torch.Tensor, XU: torch.Tensor | None = None) -> torch.Tensor:
        """``F u`` ``(n,)``: the convex model's predictions (``XU = Xa @ U`` when known)."""
        return (self.Dpm * (self.Xa @ U if XU is None else XU)).sum(dim=1)

    @property
    def label_term(self) -> torch.Tensor:
        """``c F^T y`` ``(d, 2P)``: the labels' part of the paper splitting's u-step right-hand
        side (its ``e`` is ``y`` at every iteration), formed once per ``c``."""
        if self._label_term is None or self._label_term[0] != self.c:
            term = self.Xa.T @ (self.Dpm * (self.c * self.y)[:, None])
            self._label_term = (self.c, term)
        return self._label_term[1]

    def dual_scale_sq(self, lam: _Blocks) -> float:
        """Squared size of the terms of ``K^T lambda`` (zero at a solution; their sizes set the
        scale of the dual residual)."""
        sq = lambda t: float(torch.sum(t * t))  # noqa: E731
        parts = self.Xa.T @ torch.cat([self.Sgn * lam.S, self.c * self.Dpm * lam.e[:, None]], dim=1)
        total = sq(self.sig * lam.V) + sq(parts)
        if lam.A is not None:
            total += sq(lam.A)
        if lam.Z is not None:
            total += sq(self.c * (lam.Z.T @ self.D))
        return total


class _Run:
    """One ADMM run: setup (``__init__``), the step (``_step``, ``_split``), the records
    (``_record``: residuals, objectives, certificate), the stops (``_stop_test``,
    ``_blow_up``), the penalty balancing (``_balance``), the acceleration (``_accelerate``)
    and the result (``_finish``)."""

    def __init__(
        self,
        problem: ConvexReLUProblem,
        penalty: _Penalty,
        budget: _Budget,
        numerics: _Numerics,
        output: _Output,
        warm: tuple | None,
    ) -> None:
        self.t_start = time.perf_counter()
        self.pr, self.pen, self.budget, self.num, self.out = (
            problem, penalty, budget, numerics, output,
        )  # fmt: skip
        self.rho0 = float(penalty.rho) if penalty.rho is not None else 1.0
        self.rho = self.rho0
        self.control = _RhoControl(
            self.rho0, penalty.adaptive, penalty.max_updates, penalty.rho_range
        )
        # float32 iterations: the float64 operator is factored once and rounded; it stays for
        # the certificate, whose duals come from one float64 step from the float32 state
        low = numerics.dtype != torch.float64
        exact = _Operator(problem, numerics, penalty, self.rho, torch.float64)
        self.op = exact.cast(numerics.dtype) if low else exact
        self.exact = exact if low and budget.certify else None
        self.float64_from: int | None = None  # iteration where a float32 run moved to float64
        self.x = _start(problem, warm, self.op, self.rho)
        self._warm = warm is not None
        self.evaluate = Evaluator(problem, numerics.device, output.recovery_rtol)
        self.zero_objective = self.evaluate(torch.zeros_like(self.x.V))[0]
        self.label_norm = float(torch.linalg.vector_norm(self.op.y))  # scale of the predictions
        self.dual = LagrangeDual(problem, numerics.device) if budget.certify else None
        self.history: list[dict[str, Any]] = []
        self.stop: StopReason = "max_iter"
        self.status, self.message = "max_iter", f"reached max_iter={budget.max_iter}"
        self.record_time = 0.0
        self.best_bound = -math.inf  # the best certified bound (plain or polished)
        # the best of the plain bounds alone: what steers the iteration (when bounds are
        # computed, the feasibility push of _balance), so that polishing changes only when a
        # run stops, never its iterates (measured: steering by the polished bounds moved rho
        # differently and breast-cancer at beta 1 no longer certified)
        self.plain_bound = -math.inf
        self.last_gap = math.inf
        # best record by its feasible-corrected objective max(convex, network): (merit,
        # iteration, iterate, rho); the restart point after a blow-up and the answer of a
        # diverged run
        self.best: tuple[float, int, _Iterate, float] | None = None
        self.restarts, self.records = 0, 0
        # the feasible correction of the iterate (problem.project_feasible) that certified the
        # stop, and the time spent on corrections
        self.feasible: tuple[torch.Tensor, float] | None = None  # (point, its objective)
        self.projection_time, self.projections, self.next_projection = 0.0, 0, 0
        # the last bound's dual candidate (theta, multipliers, its plain bound) and what
        # polishing it gained (LagrangeDual.polished_bound, squared and logistic loss: tried
        # when a feasible correction does not certify with the plain bound)
        self.candidate: tuple[torch.Tensor, torch.Tensor, float] | None = None
        self.polish_gain, self.polishes, self.polish_time = 0.0, 0, 0.0
        self.failed_tries = 0  # feasible corrections tried that did not certify
        self.last_projection = 0  # iteration of the last failed try
        self.correction_rate: float | None = None  # its objective increase per unit violation
        self.prox_root: torch.Tensor | None = None  # the last logistic prox's root
        self.r_pri = self.r_dual = float("nan")
        self.accel = Anderson(ANDERSON_MEMORY) if numerics.accelerate else None
        self.xi_in: torch.Tensor | None = None  # the prox input that produced self.x
        self.saved: tuple[_Iterate, torch.Tensor] | None = None  # plain step behind a pending AA
        self.ref_residual = math.inf
        self.aa_steps = self.aa_rejected = 0
        self.setup_time = time.perf_counter() - self.t_start

    # ------------------------------------------------------------------ the iteration
    def solve(self) -> ConvexSolution:
        it, next_record = 0, self.out.history_every
        for it in range(1, self.budget.max_iter + 1):
            x_old = self.x
            KU, xi = self._step(x_old, self.op)
            self.x = self._split(xi, x_old.lam, self.op)
            if it >= next_record or it == self.budget.max_iter:
                next_record = it + self.out.spacing(it)
                t_rec = time.perf_counter()
                outcome = self._record(it, KU, x_old, t_rec - self.t_start)
                self.record_time += time.perf_counter() - t_rec
                if outcome == "stop":
                    break
                if outcome == "restart":
                    continue
            limit = self.budget.time_limit
            if limit is not None and time.perf_counter() - self.t_start >= limit:
                self.stop, self.status = "time_limit", "time_limit"
                self.message = f"reached time_limit={limit} s"
                break
            if self.accel is not None and it < self.budget.max_iter:
                self._accelerate(xi)
        return self._finish(it)

    def _step(self, x: _Iterate, op: _Operator) -> tuple[_Blocks, _Blocks]:
        """The u-step ``K^T K u = K^T (w - lambda)`` and the relaxed prox inputs
        ``xi = alpha K u + (1 - alpha) w + lambda``: ``(K u, xi)``."""
        alpha = self.pen.relaxation
        b = x.w - x.lam
        if op.paper:  # the squared loss is in the u-step: e stays y, its dual 0, F u unused
            b.e = None
            U = op.system.solve(op.KT(b).add_(op.label_term))
        else:
            U = op.system.solve(op.KT(b))
        KU = op.images(U, predictions=not op.paper)
        xi = KU.combine(lambda k, w, lam: torch.lerp(w, k, alpha).add_(lam), x.w, x.lam)
        if op.paper:
            xi.e = x.w.e
        return KU, xi

    def _split(self, xi: _Blocks, lam_old: _Blocks, op: _Operator) -> _Iterate:
        """Block 2: ``w = prox(xi)`` (separable), then the dual step
        ``lambda = (1 - gamma) lambda_old + gamma (xi - w)``."""
        pr, rho = self.pr, self.rho
        V = group_soft_threshold(xi.V, pr.beta / (rho * op.sig))
        A = None
        if op.cone:
            cap = None if pr.stability_penalty is None else pr.stability_penalty / rho
            S, A = cone_projection(xi.S, xi.A, pr.robust_eps, op.rows, cap)
        else:
            S = xi.S.clamp(min=0.0)
        e, Z = xi.e, None
        if op.robust_loss:
            e, Z = loss_prox(pr.loss, xi.e, xi.Z, op.y, pr.robust_eps, rho * op.c)
        elif not op.paper:
            start = None if self.prox_root is None else self.prox_root.to(xi.e.dtype)
            e, _ = loss_prox(pr.loss, xi.e, None, op.y, 0.0, rho * op.c, start)
            if pr.loss == "logistic":  # the next prox starts from this root (same answer)
                self.prox_root = (op.y * (e - xi.e) * (rho * op.c)).clamp_(0.0, 1.0)
        w = _Blocks(V, S, e, Z, A)
        gamma = self.pen.gamma
        if gamma == 1:
            lam = xi - w
        else:
            lam = xi.combine(lambda x_, w_, l_: torch.lerp(l_, x_ - w_, gamma), w, lam_old)
        if op.paper:
            lam.e = torch.zeros_like(lam.e)
        return _Iterate(w, lam)

    def _accelerate(self, xi: _Blocks) -> None:
        """Safeguarded Anderson step on the prox inputs (``gamma = 1``: ``xi`` determines the
        state). A pending extrapolation whose fixed-point residual exceeds the plain step's
        is rejected: the plain step's output is restored and the memory cleared."""
        assert self.accel is not None
        g = xi.flat()
        if self.xi_in is None:  # a new chain (start, rho change, restart)
            self.accel.reset()
            self.xi_in = g
            return
        residual = float(torch.linalg.vector_norm(g - self.xi_in))
        if self.saved is not None and not residual <= self.ref_residual:
            self.x, self.xi_in = self.saved
            self.saved = None
            self.accel.reset()
            self.aa_rejected += 1
            return
        z = self.accel.step(self.xi_in, g)
        if z is None or not bool(torch.isfinite(z).all()):
            self.xi_in, self.saved = g, None
            return
        self.saved, self.ref_residual = (self.x, g), residual
        self.x = self._split(xi.unflat(z), self.x.lam, self.op)
        self.xi_in = z
        self.aa_steps += 1

    def _chain_broken(self) -> None:
        """The map changed (rho) or the state was replaced (restart): restart the acceleration."""
        self.xi_in, self.saved = None, None

    # ------------------------------------------------------------------ the records
    def _residuals(self, KU: _Blocks, w_old: _Blocks) -> float:
        """Relative primal and dual residuals (``self.r_pri``, ``self.r_dual``); returns the
        absolute primal residual ``||K u - w||``."""
        op, x = self.op, self.x
        wts = op.weights
        prim = (KU - x.w).sqnorm(wts)
        scale = math.sqrt(max(KU.sqnorm(wts), x.w.sqnorm(wts)))
        step = x.w - w_old
        if op.paper:  # e stays y: no change
            step.e = None
        dres = op.KT(step)
        self.r_pri = math.sqrt(prim) / max(scale, 1e-300)
        dual_scale = math.sqrt(op.dual_scale_sq(x.lam))
        self.r_dual = float(torch.linalg.vector_norm(dres)) / max(dual_scale, 1e-300)
        return math.sqrt(prim)

    def _record(self, it: int, KU: _Blocks, x_old: _Iterate, elapsed: float) -> str | None:
        """Evaluate, record and test the stops at a recorded iteration (``x_old``: the state
        the last step started from): ``"stop"``, ``"restart"`` (after a blow-up) or None."""
        self.records += 1
        prim = self._residuals(KU, x_old.w)
        r_pri, r_dual = self.r_pri, self.r_dual
        conv, net, n_act, viol = self.evaluate(self.x.V)
        merit = max(conv, net)
        record = {
            "iteration": it,
            "time": elapsed - self.record_time,
            "objective": conv,
            "network_objective": net,
            "primal_residual": r_pri,
            "dual_residual": r_dual,
            "rho": self.rho,
            "n_active": n_act,
            "constraint_violation": viol,
        }
        self._precision_guard(it, merit)
        healthy = all(math.isfinite(t) for t in (conv, net, r_pri, r_dual)) and (
            conv <= BLOWUP_FACTOR * max(self.zero_objective, 1e-12)
        )
        if not healthy:
            return self._blow_up(it, record, conv)
        gap_tol = self.budget.gap_tol
        g_feas = CERTIFY_PRIMAL_FRACTION * (gap_tol or 0.0)
        near = r_pri <= g_feas or prim <= g_feas * self.label_norm  # absolute at 0
        residual_stop = r_pri <= self.budget.tol and r_dual <= self.budget.tol
        if self.dual is not None:
            if self._bound_due(it, near, residual_stop):
                final = residual_stop or it == self.budget.max_iter
                self._lower_bound(it, KU, x_old, merit, final)
                self.last_gap = _gap(merit, self.plain_bound)
            record["lower_bound"] = self.best_bound
        if self.best is None or merit < self.best[0]:
            self.best = (merit, it, self.x.copy(), self.rho)
        must = residual_stop or it == self.budget.max_iter
        if self._certify_due(it, merit, viol, r_pri <= (gap_tol or 0.0), must):
            record["feasible_objective"] = self._feasible_upper_bound(it, merit, viol)
            record["lower_bound"] = self.best_bound  # polished by the try, perhaps
        self._report(it, record)
        if self._stop_test(conv, merit, residual_stop):
            return "stop"
        # proven infeasible (objective below the bound) with small residuals (relative primal
        # <= gap_tol): balancing has settled on too small a rho. Not for the hinge loss, whose
        # iterates oscillate by several percent around the optimum for thousands of
        # iterations: there a point below the bound is a transient, and pushing rho at each
        # one made the run worse (benchmarks/README.md)
        # (against the plain bounds: the polished ones, closer to the optimum, made this push
        # fire at every other record at n = 500 and rho oscillate, 40 updates instead of 11)
        stalled = conv < self.plain_bound and r_pri <= (gap_tol or 0.0)
        self._balance(it, infeasible=stalled and self.pr.loss != "hinge")
        return None

    def _precision_guard(self, it: int, merit: float) -> None:
        """Continue in float64 once float32 cannot resolve the target: ``gap_tol x objective``
        below ``FLOAT32_RESOLUTION x`` the zero network's objective (the data's scale; measured:
        breast cancer at beta = 1e-3, optimum 0.062 against 227, i.e. 2.3 float32 roundoffs,
        stalled at 0.17 in float32; hinge n = 1000 at 750 roundoffs certified as in float64)."""
        if self.exact is None or self.budget.gap_tol is None or not self.num.auto_dtype:
            return
        if self.budget.gap_tol * merit >= FLOAT32_RESOLUTION * self.zero_objective:
            return
        self.op, self.exact = self.exact, None
        self.x = _Iterate(
            *(b.combine(lambda t: t.to(torch.float64)) for b in (self.x.w, self.x.lam))
        )
        self.float64_from = it
        self._chain_broken()

    def _bound_due(self, it: int, near: bool, residual_stop: bool) -> bool:
        """Whether this record computes the dual bound: always where a stop may fire (nearly
        feasible with the last gap within ``BOUND_NEAR`` x gap_tol, the residual test met, the
        last iteration), else at every ``BOUND_EVERY``-th record (each costs about two
        iterations: a float64 step and the bound's products)."""
        gap_tol = self.budget.gap_tol or 0.0
        close = near and self.last_gap <= BOUND_NEAR * gap_tol
        final = it == self.budget.max_iter
        first = self.records == 1
        return close or residual_stop or final or first or self.records % BOUND_EVERY == 0

    def _lower_bound(
        self, it: int, KU: _Blocks, x_old: _Iterate, merit: float, final: bool
    ) -> float:
        """The Lagrange-dual bound of the iteration's duals (``theta``: the prediction
        constraint's multiplier, or ``F u - y`` when the squared loss is in the u-step;
        ``lambda = -rho nu``), their multipliers refined by ``REFINE_STEPS`` dual steps at the
        run's last record (``final``) when the gap is still open: the reported bound is then
        the tightest for these duals. Not before: in the runs of ``benchmarks/README.md``
        (squared, logistic and hinge, n = 500-2000) refining earlier never moved a certified
        stop, and each refinement costs about 100 products (a per-block NNLS for the best
        multipliers gave the same bounds: ``theta`` limits them). A float32 run
        takes them from one float64 step from ``x_old``: the bound's tightness rests on the
        u-step's optimality, which float32 solves only to ``cond x 6e-8``."""
        assert self.dual is not None
        op, x, gap_tol = self.op, self.x, self.budget.gap_tol
        if self.exact is not None:
            op = self.exact
            x_old = _Iterate(
                *(b.combine(lambda t: t.to(torch.float64)) for b in (x_old.w, x_old.lam))
            )
            KU, xi = self._step(x_old, op)
            x = self._split(xi, x_old.lam, op)
        if op.paper:  # KU may be the float32 step's when this record moved the run to float64
            theta = op.predictions(KU.V.to(op.Xa.dtype)) - op.y
        else:
            theta = (self.rho * op.c) * x.lam.e
        mult = (-self.rho) * x.lam.S
        steps = REFINE_STEPS if final and merit > (1 + (gap_tol or 0.0)) * self.best_bound else 0
        bound = self.dual.lower_bound(theta, mult, refine_steps=steps).value
        self.best_bound = max(self.best_bound, bound)
        self.plain_bound = max(self.plain_bound, bound)
        self.candidate = (theta, mult, bound)
        return bound

    def _polish_bound(self) -> None:
        """Before a feasible correction is tried: the tighter bound of the last candidate
        (``LagrangeDual.polished_bound``; squared and logistic loss, not hinge). The gain over
        the candidate's plain bound is kept (``polish_gain``): :meth:`_certify_due` expects it
        again at the next records. Measured (squared, n = 2000, P = 32): the plain bounds of
        the run's tail stall about 4e-4 below the optimum (a dual residual of 1e-3 in every
        block costs that much along the ray), the polished ones within 2e-4, for about 40 ms."""
        if self.candidate is None or self.dual is None or self.pr.loss == "hinge":
            return
        t0 = time.perf_counter()
        theta, mult, plain = self.candidate
        polished = self.dual.polished_bound(theta, mult).value
        self.polish_gain = max(polished - plain, 0.0)
        self.best_bound = max(self.best_bound, polished)
        self.polishes += 1
        self.polish_time += time.perf_counter() - t0

    def _report(self, it: int, record: dict[str, Any]) -> None:
        """Callback extras, the history, the verbose line."""
        if self.out.callback is not None:
            Vn = self.x.V.detach().cpu().numpy().astype(np.float64)
            P = self.op.P
            state = {"V": Vn[:, :P], "W": Vn[:, P:], "record": dict(record), "rho": self.rho}
            extra = self.out.callback(it, state)
            if extra:
                record.update(extra)
        self.history.append(record)
        if self.out.verbose:
            print(
                f"admm it {it:5d}  obj {record['objective']:.8e}  net "
                f"{record['network_objective']:.8e}  pri {self.r_pri:.2e}  dual "
                f"{self.r_dual:.2e}  rho {self.rho:.3g}  active {record['n_active']}"
                + (f"  lb {self.best_bound:.8e}" if self.dual is not None else "")
            )

    # ------------------------------------------------------------------ stops and penalty
    def _certify_due(self, it: int, merit: float, violation: float, near: bool, must: bool) -> bool:
        """Whether this record tries the certified stop: a bound exists, ``max(convex, network
        objective) <= (1 + gap_tol) x`` the bound (or below it: an infeasible iterate), and the
        iterate is nearly feasible (relative primal residual ``<= gap_tol``) with the last failed
        try at least ``PROJECTION_SPACING x`` its iteration ago (each try is ``P`` small NNLS
        solves, tens of iterations' worth: the spacing keeps their count logarithmic in the run
        length, deterministic, and delays a stop by at most 10%), or only
        ``PROJECTION_MIN_SPACING x`` its iteration ago when the correction is predicted to
        certify (:meth:`_predicted_correction`), or the run is about to end (``must``: residual
        stop or last iteration)."""
        gap_tol, lb = self.budget.gap_tol, self.best_bound
        if gap_tol is None or self.dual is None or not lb > 0:
            return False
        lb += self.polish_gain  # what polishing the bound gained last time, expected again
        if merit > (1 + gap_tol) * lb:
            return False
        if must:
            return True
        if not near:
            return False
        if it >= self.next_projection:
            # skipped (and rescheduled) when the last try's rate predicts a gap above twice the
            # tolerance: measured at n = 1000, the first tries came 0.4-0.6% above the bound
            predicted = self._predicted_correction(merit, violation)  # inf before a try
            if math.isfinite(predicted) and predicted > (1 + 2 * gap_tol) * lb:
                self.next_projection = it + max(
                    self.out.history_every, int(PROJECTION_SPACING * it)
                )
                return False
            return True
        # the short spacing doubles with every failed try in a row (the predictions approach
        # the threshold slowly: measured 20 tries 60 iterations apart at n = 1000)
        spacing = PROJECTION_MIN_SPACING * 2.0**self.failed_tries
        soon = it >= self.last_projection + spacing * self.last_projection
        return soon and self._predicted_correction(merit, violation) <= (1 + gap_tol) * lb

    def _predicted_correction(self, merit: float, violation: float) -> float:
        """The objective the feasible correction is expected to have: the iterate's ``merit``
        plus the last failed try's increase per unit of constraint violation times the current
        violation (the increase is about proportional to it: measured within 15% over the tail
        of a run at n = 2000); ``inf`` before the first try."""
        if self.correction_rate is None:
            return math.inf
        return merit + self.correction_rate * violation

    def _projected(self, V: torch.Tensor) -> tuple[torch.Tensor, float]:
        """``V`` (``(d_aug, 2P)``) projected onto the sign constraints
        (``problem.project_feasible``), float64, and the feasible point's ``max(convex,
        recovered network's objective)``: an upper bound on the program's optimum (the two
        agree on feasible points up to the recovery threshold)."""
        Un = V.detach().cpu().numpy().astype(np.float64)
        P = self.op.P
        Vc, Wc = self.pr.project_feasible(Un[:, :P], Un[:, P:])
        U = torch.as_tensor(np.hstack([Vc, Wc]), dtype=torch.float64, device=V.device)
        conv, net, _, _ = self.evaluate(U)
        return U, max(conv, net)

    def _feasible_upper_bound(self, it: int, merit: float, violation: float) -> float:
        """Try the certified stop on the iterate's feasible correction (:meth:`_projected`):
        kept (``self.feasible``) when it certifies, else the next try waits (and the
        correction's cost per unit of violation is kept for :meth:`_predicted_correction`)."""
        t0 = time.perf_counter()
        U, upper = self._projected(self.x.V)
        gap_tol = self.budget.gap_tol
        if gap_tol is not None and upper > (1 + gap_tol) * self.best_bound:
            # polish the bound when that may close the gap: the first time, or when the gap
            # left is within twice what polishing gained last time
            if self.polishes == 0 or upper <= (1 + gap_tol) * (
                self.best_bound + 2 * self.polish_gain
            ):
                self._polish_bound()
        if gap_tol is not None and upper <= (1 + gap_tol) * self.best_bound:
            self.feasible = (U, upper)
        else:
            self.next_projection = it + max(self.out.history_every, int(PROJECTION_SPACING * it))
            self.last_projection = it
            self.failed_tries += 1
            if violation > 0:
                self.correction_rate = max(upper - merit, 0.0) / violation
        self.projection_time += time.perf_counter() - t0
        self.projections += 1
        return upper

    def _stop_test(self, conv: float, merit: float, residual_stop: bool) -> bool:
        """The certified stop, then the residual stop (sets stop, status and message)."""
        gap_tol, lb = self.budget.gap_tol, self.best_bound
        if self.feasible is not None:
            upper = self.feasible[1]
            self.stop, self.status = "certified", "converged"
            self.message = (
                f"certified: the feasible correction of the iterate has objective {upper:.10g} <= "
                f"(1 + gap_tol={gap_tol:g}) x lower bound {lb:.10g}"
            )
            return True
        # a convex objective below a certified lower bound proves the iterate infeasible
        below = self.dual is not None and conv < lb
        if residual_stop and not below:
            self.stop, self.status = "residuals", "converged"
            self.message = f"relative residuals below tol={self.budget.tol:g}"
            if gap_tol is not None:  # not certified at this point: say so
                self.status = "inaccurate"
                self.message += (
                    f", but the certified gap {_gap(merit, lb):.3g} is above gap_tol={gap_tol:g}"
                )
            return True
        return False

    def _balance(self, it: int, infeasible: bool) -> None:
        """Bounded residual balancing, or a push towards feasibility when the iterate is proven
        infeasible (scaled duals rescale with rho)."""
        if infeasible:
            factor = self.control.push_feasibility(it)
        else:
            factor = self.control.propose(it, self.r_pri, self.r_dual)
        if factor is not None:
            self._set_rho(self.control.rho)
            self.x.rescale_duals(factor)

    def _set_rho(self, rho: float) -> None:
        self.rho = rho
        if self.exact is not None and self.op.paper:
            self.exact.set_rho(rho)
            self.op = self.exact.cast(self.op.Xa.dtype)
        else:
            self.op.set_rho(rho)
        self._chain_broken()

    def _blow_up(self, it: int, record: dict[str, Any], conv: float) -> str:
        """Divergence guard: restart from the best record (the last time with a 10x larger
        rho), or end with status ``"diverged"``."""
        record["event"] = "blow-up"
        self.history.append(record)
        if self.restarts >= MAX_RESTARTS:
            self.stop, self.status = "diverged", "diverged"
            self.message = (
                f"diverged: objective {conv:.3g} (the zero network's is "
                f"{self.zero_objective:.3g}) at iteration {it} after {self.restarts} restarts"
            )
            return "stop"
        self.restarts += 1
        if self.best is not None:
            x, new_rho = self.best[2].copy(), self.best[3]
        else:
            x, new_rho = _start(self.pr, None, self.op, self.rho0), self.rho0
        if self.restarts == MAX_RESTARTS:  # the last restart: a more damped penalty
            x.rescale_duals(RESTART_RHO_FACTOR)
            new_rho *= RESTART_RHO_FACTOR
        self.x = x
        self._set_rho(new_rho)
        self.control.reset(new_rho, it)
        return "restart"

    # ------------------------------------------------------------------ the result
    def _finish(self, it: int) -> ConvexSolution:
        pr = self.pr
        x, returned = self.x, it
        if self.stop == "diverged" and self.best is not None:
            x, returned = self.best[2], self.best[1]
            self.message += f"; returned the best recorded iterate (iteration {returned})"
        point = x.V if self.feasible is None else self.feasible[0]
        sol = convex_solution(pr, point, solver="ADMM", start=self.t_start, run=self, info={})
        Vsol, Wsol = sol.V, sol.W
        network_objective = pr.network_objective(sol.to_network(self.out.recovery_rtol))
        sol.info.update(self._info(it, returned, x))
        sol.info.update(
            constraint_violation=pr.constraint_violation(Vsol, Wsol),
            network_objective=network_objective,
            feasible_correction=self.feasible is not None,
        )
        if self.dual is not None:
            # a certified upper bound on the optimum: the returned feasible point's objective,
            # else that of the returned iterate's projection onto the constraints
            upper = self.feasible[1] if self.feasible is not None else self._projected(point)[1]
            sol.info["upper_bound"] = upper
            sol.info["lower_bound"] = self.best_bound
            sol.info["certified_gap"] = gap = _gap(upper, self.best_bound)
            gap_tol = self.budget.gap_tol
            if self.stop in ("max_iter", "time_limit") and gap_tol is not None:
                # what the budget left: said in the message as well (the CLI and the reports
                # print it), not only in info
                sol.message += (
                    f"; not certified: the gap between the feasible upper bound {upper:.6g} and "
                    f"the dual lower bound {self.best_bound:.6g} is {gap:.3g} > "
                    f"gap_tol={gap_tol:g}"
                )
        return sol

    def _info(self, it: int, returned: int, x: _Iterate) -> dict[str, Any]:
        op, num = self.op, self.num
        info: dict[str, Any] = {
            "stop": self.stop,
            "linear_solver": op.path,
            "splitting": op.splitting,
            "factor_bytes": memory_bytes(op.path, op.n, op.d, op.P, op.itemsize),
            "rho": self.rho,
            "rho_updates": self.control.updates,
            "rho_backoffs": self.control.backoffs,
            "rho_bounds": (self.control.lo, self.control.hi),
            "restarts": self.restarts,
            "loss_weight": op.c,
            "relaxation": self.pen.relaxation,
            "gamma": self.pen.gamma,
            "acceleration": "anderson" if self.accel is not None else "none",
            "anderson_steps": self.aa_steps,
            "anderson_rejected": self.aa_rejected,
            "iterations": it,
            "returned_iteration": returned,
            "setup_time": self.setup_time,
            "record_time": self.record_time,
            "primal_residual": self.r_pri,
            "dual_residual": self.r_dual,
            "gap_tol": self.budget.gap_tol,
            "warm_start": self._warm,
            "threads": torch.get_num_threads(),
            "device": str(num.device),
            "dtype": str(self.op.Xa.dtype).replace("torch.", ""),
            "float64_from": self.float64_from,
            "projections": self.projections,
            "projection_time": self.projection_time,
            "bound_polishes": self.polishes,
            "bound_polish_time": self.polish_time,
        }
        if self.dual is not None:
            # the sign-constraint multipliers (n, 2P): a dual candidate, and a warm start's duals
            mult = ((-self.rho) * x.lam.S).clamp(min=0.0)
            info["multipliers"] = mult.cpu().numpy().astype(np.float64)
        if op.path == "cg":
            its = op.system.cg_iterations
            info["cg_iterations_mean"] = float(np.mean(its)) if its else 0.0
        return info


def _gap(upper: float, lower: float) -> float:
    """Relative certified gap ``(upper - lower) / lower`` (inf without a positive bound)."""
    return (upper - lower) / lower if lower > 0 and math.isfinite(upper) else math.inf


def _start(pr: ConvexReLUProblem, warm: tuple | None, op: _Operator, rho: float) -> _Iterate:
    """The first iterate: zeros (cold), or ``(V, W)`` with the block-2 variables at their
    constraint values and, for nominal programs, the duals that make it a fixed point when it
    is optimal: ``theta = grad l(F u)`` for the loss, the warm start's sign-constraint
    ``multipliers`` (``info["multipliers"]`` of a ``ConvexSolution``, e.g. from ``solve_ipm``)
    or zeros, and ``Lambda = (G^T lambda - F^T theta) / (rho sig)`` (stationarity of the
    u-step)."""
    Xa, y = op.Xa, op.y
    n, d, P = op.n, op.d, op.P
    zeros = lambda *shape: torch.zeros(*shape, dtype=Xa.dtype, device=Xa.device)  # noqa: E731
    dp = int(op.pert.sum())
    lam = _Blocks(
        zeros(d, 2 * P),
        zeros(n, 2 * P),
        zeros(n),
        zeros(n, dp) if op.robust_loss else None,
        zeros(dp, 2 * P) if op.cone else None,
    )
    if warm is None:
        w = lam.combine(torch.zeros_like)
        if op.paper:  # the labels enter the u-step as c F^T y
            w.e = y.clone()
        return _Iterate(w, lam)
    V0, W0, mult = warm
    U = torch.as_tensor(np.hstack([V0, W0]), dtype=Xa.dtype, device=Xa.device)
    KU = op.images(U.clone())
    w = _Blocks(U, KU.S.clamp_(min=0.0), y.clone() if op.paper else KU.e.clone(), KU.Z, KU.A)
    if w.A is not None:
        w.A = w.A.clone()
    if op.robust_loss:  # no closed-form duals for the robust losses: they start at zero
        return _Iterate(w, lam)
    theta = loss_gradient(pr.loss, KU.e, y)
    sign_mult = zeros(n, 2 * P)
    if mult is not None and tuple(mult.shape) == (n, 2 * P):
        sign_mult = torch.as_tensor(mult, dtype=Xa.dtype, device=Xa.device).clamp(min=0.0)
    lam.S = -sign_mult / rho
    if not op.paper:
        lam.e = theta / (rho * op.c)
    lam.V = (Xa.T @ (op.Sgn * sign_mult - op.Dpm * theta[:, None])) / (rho * op.sig)
    return _Iterate(w, lam)
