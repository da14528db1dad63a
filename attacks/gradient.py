"""Gradient attacks: FGSM and PGD (L-infinity and L2), with restarts and best-iterate tracking.

Both minimize the **margin** (binary: ``y * f(x)``; multi-class: ``z_y - max_{k!=y} z_k``) or
maximize the cross-entropy (multi-class default). Gradients are taken with respect to the input
only (``torch.autograd.grad``); nothing is accumulated into the model's ``.grad`` fields.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from attacks.base import (
    Attack,
    BoundsLike,
    Norm,
    _Prepared,
    check_eps,
    check_positive_int,
    logits_2d,
    margins,
    project,
)

__all__ = ["FGSM", "PGD", "LossName"]

LossName = Literal["auto", "margin", "ce"]


def _check_loss(loss: str) -> str:
    if loss not in ("auto", "margin", "ce"):
        raise ValueError(f'loss must be "auto", "margin" or "ce", got {loss!r}')
    return loss


def _objective(
    logits: torch.Tensor, y: torch.Tensor, loss: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-example margins, scalar objective to *minimize*)."""
    m = margins(logits, y)
    binary = logits.shape[1] == 1
    use_ce = loss == "ce" or (loss == "auto" and not binary)
    if not use_ce:
        return m, m.sum()
    if (
        binary
    ):  # logistic loss softplus(-m): same descent direction as the margin, kept for symmetry
        return m, -F.softplus(-m).sum()
    return m, -F.cross_entropy(logits, y, reduction="sum")


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str):
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = logits_2d(model(x), x.shape[0])
        m, obj = _objective(logits, y, loss)
        if obj.requires_grad:
            (g,) = torch.autograd.grad(obj, x, allow_unused=True)
        else:  # the model cuts the graph (e.g. detach, argmax): no gradient information
            g = None
    if g is None:
        g = torch.zeros_like(x)
    return m.detach(), g.detach()


def _descent_direction(g: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-descent unit direction of the given norm (sign for Linf, normalized for L2);
    zero where the gradient is zero."""
    if norm == "inf":
        return -g.sign()
    flat = g.reshape(g.shape[0], -1)
    nrm = flat.norm(dim=1, keepdim=True)
    unit = torch.where(nrm > 0, flat / nrm.clamp_min(torch.finfo(g.dtype).tiny), 0.0)
    return -unit.reshape(g.shape)


class FGSM(Attack):
    """Fast gradient (sign) method: one step of length ``eps`` along the steepest-descent
    direction of the margin (``norm="inf"``: sign of the gradient; ``norm="2"``: normalized
    gradient), then projection onto the bounds.

    Args:
        eps: attack radius (``>= 0``) in input units.
        norm: "inf" or "2".
        lower, upper: per-feature input bounds (scalars or arrays; None = unbounded).
        loss: "auto" (margin for one-logit models, cross-entropy for multi-class), "margin", "ce".
    """

    def __init__(
        self,
        eps: float,
        norm: Norm = "inf",
        lower: BoundsLike = None,
        upper: BoundsLike = None,
        *,
        loss: LossName = "auto",
    ) -> None:
        super().__init__(eps, norm=norm, lower=lower, upper=upper)
        self.loss = _check_loss(loss)

    def _run(self, model: nn.Module, p: _Prepared) -> torch.Tensor:
        _, g = _input_grad(model, p.x, p.y, self.loss)
        return p.x + self.eps * _descent_direction(g, self.norm)


class PGD(Attack):
    """Projected gradient descent on the margin, with random restarts and best-iterate tracking.

    Each restart runs ``steps`` steps of length ``step_size`` (sign steps for Linf, normalized
    gradient steps for L2) from a random start in the ball (uniform in the Linf box, or uniform
    in the L2 ball), projecting onto the ball and the bounds after every step. Per example the
    attack returns the iterate with the **lowest margin** seen over all steps and restarts (the
    clean point if nothing beats it); restarts after the first only re-attack the examples not
    yet broken (margin ``> 0``), so a success is kept as soon as it is found.

    Args:
        eps: attack radius (``>= 0``) in input units.
        steps: gradient steps per restart.
        step_size: step length; default ``2.5 * eps / steps``.
        restarts: number of runs (``1`` = a single run).
        norm: "inf" or "2".
        random_start: start each run at a uniform random point of the ball (else at ``x``).
        lower, upper: per-feature input bounds (scalars or arrays; None = unbounded).
        seed: seed of the random starts (a ``torch.Generator``; runs are reproducible).
        loss: "auto" (margin for one-logit models, cross-entropy for multi-class), "margin"
            (Carlini-Wagner style margin), or "ce". Whatever the loss, the best iterate is chosen
            by margin.
    """

    def __init__(
        self,
        eps: float,
        steps: int = 50,
        step_size: float | None = None,
        restarts: int = 1,
        norm: Norm = "inf",
        random_start: bool = True,
        lower: BoundsLike = None,
        upper: BoundsLike = None,
        seed: int = 0,
        *,
        loss: LossName = "auto",
    ) -> None:
        super().__init__(eps, norm=norm, lower=lower, upper=upper)
        self.steps = check_positive_int("steps", steps)
        self.restarts = check_positive_int("restarts", restarts)
        if step_size is None:
            self.step_size = 2.5 * self.eps / self.steps
        else:
            self.step_size = check_eps(step_size)
        if not isinstance(random_start, bool):
            raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
        self.random_start = random_start
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.seed = seed
        self.loss = _check_loss(loss)

    def _random_start(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        shape = x.shape
        if self.norm == "inf":
            u = torch.rand(shape, generator=gen, dtype=x.dtype)
            delta = (2 * u - 1) * self.eps
        else:
            n, dim = shape[0], math.prod(shape[1:])
            g = torch.randn((n, dim), generator=gen, dtype=x.dtype)
            g = g / g.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
            r = torch.rand((n, 1), generator=gen, dtype=x.dtype) ** (1.0 / dim)
            delta = (g * r * self.eps).reshape(shape)
        return x + delta.to(x.device)

    def _run(self, model: nn.Module, p: _Prepared) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed)
        best_x = p.x.clone()
        best_m = p.clean_margin.clone()
        for restart in range(self.restarts):
            idx = torch.arange(p.x.shape[0], device=p.x.device)
            if restart > 0:
                idx = idx[best_m > 0]
                if idx.numel() == 0:
                    break
            x0, y = p.x[idx], p.y[idx]
            xa = self._random_start(x0, gen) if self.random_start else x0.clone()
            xa = project(xa, x0, self.eps, self.norm, p.lo, p.hi)
            for t in range(self.steps + 1):
                if t < self.steps:
                    m, g = _input_grad(model, xa, y, self.loss)
                else:
                    with torch.no_grad():
                        m = margins(logits_2d(model(xa), xa.shape[0]), y)
                better = m < best_m[idx]
                if bool(better.any()):
                    sel = idx[better]
                    best_m[sel] = m[better]
                    best_x[sel] = xa[better]
                if t < self.steps:
                    xa = xa + self.step_size * _descent_direction(g, self.norm)
                    xa = project(xa, x0, self.eps, self.norm, p.lo, p.hi)
        return best_x
