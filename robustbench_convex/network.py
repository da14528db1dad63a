"""The one-hidden-layer ReLU network that every trainer in the project returns.

    f(x) = sum_j alpha_j * relu(u_j^T x + b_j) + c

Input ``(N, d)``, output one logit per row, shape ``(N,)``. For binary tasks with labels in
{-1, +1} the predicted class is ``sign(f(x))``; evaluation counts an example as correct iff its
margin ``y * f(x)`` is strictly positive (a zero logit is an error), and ``predict`` maps
``f(x) > 0`` to +1 and everything else to -1.

The module is a plain ``torch.nn.Module`` made of ``hidden = nn.Linear(d, m)`` and
``output = nn.Linear(m, 1)``, so attacks and verifiers read its weights exactly as they read an
``nn.Sequential(Linear, ReLU, Linear)``.
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import skip_init

from robustbench_convex._atomic import atomic_write

__all__ = ["TwoLayerReLU", "load_network", "save_network"]


def _as_float_array(name: str, value: Any, ndim: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


class TwoLayerReLU(nn.Module):
    """One-hidden-layer ReLU network with a scalar output.

    Args:
        in_features: input dimension ``d`` (without any bias column).
        width: number of hidden neurons ``m`` (0 is allowed: the constant network ``c``).
        bias: whether hidden neurons have biases ``b_j``.
        output_bias: whether the output has a bias ``c``.
        dtype, device: torch dtype and device of the parameters (float64 on CPU by default,
            matching the solvers).
        generator: a ``torch.Generator`` (on the CPU) to draw the initial parameters from, with
            PyTorch's default ``nn.Linear`` distribution (see ``reset_parameters``). None uses
            ``nn.Linear``'s own initialization, which reads torch's *global* RNG: pass a generator
            wherever several trainings may run at once (threads share the global RNG).

    Attributes:
        hidden: ``nn.Linear(d, m)``; ``hidden.weight`` holds the rows ``u_j`` (shape ``(m, d)``).
        output: ``nn.Linear(m, 1)``; ``output.weight[0]`` holds ``alpha`` (shape ``(m,)``).
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        *,
        bias: bool = True,
        output_bias: bool = True,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if isinstance(in_features, bool) or not isinstance(in_features, (int, np.integer)):
            raise TypeError(f"in_features must be an int, got {type(in_features).__name__}")
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)):
            raise TypeError(f"width must be an int, got {type(width).__name__}")
        if in_features < 1:
            raise ValueError(f"in_features must be >= 1, got {in_features}")
        if width < 0:
            raise ValueError(f"width must be >= 0, got {width}")
        self.in_features = int(in_features)
        self.width = int(width)
        with warnings.catch_warnings():
            # width 0 (an empty network) makes torch warn that initializing it is a no-op
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            # with a generator, skip nn.Linear's own draws (they would advance the global RNG)
            make = nn.Linear
            if generator is not None:
                make = partial(skip_init, nn.Linear)
                device = "cpu" if device is None else device
            self.hidden = make(self.in_features, self.width, bias=bias, dtype=dtype, device=device)
            self.output = make(self.width, 1, bias=output_bias, dtype=dtype, device=device)
        if generator is not None:
            self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Redraw every parameter from ``generator``, with ``nn.Linear``'s default distribution.

        Each layer's weight and bias are uniform on ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (the
        Kaiming-uniform rule with ``a = sqrt(5)`` that ``nn.Linear`` uses); ``fan_in`` is ``d`` for
        the hidden layer and ``m`` for the output. Draws happen on the CPU in float64 (then cast
        and moved), in the order hidden weight, hidden bias, output weight, output bias, so a
        seeded generator gives the same network on every device and dtype.
        """
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        with torch.no_grad():
            for layer in (self.hidden, self.output):
                bound = 1.0 / math.sqrt(layer.in_features) if layer.in_features > 0 else 0.0
                for param in (layer.weight, layer.bias):
                    if param is None:
                        continue
                    draw = torch.rand(param.shape, generator=generator, dtype=torch.float64)
                    param.copy_((2.0 * draw - 1.0) * bound)

    # ------------------------------------------------------------------ forward / predict
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``f(x)`` of shape ``(N,)`` for inputs of shape ``(N, d)`` (or ``(d,)`` -> ``()``)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"x must be a torch.Tensor, got {type(x).__name__}; use predict/decision_function "
                "for numpy input"
            )
        squeeze = x.ndim == 1
        if squeeze:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (N, {self.in_features}), got {tuple(x.shape)}")
        if x.dtype != self.hidden.weight.dtype:
            x = x.to(self.hidden.weight.dtype)
        out = self.output(torch.relu(self.hidden(x))).squeeze(-1)
        return out.squeeze(0) if squeeze else out

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits as a numpy array of shape ``(N,)`` for array-like ``X`` of shape ``(N, d)``."""
        X = _as_float_array("X", X, 2)
        param = self.hidden.weight
        with torch.no_grad():
            out = self.forward(torch.as_tensor(X, dtype=param.dtype, device=param.device))
        return out.cpu().numpy().astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Labels in {-1, +1}: +1 where ``f(x) > 0``, -1 elsewhere. Shape ``(N,)``, int."""
        return np.where(self.decision_function(X) > 0, 1, -1)

    # ------------------------------------------------------------------ numpy round trip
    @classmethod
    def from_numpy(
        cls,
        U: Any,
        alpha: Any,
        b: Any | None = None,
        c: float | None = 0.0,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> TwoLayerReLU:
        """Build a network from weights ``U`` ``(m, d)``, ``alpha`` ``(m,)``, biases ``b`` ``(m,)``
        (None: no hidden biases) and output bias ``c`` (None: no output bias)."""
        U = _as_float_array("U", U, 2)
        alpha = _as_float_array("alpha", alpha, 1)
        m, d = U.shape
        if alpha.shape != (m,):
            raise ValueError(
                f"alpha must have shape ({m},) to match U {U.shape}, got {alpha.shape}"
            )
        if b is not None:
            b = _as_float_array("b", b, 1)
            if b.shape != (m,):
                raise ValueError(f"b must have shape ({m},) to match U {U.shape}, got {b.shape}")
        if c is not None and not np.isfinite(float(c)):
            raise ValueError(f"c must be finite, got {c}")
        net = cls(d, m, bias=b is not None, output_bias=c is not None, dtype=dtype, device=device)
        with torch.no_grad():
            net.hidden.weight.copy_(torch.as_tensor(U))
            if b is not None:
                net.hidden.bias.copy_(torch.as_tensor(b))
            net.output.weight.copy_(torch.as_tensor(alpha).reshape(1, m))
            if c is not None:
                net.output.bias.fill_(float(c))
        return net

    def to_numpy(self) -> dict[str, np.ndarray | float | None]:
        """Weights as numpy: ``{"U": (m, d), "b": (m,) or None, "alpha": (m,), "c": float or None}``.

        ``TwoLayerReLU.from_numpy(**net.to_numpy())`` reproduces the network.
        """
        with torch.no_grad():
            U = self.hidden.weight.detach().cpu().numpy().astype(np.float64).copy()
            b = self.hidden.bias
            b = None if b is None else b.detach().cpu().numpy().astype(np.float64).copy()
            alpha = self.output.weight.detach().cpu().numpy().astype(np.float64).reshape(-1).copy()
            c = self.output.bias
            c = None if c is None else float(c.detach().cpu().item())
        return {"U": U, "b": b, "alpha": alpha, "c": c}

    # ------------------------------------------------------------------ helpers
    def weight_decay(self) -> float:
        """``1/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2)``: the project's weight-decay term
        (hidden biases are part of the augmented ``u_j``; the output bias ``c`` is not penalized)."""
        with torch.no_grad():
            total = self.hidden.weight.pow(2).sum() + self.output.weight.pow(2).sum()
            if self.hidden.bias is not None:
                total = total + self.hidden.bias.pow(2).sum()
        return 0.5 * float(total)

    def n_active(self, rtol: float = 1e-9) -> int:
        """Number of neurons whose contribution ``|alpha_j| * ||(u_j, b_j)||`` is non-negligible
        (above ``rtol`` times the largest)."""
        w = self.to_numpy()
        norms = (
            np.linalg.norm(w["U"], axis=1)
            if w["b"] is None
            else np.linalg.norm(np.column_stack([w["U"], w["b"]]), axis=1)
        )
        contrib = np.abs(w["alpha"]) * norms
        if contrib.size == 0 or contrib.max() <= 0:
            return 0
        return int(np.sum(contrib > rtol * contrib.max()))

    def extra_repr(self) -> str:  # shown by print(net)
        return f"in_features={self.in_features}, width={self.width}"


# ---------------------------------------------------------------------------------- storage
_NPZ_FORMAT = 1


def save_network(net: TwoLayerReLU, path: str | Path) -> Path:
    """Write ``net`` to ``path`` (a ``.npz``) atomically: a temporary file in the same folder,
    fsync-ed, then renamed over ``path`` (a crash leaves the old file or the new one, never half).

    The file holds ``U`` ``(m, d)``, ``alpha`` ``(m,)``, ``b`` ``(m,)`` (zeros when the network
    has no hidden biases), ``c`` (0-d) and the flags ``has_b``, ``has_c``, in float64: reloading
    with :func:`load_network` gives identical predictions. Returns the path."""

    if not isinstance(net, TwoLayerReLU):
        raise TypeError(f"net must be a TwoLayerReLU, got {type(net).__name__}")
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path must end in .npz, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    w = net.to_numpy()
    m = int(net.width)
    arrays = {
        "format": np.asarray(_NPZ_FORMAT),
        "in_features": np.asarray(net.in_features),
        "U": np.asarray(w["U"], dtype=np.float64).reshape(m, net.in_features),
        "alpha": np.asarray(w["alpha"], dtype=np.float64).reshape(m),
        "b": np.zeros(m) if w["b"] is None else np.asarray(w["b"], dtype=np.float64),
        "c": np.asarray(0.0 if w["c"] is None else float(w["c"])),
        "has_b": np.asarray(w["b"] is not None),
        "has_c": np.asarray(w["c"] is not None),
    }
    atomic_write(path, lambda fh: np.savez(fh, **arrays))
    return path


def load_network(
    path: str | Path,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> TwoLayerReLU:
    """The network stored at ``path``: a ``.npz`` written by :func:`save_network` (every sweep
    cell writes one next to its JSON), or a sweep cell's ``.json`` (its ``.npz`` sibling is read).

    Raises FileNotFoundError naming the path when there is no stored network (cells computed
    before networks were stored: rerun them with ``rbconvex run ... --fresh``)."""
    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(".npz")
    if not path.is_file():
        raise FileNotFoundError(
            f"no stored network at {path} (sweeps store one .npz per cell next to its .json; "
            "cells computed by an older version have none: rerun them with --fresh)"
        )
    with np.load(path, allow_pickle=False) as data:
        missing = {"U", "alpha", "b", "c", "has_b", "has_c"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a stored TwoLayerReLU (missing {sorted(missing)})")
        U = data["U"]
        if U.ndim != 2:
            U = U.reshape(0, int(data["in_features"]))
        b = data["b"] if bool(data["has_b"]) else None
        c = float(data["c"]) if bool(data["has_c"]) else None
        return TwoLayerReLU.from_numpy(U, data["alpha"], b, c, dtype=dtype, device=device)
