"""The attack base class and the helpers every attack shares.

Conventions (the whole module):

* ``model(x)`` takes a batch ``x`` of shape ``(N, ...)`` and returns either one logit per row,
  shape ``(N,)`` or ``(N, 1)`` (a **binary** model, labels ``y`` in {-1, +1}), or a logits matrix
  ``(N, K)`` with ``K >= 2`` (a **multi-class** model, labels ``y`` integer class indices
  ``0..K-1``). Binary labels in {0, 1} are rejected, never silently mapped.
* The **margin** of an example is ``y * f(x)`` (binary) or ``z_y - max_{k != y} z_k``
  (multi-class). An example is correct iff its margin is strictly positive (a zero logit is an
  error), and an attack succeeds on it iff the margin at ``x_adv`` is ``<= 0``.
* The threat model is the ``eps``-ball of the ``norm`` ("inf" or "2") around ``x``, intersected
  with the per-feature input bounds ``[lower, upper]`` (scalars or arrays broadcastable to one
  example's shape; ``None`` means unbounded). ``eps`` is in the units of the model's input space.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

__all__ = [
    "Attack",
    "BoundsLike",
    "Norm",
    "SoundnessWarning",
    "margins",
    "model_margins",
]

Norm = Literal["inf", "2"]
BoundsLike = float | np.ndarray | torch.Tensor | None

#: absolute tolerance (scaled by ``max(1, |bound|)``) within which a clean input may lie outside
#: ``[lower, upper]`` before the attack refuses it (data saved as float32, rounding, ...).
BOUNDS_TOL = 1e-6


class SoundnessWarning(UserWarning):
    """A guarantee that must hold by construction was violated (e.g. ``certified <= exact <=
    attacked``, or a perturbation outside the threat model). This is a bug: please report it."""


# ---------------------------------------------------------------------------------- validation
def check_norm(norm: Any) -> str:
    """Return the canonical norm name ("inf" or "2"); accepts ``float("inf")``, ``np.inf``, 2."""
    if isinstance(norm, str):
        key = norm.strip().lower()
        if key in ("inf", "linf", "l_inf", "infinity"):
            return "inf"
        if key in ("2", "l2", "l_2"):
            return "2"
    elif isinstance(norm, numbers.Real) and not isinstance(norm, bool):
        if math.isinf(norm) and norm > 0:
            return "inf"
        if norm == 2:
            return "2"
    raise ValueError(f'norm must be "inf" or "2", got {norm!r}')


def check_eps(eps: Any, *, allow_inf: bool = False) -> float:
    """Validate an attack radius: a real number ``>= 0`` (finite unless ``allow_inf``)."""
    if isinstance(eps, bool) or not isinstance(eps, (numbers.Real, np.ndarray, torch.Tensor)):
        raise TypeError(f"eps must be a real number, got {type(eps).__name__}")
    try:
        value = float(eps)
    except (TypeError, ValueError) as err:
        raise TypeError(f"eps must be a scalar, got an array of shape {np.shape(eps)}") from err
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"eps must be finite, got {value}")
    if value < 0:
        raise ValueError(f"eps must be >= 0, got {value}")
    return value


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral,)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_bound(name: str, value: BoundsLike) -> np.ndarray | float | None:
    """Validate one input bound: ``None``, a real scalar, or an array (NaN is rejected)."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or an array, got a bool")
    arr = np.asarray(value, dtype=np.float64)
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} contains NaN; use -inf/+inf (or None) for an unbounded feature")
    if arr.ndim == 0:
        return float(arr)
    return arr.copy()


def check_bound_order(lower: Any, upper: Any) -> None:
    if lower is None or upper is None:
        return
    lo, hi = np.asarray(lower), np.asarray(upper)
    try:
        bad = np.asarray(lo > hi)
    except ValueError as err:
        raise ValueError(
            f"lower (shape {lo.shape}) and upper (shape {hi.shape}) do not broadcast together"
        ) from err
    if np.any(bad):
        raise ValueError(
            f"lower must be <= upper in every feature; violated in {int(bad.sum())} feature(s)"
        )


def bounds_as_tensors(
    lower: Any, upper: Any, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds as tensors of one example's shape ``like.shape[1:]`` (dtype/device of ``like``)."""
    shape = tuple(like.shape[1:])
    out = []
    for name, value, default in (("lower", lower, -math.inf), ("upper", upper, math.inf)):
        v = default if value is None else value
        arr = np.asarray(v, dtype=np.float64)
        try:
            arr = np.broadcast_to(arr, shape)
        except ValueError as err:
            raise ValueError(
                f"{name} has shape {arr.shape}, which does not broadcast to one example's shape "
                f"{shape}; give a scalar or an array of shape {shape}"
            ) from err
        out.append(torch.as_tensor(np.array(arr), dtype=like.dtype, device=like.device))
    lo, hi = out
    if bool((lo > hi).any()):
        raise ValueError("lower must be <= upper in every feature")
    return lo, hi


def _model_param(model: nn.Module) -> torch.Tensor | None:
    for p in model.parameters():
        if p.is_floating_point():
            return p
    return None


def as_tensor_input(model: nn.Module, x: Any) -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    """Convert ``x`` to a tensor (a fresh copy) and return a function mapping results back to
    the caller's type: numpy in -> numpy (same dtype) out; tensor in -> tensor (same dtype and
    device) out."""
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
        dtype, device = x.dtype, x.device
        return x.detach().clone(), lambda t: t.detach().to(dtype=dtype, device=device)
    if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
        arr = np.asarray(x)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
        ):
            raise TypeError(f"x must be a real numeric array, got dtype {arr.dtype}")
        out_dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
        p = _model_param(model)
        dtype = p.dtype if p is not None else torch.float64
        device = p.device if p is not None else torch.device("cpu")
        t = torch.as_tensor(np.array(arr, dtype=np.float64), dtype=dtype, device=device)
        return t, lambda r: r.detach().cpu().numpy().astype(out_dtype)
    raise TypeError(f"x must be a torch.Tensor or a numpy array, got {type(x).__name__}")


def as_label_tensor(y: Any, n: int, device: torch.device) -> torch.Tensor:
    """Labels as a 1-D int64 tensor of length ``n`` (values checked later against the model)."""
    if isinstance(y, torch.Tensor):
        arr = y.detach().cpu().numpy()
    else:
        arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) to match x, got {arr.shape}")
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"y must hold integer labels, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError("y must hold integer labels (-1/+1 or class indices), got fractions")
    return torch.as_tensor(arr.astype(np.int64), device=device)


def logits_2d(out: Any, n: int) -> torch.Tensor:
    """Normalize a model output to ``(N, 1)`` (binary) or ``(N, K)`` (multi-class)."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model must return a torch.Tensor, got {type(out).__name__}")
    if out.ndim == 1 and out.shape[0] == n:
        return out.unsqueeze(1)
    if out.ndim == 2 and out.shape[0] == n:
        return out
    raise ValueError(
        f"the model must return one logit per row, shape ({n},) or ({n}, 1), or a logits matrix "
        f"({n}, K); got shape {tuple(out.shape)}"
    )


def check_labels(y: torch.Tensor, n_outputs: int) -> None:
    if n_outputs == 1:
        bad = ~((y == 1) | (y == -1))
        if bool(bad.any()):
            vals = sorted({int(v) for v in y[bad].unique().tolist()})[:5]
            raise ValueError(
                "y must be in {-1, +1} for a model with one logit per row (binary); found "
                f"{vals}. Map {{0, 1}} labels with y = 2 * y - 1."
            )
    else:
        bad = (y < 0) | (y >= n_outputs)
        if bool(bad.any()):
            vals = sorted({int(v) for v in y[bad].unique().tolist()})[:5]
            raise ValueError(
                f"y must hold class indices in 0..{n_outputs - 1} for a model with {n_outputs} "
                f"logits; found {vals}"
            )


def margins(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example margins from ``(N, 1)``/``(N,)`` (binary) or ``(N, K)`` logits; shape ``(N,)``.

    Binary: ``y * f``. Multi-class: ``z_y - max_{k != y} z_k``. Differentiable.
    """
    if logits.ndim == 1:
        logits = logits.unsqueeze(1)
    if logits.shape[1] == 1:
        return y.to(logits.dtype) * logits[:, 0]
    true = logits.gather(1, y.view(-1, 1)).squeeze(1)
    other = logits.clone()
    other.scatter_(1, y.view(-1, 1), -math.inf)
    return true - other.max(dim=1).values


def model_margins(model: nn.Module, x: Any, y: Any) -> np.ndarray:
    """Margins ``y * f(x)`` (binary) or ``z_y - max_{k!=y} z_k`` of ``model`` at ``x``, as numpy
    ``(N,)``. Evaluated in eval mode (the model's modes are restored)."""
    xt, _ = as_tensor_input(model, x)
    yt = as_label_tensor(y, xt.shape[0], xt.device)
    with _eval_no_param_grad(model), torch.no_grad():
        logits = logits_2d(model(xt), xt.shape[0])
    check_labels(yt, logits.shape[1])
    return margins(logits, yt).detach().cpu().numpy().astype(np.float64)


@contextmanager
def _eval_no_param_grad(model: nn.Module) -> Iterator[None]:
    """Eval mode and ``requires_grad=False`` on every parameter; both restored exactly (per
    submodule / per parameter) on exit, also on error."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in grads:
            p.requires_grad_(False)
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)


# ---------------------------------------------------------------------------------- projection
def project(
    x_adv: torch.Tensor,
    x: torch.Tensor,
    eps: float,
    norm: str,
    lo: torch.Tensor,
    hi: torch.Tensor,
) -> torch.Tensor:
    """Project onto the ``eps``-ball around ``x`` and then onto ``[lo, hi]``.

    Linf: the intersection is a box, so the two clamps are the exact Euclidean projection.
    L2: radial rescaling onto the ball, then a clamp to the bounds. When ``x`` lies in the bounds
    the clamp only moves coordinates towards ``x``, so the result stays in the ball (it is a
    feasible point, not necessarily the Euclidean projection onto the intersection).
    """
    delta = x_adv - x
    if norm == "inf":
        delta = delta.clamp(-eps, eps)
    else:
        flat = delta.reshape(delta.shape[0], -1)
        nrm = flat.norm(dim=1)
        # shrink by a few ulps more than eps / nrm so that rounding never leaves the ball
        shrink = 1 - 4 * torch.finfo(nrm.dtype).eps
        scale = torch.where(
            nrm > eps, eps / nrm.clamp_min(torch.finfo(nrm.dtype).tiny) * shrink, 1.0
        )
        delta = (flat * scale.unsqueeze(1)).reshape(delta.shape)
    out = x + delta
    return torch.maximum(torch.minimum(out, hi), lo)


# ---------------------------------------------------------------------------------- base class
@dataclass(frozen=True)
class _Prepared:
    """What ``Attack.__call__`` hands to ``_run``: validated tensors and facts."""

    x: torch.Tensor  # (N, ...) the clean inputs (a private copy)
    y: torch.Tensor  # (N,) int64 labels
    lo: torch.Tensor  # one example's shape
    hi: torch.Tensor
    n_outputs: int  # 1 for binary models, K for multi-class
    clean_margin: torch.Tensor  # (N,)


class Attack(ABC):
    """Base class of all attacks: ``attack(model, x, y) -> x_adv``.

    The base class owns everything that must hold for every attack, so subclasses only implement
    ``_run``: argument validation with precise errors, private copies of the inputs (never
    mutated), eval mode during the attack with the model's modes and ``requires_grad`` flags
    restored afterwards, and the final projection onto the ``eps``-ball and the input bounds.

    Args:
        eps: radius of the threat model (``>= 0``, finite), in input units.
        norm: "inf" (L-infinity) or "2" (Euclidean).
        lower, upper: per-feature input bounds: a scalar, an array broadcastable to one example's
            shape, or None (unbounded). Clean inputs must lie inside them (within ``BOUNDS_TOL``).
    """

    def __init__(
        self,
        eps: float,
        *,
        norm: Norm = "inf",
        lower: BoundsLike = None,
        upper: BoundsLike = None,
    ) -> None:
        self.eps = check_eps(eps)
        self.norm = check_norm(norm)
        self.lower = check_bound("lower", lower)
        self.upper = check_bound("upper", upper)
        check_bound_order(self.lower, self.upper)

    # subclasses implement this; x_adv need not be projected (the base class does it)
    @abstractmethod
    def _run(self, model: nn.Module, p: _Prepared) -> torch.Tensor: ...

    def __repr__(self) -> str:
        keys = [k for k in vars(self) if not k.startswith("_") and k not in ("lower", "upper")]
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in keys)
        bounded = self.lower is not None or self.upper is not None
        return f"{type(self).__name__}({args}{', bounded' if bounded else ''})"

    def __call__(self, model: nn.Module, x: Any, y: Any) -> Any:
        """Attack ``model`` at ``x`` (``(N, ...)``, tensor or numpy) with labels ``y`` (``(N,)``).

        Returns ``x_adv`` of the same shape and type as ``x`` (numpy in -> numpy out), inside the
        ``eps``-ball around ``x`` and inside ``[lower, upper]``. ``eps = 0`` returns a copy of
        ``x``.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        xt, back = as_tensor_input(model, x)
        if xt.ndim < 2:
            raise ValueError(
                f"x must be a batch of shape (N, ...), got shape {tuple(xt.shape)}; "
                "use x.reshape(1, -1) for a single example"
            )
        if not bool(torch.isfinite(xt).all()):
            raise ValueError("x contains NaN or infinite values")
        n = xt.shape[0]
        yt = as_label_tensor(y, n, xt.device)
        lo, hi = bounds_as_tensors(self.lower, self.upper, xt)
        tol = BOUNDS_TOL * torch.clamp(torch.maximum(lo.abs(), hi.abs()), min=1.0)
        tol = torch.where(torch.isfinite(tol), tol, torch.full_like(tol, BOUNDS_TOL))
        outside = (xt < lo - tol) | (xt > hi + tol)
        if bool(outside.any()):
            worst = float(torch.maximum(lo - xt, xt - hi).max())
            raise ValueError(
                f"x lies outside [lower, upper] in {int(outside.sum())} entries (worst by "
                f"{worst:.3g}); clean inputs must be valid inputs: fix the bounds or the data"
            )
        if n == 0:
            return back(xt)
        with _eval_no_param_grad(model):
            with torch.no_grad():
                logits = logits_2d(model(xt), n)
            check_labels(yt, logits.shape[1])
            if self.eps == 0:
                return back(xt.clone())
            prep = _Prepared(
                x=xt,
                y=yt,
                lo=lo,
                hi=hi,
                n_outputs=logits.shape[1],
                clean_margin=margins(logits, yt),
            )
            x_adv = self._run(model, prep)
            with torch.no_grad():
                x_adv = project(x_adv.detach(), xt, self.eps, self.norm, lo, hi)
        if not bool(torch.isfinite(x_adv).all()):
            raise RuntimeError(
                f"{type(self).__name__} produced non-finite adversarial inputs; this is a bug"
            )
        return back(x_adv)
