"""The result of a convex solver, and recovery of the ReLU network from it (MATH.md section 2).

Recovery, one neuron per non-zero block (augmented vectors, so the hidden bias comes along):

    v_i != 0:  u = v_i / sqrt(||v_i||),  alpha = +sqrt(||v_i||)
    w_i != 0:  u = w_i / sqrt(||w_i||),  alpha = -sqrt(||w_i||)

so that ``relu(Xa u) alpha = D_i Xa v_i`` on feasible points and ``(||u||^2 + alpha^2) / 2 =
||v_i||``: the network's objective equals the convex objective.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from robustbench_convex.network import TwoLayerReLU

if TYPE_CHECKING:
    import pandas as pd

    from robustbench_convex.formulations import ConvexReLUProblem

SolveStatus = Literal["converged", "inaccurate", "max_iter", "time_limit", "diverged", "failed"]
SOLVE_STATUSES: tuple[str, ...] = (
    "converged",
    "inaccurate",
    "max_iter",
    "time_limit",
    "diverged",
    "failed",
)
DEFAULT_RECOVERY_RTOL = 1e-6
DEFAULT_OUTPUT_ATOL = 1e-6

__all__ = [
    "SOLVE_STATUSES",
    "CollapseWarning",
    "ConvexSolution",
    "SolveStatus",
    "active_blocks",
    "recover_network",
]


class CollapseWarning(UserWarning):
    """A robust convex program's solution has no ReLU neuron: it is the zero network or a linear
    model (only all-active blocks), not a trained ReLU network (MATH.md section 6)."""


def active_blocks(V: np.ndarray, W: np.ndarray, rtol: float = DEFAULT_RECOVERY_RTOL):
    """Boolean masks ``(P,)`` of the blocks of ``V`` and ``W`` whose norm exceeds ``rtol`` times
    the largest block norm of either (a relative threshold: solvers never return exact zeros)."""
    nv = np.linalg.norm(V, axis=0)
    nw = np.linalg.norm(W, axis=0)
    top = max(nv.max(initial=0.0), nw.max(initial=0.0))
    if top == 0.0:
        return np.zeros_like(nv, dtype=bool), np.zeros_like(nw, dtype=bool)
    return nv > rtol * top, nw > rtol * top


def recover_network(
    V: np.ndarray,
    W: np.ndarray,
    *,
    bias: bool,
    rtol: float = DEFAULT_RECOVERY_RTOL,
) -> TwoLayerReLU:
    """The ``TwoLayerReLU`` (no output bias) of convex variables ``V, W`` of shape ``(d_aug, P)``.

    With ``bias=True`` the last row of ``V, W`` is the hidden bias. Blocks below ``rtol`` (relative
    to the largest block) are dropped; a problem without any non-zero block gives a width-0 network.
    """
    V = np.asarray(V, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    keep_v, keep_w = active_blocks(V, W, rtol)
    blocks = np.hstack([V[:, keep_v], W[:, keep_w]])  # (d_aug, m)
    signs = np.concatenate([np.ones(keep_v.sum()), -np.ones(keep_w.sum())])
    scale = np.sqrt(np.linalg.norm(blocks, axis=0))  # sqrt(||v_i||)
    U_aug = (blocks / scale).T if blocks.shape[1] else blocks.T  # (m, d_aug)
    alpha = signs * scale
    if bias:
        return TwoLayerReLU.from_numpy(U_aug[:, :-1], alpha, b=U_aug[:, -1], c=None)
    return TwoLayerReLU.from_numpy(U_aug, alpha, b=None, c=None)


class SolverResult:
    """What every solver's result shares (``ConvexSolution``, ``SCPSolution``): a status from
    ``SolveStatus``, the objective, the solver's name and message, wall time, a per-iteration
    ``history`` and typed-by-convention ``info``; the summary and history helpers live here once.
    """

    objective: float
    status: SolveStatus
    solver: str
    time: float
    message: str
    history: list[dict[str, Any]]
    info: dict[str, Any]

    def history_frame(self) -> pd.DataFrame:
        """``history`` as a pandas DataFrame (one row per iteration)."""
        import pandas as pd

        return pd.DataFrame(self.history)

    def _summary_common(self) -> dict[str, Any]:
        return {
            "solver": self.solver,
            "status": self.status,
            "message": self.message,
            "objective": float(self.objective),
            "time": float(self.time),
        }

    def _iterations(self) -> int | None:
        return len(self.history) or self.info.get("iterations")

    def _check_status(self) -> None:
        """Refuse a status outside ``SOLVE_STATUSES`` (called by the subclasses' post-init)."""
        if self.status not in SOLVE_STATUSES:
            raise ValueError(f"status must be one of {SOLVE_STATUSES}, got {self.status!r}")


@dataclass
class ConvexSolution(SolverResult):
    """What every convex solver returns.

    Attributes:
        V, W: ``(d_aug, P)`` solution blocks (columns ``v_i``, ``w_i``).
        objective: the convex objective at ``(V, W)`` as evaluated by
            ``problem.convex_objective`` (not the solver's own estimate).
        status: ``"converged"`` (met its tolerances), ``"inaccurate"`` (solver reports reduced
            accuracy), ``"max_iter"`` / ``"time_limit"`` (budget reached first), ``"failed"``
            (no usable solution; ``message`` says why), ``"diverged"`` (an iterative solver's
            divergence guard fired: the iterates blew up even after restarts; the returned point is
            the best one seen, not an answer).
        message: the solver's own message or a short explanation.
        solver: e.g. ``"CLARABEL"``, ``"MOSEK"``, ``"SCS"``, ``"ADMM"``.
        time: wall-clock seconds of the solve (model building included).
        history: per-iteration records (dicts; empty for interior-point solvers).
        problem: the ``ConvexReLUProblem`` solved.
        info: solver-specific extras (e.g. linear-solve path, rho, iterations).
    """

    V: np.ndarray
    W: np.ndarray
    objective: float
    status: SolveStatus
    solver: str
    time: float
    problem: ConvexReLUProblem = field(repr=False)
    message: str = ""
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_status()
        if self.status != "failed" and self.program != "nominal" and self.collapsed:
            keep_v, keep_w = self.effective_blocks()
            from robustbench_convex.robust_patterns import collapse_advice

            kind = "the zero network" if not (keep_v.any() or keep_w.any()) else "a linear model"
            advice = collapse_advice(
                program=self.program,
                stability_penalty=self.problem.stability_penalty,
                pattern_source=str(self.problem.pattern_source),
                n_patterns=int(self.problem.P),
            )
            warnings.warn(
                f"the {self.program!r} robust program (eps={self.problem.robust_eps:g}, "
                f"P={self.problem.P}, patterns={self.problem.pattern_source!r}) collapsed to {kind}: "
                f"{self.n_zero_blocks()} of {2 * self.problem.P} blocks are zero and no effective "
                f"block is a ReLU neuron. Do not report it as a trained ReLU network; {advice} "
                "(robustbench_convex.robust.diagnose explains which blocks the constraints forced "
                "to zero)",
                CollapseWarning,
                stacklevel=3,
            )

    @property
    def program(self) -> str:
        """Which program was solved: ``"nominal"``, ``"certified"``, ``"relaxed"``, ``"class-aware"``."""
        return self.problem.program

    @property
    def is_certificate(self) -> bool:
        """Whether the objective's loss term certifies the robust training loss."""
        return self.problem.is_certificate

    @property
    def ok(self) -> bool:
        """True unless the solve failed."""
        return self.status != "failed"

    def to_network(self, rtol: float = DEFAULT_RECOVERY_RTOL) -> TwoLayerReLU:
        """The recovered ``TwoLayerReLU`` (see module docstring); blocks below ``rtol`` times the
        largest block norm are dropped."""
        return recover_network(self.V, self.W, bias=self.problem.bias, rtol=rtol)

    def n_active(self, rtol: float = DEFAULT_RECOVERY_RTOL) -> int:
        """Number of neurons of the recovered network (non-zero blocks of V and W)."""
        keep_v, keep_w = active_blocks(self.V, self.W, rtol)
        return int(keep_v.sum() + keep_w.sum())

    def n_zero_blocks(
        self, rtol: float = DEFAULT_RECOVERY_RTOL, atol: float = DEFAULT_OUTPUT_ATOL
    ) -> int:
        """Number of the ``2 P`` blocks (``v_i`` and ``w_i``) that are zero in this solution: not
        effective in the sense of :meth:`effective_blocks`."""
        keep_v, keep_w = self.effective_blocks(rtol, atol)
        return 2 * int(self.problem.P) - int(keep_v.sum() + keep_w.sum())

    def effective_blocks(
        self, rtol: float = DEFAULT_RECOVERY_RTOL, atol: float = DEFAULT_OUTPUT_ATOL
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boolean masks ``(P,)`` of blocks that are non-zero relative to the largest block
        (``active_blocks(rtol)``) *and* change some training prediction by more than ``atol``:
        ``max_k |(D_i Xa v_i)_k| > atol``. The absolute test (labels are +-1, so ``atol = 1e-6`` is
        far below any useful prediction) catches solutions that are the zero network up to solver
        noise, where every block is ~1e-9 and a relative threshold alone keeps them all."""
        keep_v, keep_w = active_blocks(self.V, self.W, rtol)
        D, Xa = self.problem.D, self.problem.Xa
        out_v = np.abs(D * (Xa @ self.V)).max(axis=0, initial=0.0)
        out_w = np.abs(D * (Xa @ self.W)).max(axis=0, initial=0.0)
        return keep_v & (out_v > atol), keep_w & (out_w > atol)

    def n_relu_active(
        self, rtol: float = DEFAULT_RECOVERY_RTOL, atol: float = DEFAULT_OUTPUT_ATOL
    ) -> int:
        """Number of effective blocks (see :meth:`effective_blocks`) that are genuine ReLU units on
        the training data: an all-active block is linear on every training point."""
        keep_v, keep_w = self.effective_blocks(rtol, atol)
        linear = np.all(self.problem.D > 0, axis=0)
        return int((keep_v & ~linear).sum() + (keep_w & ~linear).sum())

    @property
    def collapsed(self) -> bool:
        """True when the solution has no effective ReLU neuron: the zero network (possibly up to
        solver noise), or only all-active (linear) blocks. Meaningful for every program; robust
        programs warn (:class:`CollapseWarning`) on construction when it holds."""
        return self.n_relu_active() == 0

    @property
    def constraint_violation(self) -> float:
        """Largest violation of the problem's hard constraints at ``(V, W)``."""
        return self.problem.constraint_violation(self.V, self.W)

    @property
    def certified_training_loss(self) -> float | None:
        """The certified robust training loss (None if the program or a point certifies nothing);
        see ``ConvexReLUProblem.certified_training_loss``."""
        return self.problem.certified_training_loss(self.V, self.W)

    def summary(self) -> dict[str, Any]:
        """A flat, JSON-friendly summary (no arrays)."""
        return {
            **self._summary_common(),
            "program": self.program,
            "n_active": self.n_active(),
            "n_relu_active": self.n_relu_active(),
            "n_zero_blocks": self.n_zero_blocks(),
            "collapsed": self.collapsed,
            "is_certificate": self.is_certificate,
            "P": int(self.problem.P),
            "iterations": self._iterations(),
        }

    def replace(self, **changes: Any) -> ConvexSolution:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
