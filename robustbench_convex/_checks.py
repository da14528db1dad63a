"""Argument checks shared by the library, and its one label policy (:data:`LABEL_POLICY`): the
convex programs, the solvers, the trainers (``baselines``), the robust pattern seeding
(``robust_patterns``), the estimator's hyper-parameters (``ConvexReLUClassifier``) and the
sweep's settings (``methods.ParamSpec``). One rule per kind of argument: each check raises a
TypeError (wrong type) / ValueError (wrong value) that names the argument, says what is accepted
and shows the value given. ``name`` is the argument as the caller shows it (``"eps"``; the sweep
passes the field's path, ``"methods[2].eps:"``). ``none`` (where accepted): None is also valid,
meaning ``none`` (e.g. ``"auto"``), and is returned as None."""

from __future__ import annotations

import math
import warnings
from typing import Any, overload

import numpy as np
import torch

__all__ = [
    "LABEL_POLICY",
    "as_numpy",
    "check_binary_labels",
    "check_bool",
    "check_choice",
    "check_data",
    "check_data_matrix",
    "check_float",
    "check_fraction",
    "check_int",
    "check_nonneg_scalar",
    "check_str",
    "check_time_budget",
]


LABEL_POLICY = (
    "binary labels in {-1, +1}; labels in {0, 1} are converted (0 -> -1) with a note; anything "
    "else is refused"
)
"""The one label policy of the library (the convex programs, the solvers, the baselines)."""

_MAP_HINT = (
    "map your two classes to -1/+1 (or use ConvexReLUClassifier, which accepts any two labels)"
)


def _binary_labels(y: Any, n: int, name: str) -> tuple[np.ndarray, bool, str | None]:
    """``(labels in {-1, +1}, converted from {0, 1}?, single-class note or None)``."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of labels (one label per row of X), got shape {y.shape}"
        )
    if y.shape[0] != n:
        raise ValueError(
            f"{name} has {y.shape[0]} labels but X has {n} rows (one label per row of X)"
        )
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must hold numeric labels in {{-1, +1}}, got dtype {y.dtype}; {_MAP_HINT}"
        ) from None
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite values")
    values = set(np.unique(y).tolist())
    single = None
    if len(values) == 1:
        single = (
            f"{name} holds a single class (every label is {next(iter(values)):g}); training "
            "needs examples of both classes -1 and +1 (on one class the model fits a constant)"
        )
    if values <= {-1.0, 1.0}:
        return y, False, single
    if values <= {0.0, 1.0}:
        return 2.0 * y - 1.0, True, single
    shown = sorted(values)[:5]
    raise ValueError(
        f"{name} must hold binary labels in {{-1, +1}} (or {{0, 1}}), got values {shown}"
        + ("..." if len(values) > 5 else "")
        + f"; {_MAP_HINT}"
    )


_CONVERTED = "labels in {0, 1} were converted to {-1, +1} (0 -> -1)"


def _or_none(none: str | None) -> str:
    return "" if none is None else f" or None ({none})"


def _got(value: Any) -> str:
    return f"got {value!r} ({type(value).__name__})"


@overload
def check_int(name: str, value: Any, minimum: int) -> int: ...
@overload
def check_int(name: str, value: Any, minimum: int, *, none: str) -> int | None: ...
def check_int(name: str, value: Any, minimum: int, *, none: str | None = None) -> int | None:
    """An integer (not a bool) ``>= minimum``."""
    if value is None and none is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer{_or_none(none)}, {_got(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{_or_none(none)}, got {value}")
    return int(value)


@overload
def check_float(name: str, value: Any, *, positive: bool) -> float: ...
@overload
def check_float(name: str, value: Any, *, positive: bool, none: str) -> float | None: ...
def check_float(name: str, value: Any, *, positive: bool, none: str | None = None) -> float | None:
    """A finite real number (not a bool or a string), ``> 0`` if ``positive`` else ``>= 0``."""
    if value is None and none is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number{_or_none(none)}, {_got(value)}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}{_or_none(none)}, got {value}")
    return value


def check_time_budget(name: str, value: Any) -> float | str | None:
    """A time budget: seconds (a finite number ``> 0``), ``"auto"`` (the callee sizes it) or
    None (no limit). Every wrong value, a wrong string included, is a ValueError."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )
    if not number or not math.isfinite(float(value)) or not float(value) > 0:
        raise ValueError(
            f"{name} must be finite and > 0 or 'auto' (the default budget) or None (no limit), "
            f"{_got(value)}"
        )
    return float(value)


def check_fraction(name: str, value: Any) -> float:
    """A number in [0, 1] (a share of the steps, a mixing weight)."""
    value = check_float(name, value, positive=False)
    if value > 1:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not 0 / 1, not a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be true or false, {_got(value)}")
    return bool(value)


@overload
def check_str(name: str, value: Any) -> str: ...
@overload
def check_str(name: str, value: Any, *, none: str) -> str | None: ...
def check_str(name: str, value: Any, *, none: str | None = None) -> str | None:
    """A string (any)."""
    if value is None and none is not None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string{_or_none(none)}, {_got(value)}")
    return value


@overload
def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str: ...
@overload
def check_choice(name: str, value: Any, choices: tuple[str, ...], *, none: str) -> str | None: ...
def check_choice(
    name: str, value: Any, choices: tuple[str, ...], *, none: str | None = None
) -> str | None:
    """One of ``choices`` (strings)."""
    if value is None and none is not None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}{_or_none(none)}, got {value!r}")
    return value


def check_nonneg_scalar(name: str, value: Any) -> float:
    """A finite real number >= 0 (a penalty, a radius): ``check_float(name, value, positive=False)``."""
    return check_float(name, value, positive=False)


def check_data_matrix(X: Any, *, name: str = "X") -> np.ndarray:
    """``X`` as a C-contiguous float64 ``(n, d)`` array with n, d >= 1 and finite entries, else a
    ValueError naming ``name``."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, d), got shape {X.shape}")
    try:
        X = np.ascontiguousarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold real numbers") from None
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values; impute or drop them first")
    return X


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
    X = check_data_matrix(X, name=x_name)
    y, converted, single = _binary_labels(y, X.shape[0], y_name)
    if converted:
        warnings.warn(f"{y_name}: {_CONVERTED}", UserWarning, stacklevel=3)
    if single is not None and (y_name == "y" if both_classes is None else both_classes):
        warnings.warn(single, UserWarning, stacklevel=3)
    return X, y


def check_binary_labels(
    y: Any, n: int, *, name: str = "y", both_classes: bool = False
) -> tuple[np.ndarray, str | None]:
    """Labels as float64 in {-1, +1}. Labels in {0, 1} are converted (0 -> -1) and a note is
    returned; anything else raises a ValueError. A single class (on which training fits a
    constant) raises with ``both_classes=True``, else is returned as a note (which
    ``formulations.ConvexReLUProblem`` warns and records in ``notes``, so it is never silent)."""
    y, converted, single = _binary_labels(y, n, name)
    if single is not None and both_classes:
        raise ValueError(single)
    if not converted:
        return y, single
    return y, _CONVERTED if single is None else f"{_CONVERTED}; {single}"
