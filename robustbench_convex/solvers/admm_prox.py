"""Proximal operators and projections used by ``solve_admm`` (vectorized torch, any device).

Every operator here is exact up to a scalar root found by bisection (60 halvings of a bracket,
i.e. to machine precision), so the ADMM that uses them is *exact* ADMM: no inner solver and no
inexactness to control.

Loss prox (per sample ``k``, penalty ``t > 0``)::

    (e_k, z_k) = argmin  l_k(e, ||z||_1) + t/2 (e - a_k)^2 + t/2 ||z - b_k||^2

with ``l_k`` the (robust) loss of sample ``k`` (``losses.robust_loss_value``; ``z`` is the
perturbable part of the effective weight ``z_k`` and is absent for nominal problems):

- margin losses ``l = phi(y e - eps ||z||_1)`` (hinge, logistic): with ``s = -phi'(m) >= 0`` the
  minimizer is ``e = a + y s / t``, ``z = soft(b, eps s / t)``, and ``s`` is the unique root of a
  monotone scalar equation (``s = 1[m(s) < 1]`` in the subgradient sense for hinge,
  ``s = sigmoid(-m(s))`` for logistic, ``m(s) = y a + s/t - eps ||soft(b, eps s/t)||_1``
  increasing in ``s``);
- squared ``l = (|y e - 1| + eps ||z||_1)^2 / 2`` (note ``|e - y| = |y e - 1|``): with ``r`` the
  value inside the square, ``y e - 1 = soft(y a - 1, r/t)``, ``z = soft(b, eps r / t)`` and ``r`` is
  the root of ``r = |soft(y a - 1, r/t)| + eps ||soft(b, eps r/t)||_1``.

Cone projection (certified and class-aware stability constraints, one block at a time)::

    proj onto {(s, a) in R^n x R^d' : s_k >= eps ||a||_1 for every constrained k}

KKT: ``s_k = max(s0_k, theta)``, ``a = soft(a0, mu)``, ``theta = eps ||soft(a0, mu)||_1`` and
``mu = eps * sum_k (theta - s0_k)_+`` (a monotone scalar equation in ``mu``). Rows that the program
does not constrain keep ``s_k = s0_k``. Soft stability caps each row's lift (see
``cone_projection``).
"""

from __future__ import annotations

import math

import torch

__all__ = ["cone_projection", "group_soft_threshold", "loss_prox", "soft"]

_MAX_STEPS = 80


def soft(x: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """Elementwise soft threshold ``sign(x) * max(|x| - tau, 0)`` (``tau`` broadcasts)."""
    return torch.sign(x) * torch.clamp(x.abs() - tau, min=0.0)


def group_soft_threshold(x: torch.Tensor, tau: float) -> torch.Tensor:
    """Column-wise group soft threshold: ``x_j * max(0, 1 - tau / ||x_j||)`` for ``x`` (d, m)."""
    norms = torch.linalg.vector_norm(x, dim=0)
    scale = torch.clamp(1.0 - tau / torch.clamp(norms, min=torch.finfo(x.dtype).tiny), min=0.0)
    return x * scale


def _l1_soft(b: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(||soft(b_k, tau_k)||_1, #{j : |b_kj| > tau_k})`` per row of ``b`` (n, d')."""
    excess = b.abs() - tau[:, None]
    return torch.clamp(excess, min=0.0).sum(dim=1), (excess > 0).sum(dim=1).to(b.dtype)


def _root(
    fn, lo: torch.Tensor, hi: torch.Tensor, start: torch.Tensor | None = None
) -> torch.Tensor:
    """Root of an increasing function in ``[lo, hi]`` (vectorized), ``fn(x) -> (f, f')``:
    Newton steps from ``start`` (clamped into the bracket; default ``lo``, where ``f <= 0``; a
    close start, such as the previous ADMM iteration's root, saves most of the steps),
    safeguarded by bisection of the bracket: an
    entry bisects when its Newton step leaves the bracket or is not at most half the previous
    one (steep, nearly step-like functions such as the logistic prox at a small penalty
    make plain Newton cycle inside the bracket). Piecewise-linear functions are solved exactly
    after a few pieces; smooth ones converge quadratically once Newton takes over. The loop
    stops when every step or bracket is at rounding level (at most ``_MAX_STEPS``)."""
    x = lo.clone() if start is None else torch.minimum(torch.maximum(start, lo), hi)
    at_hi = fn(hi)[0] <= 0  # no root inside: the caller's answer is hi (clamped)
    x = torch.where(at_hi, hi, x)
    # step tolerance: the sums in fn carry rounding of about 1e-14 relative, so asking for
    # more than 1e-12 only makes Newton chase rounding noise
    tiny = max(1e-12, 64 * torch.finfo(x.dtype).eps)
    last_step = torch.full_like(x, math.inf)
    for _ in range(_MAX_STEPS):
        f, fp = fn(x)
        positive = f > 0
        hi = torch.where(positive, x, hi)
        lo = torch.where(positive, lo, x)
        step = f / fp
        new = x - step
        slow = step.abs() > 0.5 * last_step
        last_step = step.abs()
        bisect = slow | ~((new > lo) & (new < hi))
        new = torch.where(bisect, 0.5 * (lo + hi), new)
        scale = 1.0 + x.abs()
        done = (step.abs() <= tiny * scale) | (hi - lo <= tiny * scale) | (f == 0) | at_hi
        x = torch.where(done, x, new)  # converged entries stay (bisection would move them)
        if bool(done.all()):
            break
    return x


def loss_prox(
    loss: str,
    a: torch.Tensor,
    b: torch.Tensor | None,
    y: torch.Tensor,
    eps: float,
    t: float,
    start: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The loss prox of the module docstring.

    Args:
        loss: ``"squared"``, ``"hinge"`` or ``"logistic"``.
        a: ``(n,)`` point for the predictions.
        b: ``(n, d')`` point for the perturbable effective weights (None for nominal problems).
        y: ``(n,)`` labels in {-1, +1}.
        eps: adversary radius (0 for nominal problems).
        t: penalty (``rho * c`` in ADMM).
        start: ``(n,)`` a guess of the nominal logistic prox's root ``s = y (e - a) t`` in
            ``[0, 1]`` (e.g. the previous iteration's); the answer does not depend on it.

    Returns:
        ``(e, z)`` with ``e`` ``(n,)`` and ``z`` ``(n, d')`` (None when ``b`` is None).
    """
    robust = b is not None and eps > 0
    ones = torch.ones_like(a)
    if loss == "squared":
        ya1 = y * a - 1.0
        if not robust:
            e = (t * a + y) / (1.0 + t)
            return e, (None if b is None else b.clone())

        # h(r) = r - |soft(ya1, r/t)| - eps ||soft(b, eps r / t)||_1: increasing, h(0) <= 0
        def h(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            l1, count = _l1_soft(b, eps * r / t)
            outside = ya1.abs() > r / t
            value = r - soft(ya1, r / t).abs() - eps * l1
            return value, 1.0 + outside.to(a.dtype) / t + (eps * eps / t) * count

        hi = ya1.abs() + eps * b.abs().sum(dim=1)
        r = _root(h, torch.zeros_like(hi), hi)
        e = y * (1.0 + soft(ya1, r / t))
        return e, soft(b, (eps * r / t)[:, None])

    ya = y * a
    if not robust:
        if loss == "hinge":
            s = torch.clamp(t * (1.0 - ya), min=0.0, max=1.0)
        else:
            # s = sigmoid(-(ya + s/t)): g(s) = s - sigmoid(-ya - s/t), increasing on [0, 1]
            def g(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                sig = torch.sigmoid(-ya - s / t)
                return s - sig, 1.0 + sig * (1.0 - sig) / t

            s = _root(g, torch.zeros_like(ya), ones, start)
        e = a + y * s / t
        return e, (None if b is None else b.clone())

    def margin(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        l1, count = _l1_soft(b, eps * s / t)
        return ya + s / t - eps * l1, 1.0 / t + (eps * eps / t) * count

    if loss == "hinge":
        # s in [0, 1]: s = 0 if m(0) >= 1, s = 1 if m(1) <= 1, else the root of m(s) = 1
        def g(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            m, mp = margin(s)
            return m - 1.0, mp

        s = _root(g, torch.zeros_like(ya), ones)
        s = torch.where(margin(torch.zeros_like(ya))[0] >= 1.0, torch.zeros_like(ya), s)
        s = torch.where(margin(ones)[0] <= 1.0, ones, s)
    else:

        def g(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            m, mp = margin(s)
            sig = torch.sigmoid(-m)
            return s - sig, 1.0 + sig * (1.0 - sig) * mp

        s = _root(g, torch.zeros_like(ya), ones)
    e = a + y * s / t
    return e, soft(b, (eps * s / t)[:, None])


def cone_projection(
    s0: torch.Tensor,
    a0: torch.Tensor,
    eps: float,
    rows: torch.Tensor | None = None,
    cap: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project every block ``i`` (column) of ``(s0, a0)`` onto
    ``{(s, a): s_k >= eps ||a||_1 for constrained rows k}``; with ``cap`` the prox of the soft
    version instead.

    Soft stability (``cap = lam / t`` for the penalty ``lam * sum_k (eps ||a||_1 - s_k)_+`` under
    the prox weight ``t``): the same KKT system with each row's multiplier capped,
    ``s_k = s0_k + min((theta - s0_k)_+, cap)`` and ``mu = eps * sum_k min((theta - s0_k)_+, cap)``
    (still increasing in ``mu``): a row that would need more than ``cap`` is lifted by ``cap``
    only and keeps a violation, which the penalty prices at ``lam`` per unit.

    Args:
        s0: ``(n, m)`` slack points (one column per block).
        a0: ``(d', m)`` perturbable weight points.
        eps: radius > 0.
        rows: optional ``(n, m)`` 0/1 mask of constrained rows (None: all rows).
        cap: None for the hard constraints (the projection), else the soft-stability cap > 0.

    Returns:
        ``(s, a)`` of the same shapes.
    """
    absa = a0.abs()

    def f(mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        excess = absa - mu[None, :]
        theta = eps * torch.clamp(excess, min=0.0).sum(dim=0)
        dtheta = eps * (excess > 0).sum(dim=0).to(mu.dtype)
        gap = theta[None, :] - s0
        if rows is not None:
            gap = gap * rows - (1.0 - rows)  # unconstrained rows never count
        lift = torch.clamp(gap, min=0.0, max=cap)
        moving = (gap > 0) if cap is None else (gap > 0) & (gap < cap)
        value = mu - eps * lift.sum(dim=0)
        return value, 1.0 + eps * moving.sum(dim=0).to(mu.dtype) * dtheta

    # f(mu) = mu - eps * sum_k lift_k(theta(mu)) is increasing; f(0) <= 0, and beyond
    # max|a0| (if f is still <= 0 there) a = 0 whatever mu is, so clamping to it is exact
    mu = _root(f, torch.zeros(a0.shape[1], dtype=a0.dtype, device=a0.device), absa.amax(dim=0))
    theta = eps * torch.clamp(absa - mu[None, :], min=0.0).sum(dim=0)
    lifted = s0 + torch.clamp(theta[None, :] - s0, min=0.0, max=cap)
    s = lifted if rows is None else torch.where(rows > 0, lifted, s0)
    return s, soft(a0, mu[None, :])
