"""Which CVXPY solver to use: MOSEK when it is installed *and licensed*, else Clarabel, else SCS.

The MOSEK license check runs once per process (``functools.lru_cache``); tests never need a
license. The convex programs need second-order cones (the group norms) and, for the logistic
loss, exponential cones: these three solvers handle both.
"""

from __future__ import annotations

import functools

__all__ = ["DEFAULT_SOLVER_ORDER", "choose_solver", "installed_solvers", "mosek_status"]

DEFAULT_SOLVER_ORDER: tuple[str, ...] = ("MOSEK", "CLARABEL", "SCS")
"""Preference order of ``solve_cvxpy(solver=None)``: all handle SOC and exponential cones."""


def installed_solvers() -> list[str]:
    """CVXPY's list of installed solvers (names as CVXPY spells them, e.g. ``"CLARABEL"``)."""
    import cvxpy as cp

    return list(cp.installed_solvers())


@functools.lru_cache(maxsize=1)
def mosek_status() -> tuple[bool, str]:
    """``(usable, reason)``: MOSEK is usable iff ``mosek`` imports, CVXPY lists it, and a license
    checkout succeeds. Cached once per process (call ``mosek_status.cache_clear()`` to recheck)."""
    try:
        import mosek
    except Exception as exc:  # ImportError, or a broken install
        return False, f"MOSEK not installed ({type(exc).__name__}: {exc})"
    if "MOSEK" not in installed_solvers():
        return False, "mosek imports but CVXPY does not list MOSEK as installed"
    try:
        with mosek.Env() as env:
            env.checkoutlicense(mosek.feature.pts)
    except Exception as exc:  # mosek.Error when no (valid) license is found
        return False, f"MOSEK installed but not licensed ({type(exc).__name__}: {exc})"
    return True, "MOSEK installed and licensed"


def choose_solver(solver: str | None) -> tuple[str, str]:
    """Resolve ``solver`` to a CVXPY solver name and a note saying why it was chosen.

    Args:
        solver: a CVXPY solver name (case-insensitive, e.g. ``"clarabel"``, ``"MOSEK"``) or None
            for the default order MOSEK (if licensed) -> CLARABEL -> SCS.

    Raises:
        ValueError: the solver is not installed (the message lists the installed ones), MOSEK was
            asked for but is not licensed, or none of the default solvers is installed.
        TypeError: ``solver`` is not a string or None.
    """
    available = installed_solvers()
    if solver is not None:
        if not isinstance(solver, str):
            raise TypeError(f"solver must be a CVXPY solver name (str) or None, got {solver!r}")
        name = solver.upper()
        if name not in available:
            raise ValueError(
                f"solver {solver!r} is not installed; installed CVXPY solvers: {sorted(available)}"
                " (None picks MOSEK when licensed, else CLARABEL, else SCS)"
            )
        if name == "MOSEK":
            ok, reason = mosek_status()
            if not ok:
                raise ValueError(f"solver='MOSEK' requested but unusable: {reason}")
        return name, "requested"
    notes = []
    for name in DEFAULT_SOLVER_ORDER:
        if name == "MOSEK":
            ok, reason = mosek_status()
            if ok:
                return name, reason
            notes.append(reason)
            continue
        if name in available:
            return name, "; ".join([*notes, f"default: {name}"])
        notes.append(f"{name} not installed")
    raise ValueError(
        "none of the default CVXPY solvers (MOSEK licensed, CLARABEL, SCS) is installed: "
        f"{'; '.join(notes)}. Install clarabel (`pip install clarabel`) or pass solver=... "
        f"from {sorted(available)}"
    )
