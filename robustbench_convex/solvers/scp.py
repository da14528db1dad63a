"""Sampled convex programs (SCP): the paper's second algorithm (MATH.md sections 3 and 5).

Sample ``N`` hidden neurons ``u_1..u_N`` uniformly on the unit sphere of the *augmented* input
space (``d + 1`` coordinates with ``bias=True``; the last one is the hidden bias, as in
``ConvexReLUProblem``), keep them fixed, and fit the output weights by the convex program

    (SCP)   min_alpha  L(F alpha, y) + beta * ||alpha||_1,      F = relu(Xa U^T)   (n, N)

with ``L`` one of the project's losses (sums over samples, ``robustbench_convex.losses``). It is the
sampled version of the dual constraint ``|lambda^T relu(Xa u)| <= beta`` for all ``||u|| <= 1`` of
the exact program; :func:`scenario_sample_size` says how many neurons scenario theory asks for.

Every ``alpha`` is a real network: ``u_j sqrt|alpha_j|`` with output weight
``sign(alpha_j) sqrt|alpha_j|`` gives the same predictions, and since ``||u_j|| = 1`` its weight
decay ``beta/2 (||u_j sqrt|alpha_j|||^2 + |alpha_j|) = beta |alpha_j|``: the network objective (NC)
equals the SCP objective. Hence the SCP optimum upper-bounds the global optimum of (NC), and it
decreases (weakly) when neurons are added.

Methods:

- ``"fista"`` (the default for the smooth losses): accelerated proximal gradient (FISTA) in PyTorch with adaptive restart
  (O'Donoghue & Candes, gradient scheme), step ``1/L`` from a power-iteration estimate of
  ``||F||_2^2`` times the loss's smoothness (squared 1, logistic 1/4) with a backtracking guard,
  and a stopping rule on the norm of the prox-gradient mapping relative to its value at
  ``alpha = 0``. The hinge loss is not smooth: FISTA minimizes the Huber-smoothed hinge
  ``h_mu(t) = t^2 / (2 mu)`` for ``0 <= t <= mu``, ``t - mu/2`` for ``t > mu`` (``t = 1 - y yhat``)
  with continuation ``mu = 1, 0.1, ..., hinge_smoothing``; since ``h_mu <= h <= h_mu + mu/2`` the
  returned point is within ``n * hinge_smoothing / 2`` of the hinge optimum (plus the
  optimization tolerance). The reported ``objective`` is always the true (unsmoothed) objective.
- ``"cvxpy"``: the reference, and the default for the hinge loss (``method="auto"``); the same
  program in CVXPY (MOSEK when licensed, else Clarabel, else SCS).

Neurons are drawn as normalized ``N(0, I)`` vectors from ``numpy.random.default_rng(seed)`` row by
row, so the ``N`` neurons of a call are the first ``N`` of any call with the same seed and more
neurons (nested neuron sets).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from robustbench_convex._checks import (
    check_binary_labels,
    check_data_matrix,
    check_nonneg_scalar,
)
from robustbench_convex.losses import check_loss, loss_value
from robustbench_convex.network import TwoLayerReLU
from robustbench_convex.solution import (
    DEFAULT_RECOVERY_RTOL,
    SolverResult,
    SolveStatus,
)
from robustbench_convex.solvers._common import check_time_limit

SCPMethod = Literal["auto", "fista", "cvxpy"]
SCP_METHODS: tuple[str, ...] = ("auto", "fista", "cvxpy")
DEFAULT_HINGE_SMOOTHING = 1e-4

__all__ = [
    "SCP_METHODS",
    "SCPSolution",
    "sample_neurons",
    "scenario_sample_size",
    "scp_features",
    "solve_scp",
]


# ------------------------------------------------------------------------------------ helpers
def scenario_sample_size(
    n_samples: int, *, violation: float = 0.1, confidence: float = 0.99
) -> int:
    """Number of sampled neurons that scenario theory asks for (MATH.md sections 3 and 5).

    The dual of (SCP) has one variable per training point (``lambda in R^n``) and one constraint
    ``|lambda^T relu(Xa u_j)| <= beta`` per sampled neuron. By the scenario bound of Campi and
    Garatti (a convex program with ``n`` decision variables and ``N`` i.i.d. sampled constraints),
    if

        N >= (2 / violation) * (n + ln(1 / (1 - confidence)))

    then with probability at least ``confidence`` over the draw of the neurons, the solution's dual
    variable violates the constraint of the *full* (all neurons) program only on a set of neurons
    of probability at most ``violation`` under the uniform distribution on the sphere: the sampled
    program is then "approximately globally optimal" in that sense. The count grows linearly in
    ``n``, not exponentially. (Written ``P_s >= (2/psi)(n + ln(1/xi))`` in the paper, with
    ``psi = violation`` and ``xi = 1 - confidence``.)

    Args:
        n_samples: number of training points ``n`` (>= 1).
        violation: ``psi`` in (0, 1).
        confidence: ``1 - xi`` in (0, 1).

    Returns:
        The smallest integer ``N`` meeting the bound.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if not 0.0 < float(violation) < 1.0:
        raise ValueError(f"violation must lie in (0, 1), got {violation}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    xi = 1.0 - float(confidence)
    value = (2.0 / float(violation)) * (n_samples + math.log(1.0 / xi))
    # (1 - 1e-12): an exact integer must not round up through floating-point noise
    return math.ceil(value * (1.0 - 1e-12))


def sample_neurons(n_neurons: int, dim: int, seed: int = 0) -> np.ndarray:
    """``n_neurons`` directions uniform on the unit sphere of R^dim, shape ``(n_neurons, dim)``.

    Normalized standard normal rows from ``numpy.random.default_rng(seed)``: the first ``k`` rows
    do not depend on ``n_neurons >= k`` (nested sets for a fixed seed)."""
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, (int, np.integer)):
        raise TypeError(f"n_neurons must be an int, got {type(n_neurons).__name__}")
    if n_neurons < 1:
        raise ValueError(f"n_neurons must be >= 1, got {n_neurons}")
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((int(n_neurons), int(dim)))
    norms = np.linalg.norm(U, axis=1, keepdims=True)
    return U / norms


def _augment(X: np.ndarray, bias: bool) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X


def scp_features(X: Any, U: Any, *, bias: bool = True) -> np.ndarray:
    """Features ``relu(Xa U^T)`` of the sampled neurons, shape ``(n, N)``; ``Xa`` is ``X`` with a
    ones column appended when ``bias=True`` (``U`` then has ``d + 1`` columns)."""
    X = np.asarray(X, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    Xa = _augment(X, bias)
    if U.ndim != 2 or U.shape[1] != Xa.shape[1]:
        raise ValueError(f"U must have shape (N, {Xa.shape[1]}), got {U.shape}")
    return np.maximum(Xa @ U.T, 0.0)


def _network_from(U: np.ndarray, alpha: np.ndarray, bias: bool, rtol: float) -> TwoLayerReLU:
    top = np.abs(alpha).max(initial=0.0)
    keep = np.abs(alpha) > rtol * top if top > 0 else np.zeros(alpha.shape, dtype=bool)
    a = alpha[keep]
    scale = np.sqrt(np.abs(a))
    U_aug = U[keep] * scale[:, None]
    out = np.sign(a) * scale
    if bias:
        return TwoLayerReLU.from_numpy(U_aug[:, :-1], out, b=U_aug[:, -1], c=None)
    return TwoLayerReLU.from_numpy(U_aug, out, b=None, c=None)


# ------------------------------------------------------------------------------------ result
@dataclass
class SCPSolution(SolverResult):
    """What :func:`solve_scp` returns.

    Attributes:
        U: ``(N, d_aug)`` sampled unit-norm neurons (last column = bias coordinate if ``bias``).
        alpha: ``(N,)`` output weights of the SCP.
        objective: the true SCP objective ``L(F alpha, y) + beta ||alpha||_1`` at ``alpha``
            (recomputed in float64 numpy, hinge unsmoothed), equal to the network objective (NC)
            of :meth:`to_network`.
        status: ``"converged"``, ``"inaccurate"``, ``"max_iter"``, ``"time_limit"`` or ``"failed"``
            (the vocabulary of ``ConvexSolution``).
        solver: ``"SCP-FISTA"`` or ``"SCP-<CVXPY solver>"`` (e.g. ``"SCP-CLARABEL"``).
        time: wall-clock seconds (sampling, features and solve).
        loss, beta, bias, seed: the program solved.
        message: a short explanation of the status.
        history: FISTA: one dict per iteration (``iteration``, ``objective`` (true objective),
            ``grad_map_norm``, ``lipschitz``, ``restart``, ``mu`` (hinge smoothing or None),
            ``time``); empty for CVXPY.
        info: extras (iterations, restarts, lipschitz estimate, scale, tolerances, ...).
    """

    U: np.ndarray
    alpha: np.ndarray
    objective: float
    status: SolveStatus
    solver: str
    time: float
    loss: str
    beta: float
    bias: bool
    seed: int
    message: str = ""
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_status()

    @property
    def n_neurons(self) -> int:
        """Number of sampled neurons ``N``."""
        return int(self.U.shape[0])

    @property
    def program(self) -> str:
        """Always ``"nominal"``: SCP has no robust variant."""
        return "nominal"

    @property
    def ok(self) -> bool:
        """True unless the solve failed."""
        return self.status != "failed"

    def n_active(self, rtol: float = DEFAULT_RECOVERY_RTOL) -> int:
        """Number of neurons with ``|alpha_j| > rtol * max |alpha|`` (the recovered width)."""
        top = np.abs(self.alpha).max(initial=0.0)
        return 0 if top == 0 else int(np.sum(np.abs(self.alpha) > rtol * top))

    def to_network(self, rtol: float = DEFAULT_RECOVERY_RTOL) -> TwoLayerReLU:
        """The equivalent weight-decay network: neuron ``u_j sqrt|alpha_j|`` (hidden bias = last
        coordinate), output weight ``sign(alpha_j) sqrt|alpha_j|``, no output bias; neurons with
        ``|alpha_j| <= rtol * max |alpha|`` are dropped."""
        return _network_from(self.U, self.alpha, self.bias, rtol)

    def summary(self) -> dict[str, Any]:
        """A flat, JSON-friendly summary (no arrays)."""
        return {
            **self._summary_common(),
            "program": self.program,
            "n_active": self.n_active(),
            "n_neurons": self.n_neurons,
            "iterations": self._iterations(),
        }


# ------------------------------------------------------------------------------------ FISTA
def _smooth_loss_and_residual(
    loss: str, yhat: torch.Tensor, y: torch.Tensor, mu: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(smooth loss value, d loss / d yhat) of the loss (hinge: Huber-smoothed with ``mu``)."""
    if loss == "squared":
        r = yhat - y
        return 0.5 * (r * r).sum(), r
    if loss == "logistic":
        m = y * yhat
        return torch.nn.functional.softplus(-m).sum(), -y * torch.sigmoid(-m)
    t = 1.0 - y * yhat
    assert mu is not None
    s = torch.clamp(t / mu, 0.0, 1.0)
    value = torch.where(t > mu, t - 0.5 * mu, 0.5 * torch.clamp(t, min=0.0) ** 2 / mu)
    return value.sum(), -y * s


def _power_iteration(F: torch.Tensor, seed: int, iters: int = 100, rtol: float = 1e-6) -> float:
    """Estimate of ``||F||_2^2`` (largest eigenvalue of ``F^T F``) by power iteration."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    v = torch.randn(F.shape[1], generator=gen, dtype=F.dtype).to(F.device)
    v = v / v.norm()
    est = 0.0
    for _ in range(iters):
        w = F.T @ (F @ v)
        new = float(w.norm())
        if new == 0.0:
            return 0.0
        v = w / new
        if abs(new - est) <= rtol * new:
            est = new
            break
        est = new
    return est


def _soft(x: torch.Tensor, thr: float) -> torch.Tensor:
    return torch.sign(x) * torch.clamp(x.abs() - thr, min=0.0)


@dataclass
class _Fista:
    """FISTA's state: the iterate ``x`` and its predictions ``Fx``, the momentum point ``y_pt``
    and ``Fy``, the momentum parameter ``t``, the Lipschitz estimate and the counters."""

    x: torch.Tensor
    Fx: torch.Tensor
    y_pt: torch.Tensor
    Fy: torch.Tensor
    t: float = 1.0
    lip: float = 0.0
    it: int = 0
    restarts: int = 0
    backtracks: int = 0


def _hinge_stages(loss: str, hinge_smoothing: float) -> list[float | None]:
    """The smoothing of each stage: ``mu = 1, 0.1, ...`` down to ``hinge_smoothing`` for the
    hinge; one unsmoothed stage (None) for the smooth losses."""
    if loss != "hinge":
        return [None]
    mus: list[float | None] = []
    mu = 1.0
    while mu > hinge_smoothing * (1 + 1e-12):
        mus.append(mu)
        mu /= 10.0
    mus.append(hinge_smoothing)
    return mus


def _backtracking_step(F, y, loss: str, beta: float, mu, st: _Fista, roundoff: float):
    """One proximal-gradient step from the momentum point, doubling ``lip`` until the
    quadratic upper bound holds: ``(x_new, Fx_new, step)``."""
    f_y, r = _smooth_loss_and_residual(loss, st.Fy, y, mu)
    g = F.T @ r
    for _ in range(60):
        x_new = _soft(st.y_pt - g / st.lip, beta / st.lip)
        Fx_new = F @ x_new
        step = x_new - st.y_pt
        f_new, _ = _smooth_loss_and_residual(loss, Fx_new, y, mu)
        bound = f_y + g @ step + 0.5 * st.lip * (step @ step)
        # slack: the two sides agree only up to roundoff of the loss sums
        if float(f_new) <= float(bound) + roundoff * (abs(float(f_y)) + 1.0):
            break
        st.lip *= 2.0  # power-iteration estimate was low: backtrack
        st.backtracks += 1
    return x_new, Fx_new, step


def _momentum(st: _Fista, x_new: torch.Tensor, Fx_new: torch.Tensor) -> bool:
    """Nesterov momentum with adaptive restart (gradient scheme: restart when the momentum
    points against the descent direction); returns whether it restarted."""
    restart = bool((st.y_pt - x_new) @ (x_new - st.x) > 0)
    if restart:
        st.restarts += 1
        t_new = 1.0
        st.y_pt, st.Fy = x_new, Fx_new
    else:
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * st.t * st.t))
        w = (st.t - 1.0) / t_new
        st.y_pt = x_new + w * (x_new - st.x)
        st.Fy = Fx_new + w * (Fx_new - st.Fx)
    st.x, st.Fx, st.t = x_new, Fx_new, t_new
    return restart


def _fista(
    F: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str,
    beta: float,
    max_iter: int,
    tol: float,
    time_limit: float | None,
    hinge_smoothing: float,
    seed: int,
    callback: Callable[[int, dict[str, Any]], dict[str, Any] | None] | None,
    verbose: bool,
    t0: float,
) -> tuple[torch.Tensor, str, str, list[dict[str, Any]], dict[str, Any]]:
    n, N = F.shape
    sigma2 = _power_iteration(F, seed)
    smooth = {"squared": 1.0, "logistic": 0.25}.get(loss)
    mus = _hinge_stages(loss, hinge_smoothing)
    roundoff = 10.0 * n * torch.finfo(F.dtype).eps
    zeros = torch.zeros(N, dtype=F.dtype, device=F.device)
    Fzero = torch.zeros(n, dtype=F.dtype, device=F.device)
    st = _Fista(zeros, Fzero, zeros, Fzero)
    # scale of the stopping rule: the gradient mapping's largest possible size at alpha = 0
    _, r0 = _smooth_loss_and_residual(loss, Fzero, y, mus[-1])
    scale = max(float((F.T @ r0).norm()), 1e-300)
    # below ~100 machine epsilons the mapping norm is roundoff (float32: ~1e-5)
    floor = 100.0 * torch.finfo(F.dtype).eps
    history: list[dict[str, Any]] = []
    status, message = "max_iter", f"reached max_iter={max_iter}"
    for stage, mu in enumerate(mus):
        st.lip = max(1.01 * sigma2 * (smooth if mu is None else 1.0 / mu), 1e-12)
        final_stage = stage == len(mus) - 1
        stage_tol = max(tol, floor) if final_stage else max(tol, 1e-3)
        st.y_pt, st.Fy, st.t = st.x.clone(), st.Fx.clone(), 1.0
        opts = (loss, beta, mu, roundoff, stage_tol * scale, scale, max_iter, time_limit)
        outcome = _fista_stage(F, y, st, opts, history, callback, verbose, t0)
        if outcome == "failed":
            return st.x, "failed", f"non-finite objective at iteration {st.it}", history, {}
        if outcome == "time_limit":
            message = f"reached time_limit={time_limit} s"
            return st.x, "time_limit", message, history, _fista_info(st, scale)
        if outcome != "done":
            break
        if final_stage:
            status = "converged"
            message = f"prox-gradient mapping norm <= tol * scale after {st.it} iterations"
    return st.x, status, message, history, _fista_info(st, scale)


def _fista_stage(F, y, st: _Fista, opts: tuple, history, callback, verbose, t0) -> str:
    """Iterate one smoothing stage until the gradient-mapping norm is at most ``threshold``:
    ``"done"``, ``"max_iter"``, ``"time_limit"`` or ``"failed"`` (non-finite objective)."""
    loss, beta, mu, roundoff, threshold, scale, max_iter, time_limit = opts
    while st.it < max_iter:
        st.it += 1
        x_new, Fx_new, step = _backtracking_step(F, y, loss, beta, mu, st, roundoff)
        gmap = st.lip * float(step.norm())
        restart = _momentum(st, x_new, Fx_new)
        elapsed = time.perf_counter() - t0
        record = {
            "iteration": st.it,
            "objective": float(loss_value(loss, st.Fx, y)) + beta * float(st.x.abs().sum()),
            "grad_map_norm": gmap / scale,
            "lipschitz": st.lip,
            "restart": restart,
            "mu": mu,
            "time": elapsed,
        }
        history.append(record)
        if verbose and (st.it % 100 == 0 or st.it == 1):
            print(
                f"[SCP-FISTA] it {st.it:6d}  obj {record['objective']:.8e}  "
                f"gmap {record['grad_map_norm']:.2e}  mu {mu}"
            )
        if not math.isfinite(record["objective"]):
            return "failed"
        if gmap <= threshold:
            return "done"
        if callback is not None:
            extra = callback(st.it, {"alpha": st.x.detach().cpu().numpy().copy(), "record": record})
            if extra:
                record.update(extra)
        if time_limit is not None and elapsed > time_limit:
            return "time_limit"
    return "max_iter"


def _fista_info(st: _Fista, scale: float) -> dict[str, Any]:
    return _info(st.it, st.restarts, st.backtracks, st.lip, scale)


def _info(it: int, restarts: int, backtracks: int, lip: float, scale: float) -> dict[str, Any]:
    return {
        "iterations": it,
        "restarts": restarts,
        "backtracks": backtracks,
        "lipschitz": lip,
        "scale": scale,
    }


# ------------------------------------------------------------------------------------ CVXPY
def _cvxpy_solve(
    F: np.ndarray,
    y: np.ndarray,
    *,
    loss: str,
    beta: float,
    solver: str,
    verbose: bool,
    solver_options: dict[str, Any],
) -> tuple[np.ndarray | None, str, str]:
    import cvxpy as cp

    a = cp.Variable(F.shape[1])
    yhat = F @ a
    if loss == "squared":
        data = 0.5 * cp.sum_squares(yhat - y)
    elif loss == "hinge":
        data = cp.sum(cp.pos(1 - cp.multiply(y, yhat)))
    else:
        data = cp.sum(cp.logistic(-cp.multiply(y, yhat)))
    prob = cp.Problem(cp.Minimize(data + beta * cp.norm1(a)))
    try:
        prob.solve(solver=solver, verbose=verbose, **solver_options)
    except cp.error.SolverError as exc:
        return None, "failed", f"{solver} failed: {exc}"
    st = prob.status
    if a.value is None or st not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        return None, "failed", f"{solver} returned status {st!r}"
    status = "converged" if st == cp.OPTIMAL else "inaccurate"
    return np.asarray(a.value, dtype=np.float64), status, f"{solver}: {st}"


def _check_scp_args(beta, method, loss, max_iter, tol, hinge_smoothing, time_limit):
    """Validate ``solve_scp``'s scalar arguments; returns ``(beta, method)`` with ``"auto"``
    resolved (CVXPY for the hinge, FISTA otherwise)."""
    beta = check_nonneg_scalar("beta", beta)
    if method not in SCP_METHODS:
        raise ValueError(f"method must be one of {SCP_METHODS}, got {method!r}")
    if method == "auto":
        method = "cvxpy" if loss == "hinge" else "fista"
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if not 0 < float(hinge_smoothing) <= 1:
        raise ValueError(f"hinge_smoothing must lie in (0, 1], got {hinge_smoothing}")
    check_time_limit(time_limit)
    return beta, method


def _scp_neurons(neurons: Any, n_neurons: int | None, d_aug: int, seed: int) -> np.ndarray:
    """The ``(N, d_aug)`` unit-norm neurons: the given ones normalized, or ``n_neurons``
    sampled uniformly on the sphere."""
    if neurons is None:
        if n_neurons is None:
            raise ValueError("n_neurons is required (see scenario_sample_size for a count)")
        return sample_neurons(n_neurons, d_aug, seed)
    U = np.asarray(neurons, dtype=np.float64)
    if U.ndim != 2 or U.shape[1] != d_aug or U.shape[0] < 1:
        raise ValueError(f"neurons must have shape (N, {d_aug}), got {U.shape}")
    if n_neurons is not None and n_neurons != U.shape[0]:
        raise ValueError(f"n_neurons={n_neurons} but neurons has {U.shape[0]} rows")
    norms = np.linalg.norm(U, axis=1, keepdims=True)
    if not np.all(np.isfinite(U)) or np.any(norms == 0):
        raise ValueError("neurons must be finite and non-zero")
    return U / norms


# ------------------------------------------------------------------------------------ entry point
def solve_scp(
    X: Any,
    y: Any,
    *,
    n_neurons: int | None,
    loss: Literal["squared", "hinge", "logistic"] = "squared",
    beta: float,
    bias: bool = True,
    seed: int = 0,
    method: SCPMethod = "auto",
    max_iter: int = 20_000,
    tol: float = 1e-6,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    time_limit: float | None = None,
    hinge_smoothing: float = DEFAULT_HINGE_SMOOTHING,
    neurons: Any | None = None,
    cvxpy_solver: str | None = None,
    solver_options: dict[str, Any] | None = None,
    callback: Callable[[int, dict[str, Any]], dict[str, Any] | None] | None = None,
    verbose: bool = False,
) -> SCPSolution:
    """Train a one-hidden-layer ReLU network by a sampled convex program (MATH.md section 5).

    Args:
        X: inputs ``(n, d)``, finite floats.
        y: labels ``(n,)`` in {-1, +1} ({0, 1} are converted, 0 -> -1).
        n_neurons: number ``N`` of hidden neurons sampled uniformly on the unit sphere of the
            augmented space (see :func:`scenario_sample_size` for a theory-backed count).
        loss: ``"squared"``, ``"hinge"`` or ``"logistic"`` (summed over samples).
        beta: ``>= 0``, weight of ``||alpha||_1`` (= weight decay ``beta/2 (||u||^2 + alpha^2)``
            of the equivalent network).
        bias: hidden biases (a ones column appended to ``X``; the neuron's last coordinate).
        seed: seed of the neuron sampler (and of the power iteration).
        method: ``"fista"`` (accelerated proximal gradient in torch), ``"cvxpy"`` (reference), or
            ``"auto"`` (default): FISTA for the smooth losses (squared, logistic) and CVXPY for
            the hinge, because FISTA on the smoothed hinge converges slowly (measured on
            breast cancer, N = 1000: tens of thousands of iterations without reaching the
            tolerance, while Clarabel takes a few seconds).
        max_iter: FISTA iteration budget (all hinge-smoothing stages together).
        tol: FISTA stops when the prox-gradient mapping norm is ``<= tol`` times its norm at
            ``alpha = 0`` (for hinge: in the last, ``mu = hinge_smoothing`` stage); it is raised
            to ``100 * eps`` of ``dtype`` (about ``2e-14`` in float64, ``1e-5`` in float32).
        device, dtype: where and in what precision FISTA runs (float64 on CPU by default).
        time_limit: seconds; FISTA stops with status ``"time_limit"`` after it.
        hinge_smoothing: final Huber smoothing ``mu`` of the hinge for FISTA (see module doc).
        neurons: an explicit ``(N, d_aug)`` array of neurons (rows are normalized; overrides
            sampling, ``n_neurons`` must match or be None).
        cvxpy_solver: CVXPY solver name for ``method="cvxpy"`` (default MOSEK if licensed, else
            CLARABEL, else SCS); ``solver_options`` are passed to ``Problem.solve``.
        callback: FISTA: ``callback(iteration, state) -> dict | None`` after every iteration
            (``state`` holds ``alpha`` (numpy) and the history ``record``); a returned dict is
            merged into the record (the convention of ``solve_admm``).
        verbose: print progress.

    Returns:
        :class:`SCPSolution` with the neurons ``U``, output weights ``alpha``, the objective,
        status and history; ``.to_network()`` gives the ``TwoLayerReLU``.
    """
    t0 = time.perf_counter()
    X = check_data_matrix(X)
    y_arr, _ = check_binary_labels(y, X.shape[0])
    loss = check_loss(loss)
    beta, method = _check_scp_args(beta, method, loss, max_iter, tol, hinge_smoothing, time_limit)
    bias, seed = bool(bias), int(seed)
    U = _scp_neurons(neurons, n_neurons, X.shape[1] + (1 if bias else 0), seed)
    F_np = scp_features(X, U, bias=bias)
    info: dict[str, Any] = {"method": method, "n_neurons": int(U.shape[0])}
    if method == "fista":
        F = torch.as_tensor(F_np, dtype=dtype, device=device)
        yt = torch.as_tensor(y_arr, dtype=dtype, device=device)
        x, status, message, history, extra = _fista(
            F, yt, loss=loss, beta=beta, max_iter=int(max_iter), tol=float(tol),
            time_limit=time_limit, hinge_smoothing=float(hinge_smoothing), seed=seed,
            callback=callback, verbose=verbose, t0=t0,
        )  # fmt: skip
        alpha = x.detach().cpu().numpy().astype(np.float64)
        info.update(extra, tol=float(tol), device=str(device), dtype=str(dtype))
        if loss == "hinge":
            info["hinge_smoothing"] = float(hinge_smoothing)
        solver = "SCP-FISTA"
    else:
        from robustbench_convex.solvers._solver_select import choose_solver

        name, info["solver_choice"] = choose_solver(cvxpy_solver)
        options = dict(solver_options or {})
        a, status, message = _cvxpy_solve(
            F_np, y_arr, loss=loss, beta=beta, solver=name, verbose=verbose, solver_options=options
        )
        alpha, history, solver = np.zeros(U.shape[0]) if a is None else a, [], f"SCP-{name}"
    if not np.all(np.isfinite(alpha)):
        alpha = np.zeros(U.shape[0])
        status, message = "failed", message + " (non-finite solution replaced by zeros)"
    objective = loss_value(loss, F_np @ alpha, y_arr) + beta * float(np.abs(alpha).sum())
    return SCPSolution(
        U=U,
        alpha=alpha,
        objective=float(objective),
        status=status,  # type: ignore[arg-type]
        solver=solver,
        time=time.perf_counter() - t0,
        loss=loss,
        beta=beta,
        bias=bias,
        seed=seed,
        message=message,
        history=history,
        info=info,
    )
