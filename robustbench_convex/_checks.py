"""Argument checks shared by the trainers (``baselines``) and the robust pattern seeding
(``robust_patterns``): each raises a TypeError / ValueError naming the argument and the fix."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["as_numpy", "check_data", "check_float", "check_int"]


def check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value: Any, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def check_data(
    X: Any, y: Any, *, x_name: str = "X", y_name: str = "y", both_classes: bool | None = None
) -> tuple[np.ndarray, ...]:
    """``(X, y)`` as float64 arrays, checked: ``X`` finite ``(n, d)``, ``y`` ``(n,)`` in {-1, +1}.

    ``both_classes`` (default: only for training labels, ``y_name == "y"``): warn (UserWarning,
    naming ``y_name``) when the labels hold a single class, on which training fits a constant. A
    warning, not an error: the arithmetic stays defined and tests of the update rules use it."""
    X = as_numpy(X)
    try:
        y = as_numpy(y)
    except (TypeError, ValueError):
        kind = np.asarray(y).dtype
        raise ValueError(
            f"{y_name} must hold numeric labels in {{-1, +1}}, got dtype {kind}; map your two "
            "classes to -1/+1 (e.g. y = np.where(labels == positive, 1.0, -1.0))"
        ) from None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{x_name} must be a non-empty 2-D array (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{x_name} contains NaN or infinite values")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{y_name} must be a 1-D array of length {X.shape[0]} (one label per row of {x_name}), "
            f"got shape {y.shape}"
        )
    if not np.all((y == 1.0) | (y == -1.0)):
        found = np.unique(y[np.isfinite(y)])[:5].tolist()
        raise ValueError(
            f"{y_name} must contain binary labels in {{-1, +1}}, found values such as {found}; "
            "for {0, 1} labels pass 2 * y - 1"
        )
    if (y_name == "y" if both_classes is None else both_classes) and np.unique(y).size < 2:
        import warnings

        warnings.warn(
            f"{y_name} holds a single class (every label is {y[0]:+g}); training needs "
            "examples of both classes -1 and +1 (on one class the model fits a constant)",
            UserWarning,
            stacklevel=3,
        )
    return X, y
