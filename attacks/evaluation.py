"""Robust accuracy and eps sweeps.

An example counts as **robust** under an attack iff it is correctly classified both at ``x``
and at the attack's output ``x_adv`` (margin ``> 0`` at both): a clean error is never counted as
robust, even if an attack happens to move it back to the right side.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import torch
from torch import nn

from attacks.base import BoundsLike, check_eps, check_positive_int, model_margins

__all__ = ["AttackFactory", "robust_accuracy", "robust_mask", "sweep"]

AttackLike = Callable[[nn.Module, Any, Any], Any]
AttackFactory = Callable[[float], AttackLike]


def _batches(n: int, batch_size: int | None) -> Iterable[slice]:
    if batch_size is None:
        yield slice(0, n)
        return
    bs = check_positive_int("batch_size", batch_size)
    for start in range(0, n, bs):
        yield slice(start, min(start + bs, n))


def _take(a: Any, s: slice) -> Any:
    return a[s]


def robust_mask(
    model: nn.Module, X: Any, y: Any, attack: AttackLike, *, batch_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(clean_correct, robust)`` boolean masks of shape ``(N,)`` (see the module docstring)."""
    if not callable(attack):
        raise TypeError(f"attack must be callable as attack(model, x, y), got {type(attack)}")
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)} labels")
    clean = np.zeros(n, dtype=bool)
    robust = np.zeros(n, dtype=bool)
    for s in _batches(n, batch_size):
        xb, yb = _take(X, s), _take(y, s)
        clean[s] = model_margins(model, xb, yb) > 0
        x_adv = attack(model, xb, yb)
        robust[s] = clean[s] & (model_margins(model, x_adv, yb) > 0)
    return clean, robust


@overload
def robust_accuracy(
    model: nn.Module,
    X: Any,
    y: Any,
    attack: AttackLike,
    *,
    batch_size: int | None = ...,
    return_mask: Literal[False] = ...,
) -> float: ...
@overload
def robust_accuracy(
    model: nn.Module,
    X: Any,
    y: Any,
    attack: AttackLike,
    *,
    batch_size: int | None = ...,
    return_mask: Literal[True],
) -> tuple[float, np.ndarray]: ...
def robust_accuracy(
    model: nn.Module,
    X: Any,
    y: Any,
    attack: AttackLike,
    *,
    batch_size: int | None = None,
    return_mask: bool = False,
) -> float | tuple[float, np.ndarray]:
    """Fraction of examples correct at ``x`` and at ``attack(model, x, y)``.

    Args:
        model: torch model (one logit per row, or a logits matrix).
        X: inputs ``(N, ...)``; y: labels ``(N,)`` ({-1, +1} or class indices).
        attack: any callable ``attack(model, x, y) -> x_adv`` (e.g. ``PGD(...)``).
        batch_size: attack this many examples at a time (None: all at once).
        return_mask: also return the per-example robust mask ``(N,)`` (bool).
    """
    _, robust = robust_mask(model, X, y, attack, batch_size=batch_size)
    acc = float(robust.mean()) if len(robust) else math.nan
    return (acc, robust) if return_mask else acc


def _named_factory(
    name: str, norm: str, lower: BoundsLike, upper: BoundsLike, seed: int
) -> AttackFactory:
    from attacks.factory import check_attack_name, make_attack

    check_attack_name(name, norm)
    return lambda eps: make_attack(
        name, eps, norm=norm, lower=lower, upper=upper, steps=50, restarts=5, seed=seed
    )


def sweep(
    model: nn.Module,
    X: Any,
    y: Any,
    attacks: Mapping[str, AttackFactory] | Sequence[str] | AttackFactory,
    eps_grid: Iterable[float],
    *,
    norm: Literal["inf", "2"] = "inf",
    lower: BoundsLike = None,
    upper: BoundsLike = None,
    seed: int = 0,
    batch_size: int | None = None,
    return_masks: bool = False,
):
    """Robust accuracy of ``model`` for every attack and every eps, as a tidy DataFrame.

    Args:
        attacks: ``{name: factory}`` where ``factory(eps)`` returns an attack; or a list of
            names among "fgsm", "pgd" (50 steps, 5 restarts), "exact" built with ``norm``,
            ``lower``, ``upper`` and ``seed``; or a single factory (named "attack").
        eps_grid: radii (``>= 0``), in input units.
        return_masks: add a column ``success`` holding, per row, the boolean ``(N,)`` mask of
            examples the attack broke (clean-correct and not robust).

    Returns:
        ``pandas.DataFrame`` with columns eps, attack, clean_acc, robust_acc, n, seconds
        (+ success), one row per (attack, eps).
    """
    import pandas as pd

    if callable(attacks) and not isinstance(attacks, Mapping):
        factories: dict[str, AttackFactory] = {"attack": attacks}
    elif isinstance(attacks, Mapping):
        factories = dict(attacks)
    elif isinstance(attacks, Sequence) and not isinstance(attacks, str):
        factories = {a: _named_factory(a, norm, lower, upper, seed) for a in attacks}
    else:
        raise TypeError("attacks must be a {name: factory} mapping, a list of names, or a factory")
    if not factories:
        raise ValueError("attacks is empty")
    grid = [check_eps(e, allow_inf=True) for e in eps_grid]
    if not grid:
        raise ValueError("eps_grid is empty")
    if not isinstance(X, torch.Tensor):
        X = np.asarray(X)
    rows = []
    for name, factory in factories.items():
        for eps in grid:
            t0 = time.perf_counter()
            clean, robust = robust_mask(model, X, y, factory(eps), batch_size=batch_size)
            clean_acc = float(clean.mean()) if len(clean) else math.nan
            row = {
                "eps": eps,
                "attack": name,
                "clean_acc": clean_acc,
                "robust_acc": float(robust.mean()) if len(robust) else math.nan,
                "n": len(robust),
                "seconds": time.perf_counter() - t0,
            }
            if return_masks:
                row["success"] = clean & ~robust
            rows.append(row)
    return pd.DataFrame(rows)
