"""Activation patterns for the robust convex programs that need no adversarially trained network,
and the robust defaults built on them (MATH.md section 6).

The certified programs (R) and (Rc) keep every block's pattern fixed and demand that it be
stable (hard) or pay for instability (soft) on the eps-balls of the training points. Random
Gaussian patterns are hyperplanes through the data, so most blocks are forced (or priced) to
zero: the program collapses to a linear model or keeps a handful of neurons. The patterns that
survive are those of a network that was *trained* to be certifiably robust: its neurons already
keep their distance from the training points of the class they must stay silent on.

:func:`network_seeded_patterns` trains such a network in seconds by certified training
(:func:`~robustbench_convex.baselines.train_ibp` by default, or CROWN-IBP / PGD-AT) and returns
the class-aware split of its arrangement (plus the all-active pattern), the patterns the
class-aware program (Rc) needs. ``ConvexReLUClassifier(robust_eps=...)`` and the sweep's
``convex-robust-class-aware`` method use it by default (``patterns="ibp"``).

Measured at eps 0.1, hinge loss, beta = 1e-3 n, Clarabel (exploratory runs; the benchmark's
final numbers are in results/robust_vs_pgd_at.md): digits-2v8, pattern budget 16, penalty 1:
Gaussian class-aware patterns kept 7 ReLU units (exact robust test accuracy 0.96), the
arrangement of an IBP network of width 32 kept 11 (0.97), of width 8 or 16 only 3-4 (0.90-0.91:
IBP leaves most neurons dead, so narrow seeds give few distinct patterns). breast-cancer: 3-4
ReLU units at penalty 1 whatever the patterns; 18-25 at penalty 0.1 (exact 0.95-0.96). Hence
the defaults: an IBP seed at the baselines' width, the patterns of its most important neurons
within a budget of ``n_patterns + n_patterns // 4 + 1`` patterns (:func:`default_max_patterns`:
the program's cost grows with the cube of the pattern count; at the budget all three benchmark
sets kept as good or better certified accuracy in less time; see
:func:`network_seeded_patterns`) and the penalty ladder 1 -> 0.3 -> 0.1 of
:func:`solve_soft_with_fallback` (a genuine rung, >= 8 ReLU units, is kept unless a near-linear
one certifies a fraction of the training set larger by more than 0.05:
:func:`choose_penalty`).

With the input domain known (``ConvexReLUClassifier(input_bounds=(lower, upper))``, the
benchmark's ``Rc-ibp-own``) the ladder starts with one more rung (:func:`solve_rungs`): the
seed's own patterns (not split by class), each with its neuron's output sign so that it
carries one block (:func:`signed_own_patterns`, ``ConvexReLUProblem(output_signs=)``; since
2026-12-02, before that both blocks of half as many patterns, :func:`own_patterns`), in the
program that certifies the ball clipped to the bounds (``ConvexReLUProblem(lower=, upper=)``),
its loss mixed with the nominal loss (``clean_weight`` :data:`DEFAULT_CLEAN_WEIGHT` = 0.5,
penalty ``1 - 0.5``: :func:`own_rung`). The signs took the mnist-2v8-t10k rung's solve from
about 28 s to 17-18 s (14 signed patterns; 11 ReLU units, exact 0.92, clean 0.949, against 11
unsigned: 10, 0.92, 0.945). The numbers below are the unsigned rung's (pass 5). On
mnist-2v8-t10k (70% of the pixel values at 0) that one solve keeps 10
ReLU units and certifies 0.892 of the training set against 19 units and 0.846 for the
class-split ladder's two solves (clean test 0.945 vs 0.894, exact 0.92 vs 0.88; without the
mix, pass 4: 9 units, 0.886, clean 0.929, exact 0.89); on breast-cancer it is the only solve;
on digits-2v8 it keeps 5 units and the class-split ladder decides as before
(results/robust_vs_pgd_at_notes.md, passes 4 and 5).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from robustbench_convex._checks import check_data, check_float, check_int
from robustbench_convex.patterns import class_aware_patterns, patterns_from_network, unique_patterns

__all__ = [
    "DEFAULT_CLEAN_WEIGHT",
    "DEFAULT_GENUINE_MARGIN",
    "DEFAULT_MIN_RELU",
    "DEFAULT_PENALTY_LADDER",
    "DEFAULT_ROBUST_LOSS",
    "DEFAULT_ROBUST_N_PATTERNS",
    "DEFAULT_ROBUST_PATTERNS",
    "DEFAULT_STABILITY_PENALTY",
    "ROBUST_PATTERN_STRATEGIES",
    "RobustPatternStrategy",
    "SeededPatterns",
    "SoftStabilityFit",
    "choose_penalty",
    "collapse_advice",
    "default_max_patterns",
    "important_neurons",
    "network_seeded_patterns",
    "own_patterns",
    "own_rung",
    "signed_own_budget",
    "signed_own_patterns",
    "solve_rungs",
    "solve_soft_with_fallback",
]

RobustPatternStrategy = Literal["ibp", "crown-ibp", "pgd-at"]
ROBUST_PATTERN_STRATEGIES: tuple[str, ...] = ("ibp", "crown-ibp", "pgd-at")
DEFAULT_ROBUST_PATTERNS = "ibp"
# the seed's n_patterns by default (the estimator's and the sweep methods' "auto" / None): an IBP
# network of width 32, the baselines' width, and a budget of 21 patterns, as in
# benchmarks/robust_vs_pgd_at.py, where every target was measured. With 32 (width 64, budget 41)
# breast-cancer needed a second rung (27 s against 21 s CPU, certified training accuracy 0.962
# against 0.980) and mnist-2v8-t10k's program exceeded CVXPY's size: ADMM, 860 s, max_iter
DEFAULT_ROBUST_N_PATTERNS = 16
DEFAULT_STABILITY_PENALTY = 1.0
DEFAULT_ROBUST_LOSS = "hinge"
# soft-stability penalties tried in turn by the defaults (solve_soft_with_fallback); 0.3 before
# 0.1: on mnist-2v8-t10k both keep 31 ReLU units, 0.3 at exact / LP 0.88 / 0.88 in 107 s, 0.1 at
# 0.86 / 0.86 in 151 s (results/robust_vs_pgd_at_notes.md)
DEFAULT_PENALTY_LADDER: tuple[float, ...] = (1.0, 0.3, 0.1)
DEFAULT_MIN_RELU = 8
# a genuine rung (>= min_relu ReLU units) is given up for a near-linear one only when its certified
# training accuracy is lower by more than this (solve_soft_with_fallback / choose_penalty)
DEFAULT_GENUINE_MARGIN = 0.05
# the own rung's clean weight kappa: loss (1 - kappa) * robust + kappa * nominal, the final natural
# loss weight of the IBP seed's own training (baselines.train_ibp, kappa_end; Gowal et al. 2018);
# the stability penalty is scaled by (1 - kappa) with it (own_rung). Measured on mnist-2v8-t10k
# (results/robust_vs_pgd_at_notes.md, pass 5): certified train 0.892 (kappa 0: 0.886, 0.6: 0.887)
DEFAULT_CLEAN_WEIGHT = 0.5


def default_max_patterns(n_patterns: int) -> int:
    """The default pattern budget of :func:`network_seeded_patterns`: ``n_patterns +
    n_patterns // 4 + 1`` class-aware patterns (21 at the benchmark's ``n_patterns = 16``).

    Why a budget on patterns rather than on seed neurons: the robust program's interior-point
    cost grows with the cube of its pattern count ``P`` (the dense ``2 d P`` weight block), and
    a neuron of the seed gives one or two class-aware patterns depending on the data (IBP kills
    one side of most neurons on digits-2v8: 16 neurons give P = 18 there, 29 on breast-cancer,
    33 on mnist-2v8-t10k). Measured at eps 0.1 (hinge, beta 1e-3 n, penalty ladder, Clarabel;
    exact / LP test accuracy on 100 points; results/robust_vs_pgd_at_notes.md): at P = 21
    digits-2v8 keeps 18 neurons, 10 ReLU units, 0.97 / 0.97 at penalty 1 (top-16 neurons,
    P = 18: 8 units, 0.96 / 0.95); breast-cancer keeps 12 neurons, 17 units, 0.95 / 0.95 at
    penalty 0.3 (P = 29: 22 units, 0.94 / 0.94, 1.4x the solve time); mnist-2v8-t10k keeps 10
    neurons, 19 units, 0.88 / 0.88 at penalty 0.3 (P = 33: 31 units, 0.88 / 0.88, about 2.5x
    the solve time). Three data sets: a budget that held on them, not a law. With
    ``n_patterns = 32`` (the estimator's default until 2026-12-02; budget 41, was P = 64)
    breast-cancer's penalty-1 rung keeps
    7 ReLU units instead of 9, so the ladder solves a second rung there (27 s against 21 s cpu,
    certified train 0.962 against 0.980); digits-2v8 is unchanged (18 units, 13 s against 16 s)."""
    n_patterns = check_int("n_patterns", n_patterns, 1)
    return n_patterns + n_patterns // 4 + 1


@dataclass(frozen=True)
class SeededPatterns:
    """Patterns from a trained network's arrangement.

    Attributes:
        D: ``(n, P)`` float64 0/1 patterns (class-aware split of the seed network's patterns on
            the training data, the all-active pattern, optionally Gaussian class-aware patterns;
            duplicates and all-zero columns dropped).
        strategy: ``"ibp"``, ``"crown-ibp"`` or ``"pgd-at"``: how the seed network was trained.
        seed_width: hidden neurons of the seed network.
        seconds: wall time of the seed training plus the pattern extraction.
        source: a short label for ``ConvexReLUProblem.pattern_source`` (e.g. ``"ibp-network"``).
        seed_certified_train_accuracy: the seed network's own certified training accuracy (IBP /
            CROWN-IBP seeds; None for PGD-AT).
        kept_neurons: how many of the seed's neurons gave patterns (the most important ones,
            :func:`important_neurons`; ``seed_width`` with ``keep_neurons="all"``).
        net: the seed network itself (a ``TwoLayerReLU``), e.g. for :func:`own_patterns`.
    """

    D: np.ndarray
    strategy: str
    seed_width: int
    seconds: float
    source: str
    seed_certified_train_accuracy: float | None
    kept_neurons: int | None = None
    net: Any = None


def important_neurons(net: Any, k: int) -> np.ndarray:
    """Indices of the ``k`` neurons of ``net`` with the largest output scale
    ``|alpha_j| * ||(u_j, b_j)||_2`` (its contribution per unit of input; sorted, largest
    first; all neurons when ``k >= width``)."""
    weights = net.to_numpy()
    U = weights["U"]
    b = np.zeros(U.shape[0]) if weights["b"] is None else weights["b"]
    scale = np.abs(weights["alpha"]) * np.linalg.norm(np.hstack([U, b[:, None]]), axis=1)
    return np.argsort(-scale, kind="stable")[: max(0, int(k))]


def _top_neurons(net: Any, k: int) -> Any:
    """The sub-network of the ``k`` most important neurons of ``net`` (``net`` itself when
    ``k >= width``)."""
    from robustbench_convex.network import TwoLayerReLU

    if k >= net.width:
        return net
    weights = net.to_numpy()
    keep = important_neurons(net, k)
    b = weights["b"]
    return TwoLayerReLU.from_numpy(
        U=weights["U"][keep], b=None if b is None else b[keep],
        alpha=weights["alpha"][keep], c=weights["c"],
    )  # fmt: skip


def _within_pattern_budget(
    net: Any, X: np.ndarray, y: np.ndarray, max_patterns: int, *, class_split: bool = True
) -> tuple[int, np.ndarray]:
    """``(k, D)``: the largest ``k >= 1`` whose ``k`` most important neurons give at most
    ``max_patterns`` class-aware patterns (plus the all-active one), and those patterns
    (``class_split=False``: their own patterns plus the all-active one).
    Bisection (``best`` is always the split of ``lo``): adding a neuron adds columns, so the
    count of distinct patterns never falls."""

    def split(k: int) -> np.ndarray:
        return patterns_from_network(
            _top_neurons(net, k), X, class_aware=class_split, y=y if class_split else None,
            add_ones=True,
        )  # fmt: skip

    lo, hi = 1, int(net.width)
    best = split(lo)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        D = split(mid)
        if D.shape[1] <= max_patterns:
            lo, best = mid, D
        else:
            hi = mid - 1
    return lo, best  # lo == 1 with more patterns when even one neuron exceeds the budget


def check_strategy(strategy: Any) -> str:
    """``strategy`` if it is one of :data:`ROBUST_PATTERN_STRATEGIES`, else a ValueError."""
    if strategy not in ROBUST_PATTERN_STRATEGIES:
        raise ValueError(f"strategy must be one of {ROBUST_PATTERN_STRATEGIES}, got {strategy!r}")
    return str(strategy)


def network_seeded_patterns(
    X: Any,
    y: Any,
    *,
    eps: float,
    n_patterns: int = DEFAULT_ROBUST_N_PATTERNS,
    strategy: RobustPatternStrategy = "ibp",
    lower: Any = None,
    upper: Any = None,
    loss: Literal["squared", "hinge", "logistic"] = "hinge",
    beta: float | None = None,
    seed: int = 0,
    add_gaussian: bool = False,
    epochs: int = 200,
    num_threads: int | None = 1,
    keep_neurons: int | Literal["all"] | None = None,
    max_patterns: int | Literal["auto"] | None = "auto",
    class_split: bool = True,
) -> SeededPatterns:
    """Class-aware patterns from the arrangement of a quickly trained robust network.

    A network of width ``2 * n_patterns`` (the width of the baselines at a matched pattern
    budget; IBP-trained networks leave many neurons dead or duplicate, so fewer distinct
    patterns come back: measured 27 of 65 on digits-2v8 at n_patterns 16) is trained by
    ``strategy`` (certified training
    by IBP (default) or CROWN-IBP, or PGD adversarial training) at radius ``eps`` with the
    project's objective (``beta``: default ``1e-3 n``, the robust benchmark's value); each
    neuron's pattern ``1[u_j^T x_k + b_j >= 0]`` is split by class (a detector of each class,
    :func:`~robustbench_convex.patterns.split_by_class`) and the all-active pattern is added (at
    most ``4 n_patterns + 1`` patterns; duplicates and all-zero columns dropped).
    ``add_gaussian=True`` appends ``class_aware_patterns(n_patterns)`` as well.

    By default the most important neurons of the seed (:func:`important_neurons`: largest
    ``|alpha_j| ||(u_j, b_j)||``) give patterns, as many as keep the class-aware split within
    ``max_patterns`` patterns (default :func:`default_max_patterns`, ``n_patterns + n_patterns
    // 4 + 1``): the robust program's interior-point cost grows with the cube of its pattern
    count, and it keeps few blocks anyway (the Gaussian patterns of ``add_gaussian`` come on top
    of the budget). Until 2026-12-02 the default kept the ``n_patterns`` most important neurons
    whatever the count of patterns they gave; measured then at eps 0.1 (hinge, beta 1e-3 n,
    width 32 seed, Clarabel):
    breast-cancer all 32 neurons P = 61, penalty 1: 8 ReLU units, exact / LP test accuracy
    0.92 / 0.92, clean 0.965, 21 s; top 16 neurons P = 29: penalty 1 keeps 6 ReLU units, so the
    ladder goes to 0.1: 19 ReLU units, 0.96 / 0.96, clean 0.977, both solves 14 s. digits-2v8:
    all P = 27: 11 ReLU units, 0.97 / 0.97, 6-8 s; top 16 P = 18: 8 ReLU units, 0.96 / 0.95,
    2.7 s (results/robust_vs_pgd_at_notes.md).

    Args:
        X: training inputs ``(n, d)`` (without the bias column); y: labels in {-1, +1}.
        eps: l_inf radius ``> 0`` of the robust program (input units).
        n_patterns: pattern budget (``>= 1``): the seed has width ``2 n_patterns``, the
            default budget is :func:`default_max_patterns` of it. Default
            ``DEFAULT_ROBUST_N_PATTERNS`` (16), the estimator's and the sweep's.
        strategy: ``"ibp"``, ``"crown-ibp"`` or ``"pgd-at"``.
        lower, upper: input bounds for the seed training (None: unbounded).
        loss, beta, seed, epochs, num_threads: of the seed training.
        add_gaussian: also append Gaussian class-aware patterns.
        keep_neurons: how many of the seed's neurons give patterns: None (default: set by
            ``max_patterns``, or ``n_patterns`` neurons when ``max_patterns`` is None), an int
            ``>= 1``, or ``"all"``.
        max_patterns: with ``keep_neurons=None``, the pattern budget: the largest number of
            most important neurons whose class-aware split (plus the all-active pattern) has at
            most this many distinct patterns (at least one neuron). ``"auto"`` (default):
            :func:`default_max_patterns`; an int ``>= 2``; None: no budget (``n_patterns``
            neurons). Ignored when ``keep_neurons`` is given.
        class_split: True (default): the class-aware split of each neuron's pattern (a detector
            of each class, robustly silent on the other). False: each neuron's own pattern on
            both classes (plus the all-active one), as the seed computes it; the class-aware
            program then keeps both blocks of every pattern (no one-sided restriction applies),
            so the budget counts two blocks per pattern: at most ``(max_patterns + 1) // 2``
            patterns. With input bounds (``ConvexReLUProblem(lower=, upper=)``) an IBP seed's
            neurons, stable on the clipped balls of both classes, stay feasible as they are;
            measured at eps 0.1 (results/robust_vs_pgd_at_notes.md, 2026-12-02 pass 4).

    Returns:
        A :class:`SeededPatterns`.
    """
    from robustbench_convex import baselines

    strategy = check_strategy(strategy)
    X_np, y_np = check_data(X, y)
    eps = check_float("eps", eps, positive=True)
    n_patterns = check_int("n_patterns", n_patterns, 1)
    n = X_np.shape[0]
    beta = 1e-3 * n if beta is None else check_float("beta", beta, positive=False)
    width = 2 * n_patterns
    if max_patterns == "auto":
        max_patterns = default_max_patterns(n_patterns)
    elif max_patterns is not None:
        max_patterns = check_int("max_patterns", max_patterns, 2)
    if keep_neurons is None:
        n_keep = n_patterns
    elif keep_neurons == "all":
        n_keep = width
    else:
        n_keep = min(width, check_int("keep_neurons", keep_neurons, 1))
    trainer = {
        "ibp": baselines.train_ibp,
        "crown-ibp": baselines.train_crown_ibp,
        "pgd-at": baselines.train_pgd_at,
    }[strategy]
    t0 = time.perf_counter()
    net, record = trainer(
        X_np, y_np, eps=eps, lower=lower, upper=upper, width=width, loss=loss,
        weight_decay=beta, epochs=epochs, seed=seed, num_threads=num_threads,
    )  # fmt: skip
    class_split = bool(class_split)
    if keep_neurons is None and max_patterns is not None:
        budget = max_patterns if class_split else max(1, (max_patterns + 1) // 2)
        n_keep, D = _within_pattern_budget(net, X_np, y_np, budget, class_split=class_split)
    else:
        D = patterns_from_network(
            _top_neurons(net, n_keep), X_np, class_aware=class_split,
            y=y_np if class_split else None, add_ones=True,
        )  # fmt: skip
    if add_gaussian:
        Xa = np.hstack([X_np, np.ones((n, 1))])
        D = unique_patterns(np.hstack([D, class_aware_patterns(Xa, y_np, n_patterns, seed)]))
    return SeededPatterns(
        D=D,
        strategy=strategy,
        seed_width=width,
        seconds=time.perf_counter() - t0,
        source=f"{strategy}-network",
        seed_certified_train_accuracy=record.certified_train_accuracy,
        kept_neurons=n_keep,
        net=net,
    )


def own_patterns(net: Any, X: Any, max_patterns: int) -> np.ndarray:
    """The seed network's own patterns (not split by class) of its most important neurons,
    plus the all-active pattern, at most ``(max_patterns + 1) // 2`` of them (both blocks of each
    are kept by the class-aware program: about as many weights as ``max_patterns`` one-sided
    class-split patterns); what :func:`network_seeded_patterns` gives with
    ``class_split=False``, from an already trained seed (``SeededPatterns.net``)."""
    X_np = np.asarray(X, dtype=np.float64)
    max_patterns = check_int("max_patterns", max_patterns, 2)
    budget = max(1, (max_patterns + 1) // 2)
    return _within_pattern_budget(net, X_np, np.zeros(len(X_np)), budget, class_split=False)[1]


def signed_own_budget(max_patterns: int) -> int:
    """How many own patterns :func:`signed_own_patterns` keeps within a budget of
    ``max_patterns`` class-split patterns: ``2 (max_patterns + 1) // 3`` (14 at the default
    21).

    Why: a signed pattern carries one block, so ``(max_patterns + 1) // 2`` of them (the
    unsigned rung's count, :func:`own_patterns`) would halve the weights of the program;
    measured on the clipped-ball own rung at eps 0.1 (hinge, beta 1e-3 n, clean weight 0.5,
    penalty 0.5, Clarabel faer on one thread, 2026-12-02): mnist-2v8-t10k at 11 / 13 / 14 / 16
    / 21 signed patterns: 9 / 11 / 11 / 12 / 14 ReLU units, exact test 0.90 / 0.92 / 0.92 /
    0.91 / 0.90, solve 14.7 / 17.8 / 18.1 / 27.3 / 49.2 s (the unsigned 11: 10 units, 0.92,
    about 28 s); breast-cancer at 11 / 13 / 14 / 16: 8 / 9 / 10 / 11 units, exact 0.95 / 0.95
    / 0.95 / 0.96, 2.2-3.9 s."""
    return 2 * (check_int("max_patterns", max_patterns, 2) + 1) // 3


def signed_own_patterns(net: Any, X: Any, max_patterns: int) -> tuple[np.ndarray, np.ndarray]:
    """The seed network's own patterns (not split by class) of its most important neurons, plus
    the all-active pattern, at most :func:`signed_own_budget` ``(max_patterns)`` of them, each
    with its neuron's output sign: ``(D, signs)``, ``D`` ``(n, P)``, ``signs`` ``(P,)`` in
    {-1, 0, +1} for ``ConvexReLUProblem(output_signs=)``.

    ``signs[i]`` is the sign of the output weight of the seed neurons whose pattern is ``D[:,
    i]`` (``+1``: only ``v_i`` is kept, ``-1``: only ``w_i``), 0 (both blocks) for the
    all-active pattern and where neurons of both signs share the pattern. The program then
    keeps about half the weights of :func:`own_patterns`' for the same patterns: the
    interior point's dense block shrinks with it (mnist-2v8-t10k own rung, 11 patterns: 14.7 s
    against about 28 s; the seed's sides are the ones the unsigned program uses: digits-2v8
    reaches the same optimum to 8 digits)."""
    X_np = np.asarray(X, dtype=np.float64)
    budget = signed_own_budget(max_patterns)
    k, D = _within_pattern_budget(net, X_np, np.zeros(len(X_np)), budget, class_split=False)
    top = _top_neurons(net, k).to_numpy()
    pre = X_np @ top["U"].T + (0.0 if top["b"] is None else top["b"])
    neuron_patterns = pre >= 0  # (n, k): the rule of patterns_from_network
    alpha_sign = np.sign(top["alpha"])
    signs = np.zeros(D.shape[1], dtype=np.int64)
    for i in range(D.shape[1]):
        column = D[:, i] == 1
        if column.all():
            continue  # the all-active pattern: the linear part, both signs
        owners = np.flatnonzero(np.all(neuron_patterns == column[:, None], axis=0))
        found = set(alpha_sign[owners].tolist()) - {0.0}
        if len(found) == 1:
            signs[i] = int(found.pop())
    return D, signs


def own_rung(
    X: Any,
    y: Any,
    D: np.ndarray,
    *,
    loss: Literal["hinge", "logistic"],
    beta: float,
    eps: float,
    lower: Any,
    upper: Any,
    clean_weight: float = DEFAULT_CLEAN_WEIGHT,
    stability_penalty: float = DEFAULT_STABILITY_PENALTY,
    bias: bool = True,
    seed: int = 0,
    source: str | None = None,
    output_signs: np.ndarray | None = None,
) -> tuple[str, float, Callable[[], Any]]:
    """The first rung of the seeded defaults with input bounds, for :func:`solve_rungs`:
    ``(label, penalty, build)`` with ``build()`` the class-aware program of the seed's own
    patterns ``D`` (:func:`own_patterns`) certifying the ball clipped to ``[lower, upper]``,
    whose loss term mixes the robust and the nominal loss with weight ``clean_weight = kappa``
    (``ConvexReLUProblem(clean_weight=)``: ``(1 - kappa) * robust + kappa * nominal``) and whose
    stability penalty is ``stability_penalty * (1 - kappa)``: a slack is paid at the rate
    ``stability_penalty`` per unit of the robust loss, as without the mix (the robust hinge's
    slope in the margin is ``1 - kappa``).

    Why (mnist-2v8-t10k, eps 0.1, hinge, beta 1e-3 n, Clarabel; results/robust_vs_pgd_at_notes.md
    pass 5): kappa 0 at penalty 1 (the default until 2026-12-02): 9 ReLU units, certified train
    0.886, clean train 0.926 (clean test 0.929, exact 0.89); kappa 0.5 at penalty 1: 8 units,
    0.892, 0.949 (0.940, 0.89); kappa 0.5 at penalty 0.5 (default): 10 units, 0.892, 0.957
    (0.945, 0.92); kappa 0.6 at 0.4: 10 units, 0.887, 0.963 (0.953, 0.91); kappa 0 at 0.5: 15
    units, 0.890, 0.926 (0.935, 0.92). Chosen on the training signals (the highest certified
    training accuracy with >= 8 units) and the seed's own final natural-loss weight (0.5).

    Args:
        X, y: training data (``y`` in {-1, +1}); D: ``(n, P)`` patterns (the seed's own).
        loss: a margin loss; beta: the regularization; eps: the l_inf radius (> 0).
        lower, upper: the input bounds (at least one not None).
        clean_weight: ``kappa`` in ``[0, 1)``; stability_penalty: per unit of robust loss.
        bias, seed: of the problem; source: its ``pattern_source`` (None: ``"given"``).
        output_signs: the patterns' output signs (``ConvexReLUProblem(output_signs=)``; the
            defaults pass those of :func:`signed_own_patterns`); None keeps both blocks.
    """
    from robustbench_convex.formulations import check_clean_weight

    kappa = check_clean_weight(clean_weight, check_float("eps", eps, positive=True))
    if lower is None and upper is None:
        raise ValueError(
            "own_rung certifies the ball clipped to the input bounds: give lower and / or upper "
            "(e.g. 0 and 1 for pixels)"
        )
    penalty = check_float("stability_penalty", stability_penalty, positive=True) * (1.0 - kappa)

    def build() -> Any:
        from robustbench_convex.formulations import ConvexReLUProblem

        problem = ConvexReLUProblem(
            X, y, loss=loss, beta=beta, patterns=D, robust_eps=eps, robust="class-aware",
            stability_penalty=penalty, bias=bias, seed=seed, lower=lower, upper=upper,
            clean_weight=kappa, output_signs=output_signs,
        )  # fmt: skip
        if source is not None:
            problem.pattern_source = source
        return problem

    kind = "own patterns" if output_signs is None else "own signed patterns"
    return f"{kind}, clipped ball, clean weight {kappa:g}, {penalty:g}", penalty, build


def collapse_advice(
    *, program: str, stability_penalty: float | None, pattern_source: str, n_patterns: int
) -> str:
    """One piece of advice for a collapsed robust program that the user has not already taken:
    switch to the class-aware program, then soft stability, then network-seeded patterns, then
    more patterns / a smaller radius."""
    if program == "certified":
        return (
            "use robust='class-aware' (MATH.md (Rc)): only the upper bound of each neuron needs "
            "a stable pattern, so far fewer blocks are forced to zero"
        )
    if program == "class-aware" and stability_penalty is None:
        return (
            f"make the stability constraints soft: stability_penalty={DEFAULT_STABILITY_PENALTY:g} "
            "(points that cannot be certified are given up instead of zeroing every neuron)"
        )
    if not pattern_source.endswith("-network"):
        return (
            "seed the patterns with a certified-trained network: patterns='ibp' "
            "(ConvexReLUClassifier / the sweep) or "
            "robustbench_convex.robust_patterns.network_seeded_patterns(X, y, eps=...).D"
        )
    return (
        f"the patterns already come from a robust network ({pattern_source}) and the program "
        "still keeps no ReLU unit: raise n_patterns (now "
        f"{n_patterns}), lower beta, or lower robust_eps (this radius may leave no room for a "
        "certified non-linear detector on these data)"
    )


@dataclass(frozen=True)
class SoftStabilityFit:
    """What :func:`solve_soft_with_fallback` did.

    Attributes:
        solution: the chosen solution.
        penalty: its stability penalty.
        tried: ``(penalty, n_relu_active, certified_train_accuracy, seconds)`` per solve, in order.
        reason: why this solution was chosen (a sentence for notes and records).
        labels: one label per solve, in order (:func:`solve_rungs`; the penalty for a plain
            penalty ladder).
    """

    solution: Any
    penalty: float
    tried: tuple[tuple[float, int, float, float], ...]
    reason: str
    labels: tuple[str, ...] = ()


def choose_penalty(
    tried: Sequence[tuple[float, int, float, float]],
    *,
    min_relu: int = DEFAULT_MIN_RELU,
    certified_tolerance: float = 0.02,
    genuine_margin: float = DEFAULT_GENUINE_MARGIN,
) -> tuple[int, str]:
    """Which rung of a penalty ladder to keep, and why (training data only).

    ``tried`` holds ``(penalty, n_relu_active, certified_train_accuracy, seconds)`` per solve.
    A rung is *genuine* when it keeps at least ``min_relu`` ReLU units. The rule:

    1. If some rung is genuine, the genuine rung with the highest certified training accuracy
       (ties: more ReLU units) is kept, unless a non-genuine rung certifies more than
       ``genuine_margin`` (default 0.05, i.e. 5 points) more training points; then rule 2
       applies to all rungs. A network with a handful of units is near-linear: it is not
       what a user who asks for a certified ReLU network wants unless it is clearly better.
    2. Otherwise the rung with the most ReLU units among those whose certified training
       accuracy is within ``certified_tolerance`` of the best one's (ties: higher accuracy).

    Returns ``(index into tried, a sentence saying which rung was chosen and why)``.
    """
    if not tried:
        raise ValueError("tried must hold at least one solve")
    best_cert = max(t[2] for t in tried)
    genuine = [i for i, t in enumerate(tried) if t[1] >= min_relu]
    if genuine:
        g = max(genuine, key=lambda i: (tried[i][2], tried[i][1]))
        if tried[g][2] >= best_cert - genuine_margin:
            why = f"genuine ({tried[g][1]} >= {min_relu} ReLU units)"
            if tried[g][2] < best_cert:
                why += (
                    f", certified train {tried[g][2]:.3f} within the margin {genuine_margin:g} "
                    f"of the best {best_cert:.3f}"
                )
            return g, f"chose stability_penalty {tried[g][0]:g}: {why}"
    eligible = [i for i, t in enumerate(tried) if t[2] >= best_cert - certified_tolerance]
    pick = max(eligible, key=lambda i: (tried[i][1], tried[i][2]))
    if genuine:
        why = (
            f"every genuine rung certifies more than {genuine_margin:g} fewer training points "
            f"than the best ({best_cert:.3f}); most ReLU units within {certified_tolerance:g}"
        )
    else:
        why = (
            f"no rung kept {min_relu} ReLU units; most ReLU units within {certified_tolerance:g} "
            f"of the best certified train {best_cert:.3f}"
        )
    return pick, f"chose stability_penalty {tried[pick][0]:g}: {why}"


def solve_soft_with_fallback(
    build: Callable[[float], Any],
    solve: Callable[[Any], Any],
    *,
    penalties: Sequence[float] = DEFAULT_PENALTY_LADDER,
    min_relu: int = DEFAULT_MIN_RELU,
    certified_tolerance: float = 0.02,
    genuine_margin: float = DEFAULT_GENUINE_MARGIN,
) -> SoftStabilityFit:
    """Solve a soft-stability robust program, lowering the penalty while it keeps too few ReLU
    units.

    ``build(penalty)`` makes the ``ConvexReLUProblem`` and ``solve(problem)`` solves it. The
    first penalty is solved; while the solution has fewer than ``min_relu`` genuine ReLU units
    (``n_relu_active``) the next penalty is tried. The rung kept is chosen by
    :func:`choose_penalty` on training data only: a genuine rung (``>= min_relu`` ReLU units)
    unless a near-linear rung certifies more than ``genuine_margin`` more training points, else
    the most ReLU units within ``certified_tolerance`` of the best certified training accuracy.
    Why: a high penalty (1, the hinge scale) certifies the most training points but on
    near-linear data keeps few ReLU units. Measured at eps 0.1 (IBP-seeded patterns, hinge,
    beta 1e-3 n; certified training accuracy / exact robust test accuracy): digits-2v8 penalty 1
    keeps 8 units (0.984 / 0.96: kept, no second solve); breast-cancer 1: 6 units (0.957 /
    0.94), 0.3: 22 (0.950 / 0.94, kept), 0.1: 19 (0.947 / 0.96); mnist-2v8-t10k 1: 3 units
    (0.870 / 0.88), 0.3: 31 (0.842 / 0.88, kept; the old rule, tolerance 0.02 only, kept the
    3-unit network), 0.1: 31 (0.837 / 0.86). See results/robust_vs_pgd_at_notes.md. Collapse warnings of discarded attempts are dropped;
    the chosen solution's is re-issued. ``SoftStabilityFit.reason`` says which rung was chosen
    and why (the sweep records it as ``penalty_choice``).
    """
    if not penalties:
        raise ValueError("penalties must hold at least one stability penalty")
    rungs = [(f"{float(p):g}", float(p), (lambda p=float(p): build(p))) for p in penalties]
    return solve_rungs(
        rungs, solve, min_relu=min_relu, certified_tolerance=certified_tolerance,
        genuine_margin=genuine_margin,
    )  # fmt: skip


def solve_rungs(
    rungs: Sequence[tuple[str, float, Callable[[], Any]]],
    solve: Callable[[Any], Any],
    *,
    min_relu: int = DEFAULT_MIN_RELU,
    certified_tolerance: float = 0.02,
    genuine_margin: float = DEFAULT_GENUINE_MARGIN,
) -> SoftStabilityFit:
    """The ladder of :func:`solve_soft_with_fallback` over arbitrary programs: ``rungs`` holds
    ``(label, penalty, build)`` with ``build()`` making a ``ConvexReLUProblem``; they are solved
    in order until one keeps ``min_relu`` genuine ReLU units, and the kept one is chosen by
    :func:`choose_penalty` on training data only (certified training accuracy, ReLU units).
    Used by the seeded defaults whose first rung is the seed's own patterns on the clipped ball
    and whose next rungs are the class-split penalty ladder."""
    from robustbench_convex.robust import certified_training_accuracy
    from robustbench_convex.solution import CollapseWarning

    if not rungs:
        raise ValueError("rungs must hold at least one program")
    genuine_margin = check_float("genuine_margin", genuine_margin, positive=False)
    tried: list[tuple[float, int, float, float]] = []
    labels: list[str] = []
    candidates: list[tuple[Any, list[warnings.WarningMessage]]] = []
    for label, penalty, build_rung in rungs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CollapseWarning)
            t0 = time.perf_counter()
            solution = solve(build_rung())
            seconds = time.perf_counter() - t0
        relu = int(solution.n_relu_active())
        cert = float(certified_training_accuracy(solution))
        tried.append((float(penalty), relu, cert, seconds))
        labels.append(str(label))
        candidates.append((solution, list(caught)))
        if relu >= min_relu:
            break
    pick, choice = choose_penalty(
        tried, min_relu=min_relu, certified_tolerance=certified_tolerance,
        genuine_margin=genuine_margin,
    )  # fmt: skip
    if labels[pick] != f"{tried[pick][0]:g}":
        choice += f" (rung: {labels[pick]})"
    solution, caught = candidates[pick]
    for w in caught:  # the chosen attempt's own warnings (collapse included) reach the user
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    summary = ", ".join(
        f"{lab} -> {r} ReLU units, certified train {c:.3f}"
        for lab, (_, r, c, _) in zip(labels, tried, strict=True)
    )
    reason = f"tried {summary}; {choice}"
    return SoftStabilityFit(
        solution=solution, penalty=tried[pick][0], tried=tuple(tried), reason=reason,
        labels=tuple(labels),
    )  # fmt: skip
