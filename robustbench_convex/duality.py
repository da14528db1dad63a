"""Certified lower bounds on the optimum of a nominal convex ReLU program (Lagrange duality).

For the nominal program (MATH.md section 2; squared, hinge or logistic loss ``l``, summed)

    min_{v, w}  l(sum_i D_i Xa (v_i - w_i), y) + beta sum_i (||v_i|| + ||w_i||)
    s.t.        (2 D_i - I) Xa v_i >= 0,   (2 D_i - I) Xa w_i >= 0

write the 2P blocks as ``u_j`` with prediction operators ``F_j = +-D_i Xa`` and sign operators
``G_j = (2 D_i - I) Xa``. The Lagrange dual is (derived: minimize the Lagrangian over the
predictions, which gives the conjugate loss, and over each ``u_j``, which is bounded exactly when
the block's reduced gradient lies in the beta-ball)

    max_{theta, lambda >= 0}  -sum_k l_k^*(theta_k)
    s.t.                      ||F_j^T theta - G_j^T lambda_j||_2 <= beta   for every block j

with the per-sample conjugates (``y_k`` in {-1, +1})

    squared   l^*(theta) = theta y + theta^2 / 2
    hinge     l^*(theta) = theta y                                for -1 <= theta y <= 0
    logistic  l^*(theta) = s log s + (1 - s) log(1 - s), s = -theta y in [0, 1]

(+inf outside those domains). Weak duality: *every* feasible ``(theta, lambda)`` gives a value
``<=`` the convex optimum, whatever produced it. At a solution ``theta = grad l(yhat*)`` and
``lambda`` are the multipliers of the sign constraints.

:func:`lower_bound` turns any candidate into a feasible point and returns its value: ``theta`` is
clipped to the conjugate's domain, ``lambda`` to ``>= 0``, ``lambda`` is improved by a few
accelerated projected-gradient steps on ``sum_j (||r_j|| - beta)_+^2 / 2`` (``r_j`` the block's
reduced gradient), and finally ``(theta, lambda)`` is scaled by the largest ``t in [0, 1]`` that
makes every block feasible (the constraints are positively homogeneous, and the domains are
star-shaped around 0), ``t`` chosen to maximize the (concave) dual objective along the ray. The
bound is therefore valid for *any* inputs; how tight it is depends on them.

:meth:`LagrangeDual.polished_bound` (squared and logistic loss) does better than the ray: a
candidate that violates many blocks' constraints by about the same small factor (an ADMM iterate's duals, whose
dual residual is small but not zero) loses that factor times the whole dual value to the
scaling, although its unscaled dual value is much closer to the optimum. It maximizes the dual
objective over the affine family ``theta + sum_j c_j F_j r_j / ||r_j|| + c_0 theta``,
``lambda (1 + s)``, subject to every block's constraint (a small second-order-cone program in
``2P + 2`` unknowns, solved by a barrier method in the reduced coordinates), then certifies the
result as any candidate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from robustbench_convex.formulations import ConvexReLUProblem

__all__ = ["DualBound", "LagrangeDual", "conjugate_loss_sum", "loss_gradient", "lower_bound"]


@dataclass(frozen=True)
class DualBound:
    """A certified lower bound on the convex optimum and how it was obtained.

    Attributes:
        value: the bound (``<=`` the optimum of the program; ``-inf`` when no feasible scaling
            exists, which cannot happen for these programs since ``t = 0`` is feasible).
        scale: the factor ``t`` applied to the candidate ``(theta, lambda)``.
        max_block_ratio: ``max_j ||r_j|| / beta`` of the (refined) candidate before scaling (1 or
            less: the candidate was dual feasible as given).
        refine_steps: projected-gradient steps spent on the multipliers.
    """

    value: float
    scale: float
    max_block_ratio: float
    refine_steps: int


def _t(a: Any, device=None) -> torch.Tensor:
    """float64 tensor: the bound is computed in double precision whatever the solver used."""
    return torch.as_tensor(a, dtype=torch.float64, device=device)


def loss_gradient(loss: str, yhat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample (sub)gradient of the summed loss at predictions ``yhat`` (shape ``(n,)``): the
    dual candidate ``theta`` of :func:`lower_bound` (exact at a solution)."""
    if loss == "squared":
        return yhat - y
    if loss == "hinge":
        return -y * (y * yhat < 1).to(yhat.dtype)
    if loss == "logistic":
        return -y * torch.sigmoid(-y * yhat)
    raise ValueError(f"loss must be 'squared', 'hinge' or 'logistic', got {loss!r}")


def _project_theta(loss: str, theta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Clip ``theta`` into the conjugate's domain (``theta y in [-1, 0]`` for hinge and logistic)."""
    if loss == "squared":
        return theta
    return y * torch.clamp(theta * y, min=-1.0, max=0.0)


def conjugate_loss_sum(loss: str, theta: torch.Tensor, y: torch.Tensor) -> float:
    """``sum_k l_k^*(theta_k)`` (``theta`` in the conjugate's domain; see the module docstring)."""
    if loss == "squared":
        return float((theta * y + 0.5 * theta * theta).sum())
    if loss == "hinge":
        return float((theta * y).sum())
    s = torch.clamp(-theta * y, min=0.0, max=1.0)
    return float(torch.special.xlogy(s, s).sum() + torch.special.xlogy(1.0 - s, 1.0 - s).sum())


def _best_scale(loss: str, theta: torch.Tensor, y: torch.Tensor, t_max: float) -> float:
    """``argmax_{t in [0, t_max]} -sum l^*(t theta)`` (concave in ``t``)."""
    if t_max <= 0:
        return 0.0
    if loss == "squared":
        ty, tt = float(theta @ y), float(theta @ theta)
        return t_max if tt == 0 else min(t_max, max(0.0, -ty / tt))
    if loss == "hinge":  # linear in t: increasing iff -sum theta y > 0
        return t_max if float(theta @ y) < 0 else 0.0

    def neg_dual(t: float) -> float:
        return conjugate_loss_sum(loss, t * theta, y)

    inner = minimize_scalar(
        neg_dual, bounds=(0.0, t_max), method="bounded", options={"xatol": 1e-12}
    )
    # Brent's bounded search never evaluates the end points themselves
    return min((0.0, t_max, float(inner.x)), key=neg_dual)


class LagrangeDual:
    """The dual of a nominal ``problem`` (module docstring), its data as float64 tensors on one
    device: build it once and call :meth:`lower_bound` for many candidates (``solve_admm``
    does so at every record).

    Args:
        problem: a nominal program (``robust_eps == 0``).
        device: torch device of the tensors (None: CPU).
    """

    def __init__(self, problem: ConvexReLUProblem, device: str | torch.device | None = None):
        if not isinstance(problem, ConvexReLUProblem):
            raise TypeError(f"problem must be a ConvexReLUProblem, got {type(problem).__name__}")
        if problem.robust_eps > 0:
            raise NotImplementedError(
                "lower_bound covers nominal programs (robust_eps = 0); the robust programs' duals "
                "are not implemented"
            )
        self.loss, self.beta = problem.loss, problem.beta
        self.Xa, self.D, self.y = (_t(a, device=device) for a in (problem.Xa, problem.D, problem.y))
        self.Sgn = (2.0 * self.D - 1.0).repeat(1, 2)
        self._step: float | None = None

    def polished_bound(
        self, theta: Any, multipliers: Any = None, *, max_directions: int = 64
    ) -> DualBound:
        """A bound at least as tight as ``lower_bound(theta, multipliers, refine_steps=0)``
        (squared and logistic loss; the hinge loss gets that bound unchanged).

        With block residuals ``r_j = F_j^T theta - G_j^T lambda_j`` (``||r_j|| <= beta`` is the
        dual constraint), the search family is ``theta(c) = theta + B c`` with ``B`` the
        normalized directions ``F_j r_j / ||r_j||`` of the ``max_directions`` blocks with the
        largest residuals (moving along one shrinks its own block's residual) and ``theta``, and
        ``lambda (1 + s)``. Then ``r_j(c, s) = r_j + N_j (c, s)`` is affine, the dual objective
        is concave in ``c`` (a quadratic for the squared loss, an entropy for the logistic
        loss), and the program

            max  -sum_k l^*(theta(c)_k)   s.t.  ||r_j(c, s)||^2 <= beta^2 for every block j

        lives in at most ``max_directions + 2`` unknowns: only ``N_j^T N_j``, ``N_j^T r_j`` and
        ``B^T B`` enter. It is solved by a log-barrier Newton method from the ray's scaled point (strictly feasible,
        so every iterate stays feasible), and its answer is certified by
        :meth:`lower_bound` (clipping and the ray, so the value is valid whatever the barrier
        did; and the ray's own point is returned when it is better).

        Cost: ``P`` products ``(d x n) (n x m)`` (``m <= max_directions + 1``, in float32) and
        about 50 Newton steps of order ``m + 1`` (``2P (m + 1)^2`` numbers); at ``P = 32``,
        ``n = 2000``, ``d = 51``: 40 ms, about 25 ADMM iterations. ``solve_admm`` calls it when
        a feasible correction it tries does not certify with the plain bound.
        """
        if (
            isinstance(max_directions, bool)
            or not isinstance(max_directions, int)
            or max_directions < 0
        ):
            raise ValueError(f"max_directions must be an int >= 0, got {max_directions!r}")
        plain = self.lower_bound(theta, multipliers, refine_steps=0)
        if self.loss == "hinge" or self.beta <= 0:
            return plain
        Xa, D, y, Sgn, beta = self.Xa, self.D, self.y, self.Sgn, self.beta
        n, P = D.shape
        theta = _t(theta, device=Xa.device).reshape(-1)
        lam = (
            torch.zeros(n, 2 * P, dtype=Xa.dtype, device=Xa.device)
            if multipliers is None
            else torch.clamp(_t(multipliers, device=Xa.device), min=0.0)
        )
        Dpm = torch.cat([D, -D], dim=1)
        S = Xa.T @ (Sgn * lam)  # (d, 2P): G_j^T lambda_j
        R = Xa.T @ (Dpm * theta[:, None]) - S
        norms = torch.linalg.vector_norm(R, dim=0)
        order = torch.argsort(norms, descending=True)[:max_directions]
        live = order[norms[order] > 0]
        B = torch.cat([Dpm[:, live] * (Xa @ (R[:, live] / norms[live])), theta[:, None]], dim=1)
        B = B[:, torch.linalg.vector_norm(B, dim=0) > 0]
        B = B / torch.linalg.vector_norm(B, dim=0)
        if B.shape[1] == 0:
            return plain
        m = B.shape[1]
        # N_j = [Xa^T (F_j o B), -G_j^T lambda_j]; the w-blocks' F_j are the v-blocks' negated
        # in float32 (half the time): the barrier only proposes the candidate, whose bound is
        # then computed in float64 from the float64 theta(c)
        X32, D32, B32 = Xa.float(), D.float(), B.float()
        M = torch.stack([(X32 * D32[:, i : i + 1]).T @ B32 for i in range(P)]).double()
        N = torch.cat([torch.cat([M, -M]), -S.T[:, :, None]], dim=2).cpu().numpy()
        Nt = N.transpose(0, 2, 1)
        K = Nt @ N  # (2P, m + 1, m + 1)
        h = (Nt @ R.T.cpu().numpy()[:, :, None])[:, :, 0]
        rho = (norms**2).cpu().numpy()
        x = np.zeros(m + 1)
        t0 = min(1.0, (1.0 - 1e-3) * beta / float(norms.max())) if float(norms.max()) > 0 else 1.0
        x[m - 1] = (t0 - 1.0) * float(torch.linalg.vector_norm(theta))  # theta's own column
        x[m] = t0 - 1.0
        objective, step_limit = _reduced_conjugate_sum(self.loss, theta, y, B)
        x = _barrier_qcqp(objective, step_limit, K, h, rho - beta**2, x)
        if x is None:
            return plain
        candidate = theta + B @ torch.as_tensor(x[:m], dtype=Xa.dtype, device=Xa.device)
        polished = self.lower_bound(candidate, lam * (1.0 + x[m]), refine_steps=0)
        return polished if polished.value > plain.value else plain

    def lower_bound(
        self, theta: Any, multipliers: Any = None, *, refine_steps: int = 50
    ) -> DualBound:
        """See :func:`lower_bound` (the same arguments, without ``problem``)."""
        if isinstance(refine_steps, bool) or not isinstance(refine_steps, int) or refine_steps < 0:
            raise ValueError(f"refine_steps must be an int >= 0, got {refine_steps!r}")
        Xa, D, y, Sgn, beta = self.Xa, self.D, self.y, self.Sgn, self.beta
        n, P = D.shape
        theta = _t(theta, device=Xa.device).reshape(-1)
        if theta.shape != (n,):
            raise ValueError(f"theta must have shape ({n},), got {tuple(theta.shape)}")
        if multipliers is None:
            lam = torch.zeros(n, 2 * P, dtype=Xa.dtype, device=Xa.device)
        else:
            lam = _t(multipliers, device=Xa.device)
            if lam.shape != (n, 2 * P):
                raise ValueError(
                    f"multipliers must have shape ({n}, {2 * P}) (blocks v_1..v_P, w_1..w_P), "
                    f"got {tuple(lam.shape)}"
                )
            lam = torch.clamp(lam, min=0.0)
        theta = _project_theta(self.loss, theta, y)
        A = Xa.T @ torch.cat([D * theta[:, None], -D * theta[:, None]], dim=1)  # F_j^T theta

        def residual(lam: torch.Tensor) -> torch.Tensor:
            return A - Xa.T @ (Sgn * lam)

        R = residual(lam)
        if refine_steps > 0 and beta > 0:
            if self._step is None:
                self._step = 1.0 / float(torch.linalg.matrix_norm(Xa, ord=2)) ** 2
            prev, mom, k = lam, lam, 0
            for k in range(1, refine_steps + 1):
                Rm = residual(mom)
                norms = torch.linalg.vector_norm(Rm, dim=0)
                if float(norms.max()) <= beta:
                    lam = mom
                    break
                excess = torch.clamp(norms - beta, min=0.0) / torch.clamp(norms, min=1e-300)
                grad = -Sgn * (Xa @ (Rm * excess))
                lam = torch.clamp(mom - self._step * grad, min=0.0)
                mom = lam + (k - 1) / (k + 2) * (lam - prev)
                prev = lam
            R = residual(lam)
            refine_steps = k
        largest = float(torch.linalg.vector_norm(R, dim=0).max())
        if beta == 0:
            ratio, t_max = np.inf, (1.0 if largest == 0 else 0.0)
        else:
            ratio = largest / beta
            t_max = min(1.0, 1.0 / ratio) if ratio > 0 else 1.0
        t = _best_scale(self.loss, theta, y, t_max)
        value = 0.0 - conjugate_loss_sum(self.loss, t * theta, y)  # 0.0 - 0.0 is +0, not -0
        return DualBound(value=value, scale=t, max_block_ratio=ratio, refine_steps=refine_steps)


Objective = Callable[[np.ndarray, bool], tuple[float, np.ndarray | None, np.ndarray | None]]
StepLimit = Callable[[np.ndarray, np.ndarray], float]


def _reduced_conjugate_sum(
    loss: str, theta: torch.Tensor, y: torch.Tensor, B: torch.Tensor
) -> tuple[Objective, StepLimit | None]:
    """``(x, derivatives) -> (f, grad, Hessian)`` (the last two None unless ``derivatives``)
    of ``f(x) = sum_k l^*(theta_k + (B x[:m])_k)`` (``m`` the
    columns of ``B``; the last entry of ``x``, the multipliers' scale, does not enter), ``inf``
    outside the conjugate's domain: the squared loss's quadratic and the logistic loss's
    entropy ``s log s + (1 - s) log(1 - s)``, ``s = -y theta``; and for the latter the step
    limit ``(x, dx) -> a``: 0.99 x the largest step keeping ``s`` inside ``(0, 1)``."""
    m = B.shape[1]
    Bn, th, yn = B.cpu().numpy(), theta.cpu().numpy(), y.cpu().numpy()
    gram = Bn.T @ Bn
    base = Bn.T @ (th + yn)

    def squared(x: np.ndarray, derivatives: bool) -> tuple[float, Any, Any]:
        c = x[:m]
        value = float(base @ c + 0.5 * c @ gram @ c)
        if not derivatives:
            return value, None, None
        grad, hess = np.zeros_like(x), np.zeros((m + 1, m + 1))
        grad[:m] = base + gram @ c
        hess[:m, :m] = gram
        return value, grad, hess

    def logistic(x: np.ndarray, derivatives: bool) -> tuple[float, Any, Any]:
        s = -yn * (th + Bn @ x[:m])
        if not (s.min() > 0 and s.max() < 1):
            return math.inf, None, None
        value = float(np.sum(s * np.log(s) + (1 - s) * np.log1p(-s)))
        if not derivatives:
            return value, None, None
        grad, hess = np.zeros_like(x), np.zeros((m + 1, m + 1))
        grad[:m] = Bn.T @ (-yn * (np.log(s) - np.log1p(-s)))
        hess[:m, :m] = (Bn.T / (s * (1 - s))) @ Bn
        return value, grad, hess

    def logistic_limit(x: np.ndarray, dx: np.ndarray) -> float:
        s = -yn * (th + Bn @ x[:m])
        ds = -yn * (Bn @ dx[:m])
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(ds > 0, (1 - s) / ds, np.where(ds < 0, -s / ds, np.inf))
        return 0.99 * float(room.min())

    return (squared, None) if loss == "squared" else (logistic, logistic_limit)


def _barrier_qcqp(
    objective: Objective,
    step_limit: StepLimit | None,
    K: np.ndarray,
    h: np.ndarray,
    rho: np.ndarray,
    x: np.ndarray,
    *,
    outer: int = 5,
    newton: int = 12,
) -> np.ndarray | None:
    """Approximately ``argmin f(x)`` (``objective``: a smooth convex ``f`` with its gradient and
    Hessian, ``inf`` outside its domain) s.t. ``x^T K_j x + 2 h_j^T x + rho_j < 0`` for every
    ``j`` and ``x[-1] > -1``, by a log-barrier Newton method (barrier weight divided by 10 per
    outer round) from a strictly feasible ``x``; None if ``x`` is not strictly feasible. Every
    iterate stays strictly feasible (the line search rejects steps that leave the set, and
    starts from ``step_limit(x, dx)`` when given)."""

    J, k = h.shape
    K_rows, K_flat = K.reshape(J * k, k), K.reshape(J, k * k)

    def half_gradients(x: np.ndarray) -> np.ndarray:
        return (K_rows @ x).reshape(J, k) + h

    def slack(x: np.ndarray) -> np.ndarray:
        return -(((K_rows @ x).reshape(J, k) @ x) + 2.0 * h @ x + rho)

    def merit(value: float, x: np.ndarray, sl: np.ndarray, tau: float) -> float:
        return value - tau * float(np.log(sl).sum() + np.log1p(x[-1]))

    sl = slack(x)
    value, grad, hess = objective(x, True)
    if not (sl.min() > 0 and x[-1] > -1 and math.isfinite(value)):
        return None
    tau = 1e-3 * (abs(value) + 1.0) / len(rho)
    for _ in range(outer):
        for _ in range(newton):
            Kx = half_gradients(x)
            g = grad + tau * (2.0 * (Kx / sl[:, None]).sum(axis=0))
            H = hess + tau * ((2.0 / sl) @ K_flat).reshape(k, k) + tau * ((4.0 / sl**2) * Kx.T) @ Kx
            g[-1] -= tau / (1.0 + x[-1])
            H[-1, -1] += tau / (1.0 + x[-1]) ** 2
            try:
                dx = -np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                return x
            decrement = float(-g @ dx)
            if not decrement > 1e-12 * (1.0 + abs(value)):
                break
            phi = merit(value, x, sl, tau)
            step = 1.0 if step_limit is None else min(1.0, step_limit(x, dx))
            while step > 1e-12:
                xn = x + step * dx
                sn = slack(xn)
                if sn.min() > 0 and xn[-1] > -1:
                    vn = objective(xn, False)[0]
                    if merit(vn, xn, sn, tau) <= phi - 0.25 * step * decrement:
                        x, sl = xn, sn
                        value, grad, hess = objective(x, True)
                        break
                step *= 0.5
            else:
                break
        tau *= 0.1
    return x


def lower_bound(
    problem: ConvexReLUProblem,
    theta: Any,
    multipliers: Any = None,
    *,
    refine_steps: int = 50,
) -> DualBound:
    """A certified lower bound on the optimum of a nominal ``problem`` from a dual candidate.

    Args:
        problem: a nominal program (``robust_eps == 0``).
        theta: ``(n,)`` loss-dual candidate, e.g. ``loss_gradient(loss, yhat, y)`` at the
            predictions of an approximate solution (numpy or torch; a tensor's device is used).
        multipliers: ``(n, 2P)`` candidates for the sign-constraint multipliers of the blocks
            ``(v_1..v_P, w_1..w_P)`` (e.g. ``-rho * nu`` of an ADMM run); None: zeros.
        refine_steps: accelerated projected-gradient steps on the multipliers (each costs two
            ``n x d x 2P`` products); 0 uses the candidate as given.

    Returns:
        a :class:`DualBound`; ``value <= optimum`` for every input (weak duality).
    """
    device = theta.device if isinstance(theta, torch.Tensor) else None
    dual = LagrangeDual(problem, device)
    return dual.lower_bound(theta, multipliers, refine_steps=refine_steps)
