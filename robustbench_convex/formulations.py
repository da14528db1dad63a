"""Convex training problems for one-hidden-layer ReLU networks (MATH.md sections 2, 3 and 6).

A :class:`ConvexReLUProblem` holds the data, the activation patterns and the options, and
evaluates objectives; solvers (``solve_cvxpy``, ``solve_admm``) read it and return a
``ConvexSolution``. Conventions:

- Losses are **sums over samples** (the paper's convention), see ``robustbench_convex.losses``.
- With ``bias=True`` a ones column is appended to ``X`` (``problem.Xa``, shape ``(n, d + 1)``);
  the hidden biases are the last coordinate of the augmented ``u_j`` and are penalized with it.
  That coordinate is never perturbed by an adversary. There is no output bias.
- Variables ``V, W`` have shape ``(d_aug, P)``: column ``i`` is ``v_i`` / ``w_i`` of pattern ``i``.

The programs (``problem.program``):

- ``"nominal"`` (``robust_eps == 0``), (C) / (C_s)::

    min L(sum_i D_i Xa (v_i - w_i), y) + beta * sum_i (||v_i||_2 + ||w_i||_2)
    s.t. (2 D_i - I) Xa v_i >= 0,  (2 D_i - I) Xa w_i >= 0

- robust (``robust_eps = eps > 0``): with ``z_k = sum_i d_ik (v_i - w_i)`` the network is linear on
  the eps-ball around ``x_k`` and the loss is replaced by its worst case
  ``L_rob(y_k x_k^T z_k - eps ||z_k||_1')`` (``losses.robust_loss_value``). The stability
  constraints depend on ``robust``:

  * ``"certified"`` (R): ``(2 D_i - I) Xa v_i >= eps ||v_i||_1'`` (every pattern stable on every
    ball): the objective certifies the robust training loss of the recovered network.
  * ``"relaxed"`` (Rx): nominal constraints only. Certifies nothing.
  * ``"class-aware"`` (Rc): the eps-margin constraints only for ``v_i`` on negative examples and
    ``w_i`` on positive examples; certifies the robust training loss too for the margin losses
    (hinge, logistic). Not for the squared loss: (Rc) bounds the margin from below only, and
    ``(y f - 1)^2 / 2`` grows with large margins too (``is_certificate`` is False there).

  With ``stability_penalty = lam`` (certified and class-aware programs) the stability constraints
  become soft: slacks ``s_ik >= 0`` are added to their left-hand sides and ``lam * sum s_ik`` to the
  objective. A training point is then certified only if every slack involving it is zero.

- input bounds (``lower`` / ``upper``, robust programs with a margin loss): the adversary's ball
  is clipped to the input domain, ``x_k + delta in [lower, upper]`` (pixels in [0, 1]), the threat
  model of ``attacks.exact`` / ``lp_certify`` / PGD with the same bounds. Every ``eps ||m||_1'``
  above becomes the worst drop of a linear function over the clipped box, ``sum_j a_kj (m_j)_+
  + h_kj (m_j)_-`` with ``a_kj = min(eps, x_kj - lower_j)`` and ``h_kj = min(eps, upper_j -
  x_kj)`` (:meth:`ConvexReLUProblem.box_allowance`; ``m = y_k z_k`` in the loss, ``m = (2 d_ik -
  1) v_i`` in a stability row): still convex, still a certificate (on the clipped ball), and no
  larger than the unclipped term, so the program is less conservative where the data sit on a
  bound (mnist-2v8-t10k: 70% of the live pixel values are 0, the clipped box is 58% of the ball).

- clean weight (``clean_weight = kappa`` in ``[0, 1)``, robust programs): the loss term becomes
  ``(1 - kappa) * robust loss + kappa * nominal loss of the convex model`` (the natural-loss mix
  of IBP training, Gowal et al. 2018, whose final weight is 0.5). The constraints and hence the
  certificates (``certified_margins``, ``certified_training_loss``, computed from the solution)
  are unchanged; the objective then bounds the robust training loss only through
  ``certified_training_loss`` (the objective itself is the mixed loss). ``kappa = 0`` (default)
  is the robust program itself.

- output signs (``output_signs``, robust programs): a ``(P,)`` array in {-1, 0, +1} that fixes
  to zero the block a pattern does not use: ``+1`` keeps only ``v_i`` (a neuron with a positive
  output weight), ``-1`` only ``w_i``, ``0`` both (default: every block free). A restriction of
  the program (its optimum is no lower); for network-seeded patterns whose neuron's output sign
  is known (``robust_patterns.signed_own_patterns``) it halves the weights the interior point's
  dense block carries.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import torch
from scipy.optimize import nnls

from robustbench_convex._checks import (
    check_binary_labels,
    check_data_matrix,
    check_nonneg_scalar,
)
from robustbench_convex.losses import check_loss, loss_value, robust_loss_value
from robustbench_convex.patterns import PATTERN_SAMPLERS, call_sampler

RobustProgram = Literal["certified", "relaxed", "class-aware"]
ROBUST_PROGRAMS: tuple[str, ...] = ("certified", "relaxed", "class-aware")
DEFAULT_N_PATTERNS = 32

__all__ = ["DEFAULT_N_PATTERNS", "ROBUST_PROGRAMS", "ConvexReLUProblem", "RobustProgram"]


class ConvexReLUProblem:
    """A (sampled or exact) convex training problem of a one-hidden-layer ReLU network.

    Args:
        X: inputs ``(n, d)`` (finite floats).
        y: labels ``(n,)`` in {-1, +1}; {0, 1} are converted with a warning.
        loss: ``"squared"``, ``"hinge"`` or ``"logistic"`` (summed over samples).
        beta: regularization strength (>= 0) of ``beta * sum_i (||v_i|| + ||w_i||)``, equal to
            weight decay ``beta/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2)`` on the network.
        n_patterns: number of patterns to sample (default ``DEFAULT_N_PATTERNS``) when
            ``patterns`` is None or a sampler name.
        patterns: an explicit ``(n, P)`` 0/1 array, or the name of a sampler in
            ``patterns.PATTERN_SAMPLERS`` (``"gaussian"``, ``"class-aware"``,
            ``"class-aware+ones"``, ``"gaps"``, ``"gaps+ones"``, ``"all"`` = every pattern, exact
            formulation (C), tiny problems only). Samplers that accept the keywords ``eps`` /
            ``perturbable`` get ``robust_eps`` and the attacked-coordinate mask. Default:
            ``"class-aware+ones"`` for the class-aware program (class-aware patterns plus the
            all-active pattern: measured better than without it on digits-2v8 and breast-cancer),
            ``"gaussian"`` otherwise. Samplers see the augmented data.
        robust_eps: l_inf radius eps >= 0 of the adversary, in the units of ``X``.
        robust: which robust program (see module docstring); ignored when ``robust_eps == 0``.
        stability_penalty: lam > 0 makes the stability constraints of the certified /
            class-aware programs soft (penalized slacks); None keeps them hard.
        bias: append a ones column (hidden biases).
        seed: seed of the pattern sampler.
        lower, upper: input bounds of the adversary (None: unbounded, the default; a scalar or a
            ``(d,)`` array, ``-inf`` / ``inf`` allowed): robust programs then certify the ball
            clipped to ``[lower, upper]`` (module docstring). Every training input must lie in
            the bounds. Margin losses only (hinge, logistic); ignored when ``robust_eps == 0``.
        clean_weight: ``kappa`` in ``[0, 1)``, robust programs only (``robust_eps > 0``): the
            weight of the nominal loss in the loss term ``(1 - kappa) * robust + kappa *
            nominal`` (module docstring). Default 0: the robust loss alone. Solved by
            ``solve_cvxpy`` only (the other solvers refuse ``kappa > 0`` with a ValueError).
        output_signs: None (default: every block free) or a ``(P,)`` array in {-1, 0, +1},
            robust programs only: ``+1`` fixes ``w_i = 0`` (pattern ``i``'s neuron has a
            positive output weight), ``-1`` fixes ``v_i = 0``, ``0`` keeps both (module
            docstring). Solved by ``solve_cvxpy`` only (the other solvers refuse it).

    Attributes:
        X (n, d), Xa (n, d_aug), y (n,), D (n, P) patterns, n, d, d_aug, P, perturbable (d_aug,)
        bool mask, program ("nominal", "certified", "relaxed" or "class-aware"), notes (list),
        lower, upper (``(d,)`` arrays or None), has_input_bounds, clean_weight (float),
        output_signs (``(P,)`` int array or None).
    """

    clean_weight: float = 0.0  # class default: problems pickled before the option load as kappa 0
    output_signs: np.ndarray | None = None  # likewise: every block free

    def __init__(
        self,
        X: Any,
        y: Any,
        *,
        loss: Literal["squared", "hinge", "logistic"] = "squared",
        beta: float,
        n_patterns: int | None = None,
        patterns: np.ndarray | str | None = None,
        robust_eps: float = 0.0,
        robust: RobustProgram = "certified",
        stability_penalty: float | None = None,
        bias: bool = True,
        seed: int = 0,
        lower: Any = None,
        upper: Any = None,
        clean_weight: float = 0.0,
        output_signs: Any = None,
    ) -> None:
        X = check_data_matrix(X)
        self.notes: list[str] = []
        self.y, note = check_binary_labels(y, X.shape[0])
        if note:
            warnings.warn(note, UserWarning, stacklevel=2)
            self.notes.append(note)
        self.loss = check_loss(loss)
        self.beta = check_nonneg_scalar("beta", beta)
        self.robust_eps = check_nonneg_scalar("robust_eps", robust_eps)
        if robust not in ROBUST_PROGRAMS:
            raise ValueError(f"robust must be one of {ROBUST_PROGRAMS}, got {robust!r}")
        self.robust = robust
        if stability_penalty is not None:
            stability_penalty = check_nonneg_scalar("stability_penalty", stability_penalty)
            if self.robust_eps == 0 or robust == "relaxed":
                raise ValueError(
                    "stability_penalty applies to the certified and class-aware robust programs "
                    "only (robust_eps > 0 and robust in {'certified', 'class-aware'}); "
                    "set stability_penalty=None"
                )
        self.stability_penalty = stability_penalty
        self.clean_weight = check_clean_weight(clean_weight, self.robust_eps)
        if self.program == "class-aware" and self.loss == "squared":
            # (Rc) bounds only the margin y f(x) from below; the squared loss (y f - 1)^2 / 2 also
            # grows with the margin, so the objective is no upper bound on the worst-case loss.
            note = (
                "the class-aware program lower-bounds the margin only; with the squared loss "
                "(not monotone in the margin) its objective certifies nothing: use "
                "robust='certified' for a certificate"
            )
            warnings.warn(note, UserWarning, stacklevel=2)
            self.notes.append(note)
        self.bias = bool(bias)
        self.seed = int(seed)
        self.X = X
        self.Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if self.bias else X.copy()
        self.n, self.d = X.shape
        self.d_aug = self.Xa.shape[1]
        self.perturbable = np.ones(self.d_aug, dtype=bool)
        if self.bias:
            self.perturbable[-1] = False
        self.lower, self.upper = _check_input_bounds(X, lower, upper)
        if self.has_input_bounds and self.robust_eps > 0 and self.loss == "squared":
            raise ValueError(
                "input bounds (lower / upper) need a margin loss (hinge or logistic): the "
                "squared loss's worst case is symmetric in the ball; drop the bounds or change "
                "the loss"
            )
        self._box: tuple[np.ndarray, np.ndarray] | None = None

        if n_patterns is not None and (
            isinstance(n_patterns, bool)
            or not isinstance(n_patterns, (int, np.integer))
            or n_patterns < 1
        ):
            raise ValueError(f"n_patterns must be a positive int, got {n_patterns!r}")
        self.n_patterns_requested = int(n_patterns) if n_patterns is not None else None
        if patterns is None:
            patterns = "class-aware+ones" if self.program == "class-aware" else "gaussian"
        if isinstance(patterns, str):
            if patterns not in PATTERN_SAMPLERS:
                raise ValueError(
                    f"patterns must be an (n, P) 0/1 array or one of {sorted(PATTERN_SAMPLERS)}, "
                    f"got {patterns!r}"
                )
            self.pattern_source = patterns
            count = self.n_patterns_requested or DEFAULT_N_PATTERNS
            D = call_sampler(
                patterns,
                self.Xa,
                self.y,
                count,
                self.seed,
                eps=self.robust_eps,
                perturbable=self.perturbable,
            )
        else:
            self.pattern_source = "given"
            D = np.asarray(patterns, dtype=np.float64)
            if D.ndim != 2 or D.shape[0] != self.n:
                raise ValueError(f"patterns must have shape (n, P) = ({self.n}, P), got {D.shape}")
            if not np.all((D == 0) | (D == 1)):
                raise ValueError("patterns must contain only 0 and 1")
        if D.shape[1] == 0:
            raise ValueError(
                "no non-zero activation pattern: increase n_patterns or check the data"
            )
        self.D = np.ascontiguousarray(D)
        self.P = self.D.shape[1]
        self.output_signs = check_output_signs(output_signs, self.P, self.robust_eps)

    # ------------------------------------------------------------------ descriptors
    @property
    def program(self) -> str:
        """``"nominal"`` when ``robust_eps == 0``, else the robust program's name."""
        return "nominal" if self.robust_eps == 0 else self.robust

    @property
    def is_certificate(self) -> bool:
        """Whether the objective certifies the robust training loss: the certified program, and
        the class-aware one for margin losses (hinge, logistic; not squared, see ``notes``).
        With ``clean_weight > 0`` the objective is the mixed loss and the certificate is
        :meth:`certified_training_loss` / :meth:`certified_margins` (unchanged by the mix)."""
        if self.program == "class-aware":
            return self.loss != "squared"
        return self.program == "certified"

    @property
    def has_input_bounds(self) -> bool:
        """Whether the adversary's ball is clipped to input bounds (``lower`` / ``upper``)."""
        return self.lower is not None or self.upper is not None

    def box_allowance(self) -> tuple[np.ndarray, np.ndarray]:
        """``(a, h)``, each ``(n, d_aug)`` and ``>= 0``: how far the adversary can move every
        coordinate of every training point down (``a_kj = min(eps, x_kj - lower_j)``) and up
        (``h_kj = min(eps, upper_j - x_kj)``); ``eps`` where unbounded, 0 on the bias coordinate.
        The worst drop of ``m^T x`` over the clipped ball is ``sum_j a_kj (m_j)_+ + h_kj
        (m_j)_-`` (:meth:`worst_drop`)."""
        if self._box is None:
            eps, n = self.robust_eps, self.n
            a = np.zeros((n, self.d_aug))
            h = np.zeros((n, self.d_aug))
            pert = self.perturbable
            lo = -np.inf if self.lower is None else self.lower
            hi = np.inf if self.upper is None else self.upper
            a[:, pert] = np.minimum(eps, self.X - lo)
            h[:, pert] = np.minimum(eps, hi - self.X)
            self._box = (a, h)
        return self._box

    def worst_drop(self, M: np.ndarray) -> np.ndarray:
        """Per row ``k`` of ``M`` (``(n, d_aug)``: a linear function ``m_k`` of the input at
        training point ``k``), the largest decrease ``max_delta -m_k^T delta`` over the
        adversary's ball at ``x_k`` (clipped to the input bounds when there are any): ``eps
        ||m_k||_1'`` when unbounded, else ``sum_j a_kj (m_kj)_+ + h_kj (m_kj)_-``."""
        pert = self.perturbable
        if not self.has_input_bounds:
            return self.robust_eps * np.abs(M[:, pert]).sum(axis=1)
        a, h = self.box_allowance()
        return (a * np.maximum(M, 0.0) + h * np.maximum(-M, 0.0)).sum(axis=1)

    @property
    def is_exact(self) -> bool:
        """Whether the patterns are every pattern of the data (the exact formulation (C))."""
        return self.pattern_source == "all"

    def __repr__(self) -> str:
        return (
            f"ConvexReLUProblem(n={self.n}, d={self.d}, P={self.P}, loss={self.loss!r}, "
            f"beta={self.beta:g}, program={self.program!r}, robust_eps={self.robust_eps:g}, "
            f"bias={self.bias}, patterns={self.pattern_source!r})"
        )

    # ------------------------------------------------------------------ model pieces
    def _check_VW(self, V: Any, W: Any) -> tuple[np.ndarray, np.ndarray]:
        V = np.asarray(V, dtype=np.float64)
        W = np.asarray(W, dtype=np.float64)
        shape = (self.d_aug, self.P)
        if V.shape != shape or W.shape != shape:
            raise ValueError(f"V and W must have shape {shape}, got {V.shape} and {W.shape}")
        return V, W

    def predict_convex(self, V: Any, W: Any) -> np.ndarray:
        """Convex model's predictions ``sum_i D_i Xa (v_i - w_i)``, shape ``(n,)``."""
        V, W = self._check_VW(V, W)
        return np.einsum("kp,kp->k", self.D, self.Xa @ (V - W))

    def effective_weights(self, V: Any, W: Any) -> np.ndarray:
        """``z_k = sum_i d_ik (v_i - w_i)`` for every training point, shape ``(n, d_aug)``."""
        V, W = self._check_VW(V, W)
        return self.D @ (V - W).T

    def regularizer(self, V: Any, W: Any) -> float:
        """``beta * sum_i (||v_i||_2 + ||w_i||_2)``."""
        V, W = self._check_VW(V, W)
        return self.beta * float(np.linalg.norm(V, axis=0).sum() + np.linalg.norm(W, axis=0).sum())

    def stability_slacks(self, V: Any, W: Any) -> tuple[np.ndarray, np.ndarray]:
        """Smallest slacks ``(S_v, S_w)``, each ``(n, P)``, that make the stability constraints hold:
        ``s_ik = max(0, rhs_i - (2 d_ik - 1) x_k^T v_i)`` with ``rhs_i = eps ||v_i||_1'`` for
        robust programs that constrain ``(k, i)`` and ``rhs = 0`` for nominal constraints; zero
        where the program puts no constraint (class-aware: v on positives, w on negatives)."""
        V, W = self._check_VW(V, W)
        sign = 2.0 * self.D - 1.0
        out = []
        for M, constrained_rows in ((V, self.y < 0), (W, self.y > 0)):
            lhs = sign * (self.Xa @ M)
            if self.program in ("certified", "class-aware") and self.has_input_bounds:
                a, h = self.box_allowance()  # worst drop of (2 d_ik - 1) x^T m_i on the box
                Mp, Mm = np.maximum(M, 0.0), np.maximum(-M, 0.0)
                rhs = np.where(sign > 0, a @ Mp + h @ Mm, a @ Mm + h @ Mp)
            elif self.program in ("certified", "class-aware"):
                rhs = self.robust_eps * np.abs(M[self.perturbable]).sum(axis=0)[None, :]
            else:
                rhs = np.zeros((1, self.P))
            slack = np.maximum(0.0, rhs - lhs)
            if self.program == "class-aware":
                slack = slack * constrained_rows[:, None]
            out.append(slack)
        return out[0], out[1]

    def constraint_violation(self, V: Any, W: Any) -> float:
        """Largest violation of the hard constraints (0 when feasible). For soft-stability
        problems the stability constraints are not hard constraints and this returns 0."""
        if self.stability_penalty is not None:
            return 0.0
        Sv, Sw = self.stability_slacks(V, W)
        return float(max(Sv.max(initial=0.0), Sw.max(initial=0.0)))

    def project_feasible(self, V: Any, W: Any) -> tuple[np.ndarray, np.ndarray]:
        """The Euclidean projection of every block onto its sign cone (nominal constraints).

        Block ``u`` of pattern ``i`` (a column of ``V`` or ``W``) is replaced by the nearest
        point of ``{u : A u >= 0}``, ``A = (2 D_i - I) Xa``. By Moreau's decomposition the
        projection is ``u + A^T mu`` with ``mu = argmin_{mu >= 0} ||A^T mu + u||`` (the
        projection of ``u`` onto the polar cone ``{-A^T mu}``), one non-negative least-squares
        problem per violated block (``scipy.optimize.nnls`` on a working set of rows, see
        ``_project_onto_cone``); satisfied blocks are returned unchanged. The result satisfies the constraints up to roundoff
        (about ``1e-15`` in the units of ``Xa u``), so its objective is an upper bound on the
        program's optimum: a first-order solver's slightly infeasible iterate, whose own
        objective can lie below the optimum, becomes a certified upper bound this way.

        Args:
            V, W: arrays ``(d_aug, P)``.

        Returns:
            ``(V, W)`` projected, new float64 arrays (the inputs are not modified).

        Raises:
            ValueError: for robust programs (their stability constraints are not these cones).
        """

        if self.robust_eps != 0:
            raise ValueError(
                "project_feasible covers the nominal sign constraints only (robust_eps = 0)"
            )
        V, W = (a.copy() for a in self._check_VW(V, W))
        sign = 2.0 * self.D - 1.0
        for M in (V, W):
            slack = sign * (self.Xa @ M)
            for i in np.flatnonzero(slack.min(axis=0) < 0):
                M[:, i] = _project_onto_cone(sign[:, i : i + 1] * self.Xa, M[:, i], slack[:, i])
        return V, W

    # ------------------------------------------------------------------ objectives
    def data_loss(self, V: Any, W: Any) -> float:
        """The loss term: nominal loss of the convex model, or for robust programs its worst case
        over the eps-balls ``sum_k L_rob(y_k x_k^T z_k, eps ||z_k||_1')`` (:meth:`robust_loss`),
        mixed with the nominal loss as ``(1 - kappa) * robust + kappa * nominal`` when
        ``clean_weight = kappa > 0``."""
        V, W = self._check_VW(V, W)
        if self.robust_eps == 0:
            return loss_value(self.loss, self.predict_convex(V, W), self.y)
        robust = self.robust_loss(V, W)
        if self.clean_weight == 0:
            return robust
        clean = loss_value(self.loss, self.predict_convex(V, W), self.y)
        return (1.0 - self.clean_weight) * robust + self.clean_weight * clean

    def robust_loss(self, V: Any, W: Any) -> float:
        """The worst case of the convex model's loss over the eps-balls (clipped to the input
        bounds when there are any), ``sum_k L_rob(y_k x_k^T z_k, r_k)`` with ``r_k`` the
        :meth:`worst_drop` of ``y_k z_k``; the loss term of a robust program without a clean
        weight. Robust programs only."""
        V, W = self._check_VW(V, W)
        if self.robust_eps == 0:
            raise ValueError("robust_loss needs a robust program (robust_eps > 0)")
        Z = self.effective_weights(V, W)
        yhat = np.einsum("kd,kd->k", self.Xa, Z)
        radius = self.worst_drop(self.y[:, None] * Z)  # eps ||z_k||_1' when unbounded
        return robust_loss_value(self.loss, yhat, self.y, radius)

    def convex_objective(self, V: Any, W: Any) -> float:
        """The convex objective at ``(V, W)`` (constraints not checked: see
        :meth:`constraint_violation`); with soft stability the minimal slack penalty is included."""
        total = self.data_loss(V, W) + self.regularizer(V, W)
        if self.stability_penalty is not None:
            Sv, Sw = self.stability_slacks(V, W)
            total += self.stability_penalty * float(Sv.sum() + Sw.sum())
        return total

    def network_objective(self, net: torch.nn.Module, *, nominal: bool | None = None) -> float:
        """Objective (NC) of any ``TwoLayerReLU`` on this data: summed loss plus
        ``beta * net.weight_decay()`` (hidden biases penalized, output bias not).

        For robust problems (unless ``nominal=True``) the loss is the worst case over the
        eps-balls of the network *with each neuron's state frozen at its state at x_k*: exact when
        no neuron changes state inside any ball. The certified program enforces that, and there
        this equals :meth:`convex_objective` at a solution. It need not for the relaxed program
        (the solver may put points on a neuron's boundary, where the convex model counts the
        neuron as active) nor for the class-aware one (its objective is only an upper bound);
        ``attacks.exact`` gives the true worst case.
        """
        if nominal is None:
            nominal = self.robust_eps == 0
        weights = net.to_numpy()
        U, b, alpha, c = weights["U"], weights["b"], weights["alpha"], weights["c"]
        if U.shape[1] != self.d:
            raise ValueError(f"net has {U.shape[1]} inputs but the problem has d={self.d}")
        pre = self.X @ U.T + (0.0 if b is None else b)
        active = (pre > 0).astype(np.float64)
        yhat = (np.maximum(pre, 0.0) @ alpha) + (0.0 if c is None else c)
        penalty = self.beta * net.weight_decay()
        if nominal:
            return loss_value(self.loss, yhat, self.y) + penalty
        Z = (active * alpha[None, :]) @ U  # (n, d): gradient of f at x_k (bias excluded)
        if self.has_input_bounds:
            Z = np.hstack([Z, np.zeros((self.n, self.d_aug - self.d))])
            radius = self.worst_drop(self.y[:, None] * Z)
        else:
            radius = self.robust_eps * np.abs(Z).sum(axis=1)
        robust = robust_loss_value(self.loss, yhat, self.y, radius)
        if self.clean_weight == 0:
            return robust + penalty
        clean = loss_value(self.loss, yhat, self.y)
        return (1.0 - self.clean_weight) * robust + self.clean_weight * clean + penalty

    # ------------------------------------------------------------------ certificates
    def certified_points(self, V: Any, W: Any, *, tol: float = 1e-7) -> np.ndarray:
        """Boolean ``(n,)``: training points whose stability constraints hold (up to ``tol``
        relative to the scale of ``Xa @ V``) for every block, so that the certified margin below
        is a valid lower bound there. All False for programs that certify nothing."""
        V, W = self._check_VW(V, W)
        if not self.is_certificate:
            return np.zeros(self.n, dtype=bool)
        Sv, Sw = self.stability_slacks(V, W)
        scale = max(np.abs(self.Xa @ V).max(initial=0.0), np.abs(self.Xa @ W).max(initial=0.0), 1.0)
        return (Sv.max(axis=1, initial=0.0) <= tol * scale) & (
            Sw.max(axis=1, initial=0.0) <= tol * scale
        )

    def certified_margins(self, V: Any, W: Any, *, tol: float = 1e-7) -> np.ndarray:
        """Per training point, a lower bound on the worst-case margin ``min y_k f(x)`` over the
        eps-ball of the network recovered from ``(V, W)``, valid for *any* ``(V, W)``::

            y_k x_k^T z_k - eps ||z_k||_1' - sum_i s_ik

        with ``s_ik`` the stability slacks (:meth:`stability_slacks`) of the blocks whose
        *upper* bound the margin needs: the w-blocks at positive points, the v-blocks at
        negative ones. Why: ``relu(t) >= d t`` always bounds the other blocks from below, and a
        slack ``s`` means ``(2d - 1) x^T m >= eps ||m||_1' - s``, so on the whole ball
        ``(2d - 1) x'^T m >= -s`` and ``relu(x'^T m) <= d x'^T m + s``. Where every needed
        constraint holds (hard programs, points kept by soft stability) the correction is zero
        and the bound is the program's own certified margin; elsewhere (points given up by soft
        stability, or the small violations of a first-order solver's iterate) it is still a
        valid, smaller bound. NaN for programs that certify nothing. ``tol`` is unused (kept so
        that existing calls keep working): no tolerance is needed."""
        del tol
        if not self.is_certificate:
            return np.full(self.n, np.nan)
        Z = self.effective_weights(V, W)
        margin = self.y * np.einsum("kd,kd->k", self.Xa, Z) - self.worst_drop(self.y[:, None] * Z)
        Sv, Sw = self.stability_slacks(V, W)
        correction = np.where(self.y > 0, Sw.sum(axis=1), Sv.sum(axis=1))
        return margin - correction

    def certified_training_loss(self, V: Any, W: Any, *, tol: float = 1e-7) -> float | None:
        """An upper bound on the robust training loss ``sum_k max_{||delta||_inf <= eps}
        L(f(x_k + delta), y_k)`` of the network recovered from ``(V, W)``.

        Margin losses (hinge, logistic; non-increasing in the margin): ``sum_k L(m_k)`` with
        ``m_k`` the slack-corrected :meth:`certified_margins`, valid for any ``(V, W)``; it is
        the loss term of the objective wherever the stability constraints hold. Squared loss
        (certified program only): the loss term of the objective, and None unless every
        training point's constraints hold (up to ``tol``, relative to the scale of ``Xa V``).
        None for programs that certify nothing."""
        if not self.is_certificate:
            return None
        if self.loss != "squared":
            margins = self.certified_margins(V, W)
            return robust_loss_value(self.loss, self.y * margins, self.y, 0.0)
        if not np.all(self.certified_points(V, W, tol=tol)):
            return None
        return self.robust_loss(V, W)


def check_clean_weight(clean_weight: Any, robust_eps: float) -> float:
    """``clean_weight`` as a float in ``[0, 1)``; a ValueError naming the fix otherwise, or when
    it is positive for a nominal program (``robust_eps == 0``)."""
    if isinstance(clean_weight, bool) or not isinstance(clean_weight, (int, float, np.number)):
        raise ValueError(f"clean_weight must be a number in [0, 1), got {clean_weight!r}")
    kappa = float(clean_weight)
    if not 0.0 <= kappa < 1.0:  # NaN fails too
        raise ValueError(
            f"clean_weight must lie in [0, 1) (the nominal loss's weight in (1 - kappa) * robust "
            f"+ kappa * nominal; 1 would drop the robust loss: use robust_eps=0), got {kappa!r}"
        )
    if kappa > 0 and robust_eps == 0:
        raise ValueError(
            "clean_weight mixes the nominal loss into a robust program's loss; with "
            "robust_eps=0 the loss is already nominal: set clean_weight=0"
        )
    return kappa


def check_output_signs(output_signs: Any, P: int, robust_eps: float) -> np.ndarray | None:
    """``output_signs`` as a ``(P,)`` int array in {-1, 0, +1} (None stays None, and so does an
    all-zero array: every block free); a ValueError naming the fix otherwise, or when it
    restricts a nominal program (``robust_eps == 0``)."""
    if output_signs is None:
        return None
    signs = np.asarray(output_signs)
    wrong = None
    if signs.shape != (P,):
        wrong = f"shape {signs.shape}"
    elif not np.all(np.isin(signs, (-1, 0, 1))):
        wrong = f"values {sorted(set(np.unique(signs).tolist()) - {-1, 0, 1})}"
    if wrong is not None:
        raise ValueError(
            f"output_signs must be a ({P},) array (one entry per pattern) of -1, 0 or +1 "
            f"(+1: positive output weight only, -1: negative only, 0: both), got {wrong}"
        )
    signs = signs.astype(np.int64)
    if not signs.any():
        return None
    if robust_eps == 0:
        raise ValueError(
            "output_signs restricts a robust program's blocks (robust_eps > 0); for a nominal "
            "program leave it None"
        )
    return signs


def _check_input_bounds(X: np.ndarray, lower: Any, upper: Any) -> tuple[Any, Any]:
    """``(lower, upper)`` as ``(d,)`` float arrays (None stays None), checked: no NaN, ``lower
    <= upper`` and every training input inside the bounds."""
    d = X.shape[1]
    out = []
    for name, value in (("lower", lower), ("upper", upper)):
        if value is None:
            out.append(None)
            continue
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != d) or np.isnan(arr).any():
            raise ValueError(
                f"{name} must be None, a number or a ({d},) array without NaN (one bound per "
                f"input coordinate), got shape {arr.shape}"
            )
        out.append(np.broadcast_to(arr, (d,)).copy())
    lo, hi = out
    if lo is not None and hi is not None and np.any(lo > hi):
        raise ValueError("lower must not exceed upper in any coordinate")
    if (lo is not None and np.any(X < lo)) or (hi is not None and np.any(X > hi)):
        raise ValueError(
            "every training input must lie in [lower, upper]; pass the data's own bounds "
            "(e.g. the data set's lower / upper) or None"
        )
    return lo, hi


def _project_onto_cone(A: np.ndarray, u: np.ndarray, slack: np.ndarray) -> np.ndarray:
    """The Euclidean projection of ``u`` onto ``{x : A x >= 0}`` (``slack = A u``), by NNLS on
    a working set of rows: the violated rows and the ``2 d`` tightest others first; the
    projection onto the cone of a subset of the rows is the projection onto the whole cone as
    soon as it satisfies every row (it is then the nearest point of a larger set that lies in
    the smaller one), otherwise the rows it violates join the set and it is solved again (at
    most ``n`` rows in all, when the working set is every row)."""
    n, d = A.shape
    rows = np.zeros(n, dtype=bool)
    rows[np.argsort(slack)[: 2 * d]] = True
    rows |= slack < 0
    while True:
        B = A[rows]
        mu, _ = nnls(B.T, -u, maxiter=50 * max(len(B), 1))
        x = u + B.T @ mu
        Ax = A @ x
        # tolerance: rows at the cone's boundary are zero up to roundoff
        worse = (Ax < -1e-12 * max(float(np.abs(Ax).max(initial=0.0)), 1.0)) & ~rows
        if not worse.any():
            return x
        rows |= worse
