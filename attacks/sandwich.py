"""The one soundness check of the attack module: certified <= exact <= attacked.

For every example, a certified lower bound on the worst-case margin (``lp_certify``) can never
exceed a proven upper bound (``exact``'s ``upper_bound``, the margin at a concrete point of the
threat set), and the exact lower bound can never exceed the margin an attack reached. A violation
is a bug in the attack module (or in a solver it relies on), never a property of the model.
``sanity_checks`` and the suite's evaluation both call :func:`check_sandwich`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from attacks.verify import CertifyResult, ExactResult

__all__ = ["Sandwich", "check_sandwich"]

#: relative tolerance of the per-example comparisons (margins are compared as
#: ``a > b + RTOL * (1 + |a| + |b|)``, the solvers' own tolerances are far below)
RTOL = 1e-6


@dataclass(frozen=True)
class Sandwich:
    """The outcome of :func:`check_sandwich` at one radius.

    Attributes:
        eps: the radius.
        n: examples compared.
        certified_above_exact: examples whose certified lower bound exceeds the exact upper bound
            (an unsound certificate, or a wrong counterexample).
        exact_above_attacked: examples whose exact lower bound exceeds the attacked margin
            (an attack found what the verifier proved impossible).
        accuracy_order_ok: ``certified accuracy <= exact accuracy (upper) `` and
            ``exact accuracy (lower) <= attacked accuracy``.
        certified_acc, exact_acc, exact_acc_upper, attacked_acc: the four accuracies (exact:
            proven robust, and robust or undecided).
        undecided: examples whose MILP hit its time limit before settling robustness.
    """

    eps: float
    n: int
    certified_above_exact: int
    exact_above_attacked: int
    accuracy_order_ok: bool
    certified_acc: float
    exact_acc: float
    exact_acc_upper: float
    attacked_acc: float
    undecided: int

    @property
    def violations(self) -> int:
        """Per-example violations plus one if the accuracies are out of order."""
        return self.certified_above_exact + self.exact_above_attacked + (not self.accuracy_order_ok)

    @property
    def ok(self) -> bool:
        return self.violations == 0

    def soundness_messages(self) -> list[str]:
        """One ``"SOUNDNESS: ..."`` sentence per kind of violation (empty when sound)."""
        out = []
        if self.certified_above_exact:
            out.append(
                f"SOUNDNESS: {self.certified_above_exact} point(s) LP-certified but not robust "
                "by the MILP"
            )
        if self.exact_above_attacked:
            out.append(
                f"SOUNDNESS: {self.exact_above_attacked} point(s) proven robust by the MILP but "
                "broken by the attack"
            )
        if not self.accuracy_order_ok:
            out.append("SOUNDNESS: accuracies out of order")
        return out

    def describe(self) -> str:
        """One line: the four accuracies and the per-example violation counts."""
        exact = f"{self.exact_acc:.3f}" + (
            f"..{self.exact_acc_upper:.3f}" if self.exact_acc_upper != self.exact_acc else ""
        )
        return (
            f"eps {self.eps:g}: certified {self.certified_acc:.3f} <= exact {exact} <= "
            f"PGD {self.attacked_acc:.3f}; per-example violations "
            f"{self.certified_above_exact}+{self.exact_above_attacked}"
        )


def _above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a > b`` beyond the relative tolerance (infinite bounds compare as they are)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = 1.0 + np.nan_to_num(np.abs(a), posinf=0.0) + np.nan_to_num(np.abs(b), posinf=0.0)
    return a > b + RTOL * scale


def check_sandwich(
    certified: CertifyResult,
    exact: ExactResult,
    attacked_robust: np.ndarray,
    *,
    attacked_margin: np.ndarray | None = None,
) -> Sandwich:
    """Compare an LP certificate, an exact (MILP) result and an attack on the same examples.

    Args:
        certified: ``lp_certify`` on the examples ``(N,)``.
        exact: ``exact`` on the same examples and radius (either mode).
        attacked_robust: ``(N,)`` bool, correctly classified at the attack's point (and clean).
        attacked_margin: ``(N,)`` the margin at the attack's point, when known: the second
            comparison is then made on margins (stricter) instead of on robust/not robust.

    Returns:
        A :class:`Sandwich`; ``ok`` is False on any violation.
    """
    cert_lb = np.asarray(certified.lower_bound, dtype=np.float64)
    n = cert_lb.shape[0]
    attacked_robust = np.asarray(attacked_robust, dtype=bool).reshape(-1)
    if attacked_robust.shape[0] != n or np.asarray(exact.robust).shape[0] != n:
        raise ValueError(
            f"certified, exact and attacked_robust must cover the same {n} examples, got "
            f"{np.asarray(exact.robust).shape[0]} and {attacked_robust.shape[0]}"
        )
    v1 = _above(cert_lb, exact.upper_bound)
    if attacked_margin is not None:
        v2 = _above(exact.lower_bound, np.asarray(attacked_margin).reshape(-1))
    else:
        v2 = np.asarray(exact.robust, dtype=bool) & ~attacked_robust
    c_acc = float(np.mean(certified.certified)) if n else float("nan")
    e_lo, e_hi = float(exact.robust_accuracy), float(exact.robust_accuracy_upper)
    a_acc = float(attacked_robust.mean()) if n else float("nan")
    order_ok = not n or (c_acc <= e_hi + 1e-12 and e_lo <= a_acc + 1e-12)
    return Sandwich(
        eps=float(exact.eps),
        n=int(n),
        certified_above_exact=int(v1.sum()),
        exact_above_attacked=int(v2.sum()),
        accuracy_order_ok=bool(order_ok),
        certified_acc=c_acc,
        exact_acc=e_lo,
        exact_acc_upper=e_hi,
        attacked_acc=a_acc,
        undecided=int((~np.asarray(exact.decided, dtype=bool)).sum()),
    )
