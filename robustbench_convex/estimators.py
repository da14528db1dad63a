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

from robustbench_convex._checks import check_choice, check_float, check_int, check_time_budget
from robustbench_convex.formulations import DEFAULT_N_PATTERNS, ROBUST_PROGRAMS
from robustbench_convex.losses import LOSSES
from robustbench_convex.robust_patterns import (
    DEFAULT_ROBUST_LOSS,
    DEFAULT_ROBUST_PATTERNS,
    DEFAULT_STABILITY_PENALTY,
    ROBUST_PATTERN_STRATEGIES,
    network_seeded_patterns,
    solve_rungs,
)

SOLVERS: tuple[str, ...] = ("auto", "admm", "cvxpy", "ipm", "scp")
DEFAULT_BETA_PER_SAMPLE = 1e-2
# robust programs: the robust benchmark's beta (1e-3 n); at 1e-2 n the class-aware program kept
# only 3 ReLU units on digits-2v8 at eps 0.1 (measured with the default patterns and penalty)
DEFAULT_ROBUST_BETA_PER_SAMPLE = 1e-3
DEFAULT_N_NEURONS = 256

__all__ = [
    "DEFAULT_BETA_PER_SAMPLE",
    "DEFAULT_N_NEURONS",
    "DEFAULT_ROBUST_BETA_PER_SAMPLE",
    "SOLVERS",
    "ConvexReLUClassifier",
]


class ConvexReLUClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier: a one-hidden-layer ReLU network trained by a convex program.

    Parameters:
        solver: ``"auto"`` (default: ``robustbench_convex.solve``'s choice of the fastest
            certified solver for the program (``front.choose_convex_solver``): ``"ipm"`` for
            the nominal squared and hinge losses and small logistic programs, ``"cvxpy"`` for
            small robust programs, ``"admm"`` beyond; ``result_.info["front_door"]`` says
            which), ``"cvxpy"`` (interior point:
            MOSEK when licensed, else Clarabel),
            ``"admm"`` (the paper's ADMM in PyTorch), ``"ipm"`` (structured interior point,
            nominal programs of every loss, certified to ``tol``; the fastest at high accuracy
            for the squared loss) or ``"scp"`` (sampled neurons, FISTA for squared / logistic, CVXPY for
            hinge). The fastest here is ``"scp"``.
        loss: ``"squared"``, ``"hinge"`` or ``"logistic"``; summed over samples. None
            (default): ``"squared"`` for nominal training, ``"hinge"`` when ``robust_eps > 0``
            (the class-aware program certifies margin losses only). The value used is ``loss_``.
        n_patterns: activation patterns sampled for ``"admm"`` / ``"cvxpy"`` (ignored by
            ``"scp"``); fewer may remain after dropping duplicates. With a network-seeded
            ``pattern_strategy`` it is the seed network's width. ``"auto"`` (default):
            ``pricing.seed_width`` for the network-seeded strategies (64 neurons on inputs of
            3-15 features with hidden biases, else 32), for the robust programs' network seed
            ``DEFAULT_ROBUST_N_PATTERNS`` (16: an IBP network of width 32, at most 21
            patterns), ``DEFAULT_N_PATTERNS`` (32) sampled patterns otherwise
            (``pattern_strategy="sampled"``, ``patterns="gaussian"``); an int is used as given
            everywhere.
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
            ``1e-2 n`` gave 0.913.) With ``robust_eps > 0`` the rule uses ``1e-3`` instead of
            ``1e-2`` (``DEFAULT_ROBUST_BETA_PER_SAMPLE``: the robust benchmark's value; at
            ``1e-2`` the default class-aware fit kept 3 ReLU units on digits-2v8 at eps 0.1).
            The value used is ``beta_``.
        robust_eps: l_inf radius of the adversary for convex adversarial training (0: nominal
            training). Not available with ``solver="scp"``.
        robust: the robust program when ``robust_eps > 0``: ``"class-aware"`` (default;
            certified, MATH.md (Rc), with class-aware patterns), ``"certified"`` ((R); collapses
            with random patterns, see MATH.md) or ``"relaxed"`` ((Rx); certifies nothing).
        stability_penalty: soft stability constraints with this penalty (certified and
            class-aware programs; None keeps them hard); "admm" and "cvxpy" both solve it.
            ``"auto"`` (default): soft stability for the certified and class-aware programs,
            None otherwise (hard stability collapsed to a linear model or a few neurons on
            image data, MATH.md section 6): penalty 1 (the hinge scale), lowered to 0.3, then
            0.1, while the solution keeps fewer than 8 ReLU units; a genuine rung (>= 8 units)
            is kept unless a near-linear one certifies a fraction of the training set larger
            by more than 0.05 (``robust_patterns.solve_soft_with_fallback`` /
            ``choose_penalty``; training data only). The value used is ``stability_penalty_``,
            the attempts ``penalties_tried_`` (penalty, ReLU units), which rung was kept and
            why ``penalty_choice_``.
        patterns: name of a pattern sampler in ``patterns.PATTERN_SAMPLERS`` (e.g. ``"gaps"``,
            ``"class-aware+ones"``), or a network-seeded strategy of
            ``robust_patterns.ROBUST_PATTERN_STRATEGIES`` for robust programs (``"ibp"``: the
            class-aware split of the arrangement of a network trained by IBP at ``robust_eps``,
            a few seconds; ``"crown-ibp"``, ``"pgd-at"``); None picks ``"ibp"`` for the
            class-aware program with ``robust_eps > 0`` and the problem's default otherwise.
            The value used is ``patterns_``.
        bias: hidden biases.
        seed: seed of the pattern / neuron sampler.
        input_bounds: ``(lower, upper)`` of the input domain (numbers or ``(d,)`` arrays, e.g.
            ``(0, 1)`` for pixels), or None (default: unbounded). With ``robust_eps > 0`` the
            IBP seed is trained on the ball clipped to them and the default ladder
            (``stability_penalty="auto"``, ``patterns="ibp"``, class-aware program, margin loss)
            first solves the seed's own patterns with their neurons' output signs
            (``robust_patterns.signed_own_patterns``: one block each) on the
            clipped ball (``ConvexReLUProblem(lower=, upper=)``: the certificate then covers
            the clipped ball) with the loss ``0.5 * robust + 0.5 * nominal`` at penalty 0.5
            (``robust_patterns.own_rung``, ``DEFAULT_CLEAN_WEIGHT``), and the class-split
            ladder only when that keeps fewer than 8 ReLU units
            (``robust_patterns.solve_rungs``; measured on mnist-2v8-t10k: 11 ReLU units in one
            solve, results/robust_vs_pgd_at_notes.md pass 6).
        solver_options: extra keyword arguments of the solver function (``solve_admm``,
            ``solve_cvxpy``, ``solve_scp``), e.g. ``{"max_iter": 500}``.
        pattern_strategy: how the activation patterns of the nominal program are chosen
            (``pricing.fit_convex_network``): ``"auto"`` (default) is ``"network+pricing"``
            for nominal training with ``patterns=None`` and ``"sampled"`` otherwise (robust
            programs, soft stability, a named sampler).
            ``"network+pricing"``: the arrangement of a quick Adam network (``n_patterns``
            neurons, same loss and beta) plus column generation (dual pricing, at most
            ``max_rounds`` rounds); its objective is then never worse than that network's.
            ``"network"``: without pricing. ``"pricing"``: sampled patterns plus pricing.
            ``"sampled"``: ``n_patterns`` sampled patterns (the earlier behaviour).
        max_rounds: pricing rounds at most (the time limit binds first by default).
        pricing_time_limit: seconds for the pricing loop (checked between restricted solves;
            None: ``max_rounds`` only), or ``"auto"`` (default, ``pricing.pricing_budget``):
            60 s where every pattern is enumerable (the exact oracle can end the loop with a
            proof), else ``AUTO_BUDGET_SEED_RUNS`` (5) times one seed network's training time,
            measured in the same process, so that the pipeline costs about 10 SGD runs. The
            objective reached is never worse than the seed network's, and the bound says how
            far from the global optimum it is.
        bound: how the certified lower bound ``global_lower_bound_`` is computed
            (``global_bound.global_lower_bound``: exact by pattern enumeration for low-rank data,
            a cheap loose relaxation otherwise, ``"mip"`` SCIP within 60 s (needs
            pyscipopt; rarely tighter, see the method); ``"auto"`` picks, and with
            ``pattern_strategy="sampled"`` computes none), or ``"none"``.

    Attributes (after ``fit``):
        classes_: the two labels (sorted); ``classes_[1]`` is the positive class.
        network_: the trained ``TwoLayerReLU`` (logit > 0 predicts ``classes_[1]``).
        result_: the solver's result (``ConvexSolution`` or ``SCPSolution``): ``status``,
            ``objective``, ``time``, ``history``, ``info``.
        n_neurons_: number of active hidden neurons of ``network_``.
        n_relu_neurons_: robust programs: effective neurons that are genuine ReLU units (not
            all-active on the training data); None for ``"scp"``.
        collapsed_: True when a robust program kept no ReLU unit (the zero network or a linear
            model); a ``CollapseWarning`` with advice is issued then. Never silent.
        beta_, loss_, stability_penalty_, patterns_: the values used.
        pattern_time_: seconds spent training the pattern seed network (0 without one).
        objective_: the training objective of ``network_`` (summed loss plus ``beta_`` times
            its weight decay; ``ConvexReLUProblem.network_objective``).
        global_lower_bound_: a certified lower bound on the training objective of *every*
            two-layer ReLU network of any width with this loss and ``beta_`` (None when not
            computed: robust or SCP training, ``bound="none"``, beta 0); ``result_.info`` holds
            ``certified_gap``, ``bound_method``, ``pricing_rounds``, ``patterns_added``,
            ``final_violation``.
        n_features_in_, feature_names_in_: as in scikit-learn.
    """

    def __init__(
        self,
        solver: Literal["auto", "admm", "cvxpy", "ipm", "scp"] = "auto",
        loss: Literal["squared", "hinge", "logistic"] | None = None,
        n_patterns: int | Literal["auto"] = "auto",
        n_neurons: int | None = None,
        beta: float | None = None,
        robust_eps: float = 0.0,
        robust: Literal["certified", "relaxed", "class-aware"] = "class-aware",
        stability_penalty: float | Literal["auto"] | None = "auto",
        patterns: str | None = None,
        bias: bool = True,
        seed: int = 0,
        solver_options: dict[str, Any] | None = None,
        pattern_strategy: Literal[
            "auto", "network+pricing", "network", "pricing", "sampled"
        ] = "auto",
        max_rounds: int = 100,
        bound: Literal["auto", "enumeration", "relaxation", "mip", "none"] = "auto",
        pricing_time_limit: float | Literal["auto"] | None = "auto",
        input_bounds: tuple[Any, Any] | None = None,
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
        self.pricing_time_limit = pricing_time_limit
        self.input_bounds = input_bounds

    # ------------------------------------------------------------------ scikit-learn plumbing
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.non_deterministic = False
        return tags

    def _check_params(self, n_effective: int) -> float:
        """Check the hyper-parameters (scikit-learn validates in ``fit``) by the library's rules
        (:mod:`robustbench_convex._checks`), then their combinations; return ``beta_``."""
        check_choice("solver", self.solver, SOLVERS)
        check_choice("loss", self.loss, LOSSES, none="auto")
        check_choice("robust", self.robust, ROBUST_PROGRAMS)
        if isinstance(self.n_patterns, str) and self.n_patterns != "auto":
            raise ValueError(f"n_patterns must be 'auto' or an int >= 1, got {self.n_patterns!r}")
        if not isinstance(self.n_patterns, str):
            check_int("n_patterns", self.n_patterns, 1)
        check_int("n_neurons", self.n_neurons, 1, none="auto")
        eps = check_float("robust_eps", self.robust_eps, positive=False)
        explicit_penalty = self.stability_penalty not in (None, "auto")
        if self.solver == "scp" and (eps > 0 or explicit_penalty):
            raise ValueError(
                "solver='scp' has no robust variant (robust_eps must be 0 and "
                "stability_penalty None); use solver='admm' or 'cvxpy' for convex adversarial "
                "training"
            )
        if self.solver == "ipm" and (eps > 0 or explicit_penalty):
            raise ValueError(
                "solver='ipm' solves the nominal programs only (robust_eps=0, "
                f"stability_penalty=None; got robust_eps={eps:g}); use solver='admm' or 'cvxpy' "
                "for convex adversarial training"
            )
        check_time_budget("pricing_time_limit", self.pricing_time_limit)
        if self.solver_options is not None and not isinstance(self.solver_options, dict):
            raise TypeError(
                f"solver_options must be a dict or None, got {type(self.solver_options).__name__}"
            )
        beta = check_float("beta", self.beta, positive=False, none="auto")
        if beta is None:
            robust = eps > 0 and self.solver != "scp"
            per_sample = DEFAULT_ROBUST_BETA_PER_SAMPLE if robust else DEFAULT_BETA_PER_SAMPLE
            return per_sample * n_effective
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
        eps = float(self.robust_eps)
        self._input_bounds(X)  # checked before any work
        self.penalties_tried_: list[tuple[float, int]] = []
        self.penalty_choice_: str | None = None
        loss, penalty, patterns = self._robust_defaults(eps)
        self.pattern_time_ = 0.0
        if isinstance(patterns, str) and patterns in ROBUST_PATTERN_STRATEGIES:
            lower, upper = self._input_bounds(X)
            seeded = network_seeded_patterns(
                X, y_pm, eps=eps, n_patterns=self._robust_seed_patterns(), strategy=patterns,
                loss=loss if loss != "squared" else "hinge", beta=beta, seed=self.seed,
                lower=lower, upper=upper,
            )  # fmt: skip
            pattern_arg: Any = seeded.D
            self.pattern_time_ = seeded.seconds
        else:
            seeded, pattern_arg = None, patterns

        if self.solver == "scp":
            from robustbench_convex.solvers.scp import solve_scp

            n_neurons = DEFAULT_N_NEURONS if self.n_neurons is None else int(self.n_neurons)
            result = solve_scp(
                X,
                y_pm,
                n_neurons=n_neurons,
                loss=loss,
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
                loss=loss,
                beta=beta,
                n_patterns=self._sampled_patterns(),
                patterns=pattern_arg,
                robust_eps=eps,
                robust=self.robust,
                stability_penalty=penalty,
                bias=self.bias,
                seed=self.seed,
            )
            if seeded is not None:
                problem.pattern_source = seeded.source
            strategy = self._pattern_strategy(eps, penalty)
            if strategy != "sampled":
                from robustbench_convex.pricing import fit_convex_network

                fit = fit_convex_network(
                    X,
                    y_pm,
                    loss=loss,
                    beta=beta,
                    bias=self.bias,
                    strategy=strategy,
                    n_patterns=self._seed_patterns(),
                    solver=self._restricted_solver(),
                    max_rounds=int(self.max_rounds),
                    time_limit=self.pricing_time_limit,
                    bound="none" if beta == 0 else self.bound,
                    solver_options=options,
                    seed=self.seed,
                )
                result = fit.solution
            elif self.stability_penalty == "auto" and penalty is not None:
                # the default soft penalty: lowered while it keeps too few ReLU units
                fit = solve_rungs(
                    self._default_rungs(problem, seeded, X),
                    lambda prob: self._solve(prob, options),
                )
                result, penalty = fit.solution, fit.penalty
                self.penalties_tried_ = [(p, r) for p, r, _, _ in fit.tried]
                self.penalty_choice_ = fit.reason
            else:
                result = self._solve(problem, options)
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
        self.loss_ = loss
        self.stability_penalty_ = penalty
        self.patterns_ = patterns
        self.result_ = result
        self.network_ = result.to_network()
        self.n_neurons_ = int(self.network_.width)
        relu = getattr(result, "n_relu_active", None)
        self.n_relu_neurons_ = int(relu()) if callable(relu) else None
        self.collapsed_ = bool(getattr(result, "collapsed", False)) if eps > 0 else False
        self.objective_ = self._network_objective(X, y_pm, result)
        if self.solver != "scp" and float(self.robust_eps) == 0 and self.bound != "none":
            self.global_lower_bound_ = result.info.get("global_lower_bound")
            # sampled programs: only on request (the bound's cost is not part of that default)
            if self.global_lower_bound_ is None and beta > 0 and self.bound != "auto":
                self.global_lower_bound_ = self._bound_sampled(X, y_pm, result)
        else:
            self.global_lower_bound_ = None
        return self

    def _sampled_patterns(self) -> int:
        """``n_patterns`` for a sampled (or robust network-seeded) program: ``"auto"`` is
        ``DEFAULT_N_PATTERNS``."""
        return DEFAULT_N_PATTERNS if self.n_patterns == "auto" else int(self.n_patterns)

    def _robust_seed_patterns(self) -> int:
        """``n_patterns`` of a robust program's network seed: ``"auto"`` is
        ``robust_patterns.DEFAULT_ROBUST_N_PATTERNS`` (16: an IBP seed of width 32 and a budget
        of 21 patterns, the setting of ``benchmarks/robust_vs_pgd_at.py``)."""
        from robustbench_convex.robust_patterns import DEFAULT_ROBUST_N_PATTERNS

        return DEFAULT_ROBUST_N_PATTERNS if self.n_patterns == "auto" else int(self.n_patterns)

    def _seed_patterns(self) -> int | str:
        """``n_patterns`` for ``fit_convex_network``: ``"auto"`` passes through
        (``pricing.seed_width``)."""
        return "auto" if self.n_patterns == "auto" else int(self.n_patterns)

    def _solve(self, problem: Any, options: dict[str, Any]) -> Any:
        if self.solver == "auto":
            from robustbench_convex.solvers.front import solve

            return solve(problem, solver="auto", **options)
        if self.solver == "cvxpy":
            from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

            return solve_cvxpy(problem, **options)
        if self.solver == "ipm":
            from robustbench_convex.solvers.ipm import solve_ipm

            return solve_ipm(problem, **options)
        from robustbench_convex.solvers.admm import solve_admm

        return solve_admm(problem, **options)

    def _input_bounds(self, X: np.ndarray) -> tuple[Any, Any]:
        """``(lower, upper)`` from ``input_bounds`` (None: unbounded), checked against ``X``."""
        if self.input_bounds is None:
            return None, None
        if not isinstance(self.input_bounds, (tuple, list)) or len(self.input_bounds) != 2:
            raise ValueError(
                "input_bounds must be None or a pair (lower, upper), e.g. (0, 1) for pixels, "
                f"got {self.input_bounds!r}"
            )
        from robustbench_convex.formulations import _check_input_bounds

        return _check_input_bounds(X, *self.input_bounds)

    def _default_rungs(self, problem: Any, seeded: Any, X: np.ndarray) -> list:
        """The default ladder's rungs: the penalty ladder of ``problem`` (unclipped ball), after
        the seed's own patterns on the clipped ball at penalty 1 when ``input_bounds`` are given
        (margin losses, IBP-seeded class-aware program)."""
        from robustbench_convex.robust_patterns import (
            DEFAULT_PENALTY_LADDER,
            default_max_patterns,
            own_rung,
            signed_own_patterns,
        )

        rungs: list = [
            (f"{p:g}", p, (lambda p=p: self._with_penalty(problem, p)))
            for p in DEFAULT_PENALTY_LADDER
        ]
        lower, upper = self._input_bounds(X)
        if (
            seeded is not None
            and (lower is not None or upper is not None)
            and problem.program == "class-aware"
            and problem.loss != "squared"
        ):
            budget = default_max_patterns(self._robust_seed_patterns())
            D, signs = signed_own_patterns(seeded.net, X, budget)
            rungs.insert(0, own_rung(
                problem.X, problem.y, D, loss=problem.loss, beta=problem.beta,
                eps=problem.robust_eps, lower=lower, upper=upper, bias=problem.bias,
                seed=problem.seed, source=f"{seeded.source}-own", output_signs=signs,
            ))  # fmt: skip
        return rungs

    @staticmethod
    def _with_penalty(problem: Any, penalty: float) -> Any:
        """``problem`` with another stability penalty (same data and patterns)."""
        if penalty == problem.stability_penalty:
            return problem
        from robustbench_convex.formulations import ConvexReLUProblem

        other = ConvexReLUProblem(
            problem.X, problem.y, loss=problem.loss, beta=problem.beta, patterns=problem.D,
            robust_eps=problem.robust_eps, robust=problem.robust, stability_penalty=penalty,
            bias=problem.bias, seed=problem.seed,
        )  # fmt: skip
        other.pattern_source = problem.pattern_source
        return other

    def _robust_defaults(self, eps: float) -> tuple[str, float | None, Any]:
        """The loss, stability penalty and patterns the fit uses (resolving None / "auto")."""
        robust = eps > 0 and self.solver != "scp"
        loss = (
            self.loss if self.loss is not None else (DEFAULT_ROBUST_LOSS if robust else "squared")
        )
        penalty = self.stability_penalty
        if isinstance(penalty, str):
            if penalty != "auto":
                raise ValueError(
                    f"stability_penalty must be a number >= 0, None (hard) or 'auto', got {penalty!r}"
                )
            soft = robust and self.robust in ("certified", "class-aware")
            penalty = DEFAULT_STABILITY_PENALTY if soft else None
        patterns = self.patterns
        if patterns is None and robust and self.robust == "class-aware":
            patterns = DEFAULT_ROBUST_PATTERNS
        if isinstance(patterns, str) and patterns in ROBUST_PATTERN_STRATEGIES and not robust:
            raise ValueError(
                f"patterns={patterns!r} seeds a robust program from a robust network: it needs "
                "robust_eps > 0 (and solver 'cvxpy' or 'admm'); use a sampler such as "
                "'gaussian' for nominal training"
            )
        return loss, penalty, patterns

    # ------------------------------------------------------------------ pattern strategy
    def _pattern_strategy(self, eps: float, penalty: float | None) -> str:
        from robustbench_convex.pricing import PATTERN_STRATEGIES

        if self.pattern_strategy not in ("auto", *PATTERN_STRATEGIES):
            raise ValueError(
                f"pattern_strategy must be 'auto' or one of {PATTERN_STRATEGIES}, got "
                f"{self.pattern_strategy!r}"
            )
        nominal = eps == 0 and penalty is None
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

    def _network_objective(self, X: np.ndarray, y_pm: np.ndarray, result: Any) -> float:
        """``objective_``: ``ConvexReLUProblem.network_objective`` (nominal) of ``network_``, on
        the solver's own problem where the result carries one (SCP results do not)."""
        from robustbench_convex.formulations import ConvexReLUProblem

        problem = getattr(result, "problem", None)
        if problem is None:
            problem = ConvexReLUProblem(
                X, y_pm, loss=self.loss_, beta=self.beta_, n_patterns=1, bias=self.bias
            )
        return float(problem.network_objective(self.network_, nominal=True))

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
            loss=self.loss_,
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
