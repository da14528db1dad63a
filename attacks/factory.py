"""Attacks by name: the one place where ``"fgsm"``, ``"pgd"`` and ``"exact"`` become objects.

``attacks.sweep`` and the suite's evaluation both build their attacks here, so a name means the
same attack everywhere; only the budget they pass (steps, restarts) differs, and it is explicit.
"""

from __future__ import annotations

from typing import Literal

from attacks.base import Attack, BoundsLike

__all__ = ["ATTACK_NAMES", "AttackName", "check_attack_name", "make_attack"]

AttackName = Literal["fgsm", "pgd", "exact"]
ATTACK_NAMES: tuple[str, ...] = ("fgsm", "pgd", "exact")


def check_attack_name(name: str, norm: str = "inf") -> str:
    """The lower-cased name, after checking that it names an attack for this norm."""
    key = str(name).lower()
    if key not in ATTACK_NAMES:
        raise ValueError(f"unknown attack name {name!r}: use one of {ATTACK_NAMES} or a factory")
    if key == "exact" and norm != "inf":
        raise ValueError('the "exact" attack is for norm="inf" only')
    return key


def make_attack(
    name: str,
    eps: float,
    *,
    norm: Literal["inf", "2"] = "inf",
    lower: BoundsLike = None,
    upper: BoundsLike = None,
    steps: int = 50,
    restarts: int = 5,
    step_size: float | None = None,
    seed: int = 0,
) -> Attack:
    """The attack called ``name`` at radius ``eps``.

    Args:
        name: "fgsm", "pgd" (random start, best iterate over ``restarts``) or "exact" (the MILP
            verifier as an attack; L-infinity only).
        eps: radius in the units of the model's input.
        norm, lower, upper: the threat model.
        steps, restarts, step_size, seed: PGD's budget (ignored by the others); ``step_size``
            None means ``2.5 * eps / steps``.

    Raises:
        ValueError: an unknown name, or "exact" with ``norm="2"``.
    """
    from attacks.gradient import FGSM, PGD
    from attacks.verify import ExactAttack

    key = check_attack_name(name, norm)
    if key == "fgsm":
        return FGSM(eps, norm=norm, lower=lower, upper=upper)
    if key == "pgd":
        return PGD(
            eps,
            steps=steps,
            step_size=step_size,
            restarts=restarts,
            norm=norm,
            random_start=True,
            lower=lower,
            upper=upper,
            seed=seed,
        )
    return ExactAttack(eps, lower, upper)
