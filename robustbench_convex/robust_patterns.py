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

Measured (benchmarks/robust_vs_pgd_at.py and the notes in benchmarks/README.md): on digits-2v8,
breast-cancer and mnist-2v8-t10k at eps 0.1 the IBP-seeded soft class-aware program keeps more
genuine ReLU neurons than the Gaussian class-aware patterns at the same pattern budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from robustbench_convex.patterns import class_aware_patterns, patterns_from_network, unique_patterns

__all__ = [
    "DEFAULT_ROBUST_LOSS",
    "DEFAULT_ROBUST_PATTERNS",
    "DEFAULT_STABILITY_PENALTY",
    "ROBUST_PATTERN_STRATEGIES",
    "RobustPatternStrategy",
    "SeededPatterns",
    "collapse_advice",
    "network_seeded_patterns",
]

RobustPatternStrategy = Literal["ibp", "crown-ibp", "pgd-at"]
ROBUST_PATTERN_STRATEGIES: tuple[str, ...] = ("ibp", "crown-ibp", "pgd-at")
DEFAULT_ROBUST_PATTERNS = "ibp"
DEFAULT_STABILITY_PENALTY = 1.0
DEFAULT_ROBUST_LOSS = "hinge"


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
    """

    D: np.ndarray
    strategy: str
    seed_width: int
    seconds: float
    source: str
    seed_certified_train_accuracy: float | None


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
    n_patterns: int = 32,
    strategy: RobustPatternStrategy = "ibp",
    lower: Any = None,
    upper: Any = None,
    loss: Literal["squared", "hinge", "logistic"] = "hinge",
    beta: float | None = None,
    seed: int = 0,
    add_gaussian: bool = False,
    epochs: int = 200,
    num_threads: int | None = 1,
) -> SeededPatterns:
    """Class-aware patterns from the arrangement of a quickly trained robust network.

    A network of width ``ceil(n_patterns / 2)`` is trained by ``strategy`` (certified training
    by IBP (default) or CROWN-IBP, or PGD adversarial training) at radius ``eps`` with the
    project's objective (``beta``: default ``1e-3 n``, the robust benchmark's value); each
    neuron's pattern ``1[u_j^T x_k + b_j >= 0]`` is split by class (a detector of each class,
    :func:`~robustbench_convex.patterns.split_by_class`) and the all-active pattern is added, so
    about ``n_patterns + 1`` patterns come back (fewer when neurons are dead or duplicate), the
    same budget as ``class_aware_patterns(n_patterns)``. ``add_gaussian=True`` appends
    ``class_aware_patterns(n_patterns)`` as well.

    Args:
        X: training inputs ``(n, d)`` (without the bias column); y: labels in {-1, +1}.
        eps: l_inf radius ``> 0`` of the robust program (input units).
        n_patterns: pattern budget (``>= 1``).
        strategy: ``"ibp"``, ``"crown-ibp"`` or ``"pgd-at"``.
        lower, upper: input bounds for the seed training (None: unbounded).
        loss, beta, seed, epochs, num_threads: of the seed training.
        add_gaussian: also append Gaussian class-aware patterns.

    Returns:
        A :class:`SeededPatterns`.
    """
    from robustbench_convex import baselines

    strategy = check_strategy(strategy)
    X_np, y_np = baselines._check_data(X, y)
    eps = baselines._check_float("eps", eps, positive=True)
    n_patterns = baselines._check_int("n_patterns", n_patterns, 1)
    n = X_np.shape[0]
    beta = 1e-3 * n if beta is None else baselines._check_float("beta", beta, positive=False)
    width = max(1, math.ceil(n_patterns / 2))
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
    D = patterns_from_network(net, X_np, class_aware=True, y=y_np, add_ones=True)
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
    )


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
