"""A scikit-learn classifier over every convex solver: :class:`ConvexReLUClassifier`.

    >>> from robustbench_convex import ConvexReLUClassifier
    >>> clf = ConvexReLUClassifier(solver="scp").fit(X_train, y_train)   # doctest: +SKIP
    >>> clf.score(X_test, y_test), clf.n_neurons_, clf.result_.status     # doctest: +SKIP

It is a real scikit-learn estimator (``get_params`` / ``set_params``, ``clone``, ``Pipeline``,
``GridSearchCV``, ``OneVsRestClassifier`` for multi-class data) that trains a one-hidden-layer ReLU
network to global optimality of a (sampled) convex program:

- ``solver="admm"`` / ``"cvxpy"``: the pattern-based program (C_s) of MATH.md section 3 (or a
  robust counterpart, section 6) as a ``ConvexReLUProblem``, solved by ``solve_admm`` or
  ``solve_cvxpy``;
- ``solver="scp"``: the sampled convex program over output weights of fixed random neurons
  (MATH.md section 5), ``solve_scp``. It has no robust variant.

Binary tasks only (any two labels; ``classes_[0]`` becomes -1 and ``classes_[1]`` becomes +1);
wrap the estimator in ``sklearn.multiclass.OneVsRestClassifier`` for more classes.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from robustbench_convex.formulations import DEFAULT_N_PATTERNS, ROBUST_PROGRAMS
from robustbench_convex.losses import LOSSES

SOLVERS: tuple[str, ...] = ("admm", "cvxpy", "ipm", "scp")
DEFAULT_BETA_PER_SAMPLE = 1e-2
DEFAULT_N_NEURONS = 256

__all__ = ["DEFAULT_BETA_PER_SAMPLE", "DEFAULT_N_NEURONS", "SOLVERS", "ConvexReLUClassifier"]


class ConvexReLUClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier: a one-hidden-layer ReLU network trained by a convex program.

    Parameters:
        solver: ``"cvxpy"`` (default; interior point: MOSEK when licensed, else Clarabel),
            ``"admm"`` (the paper's ADMM in PyTorch), ``"ipm"`` (structured interior point,
            nominal squared loss only, certified to ``tol``; the fastest at high accuracy for
            that program) or ``"scp"`` (sampled neurons, FISTA for squared / logistic, CVXPY for
            hinge). The fastest here is ``"scp"``.
        loss: ``"squared"`` (default), ``"hinge"`` or ``"logistic"``; summed over samples.
        n_patterns: activation patterns sampled for ``"admm"`` / ``"cvxpy"`` (ignored by
            ``"scp"``); fewer may remain after dropping duplicates.
        n_neurons: neurons sampled on the sphere for ``"scp"`` (ignored by the others); None:
            ``DEFAULT_N_NEURONS`` (256).
        beta: regularization (weight decay ``beta/2 sum_j (||u_j||^2 + b_j^2 + alpha_j^2)``);
            None (default): ``beta_ = 1e-2 * 2 * n_minority``, with ``n_minority`` the size of
            the smaller class (``= 1e-2 * n`` for balanced classes). The losses are *sums* over
            samples, so a fixed beta would mean ever weaker regularization as data grow; scaling
            with the minority class keeps rare-class detectors (e.g. the 1:9 subproblems of
            ``OneVsRestClassifier``) from being regularized away. (Measured with the squared
            loss, 32 patterns / 256 neurons: test accuracy 0.965-0.971 on breast-cancer and 1.0
            on digits-2v8 with CVXPY, ADMM and SCP; ten-digit one-vs-rest 0.956 with SCP, where
            ``1e-2 n`` gave 0.913.) The value used is ``beta_``.
        robust_eps: l_inf radius of the adversary for convex adversarial training (0: nominal
            training). Not available with ``solver="scp"``.
        robust: the robust program when ``robust_eps > 0``: ``"class-aware"`` (default;
            certified, MATH.md (Rc), with class-aware patterns), ``"certified"`` ((R); collapses
            with random patterns, see MATH.md) or ``"relaxed"`` ((Rx); certifies nothing).
        stability_penalty: soft stability constraints with this penalty (certified and
            class-aware programs; None keeps them hard); "admm" and "cvxpy" both solve it.
        patterns: name of a pattern sampler in ``patterns.PATTERN_SAMPLERS`` (e.g. ``"gaps"``,
            ``"class-aware+ones"``); None picks the problem's default for the program.
        bias: hidden biases.
        seed: seed of the pattern / neuron sampler.
        solver_options: extra keyword arguments of the solver function (``solve_admm``,
            ``solve_cvxpy``, ``solve_scp``), e.g. ``{"max_iter": 500}``.
        pattern_strategy: how the activation patterns of the nominal program are chosen
            (``pricing.fit_convex_network``): ``"sampled"`` (default for now: the existing
            tests and presets compare sampled programs across solvers; switching the default
            to ``"auto"`` is left to the integration); ``"auto"`` is ``"network+pricing"`` for
            nominal training with ``patterns=None`` and ``"sampled"`` otherwise.
            ``"network+pricing"``: the arrangement of a quick Adam network (``n_patterns``
            neurons, same loss and beta) plus column generation (dual pricing, at most
            ``max_rounds`` rounds); its objective is then never worse than that network's.
            ``"network"``: without pricing. ``"pricing"``: sampled patterns plus pricing.
            ``"sampled"``: ``n_patterns`` sampled patterns (the earlier behaviour).
        max_rounds: pricing rounds at most.
        bound: how the certified lower bound ``global_lower_bound_`` is computed
            (``global_bound.global_lower_bound``: exact by pattern enumeration for low-rank data,
            a cheap loose relaxation otherwise; ``"auto"`` picks, and with
            ``pattern_strategy="sampled"`` computes none), or ``"none"``.

    Attributes (after ``fit``):
        classes_: the two labels (sorted); ``classes_[1]`` is the positive class.
        network_: the trained ``TwoLayerReLU`` (logit > 0 predicts ``classes_[1]``).
        result_: the solver's result (``ConvexSolution`` or ``SCPSolution``): ``status``,
            ``objective``, ``time``, ``history``, ``info``.
        n_neurons_: number of active hidden neurons of ``network_``.
        objective_: the training objective of ``network_`` (summed loss plus ``beta_`` times
            its weight decay; ``ConvexReLUProblem.network_objective``).
        global_lower_bound_: a certified lower bound on the training objective of *every*
            two-layer ReLU network of any width with this loss and ``beta_`` (None when not
            computed: robust or SCP training, ``bound="none"``, beta 0); ``result_.info`` holds
            ``certified_gap``, ``bound_method``, ``pricing_rounds``, ``patterns_added``,
            ``final_violation``.
        beta_: the regularization used.
        n_features_in_, feature_names_in_: as in scikit-learn.
    """

    def __init__(
        self,
        solver: Literal["admm", "cvxpy", "ipm", "scp"] = "cvxpy",
        loss: Literal["squared", "hinge", "logistic"] = "squared",
        n_patterns: int = DEFAULT_N_PATTERNS,
        n_neurons: int | None = None,
        beta: float | None = None,
        robust_eps: float = 0.0,
        robust: Literal["certified", "relaxed", "class-aware"] = "class-aware",
        stability_penalty: float | None = None,
        patterns: str | None = None,
        bias: bool = True,
        seed: int = 0,
        solver_options: dict[str, Any] | None = None,
        pattern_strategy: Literal[
            "auto", "network+pricing", "network", "pricing", "sampled"
        ] = "sampled",
        max_rounds: int = 10,
        bound: Literal["auto", "enumeration", "relaxation", "none"] = "auto",
    ) -> None:
        self.solver = solver
        self.loss = loss
        self.n_patterns = n_patterns
        self.n_neurons = n_neurons
        self.beta = beta
        self.robust_eps = robust_eps
        self.robust = robust
        self.stability_penalty = stability_penalty
        self.patterns = patterns
        self.bias = bias
        self.seed = seed
        self.solver_options = solver_options
        self.pattern_strategy = pattern_strategy
        self.max_rounds = max_rounds
        self.bound = bound

    # ------------------------------------------------------------------ scikit-learn plumbing
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.non_deterministic = False
        return tags

    def _check_params(self, n_effective: int) -> float:
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.robust not in ROBUST_PROGRAMS:
            raise ValueError(f"robust must be one of {ROBUST_PROGRAMS}, got {self.robust!r}")
        for name in ("n_patterns", "n_neurons"):
            value = getattr(self, name)
            if value is None and name == "n_neurons":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        try:
            eps = float(self.robust_eps)
        except (TypeError, ValueError):
            raise TypeError(f"robust_eps must be a real number, got {self.robust_eps!r}") from None
        if not np.isfinite(eps) or eps < 0:
            raise ValueError(f"robust_eps must be finite and >= 0, got {self.robust_eps!r}")
        if self.solver == "scp" and (eps > 0 or self.stability_penalty is not None):
            raise ValueError(
                "solver='scp' has no robust variant (robust_eps must be 0 and "
                "stability_penalty None); use solver='admm' or 'cvxpy' for convex adversarial "
                "training"
            )
        if self.solver == "ipm" and (
            self.loss != "squared" or eps > 0 or self.stability_penalty is not None
        ):
            raise ValueError(
                "solver='ipm' solves the nominal squared-loss program only (loss='squared', "
                f"robust_eps=0, stability_penalty=None; got loss={self.loss!r}, robust_eps={eps:g}); "
                "use solver='admm' or 'cvxpy'"
            )
        if self.solver_options is not None and not isinstance(self.solver_options, dict):
            raise TypeError(
                f"solver_options must be a dict or None, got {type(self.solver_options).__name__}"
            )
        if self.beta is None:
            return DEFAULT_BETA_PER_SAMPLE * n_effective
        try:
            beta = float(self.beta)
        except (TypeError, ValueError):
            raise TypeError(f"beta must be a real number or None, got {self.beta!r}") from None
        if not np.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be finite and >= 0 (or None for auto), got {self.beta!r}")
        return beta

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X: Any, y: Any) -> ConvexReLUClassifier:
        """Train on ``X`` ``(n, d)`` and binary labels ``y`` ``(n,)`` (any two values).

        Raises:
            ValueError: invalid parameters or data (NaN, wrong shapes, a single class, more than
                two classes: use ``OneVsRestClassifier``).
        Warns:
            ConvergenceWarning: the solver did not report ``"converged"`` (the status and the
                solver's message are in the warning and in ``result_``).
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if np.unique(y).size < 2:
            raise ValueError(
                "ConvexReLUClassifier needs samples of 2 classes in y, but the data contain "
                f"only one class: {np.unique(y)[0]!r}"
            )
        if y_type != "binary":
            n_classes = np.unique(y).size
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"{y_type} ({n_classes} classes); wrap the estimator in "
                "sklearn.multiclass.OneVsRestClassifier for multi-class data"
            )
        self.classes_, y_index = np.unique(y, return_inverse=True)
        y_pm = np.where(y_index == 1, 1.0, -1.0)
        # the auto rule counts twice the minority class (n for balanced classes)
        beta = self._check_params(2 * int(np.bincount(y_index).min()))
        options = dict(self.solver_options or {})

        if self.solver == "scp":
            from robustbench_convex.solvers.scp import solve_scp

            n_neurons = DEFAULT_N_NEURONS if self.n_neurons is None else int(self.n_neurons)
            result = solve_scp(
                X,
                y_pm,
                n_neurons=n_neurons,
                loss=self.loss,
                beta=beta,
                bias=self.bias,
                seed=self.seed,
                **options,
            )
        else:
            from robustbench_convex.formulations import ConvexReLUProblem

            problem = ConvexReLUProblem(
                X,
                y_pm,
                loss=self.loss,
                beta=beta,
                n_patterns=int(self.n_patterns),
                patterns=self.patterns,
                robust_eps=float(self.robust_eps),
                robust=self.robust,
                stability_penalty=self.stability_penalty,
                bias=self.bias,
                seed=self.seed,
            )
            strategy = self._pattern_strategy()
            if strategy != "sampled":
                from robustbench_convex.pricing import fit_convex_network

                fit = fit_convex_network(
                    X,
                    y_pm,
                    loss=self.loss,
                    beta=beta,
                    bias=self.bias,
                    strategy=strategy,
                    n_patterns=int(self.n_patterns),
                    solver=self._restricted_solver(),
                    max_rounds=int(self.max_rounds),
                    bound="none" if beta == 0 else self.bound,
                    solver_options=options,
                    seed=self.seed,
                )
                result = fit.solution
            elif self.solver == "cvxpy":
                from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

                result = solve_cvxpy(problem, **options)
            elif self.solver == "ipm":
                from robustbench_convex.solvers.ipm import solve_ipm

                result = solve_ipm(problem, **options)
            else:
                from robustbench_convex.solvers.admm import solve_admm

                result = solve_admm(problem, **options)
        if result.status != "converged":
            warnings.warn(
                f"{type(self).__name__}(solver={self.solver!r}): the solver ({result.solver}) "
                f"stopped with status {result.status!r}: {result.message}. The network is the "
                "solver's last iterate; raise max_iter / time_limit in solver_options or check "
                "result_",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.beta_ = beta
        self.result_ = result
        self.network_ = result.to_network()
        self.n_neurons_ = int(self.network_.width)
        self.objective_ = self._network_objective(X, y_pm)
        if self.solver != "scp" and float(self.robust_eps) == 0 and self.bound != "none":
            self.global_lower_bound_ = result.info.get("global_lower_bound")
            # sampled programs: only on request (the bound's cost is not part of that default)
            if self.global_lower_bound_ is None and beta > 0 and self.bound != "auto":
                self.global_lower_bound_ = self._bound_sampled(X, y_pm, result)
        else:
            self.global_lower_bound_ = None
        return self

    # ------------------------------------------------------------------ pattern strategy
    def _pattern_strategy(self) -> str:
        from robustbench_convex.pricing import PATTERN_STRATEGIES

        if self.pattern_strategy not in ("auto", *PATTERN_STRATEGIES):
            raise ValueError(
                f"pattern_strategy must be 'auto' or one of {PATTERN_STRATEGIES}, got "
                f"{self.pattern_strategy!r}"
            )
        nominal = float(self.robust_eps) == 0 and self.stability_penalty is None
        if self.pattern_strategy == "auto":
            return "network+pricing" if nominal and self.patterns is None else "sampled"
        if self.pattern_strategy != "sampled" and not nominal:
            raise ValueError(
                f"pattern_strategy={self.pattern_strategy!r} covers nominal training only "
                "(robust_eps=0, stability_penalty=None); use pattern_strategy='sampled'"
            )
        return self.pattern_strategy

    def _restricted_solver(self) -> str:
        # the solver named by the user, or the per-program choice of pricing.resolve_solver
        return self.solver if self.solver in ("ipm", "cvxpy", "admm") else "auto"

    def _network_objective(self, X: np.ndarray, y_pm: np.ndarray) -> float:
        from robustbench_convex.losses import loss_value

        logits = self.network_.decision_function(X)
        return (
            float(loss_value(self.loss, logits, y_pm)) + self.beta_ * self.network_.weight_decay()
        )

    def _bound_sampled(self, X: np.ndarray, y_pm: np.ndarray, result: Any) -> float | None:
        """The certified bound for a sampled program's solution (``pattern_strategy="sampled"``)."""
        if getattr(result, "problem", None) is None or result.problem.program != "nominal":
            return None
        from robustbench_convex.global_bound import certified_gap, global_lower_bound
        from robustbench_convex.pricing import dual_vector

        bound = global_lower_bound(
            X,
            y_pm,
            dual_vector(result),
            loss=self.loss,
            beta=self.beta_,
            bias=self.bias,
            method=self.bound,
        )
        result.info.update(
            global_lower_bound=bound.value,
            bound_method=bound.method,
            certified_gap=certified_gap(float(result.objective), bound.value),
        )
        return bound.value

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``f(x)`` of shape ``(n,)``; ``> 0`` predicts ``classes_[1]``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.network_.decision_function(X)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (values of ``classes_``), shape ``(n,)``: ``classes_[1]`` where the
        logit is strictly positive, ``classes_[0]`` elsewhere (a zero logit is not a vote)."""
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(np.intp)]
