"""Losses in the project's convention: **sums over samples**, labels in {-1, +1}.

    squared:  0.5 * sum_k (yhat_k - y_k)^2
    hinge:    sum_k max(0, 1 - y_k yhat_k)
    logistic: sum_k log(1 + exp(-y_k yhat_k))        (= BCE on {0, 1} labels, summed)

Each loss also has a *robust* form used by the robust convex programs (MATH.md section 6): given
the nominal prediction ``yhat_k = x_k^T z_k`` of a model that is linear on the eps-ball around
``x_k`` and the dual-norm term ``r_k = eps * ||z_k||_1'`` (bias coordinate excluded), the worst case
over the ball is

    hinge:    sum_k max(0, 1 - y_k yhat_k + r_k)
    logistic: sum_k log(1 + exp(-(y_k yhat_k - r_k)))
    squared:  0.5 * sum_k (|yhat_k - y_k| + r_k)^2

One implementation serves numpy and torch: the functions dispatch on the input type.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

LossName = Literal["squared", "hinge", "logistic"]
LOSSES: tuple[str, ...] = ("squared", "hinge", "logistic")

__all__ = ["LOSSES", "LossName", "check_loss", "loss_value", "robust_loss_value"]


def check_loss(loss: str) -> str:
    """Return ``loss`` if it is a known loss name, else raise a ValueError listing the valid ones."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return loss


def _softplus(t):
    if isinstance(t, torch.Tensor):
        return torch.nn.functional.softplus(t)
    return np.logaddexp(0.0, t)


def _relu(t):
    if isinstance(t, torch.Tensor):
        return torch.clamp(t, min=0)
    return np.maximum(t, 0.0)


def _abs(t):
    return t.abs() if isinstance(t, torch.Tensor) else np.abs(t)


def loss_value(loss: str, yhat, y):
    """Summed loss of predictions ``yhat`` (shape ``(n,)``) against labels ``y`` in {-1,+1}.

    Works on numpy arrays (returns a float) and torch tensors (returns a 0-d tensor, differentiable).
    """
    check_loss(loss)
    if loss == "squared":
        total = 0.5 * ((yhat - y) ** 2).sum()
    elif loss == "hinge":
        total = _relu(1.0 - y * yhat).sum()
    else:
        total = _softplus(-y * yhat).sum()
    return total if isinstance(total, torch.Tensor) else float(total)


def robust_loss_value(loss: str, yhat, y, radius):
    """Summed worst-case loss of a locally linear model: ``radius_k = eps * ||z_k||_1'`` >= 0 is
    the largest change of the prediction over the eps-ball around ``x_k`` (see module docstring).
    ``radius = 0`` gives :func:`loss_value`."""
    check_loss(loss)
    if loss == "squared":
        total = 0.5 * ((_abs(yhat - y) + radius) ** 2).sum()
    elif loss == "hinge":
        total = _relu(1.0 - y * yhat + radius).sum()
    else:
        total = _softplus(-(y * yhat - radius)).sum()
    return total if isinstance(total, torch.Tensor) else float(total)
