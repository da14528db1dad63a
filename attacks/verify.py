"""Exact worst case of one-hidden-layer ReLU networks under L-infinity attacks (MATH.md section 7).

For ``f(x) = sum_j alpha_j relu(u_j^T x' + b_j) + c`` and an example ``(x, y)``, ``y`` in {-1,+1},
the worst-case margin over the threat set

    B = {x' : ||x' - x||_inf <= eps,  lower <= x' <= upper} = [max(lower, x - eps), min(upper, x + eps)]

is ``min_{x' in B} y f(x')``. ``B`` is a box, so interval arithmetic gives the *exact* range
``[l_j, h_j]`` of every pre-activation ``z_j = u_j^T x' + b_j`` over ``B``. Neurons with
``l_j >= 0`` (active) or ``h_j <= 0`` (inactive) are linear on ``B``. An unstable neuron
(``l_j < 0 < h_j``) with objective coefficient ``w_j = y alpha_j``:

* ``w_j > 0``: the minimization pushes ``a_j`` down, and ``relu(z) = min {a : a >= z, a >= 0}``,
  so two linear constraints are exact (no binary variable);
* ``w_j < 0``: ``a_j`` is pushed up; ``relu(z) = max {a : a <= h t, a <= z - l (1 - t), t in {0, 1}}``
  (the big-M constraints of MATH.md with the exact interval bounds as M), one binary ``t_j``.

The mixed-integer program is solved by HiGHS (``highspy``, :mod:`attacks._highs`). Replacing ``t_j in {0,1}``
by ``t_j in [0, 1]`` gives the LP relaxation (the triangle relaxation), whose optimum is a certified
lower bound (``lp_certify``; the bound we report is recomputed from the LP's dual multipliers by
weak duality, so it stays a valid bound even when the LP solve is inexact). When every neuron with
``alpha_j != 0`` is stable on ``B`` the network is linear on ``B`` and the worst case has the closed
form ``y c + sum_{active} w_j b_j + sum_i min(g_i lo_i, g_i hi_i)``, ``g = sum_{active} w_j u_j``
(``stable_margin``); on a symmetric ball it is ``y f(x) - eps ||g||_1``.

Supported models: anything exposing ``.hidden`` and ``.output`` ``nn.Linear`` layers used as
``output(relu(hidden(x)))`` (e.g. ``robustbench_convex.TwoLayerReLU``) and
``nn.Sequential(Linear, ReLU, Linear)``, with one output logit (binary). The weights read from the
module are checked against the module's own forward on the given inputs.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from scipy.optimize import linprog
from torch import nn

from attacks._highs import solve_milp
from attacks.base import (
    BOUNDS_TOL,
    Attack,
    BoundsLike,
    SoundnessWarning,
    _Prepared,
    check_bound,
    check_bound_order,
    check_eps,
    model_margins,
)

__all__ = [
    "CertifyResult",
    "ExactAttack",
    "ExactResult",
    "TwoLayerWeights",
    "exact",
    "extract_two_layer",
    "lp_certify",
    "stable_margin",
]

Mode = Literal["margin", "decide"]


# ---------------------------------------------------------------------------------- weights
@dataclass(frozen=True)
class TwoLayerWeights:
    """Float64 weights of ``f(x) = alpha^T relu(U x + b) + c``: U ``(m, d)``, b ``(m,)``,
    alpha ``(m,)``, c scalar."""

    U: np.ndarray
    b: np.ndarray
    alpha: np.ndarray
    c: float

    def logits(self, X: np.ndarray) -> np.ndarray:
        """``f(X)`` for ``X`` of shape ``(N, d)``; shape ``(N,)``."""
        return np.maximum(X @ self.U.T + self.b, 0.0) @ self.alpha + self.c


def _linear_pair(model: nn.Module) -> tuple[nn.Linear, nn.Linear] | None:
    if isinstance(model, nn.Sequential):
        layers = list(model)
        if (
            len(layers) == 3
            and isinstance(layers[0], nn.Linear)
            and isinstance(layers[1], nn.ReLU)
            and isinstance(layers[2], nn.Linear)
        ):
            return layers[0], layers[2]
        return None
    hidden, output = getattr(model, "hidden", None), getattr(model, "output", None)
    if isinstance(hidden, nn.Linear) and isinstance(output, nn.Linear):
        return hidden, output
    return None


def extract_two_layer(model: nn.Module) -> TwoLayerWeights:
    """Read ``U, b, alpha, c`` (float64 numpy) from a one-hidden-layer ReLU network with one
    output logit: a module with ``.hidden``/``.output`` ``nn.Linear`` attributes (such as
    ``robustbench_convex.TwoLayerReLU``) or an ``nn.Sequential(Linear, ReLU, Linear)``."""
    pair = _linear_pair(model) if isinstance(model, nn.Module) else None
    if pair is None:
        raise TypeError(
            "the exact verifier supports one-hidden-layer ReLU networks only: a module with "
            "`.hidden` and `.output` nn.Linear layers (e.g. robustbench_convex.TwoLayerReLU) or "
            f"nn.Sequential(Linear, ReLU, Linear); got {type(model).__name__}"
        )
    hidden, output = pair
    if output.out_features != 1:
        raise ValueError(
            f"the exact verifier needs one output logit (binary, labels in {{-1,+1}}); the output "
            f"layer has {output.out_features} outputs"
        )
    if output.in_features != hidden.out_features:
        raise ValueError("hidden.out_features does not match output.in_features")

    def np64(t: torch.Tensor | None, size: int) -> np.ndarray:
        if t is None:
            return np.zeros(size)
        return t.detach().cpu().to(torch.float64).numpy().copy()

    m, d = hidden.out_features, hidden.in_features
    U = np64(hidden.weight, m * d).reshape(m, d)
    b = np64(hidden.bias, m).reshape(m)
    alpha = np64(output.weight, m).reshape(m)
    c = float(np64(output.bias, 1).reshape(1)[0])
    if not (np.all(np.isfinite(U)) and np.all(np.isfinite(b)) and np.all(np.isfinite(alpha))):
        raise ValueError("the model has non-finite weights")
    return TwoLayerWeights(U=U, b=b, alpha=alpha, c=c)


# ---------------------------------------------------------------------------------- inputs
@dataclass
class _Problem:
    W: TwoLayerWeights
    X: np.ndarray  # (N, d)
    y: np.ndarray  # (N,) float in {-1, +1}
    lo: np.ndarray  # (N, d) box B per example
    hi: np.ndarray
    l: np.ndarray  # (N, m) pre-activation bounds over B
    h: np.ndarray
    clean_margin: np.ndarray  # (N,), from the model's own forward
    eps: float
    lower: np.ndarray  # (d,) input bounds (may be infinite)
    upper: np.ndarray
    rel: float  # relative rounding tolerance of the model's dtype (100 ulps)


def _prepare(
    model: nn.Module, x: Any, y: Any, eps: float, lower: BoundsLike, upper: BoundsLike
) -> _Problem:
    W = extract_two_layer(model)
    eps = check_eps(eps, allow_inf=True)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    X = np.array(x, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"x must have shape (N, d), got {X.shape}")
    d = W.U.shape[1]
    if X.shape[1] != d:
        raise ValueError(f"x has {X.shape[1]} features but the model expects d = {d}")
    if not np.all(np.isfinite(X)):
        raise ValueError("x contains NaN or infinite values")
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    Y = np.asarray(y)
    if Y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match x, got {Y.shape}")
    if not np.all(np.isin(Y, (-1, 1))):
        raise ValueError("y must be in {-1, +1} (the exact verifier is for binary models)")
    Y = Y.astype(np.float64)
    lower, upper = check_bound("lower", lower), check_bound("upper", upper)
    check_bound_order(lower, upper)
    try:
        lo_b = np.broadcast_to(np.asarray(-np.inf if lower is None else lower, float), (d,))
        hi_b = np.broadcast_to(np.asarray(np.inf if upper is None else upper, float), (d,))
    except ValueError as err:
        raise ValueError(f"lower/upper must be scalars or arrays of shape ({d},)") from err
    tol = BOUNDS_TOL * np.maximum(1.0, np.maximum(np.abs(lo_b), np.abs(hi_b)))
    tol = np.where(np.isfinite(tol), tol, BOUNDS_TOL)
    outside = (X < lo_b - tol) | (X > hi_b + tol)
    if outside.any():
        raise ValueError(
            f"x lies outside [lower, upper] in {int(outside.sum())} entries; clean inputs must be "
            "valid inputs: fix the bounds or the data"
        )
    Xc = np.clip(X, lo_b, hi_b)
    lo = np.maximum(lo_b, Xc - eps)
    hi = np.minimum(hi_b, Xc + eps)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError(
            "the threat set must be bounded for the exact verifier: give a finite eps or finite "
            "lower/upper bounds"
        )
    Up, Un = np.maximum(W.U, 0.0), np.minimum(W.U, 0.0)
    l = lo @ Up.T + hi @ Un.T + W.b
    h = hi @ Up.T + lo @ Un.T + W.b
    clean = model_margins(model, _to_model_input(model, X), Y.astype(np.int64))
    # the weights we read must be the network the module computes
    ours = Y * W.logits(X)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float64)
    rel = 100 * torch.finfo(dtype).eps
    scale = 1.0 + np.abs(np.maximum(X @ W.U.T + W.b, 0.0)) @ np.abs(W.alpha) + abs(W.c)
    if X.shape[0] and np.max(np.abs(ours - clean) / scale) > rel:
        raise ValueError(
            "the module's forward does not compute output(relu(hidden(x))) with the weights read "
            "from it; the exact verifier supports plain one-hidden-layer ReLU networks only"
        )
    return _Problem(W, X, Y, lo, hi, l, h, clean, eps, np.array(lo_b), np.array(hi_b), rel)


def _to_model_input(model: nn.Module, X: np.ndarray) -> torch.Tensor:
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    dtype = p.dtype if p is not None else torch.float64
    device = p.device if p is not None else torch.device("cpu")
    return torch.as_tensor(X, dtype=dtype, device=device)


# ---------------------------------------------------------------------------------- one example
@dataclass
class _Split:
    """Neuron classes of one example and the linear part of its objective."""

    const: float  # y c + sum_active w_j b_j
    g: np.ndarray  # (d,) sum_active w_j u_j
    pos: np.ndarray  # indices of unstable neurons with w_j > 0
    neg: np.ndarray  # indices of unstable neurons with w_j < 0


def _split(P: _Problem, k: int) -> _Split:
    W = P.W
    w = P.y[k] * W.alpha
    l, h = P.l[k], P.h[k]
    active = (l >= 0) & (w != 0)
    unstable = (l < 0) & (h > 0) & (w != 0)
    const = P.y[k] * W.c + float(w[active] @ W.b[active])
    g = w[active] @ W.U[active]
    return _Split(const, g, np.flatnonzero(unstable & (w > 0)), np.flatnonzero(unstable & (w < 0)))


def _linear_min(g: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, np.ndarray]:
    """``min_{lo <= x <= hi} g^T x`` and a minimizer."""
    xs = np.where(g > 0, lo, hi)
    return float(np.sum(np.minimum(g * lo, g * hi))), xs


def _round_off(P: _Problem, s: _Split, k: int) -> float:
    """Bound on the rounding error of the model's forward near example ``k`` (its dtype)."""
    W = P.W
    mag = np.maximum(np.abs(P.lo[k]), np.abs(P.hi[k]))
    pre = np.abs(W.U) @ mag + np.abs(W.b)
    return P.rel * (1.0 + abs(W.c) + float(np.abs(W.alpha) @ pre) + float(np.abs(s.g) @ mag))


def _program(P: _Problem, k: int, s: _Split):
    """Objective, constraint matrix (CSR), right-hand side and variable bounds of the program of
    example ``k``. Variables: ``x' (d) | a_pos (p) | a_neg (q) | t (q)``."""
    W = P.W
    d = W.U.shape[1]
    p, q = len(s.pos), len(s.neg)
    w = P.y[k] * W.alpha
    l, h = P.l[k], P.h[k]
    c = np.concatenate([s.g, w[s.pos], w[s.neg], np.zeros(q)])
    Up, Un = W.U[s.pos], W.U[s.neg]
    # rows 0..p-1:     U_pos x' - a_pos <= -b_pos            (a_pos >= U_pos x' + b_pos)
    # rows p..p+q-1:   a_neg - h t <= 0                      (a_neg <= h t)
    # rows p+q..p+2q-1: -U_neg x' + a_neg - l t <= b - l     (a_neg <= U x' + b - l (1 - t))
    ia, ja = np.nonzero(Up)
    ib, jb = np.nonzero(Un)
    rp, rq = np.arange(p), np.arange(q)
    col_a, col_b, col_t = d + rp, d + p + rq, d + p + q + rq
    rows = np.concatenate([ia, rp, p + rq, p + rq, p + q + ib, p + q + rq, p + q + rq])
    cols = np.concatenate([ja, col_a, col_b, col_t, jb, col_b, col_t])
    vals = np.concatenate(
        [Up[ia, ja], -np.ones(p), np.ones(q), -h[s.neg], -Un[ib, jb], np.ones(q), -l[s.neg]]
    )
    A = sp.csr_matrix((vals, (rows, cols)), shape=(p + 2 * q, d + p + 2 * q))
    rhs = np.concatenate([-W.b[s.pos], np.zeros(q), W.b[s.neg] - l[s.neg]])
    lb = np.concatenate([P.lo[k], np.zeros(p + 2 * q)])
    ub = np.concatenate([P.hi[k], h[s.pos], h[s.neg], np.ones(q)])
    return c, A, rhs, lb, ub


def _dual_bound(c, A, rhs, lb, ub, lam: np.ndarray, const: float) -> float:
    """Weak-duality bound ``min_{lb<=v<=ub} c^T v + lam^T (A v - rhs)`` (valid for any lam >= 0)."""
    lam = np.maximum(lam, 0.0)
    r = c + A.T @ lam
    return const + float(np.sum(np.minimum(r * lb, r * ub))) - float(lam @ rhs)


# ---------------------------------------------------------------------------------- results
@dataclass
class ExactResult:
    """Per-example outcome of ``exact``. All arrays have length N (``x_adv``: ``(N, d)``).

    Attributes:
        robust: proven robust: the worst-case margin is certainly ``> 0``.
        decided: robustness settled either way (False only where a time limit left it open).
        margin: the exact worst-case margin ``min y f(x')`` (the model's own margin at ``x_adv``,
            which the solver proved optimal to its tolerance); NaN where it was not computed
            (``mode="decide"`` shortcuts, or a time limit).
        lower_bound, upper_bound: proven bounds on the worst-case margin (``upper_bound`` is the
            model's margin at ``x_adv``, a concrete point of the threat set).
        x_adv: the minimizer found (the strongest possible attack when ``status`` is "optimal" or
            "stable"); for "lp_certified" the LP's point, for "clean_error" ``x`` itself.
        status: "optimal" (MILP solved), "stable" (closed form: every neuron stable), and with
            ``mode="decide"``: "lp_certified" (LP bound > 0), "clean_error" (misclassified
            already), "attack_found" (the attack broke it), "lp_point_adversarial" (the LP
            relaxation's optimal x' is a counterexample); "time_limit"; "solver_error".
        milp_objective: the solver's objective value (NaN where no MILP was solved); compare
            with ``upper_bound`` to see the solver's accuracy.
        n_unstable, n_binary: unstable neurons / binary variables of each example's program.
        seconds: wall time per example.
    """

    robust: np.ndarray
    decided: np.ndarray
    margin: np.ndarray
    lower_bound: np.ndarray
    upper_bound: np.ndarray
    x_adv: np.ndarray
    status: np.ndarray
    milp_objective: np.ndarray
    n_unstable: np.ndarray
    n_binary: np.ndarray
    seconds: np.ndarray
    eps: float
    mode: str
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.robust)

    @property
    def robust_accuracy(self) -> float:
        """Fraction proven robust (a lower bound on the true robust accuracy; exact when every
        example is decided)."""
        return float(np.mean(self.robust)) if len(self) else float("nan")

    @property
    def robust_accuracy_upper(self) -> float:
        """Fraction not proven non-robust (an upper bound; equals ``robust_accuracy`` when every
        example is decided)."""
        return float(np.mean(self.robust | ~self.decided)) if len(self) else float("nan")

    def to_frame(self):
        """One row per example (``x_adv`` left out): a ``pandas.DataFrame``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "robust": self.robust,
                "decided": self.decided,
                "margin": self.margin,
                "lower_bound": self.lower_bound,
                "upper_bound": self.upper_bound,
                "status": self.status,
                "milp_objective": self.milp_objective,
                "n_unstable": self.n_unstable,
                "n_binary": self.n_binary,
                "seconds": self.seconds,
                "eps": self.eps,
            }
        )


@dataclass
class CertifyResult:
    """Per-example LP-relaxation certificate (``lp_certify``).

    Attributes:
        lower_bound: certified lower bound on the worst-case margin (exact for "stable" rows).
        certified: ``lower_bound > 0``.
        status: "lp" (relaxation solved), "stable" (closed form, exact), "solver_error".
        seconds: wall time per example.
    """

    lower_bound: np.ndarray
    certified: np.ndarray
    status: np.ndarray
    seconds: np.ndarray
    eps: float

    @property
    def certified_accuracy(self) -> float:
        return float(np.mean(self.certified)) if len(self.certified) else float("nan")

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {
                "lower_bound": self.lower_bound,
                "certified": self.certified,
                "status": self.status,
                "seconds": self.seconds,
                "eps": self.eps,
            }
        )


# ---------------------------------------------------------------------------------- solvers
def _solve_lp(P: _Problem, k: int, s: _Split) -> tuple[float, np.ndarray | None, str, float]:
    """LP relaxation of example ``k``: (sound lower bound, x' of the LP solution, status,
    LP objective). Exact (not a relaxation) when the program has no binary variable."""
    c, A, rhs, lb, ub = _program(P, k, s)
    d = P.X.shape[1]
    res = linprog(c, A_ub=A, b_ub=rhs, bounds=np.column_stack([lb, ub]), method="highs")
    if res.status != 0 or res.x is None:
        # fall back to the trivially valid interval bound (lam = 0)
        bound = _dual_bound(c, A, rhs, lb, ub, np.zeros(A.shape[0]), s.const)
        return bound, None, "solver_error", math.nan
    lam = -np.asarray(res.ineqlin.marginals) if A.shape[0] else np.zeros(0)
    bound = _dual_bound(c, A, rhs, lb, ub, lam, s.const)
    obj = float(res.fun) + s.const
    return min(bound, obj), np.clip(res.x[:d], P.lo[k], P.hi[k]), "lp", obj


def _solve_milp(P: _Problem, k: int, s: _Split, time_limit: float, mip_rel_gap: float):
    """(objective, dual bound, x' or None, status) of example ``k``'s MILP (HiGHS through
    ``highspy``: :func:`attacks._highs.solve_milp`)."""
    c, A, rhs, lb, ub = _program(P, k, s)
    d, p, q = P.X.shape[1], len(s.pos), len(s.neg)
    integer = np.concatenate([np.zeros(d + p + q, dtype=bool), np.ones(q, dtype=bool)])
    res = solve_milp(c, A, rhs, lb, ub, integer, time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    x = None if res.x is None else np.clip(res.x[:d], P.lo[k], P.hi[k])
    obj = res.objective + s.const if res.x is not None else math.nan
    dual = res.dual_bound + s.const if np.isfinite(res.dual_bound) else -math.inf
    if res.status == "optimal" and res.x is not None:
        return obj, min(dual, obj), x, "optimal"
    if res.status == "time_limit":
        return obj, dual, x, "time_limit"
    return obj, dual, x, "solver_error"


def _check_time_limit(time_limit: float) -> float:
    t = float(time_limit)
    if not t > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
    return t


def exact(
    model: nn.Module,
    x: Any,
    y: Any,
    eps: float,
    lower: BoundsLike = None,
    upper: BoundsLike = None,
    time_limit: float = 60.0,
    *,
    mode: Mode = "margin",
    attack: Callable[[nn.Module, Any, Any], Any] | Literal["auto"] | None = "auto",
    mip_rel_gap: float = 1e-9,
    progress: bool = False,
) -> ExactResult:
    """Exact L-infinity worst case of a one-hidden-layer ReLU network at each example.

    Args:
        model: a ``TwoLayerReLU``-like module or ``nn.Sequential(Linear, ReLU, Linear)`` with one
            output logit.
        x: inputs ``(N, d)`` (numpy or torch), inside ``[lower, upper]``.
        y: labels ``(N,)`` in {-1, +1}.
        eps: L-infinity radius (``inf`` allowed when the bounds are finite).
        lower, upper: per-feature input bounds (scalars or ``(d,)`` arrays; None = unbounded).
        time_limit: seconds per example for the MILP (HiGHS). When it runs out the result keeps
            the solver's proven bounds and ``decided`` tells whether they settle robustness.
        mode: "margin" (default): the exact worst-case margin of every example (closed form where
            all neurons are stable, MILP elsewhere). "decide": only settle robust / not robust,
            as fast as possible: misclassified clean points and points broken by ``attack`` are
            not robust, points whose LP bound is positive are robust, and only the rest get a
            MILP (their ``margin`` is exact; the others' ``margin`` is NaN, bounds are filled).
        attack: "decide" mode only: an attack ``attack(model, x, y) -> x_adv`` run first to find
            counterexamples cheaply; "auto" (default): ``PGD(eps, steps=20)`` with the bounds;
            None: no attack. (The LP relaxation's own point is also tried as a counterexample.)
        mip_rel_gap: relative optimality gap at which HiGHS stops (its absolute gap is 1e-6).
        progress: show a tqdm progress bar over examples.

    Returns:
        An ``ExactResult`` (numpy arrays; ``.to_frame()`` gives a table).
    """
    if mode not in ("margin", "decide"):
        raise ValueError(f'mode must be "margin" or "decide", got {mode!r}')
    time_limit = _check_time_limit(time_limit)
    P = _prepare(model, x, y, eps, lower, upper)
    w = _ExactWork.start(P)
    if mode == "decide" and attack is not None and w.n:
        _attack_first(model, P, w, _default_attack(P) if attack == "auto" else attack)
    w.x_prev = w.x_adv.copy()
    iterator: Iterable[int] = range(w.n)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"exact eps={P.eps:g}", unit="ex")
    for k in iterator:
        t0 = time.perf_counter()
        _settle_example(model, P, w, k, mode, time_limit, mip_rel_gap)
        w.seconds[k] = time.perf_counter() - t0
    _finalise(model, P, w)
    proven_bad = np.isfinite(w.upper) & (w.upper <= 0)
    robust = (w.lower > 0) & ~proven_bad
    return ExactResult(
        robust=robust,
        decided=robust | proven_bad,
        margin=w.margin,
        lower_bound=w.lower,
        upper_bound=w.upper,
        x_adv=w.x_adv,
        status=w.status.astype(str),
        milp_objective=w.obj,
        n_unstable=w.n_unstable,
        n_binary=w.n_binary,
        seconds=w.seconds,
        eps=P.eps,
        mode=mode,
        info={"time_limit": time_limit, "mip_rel_gap": mip_rel_gap, "solver": "HiGHS (highspy)"},
    )


@dataclass
class _ExactWork:
    """``exact``'s per-example state, filled example by example, then finalised."""

    margin: np.ndarray  # (N,) exact worst-case margin (NaN until proven)
    lower: np.ndarray  # (N,) proven lower bound
    upper: np.ndarray  # (N,) margin at a concrete point of the threat set
    obj: np.ndarray  # (N,) the solver's objective
    n_unstable: np.ndarray
    n_binary: np.ndarray
    seconds: np.ndarray
    x_adv: np.ndarray  # (N, d) the best point found
    status: np.ndarray  # (N,) object
    candidates: np.ndarray  # (N,) bool: x_adv came from a solver (re-evaluate the model there)
    x_prev: np.ndarray  # (N, d) x_adv before the solvers ran (kept where they do no better)

    @property
    def n(self) -> int:
        return self.x_adv.shape[0]

    @classmethod
    def start(cls, P: _Problem) -> _ExactWork:
        n = P.X.shape[0]
        x0 = np.clip(P.X, P.lo, P.hi)
        return cls(
            margin=np.full(n, np.nan),
            lower=np.full(n, -np.inf),
            upper=P.clean_margin.copy(),
            obj=np.full(n, np.nan),
            n_unstable=np.zeros(n, dtype=np.int64),
            n_binary=np.zeros(n, dtype=np.int64),
            seconds=np.zeros(n),
            x_adv=x0,
            status=np.empty(n, dtype=object),
            candidates=np.zeros(n, dtype=bool),
            x_prev=x0.copy(),
        )

    def take_point(self, k: int, x: np.ndarray) -> None:
        self.x_adv[k] = x
        self.candidates[k] = True


def _default_attack(P: _Problem) -> Callable[[nn.Module, Any, Any], Any]:
    from attacks.gradient import PGD

    radius = P.eps if np.isfinite(P.eps) else float(np.max(P.upper - P.lower))
    return PGD(radius, steps=20, lower=P.lower, upper=P.upper, seed=0)


def _attack_first(model: nn.Module, P: _Problem, w: _ExactWork, attack) -> None:
    """Counterexamples from a cheap attack: a concrete upper bound before any solver runs."""
    xa = attack(model, P.X.copy(), P.y.astype(np.int64))
    xa = np.clip(np.asarray(xa, dtype=np.float64), P.lo, P.hi)
    atk_margin = model_margins(model, _to_model_input(model, xa), P.y.astype(np.int64))
    better = atk_margin < w.upper
    w.upper[better] = atk_margin[better]
    w.x_adv[better] = xa[better]


def _settle_example(
    model: nn.Module,
    P: _Problem,
    w: _ExactWork,
    k: int,
    mode: str,
    time_limit: float,
    mip_rel_gap: float,
) -> None:
    """Example ``k``: closed form when every neuron is stable, the LP when it is exact (no
    binary variable), in ``decide`` mode the shortcuts (known counterexample, LP certificate,
    LP point adversarial), and the MILP otherwise."""
    s = _split(P, k)
    w.n_unstable[k] = len(s.pos) + len(s.neg)
    w.n_binary[k] = len(s.neg)
    if len(s.pos) + len(s.neg) == 0:
        value, xs = _linear_min(s.g, P.lo[k], P.hi[k])
        w.obj[k] = value + s.const
        w.take_point(k, xs)
        w.status[k] = "stable"
        return
    if mode == "decide" and w.upper[k] <= 0:
        w.status[k] = "clean_error" if P.clean_margin[k] <= 0 else "attack_found"
        return
    if len(s.neg) == 0:  # no binary variable: the LP is the exact program
        bound, x_lp, st, obj = _solve_lp(P, k, s)
        w.lower[k], w.obj[k] = bound, obj
        w.status[k] = "optimal" if st == "lp" else st
        if x_lp is not None:
            w.take_point(k, x_lp)
        return
    if mode == "decide":
        bound, x_lp, _, _ = _solve_lp(P, k, s)
        w.lower[k] = bound
        if x_lp is not None:
            m_lp = float(
                model_margins(
                    model, _to_model_input(model, x_lp[None]), P.y[k : k + 1].astype(np.int64)
                )[0]
            )
            if bound > 0 or m_lp <= 0:
                w.status[k] = "lp_certified" if bound > 0 else "lp_point_adversarial"
                w.take_point(k, x_lp)
                return
        elif bound > 0:
            w.status[k] = "lp_certified"
            return
    obj, dual, xs, st = _solve_milp(P, k, s, time_limit, mip_rel_gap)
    w.obj[k] = obj
    w.lower[k] = max(w.lower[k], dual)
    w.status[k] = st
    if xs is not None:
        w.take_point(k, xs)


def _finalise(model: nn.Module, P: _Problem, w: _ExactWork) -> None:
    """The model's own margin at every solver point (a concrete upper bound); exact rows report
    the solver's point and their margin, checked against the solver's objective."""
    if not w.candidates.any():
        return
    idx = np.flatnonzero(w.candidates)
    m_at = model_margins(model, _to_model_input(model, w.x_adv[idx]), P.y[idx].astype(np.int64))
    exact_kind = np.isin(w.status[idx], ("stable", "optimal"))
    take = exact_kind | (m_at < w.upper[idx])  # other rows keep the lower of the two
    w.upper[idx[take]] = m_at[take]
    w.x_adv[idx[~take]] = w.x_prev[idx[~take]]
    exact_rows = idx[exact_kind]
    # the proof says: nothing in the threat set is below the objective (to solver tolerance)
    obj = w.obj[exact_rows]
    gap = w.upper[exact_rows] - obj
    round_off = np.array([_round_off(P, _split(P, k), k) for k in exact_rows])
    bad = np.abs(gap) > 1e-6 * (1.0 + np.abs(obj)) + round_off
    if bad.any():
        warnings.warn(
            f"exact: the model's margin at the solver's optimum differs from the MILP "
            f"objective by up to {np.max(np.abs(gap)):.3g} on {int(bad.sum())} example(s); "
            "`margin` reports the model's value at x_adv and `lower_bound` is capped by it",
            SoundnessWarning,
            stacklevel=3,
        )
    w.margin[exact_rows] = w.upper[exact_rows]
    st_rows = exact_rows[w.status[exact_rows] == "stable"]
    r = np.array([_round_off(P, _split(P, k), k) for k in st_rows])
    w.lower[st_rows] = w.obj[st_rows] - r
    # never claim a lower bound above a concrete point's margin
    w.lower[exact_rows] = np.minimum(w.lower[exact_rows], w.upper[exact_rows])


def lp_certify(
    model: nn.Module,
    x: Any,
    y: Any,
    eps: float,
    lower: BoundsLike = None,
    upper: BoundsLike = None,
    *,
    progress: bool = False,
) -> CertifyResult:
    """Certified lower bound on the L-infinity worst-case margin from the LP (triangle)
    relaxation of ``exact``'s MILP. Same arguments as ``exact``. The bound is computed from the
    LP's dual multipliers by weak duality, so a loose or failed LP solve can only weaken it,
    never make it unsound. Rows where every neuron is stable use the closed form (exact)."""
    P = _prepare(model, x, y, eps, lower, upper)
    n = P.X.shape[0]
    lb = np.full(n, -np.inf)
    status = np.empty(n, dtype=object)
    secs = np.zeros(n)
    iterator = range(n)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"lp eps={P.eps:g}", unit="ex")
    for k in iterator:
        t0 = time.perf_counter()
        s = _split(P, k)
        if len(s.pos) + len(s.neg) == 0:
            value, _ = _linear_min(s.g, P.lo[k], P.hi[k])
            lb[k] = value + s.const - _round_off(P, s, k)
            status[k] = "stable"
        else:
            lb[k], _, status[k], _ = _solve_lp(P, k, s)
        secs[k] = time.perf_counter() - t0
    return CertifyResult(
        lower_bound=lb, certified=lb > 0, status=status.astype(str), seconds=secs, eps=P.eps
    )


def stable_margin(
    model: nn.Module,
    x: Any,
    y: Any,
    eps: float,
    lower: BoundsLike = None,
    upper: BoundsLike = None,
) -> np.ndarray:
    """Closed-form worst-case margin where every neuron is stable on the threat set.

    Returns an array ``(N,)``: ``y c + sum_{active} y alpha_j b_j + sum_i min(g_i lo_i, g_i hi_i)``
    with ``g = sum_{active} y alpha_j u_j`` over the box ``[lo, hi]`` = ball intersected with the
    bounds (exact, also when the bounds clip the ball asymmetrically), and NaN for examples with
    an unstable neuron (use ``exact`` there)."""
    P = _prepare(model, x, y, eps, lower, upper)
    res = np.full(P.X.shape[0], np.nan)
    for k in range(P.X.shape[0]):
        s = _split(P, k)
        if len(s.pos) + len(s.neg) == 0:
            res[k] = _linear_min(s.g, P.lo[k], P.hi[k])[0] + s.const
    return res


class ExactAttack(Attack):
    """The exact verifier as an attack object: ``ExactAttack(eps, lower, upper)(model, x, y)``
    returns the MILP's worst-case inputs (the strongest possible L-infinity attack on a
    one-hidden-layer ReLU network). Runs ``exact(..., mode="decide")``, so robust examples get a
    non-adversarial point of the ball. Binary models only."""

    def __init__(
        self,
        eps: float,
        lower: BoundsLike = None,
        upper: BoundsLike = None,
        time_limit: float = 60.0,
        *,
        attack: Callable[[nn.Module, Any, Any], Any] | Literal["auto"] | None = "auto",
    ) -> None:
        super().__init__(eps, norm="inf", lower=lower, upper=upper)
        self.time_limit = _check_time_limit(time_limit)
        self.attack = attack
        self.last_result: ExactResult | None = None

    def _run(self, model: nn.Module, p: _Prepared) -> torch.Tensor:
        if p.n_outputs != 1 or p.x.ndim != 2:
            raise ValueError("ExactAttack supports binary one-logit models on (N, d) inputs")
        lo = p.lo.detach().cpu().numpy().astype(np.float64)
        hi = p.hi.detach().cpu().numpy().astype(np.float64)
        res = exact(
            model,
            p.x.detach().cpu().numpy().astype(np.float64),
            p.y.detach().cpu().numpy(),
            self.eps,
            lo,
            hi,
            self.time_limit,
            mode="decide",
            attack=self.attack,
        )
        self.last_result = res
        return torch.as_tensor(res.x_adv, dtype=p.x.dtype, device=p.x.device)
