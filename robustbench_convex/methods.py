"""The registry of training methods a sweep can run: method key -> how to train it.

Every method takes a :class:`~robustbench_convex.data.Dataset`, its settings (validated against
the registry's allowed keys) and a seed, and returns a :class:`TrainOutput`: the trained
:class:`~robustbench_convex.network.TwoLayerReLU` and a flat, JSON-friendly ``info`` dict with the
same keys for every method (objective, status, solver, time, program, is_certificate, n_active,
nominal_objective, notes), plus a per-iteration ``history`` (ADMM: for the convergence plot).

Keys:

* ``convex-admm``, ``convex-cvxpy``: the sampled convex program (C_s), nominal, by ADMM / CVXPY;
* ``convex-ipm``: the same program with the squared loss, by the structured interior point;
* the three nominal methods above choose their patterns by ``pattern_strategy`` (``"auto"`` /
  ``"network+pricing"``: the arrangement of a quick Adam network plus dual pricing,
  ``pricing.fit_convex_network``; ``"sampled"``, still the default: random sampling) and record
  ``pricing_rounds``, ``patterns_added``, ``final_violation``, ``global_lower_bound`` (a
  certified lower bound on every network's objective), ``bound_method`` and ``certified_gap``;
* ``convex-scp``: the sampled convex program via :func:`~robustbench_convex.solve_scp`;
* ``convex-robust-certified``, ``convex-robust-relaxed``, ``convex-robust-class-aware``: the robust
  convex programs (MATH.md section 6) at radius ``eps`` (``solver = "cvxpy"`` or ``"admm"``);
* ``sgd``, ``pgd-at``, ``fgsm-at``: the back-propagation baselines of
  :mod:`robustbench_convex.baselines`;
* ``ibp``, ``crown-ibp``: certified training (interval bound propagation, CROWN-IBP) of
  :mod:`robustbench_convex.baselines`, the certified opponents of the certified convex programs.

Conventions shared by all methods (so that numbers compare): ``beta`` is the weight decay of the
objective ``sum_k loss_k + beta/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2)`` (the baselines' argument
``weight_decay``); ``info["nominal_objective"]`` is that objective of the returned network on the
training set, computed here the same way for every method. ``info["objective"]`` is what the
method itself optimized (the convex objective, or the baseline's nominal objective).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np

from robustbench_convex._checks import (
    check_bool,
    check_choice,
    check_float,
    check_fraction,
    check_int,
    check_str,
)
from robustbench_convex._json import jsonable
from robustbench_convex.patterns import PATTERN_SAMPLERS
from robustbench_convex.records import (
    COLLAPSE_NOTE,
    TRAIN_STATUSES,
    RecordWarning,
    SolverKind,
    TrainingInfo,
    TrainStatus,
)
from robustbench_convex.robust_patterns import (
    DEFAULT_ROBUST_LOSS,
    DEFAULT_ROBUST_PATTERNS,
    DEFAULT_STABILITY_PENALTY,
    ROBUST_PATTERN_STRATEGIES,
)

if TYPE_CHECKING:
    from robustbench_convex.baselines import TrainingRecord
    from robustbench_convex.solution import ConvexSolution, SolverResult
    from robustbench_convex.solvers.scp import SCPSolution

__all__ = [
    "METHODS",
    "CostHint",
    "MethodEntry",
    "ParamSpec",
    "TrainOutput",
    "list_methods",
    "resolve_device",
    "train_method",
    "train_validated",
    "validate_params",
]

MethodKind = Literal["convex", "baseline"]


# ------------------------------------------------------------------------------ parameter specs
@dataclass(frozen=True)
class ParamSpec:
    """One allowed setting of a method: its default and how to check a value.

    ``kind``: ``"float>=0"``, ``"float>0"``, ``"fraction"`` (a number in [0, 1]), ``"int>=1"``,
    ``"int>=0"``, ``"bool"``, ``"str"`` (one of ``choices`` when given); ``optional``: None is
    accepted."""

    default: Any
    kind: str
    choices: tuple[str, ...] | None = None
    optional: bool = False
    help: str = ""

    def check(self, where: str, value: Any) -> Any:
        """Return the validated value or raise ValueError / TypeError naming ``where`` (the
        setting's path in the sweep, ``"methods[2].eps"``). The rule of each kind is the
        library's (:mod:`robustbench_convex._checks`); the message reads ``"<where>: ..."``."""
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"{where}: must not be null")
        name, kind = f"{where}:", self.kind
        if kind == "bool":
            return check_bool(name, value)
        if kind == "str":
            if self.choices is not None:
                return check_choice(name, value, self.choices)
            return check_str(name, value)
        if kind in ("int>=1", "int>=0"):
            return check_int(name, value, 1 if kind == "int>=1" else 0)
        if kind in ("float>0", "float>=0"):
            return check_float(name, value, positive=kind == "float>0")
        if kind == "fraction":
            return check_fraction(name, value)
        raise AssertionError(f"unknown parameter kind {kind!r}")  # pragma: no cover


_LOSS = ParamSpec("squared", "str", choices=("squared", "hinge", "logistic"), help="loss")
_BETA = ParamSpec(1e-3, "float>=0", help="weight decay beta (objective convention above)")

_CONVEX_COMMON: dict[str, ParamSpec] = {
    "loss": _LOSS,
    "beta": _BETA,
    "n_patterns": ParamSpec(
        None,
        "int>=1",
        optional=True,
        help="patterns to sample (None: 32); a nominal network seed's width (None: "
        "pricing.seed_width); a robust network seed's pattern count, its width twice that "
        "(None: 16, width 32)",
    ),
    "patterns": ParamSpec(
        None, "str", choices=tuple(sorted(PATTERN_SAMPLERS)), optional=True, help="sampler"
    ),
    "bias": ParamSpec(True, "bool", help="hidden biases"),
}
_PRICING: dict[str, ParamSpec] = {
    "pattern_strategy": ParamSpec(
        "sampled",
        "str",
        choices=("auto", "network+pricing", "network", "pricing", "sampled"),
        help="patterns of the nominal program (sampled: random sampling, the default for now; "
        "auto: network+pricing unless `patterns` is set); see pricing.fit_convex_network",
    ),
    "max_rounds": ParamSpec(10, "int>=0", help="pricing rounds at most"),
    "pricing_time_limit": ParamSpec(
        120.0, "float>0", optional=True, help="seconds for the pricing loop (None: no limit)"
    ),
    "bound": ParamSpec(
        "auto",
        "str",
        choices=("auto", "enumeration", "relaxation", "none"),
        help="certified lower bound on every network's objective (global_bound)",
    ),
}
_PRICING_KEYS = (
    "pattern_strategy",
    "seed_objective",
    "pricing_rounds",
    "patterns_added",
    "patterns_dropped",
    "final_violation",
    "pricing_stop",
    "global_lower_bound",
    "bound_method",
    "bound_M_ratio",
    "certified_gap",
    "time_seed",
    "time_solve",
    "time_bound",
)
_ADMM: dict[str, ParamSpec] = {
    "rho": ParamSpec(None, "float>0", optional=True, help="ADMM penalty (None: solver default)"),
    "max_iter": ParamSpec(None, "int>=1", optional=True, help="ADMM iterations (None: default)"),
    "tol": ParamSpec(None, "float>0", optional=True, help="ADMM tolerance (None: default)"),
    "time_limit": ParamSpec(None, "float>0", optional=True, help="seconds"),
    "history_every": ParamSpec(10, "int>=1", help="record the history every k iterations"),
    "track_accuracy": ParamSpec(
        True, "bool", help="record train/test accuracy per iteration (convergence plot)"
    ),
}
_IPM: dict[str, ParamSpec] = {
    "loss": ParamSpec("squared", "str", choices=("squared",), help="loss (squared only)"),
    "max_iter": ParamSpec(None, "int>=1", optional=True, help="IPM iterations (None: default)"),
    "tol": ParamSpec(
        None, "float>0", optional=True, help="certified relative gap (None: default 1e-6)"
    ),
    "time_limit": ParamSpec(None, "float>0", optional=True, help="seconds"),
    "track_accuracy": ParamSpec(
        True, "bool", help="record train/test accuracy per iteration (convergence plot)"
    ),
}
_CVXPY: dict[str, ParamSpec] = {
    "cvxpy_solver": ParamSpec(
        None, "str", optional=True, help="CVXPY solver name (None: MOSEK if licensed, Clarabel)"
    ),
}
_ROBUST: dict[str, ParamSpec] = {
    "eps": ParamSpec(0.1, "float>=0", help="l_inf radius of the adversary (input units)"),
    "solver": ParamSpec("cvxpy", "str", choices=("cvxpy", "admm"), help="which solver"),
}
_STABILITY = {
    "stability_penalty": ParamSpec(
        DEFAULT_STABILITY_PENALTY,
        "float>0",
        optional=True,
        help="soft stability constraints with this penalty (null: hard)",
    ),
    "penalty_fallback": ParamSpec(
        True,
        "bool",
        help="soft stability: retry with lower penalties (0.3, then 0.1) while the solution keeps "
        "fewer than 8 ReLU units, keep a genuine one unless clearly worse on training data "
        "(robust_patterns.solve_soft_with_fallback)",
    ),
}
# the certificate programs: a margin loss (the class-aware program certifies only those) and
# patterns that may be seeded by a quickly trained robust network (robust_patterns)
_CERTIFIED_CONVEX: dict[str, ParamSpec] = {
    **_CONVEX_COMMON,
    "loss": ParamSpec(
        DEFAULT_ROBUST_LOSS, "str", choices=("squared", "hinge", "logistic"), help="loss"
    ),
    "patterns": ParamSpec(
        None,
        "str",
        choices=(*sorted(PATTERN_SAMPLERS), *ROBUST_PATTERN_STRATEGIES),
        optional=True,
        help="sampler or network-seeded strategy (null: 'ibp' for class-aware, the program's "
        "default sampler otherwise)",
    ),
}
_SCP: dict[str, ParamSpec] = {
    "loss": _LOSS,
    "beta": _BETA,
    "n_neurons": ParamSpec(32, "int>=1", help="neurons of the sampled convex program"),
    "bias": ParamSpec(True, "bool", help="hidden biases"),
    "scp_method": ParamSpec(
        "auto",
        "str",
        choices=("auto", "fista", "cvxpy"),
        help="inner solver (auto: FISTA for smooth losses, CVXPY for hinge)",
    ),
    "max_iter": ParamSpec(None, "int>=1", optional=True, help="FISTA iterations (None: default)"),
    "tol": ParamSpec(None, "float>0", optional=True, help="FISTA tolerance (None: default)"),
    "time_limit": ParamSpec(None, "float>0", optional=True, help="seconds"),
}
_SGD: dict[str, ParamSpec] = {
    "loss": ParamSpec("logistic", "str", choices=("squared", "hinge", "logistic"), help="loss"),
    "beta": _BETA,
    "width": ParamSpec(64, "int>=1", help="hidden neurons"),
    "optimizer": ParamSpec("adam", "str", choices=("adam", "sgd")),
    "epochs": ParamSpec(200, "int>=1"),
    "batch_size": ParamSpec(None, "int>=1", optional=True, help="None: full batch"),
    "lr": ParamSpec(1e-2, "float>0"),
    "early_stopping": ParamSpec(None, "int>=1", optional=True),
    "momentum": ParamSpec(0.9, "float>=0"),
    "bias": ParamSpec(True, "bool"),
    "output_bias": ParamSpec(False, "bool"),
}
_AT: dict[str, ParamSpec] = {
    "eps": ParamSpec(0.1, "float>=0", help="l_inf training radius (input units)"),
    "step_size": ParamSpec(None, "float>0", optional=True),
    "eval_steps": ParamSpec(20, "int>=1"),
}
_DEVICE: dict[str, ParamSpec] = {
    "device": ParamSpec(
        "cpu",
        "str",
        choices=("cpu", "cuda", "auto"),
        help="torch device of the training (auto: CUDA when available; convex-robust-*: the "
        "ADMM solver only); recorded in the records",
    ),
}
_SGD.update(_DEVICE)
_CERTIFIED_TRAINING: dict[str, ParamSpec] = {
    **{k: v for k, v in _SGD.items() if k != "early_stopping"},
    "eps": ParamSpec(0.1, "float>=0", help="l_inf training radius (input units)"),
    "warmup_fraction": ParamSpec(0.0, "fraction", help="fraction of steps at eps 0 first"),
    "ramp_fraction": ParamSpec(0.5, "fraction", help="fraction of steps ramping eps 0 -> eps"),
    "kappa_start": ParamSpec(1.0, "fraction", help="natural-loss weight at the ramp's start"),
    "kappa_end": ParamSpec(0.5, "fraction", help="natural-loss weight at the ramp's end"),
}
_CROWN_IBP: dict[str, ParamSpec] = {
    **_CERTIFIED_TRAINING,
    "crown_weight_start": ParamSpec(1.0, "fraction", help="CROWN weight of the bound, start"),
    "crown_weight_end": ParamSpec(0.0, "fraction", help="CROWN weight of the bound, end"),
}


# ------------------------------------------------------------------------------------ output
@dataclass
class TrainOutput:
    """What every method of the registry returns (one shape for every trainer).

    ``model``: the trained :class:`~robustbench_convex.network.TwoLayerReLU` (on the CPU);
    ``info``: the typed :class:`~robustbench_convex.records.TrainingInfo` (status from one
    vocabulary, the solver's raw status, objective, time, ...); ``history``: per-iteration dicts
    (ADMM / IPM / SCP: iteration, time, objective, ... and train/test accuracy when tracked;
    empty for methods without one); ``warnings``: typed warnings about the training (a collapsed
    model: kind "collapse")."""

    model: Any  # TwoLayerReLU
    info: TrainingInfo
    history: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[RecordWarning] = field(default_factory=list)

    @property
    def network(self) -> Any:
        return self.model

    @property
    def status(self) -> TrainStatus:
        return self.info.status

    @property
    def raw_status(self) -> str:
        return self.info.raw_status

    @property
    def objective(self) -> float:
        return self.info.objective

    @property
    def time(self) -> float:
        return self.info.time


@dataclass(frozen=True)
class CostHint:
    """Seconds of training of one method on one core, for the scheduler's queue order and ETA
    (``execution.estimate_cost``): ``seconds`` at the method's reference settings on a data set
    of ``n_train * d = 12000`` (breast-cancer, 398 x 30), times ``scale(settings)``, the ratio
    of iterations / epochs / patterns / width asked for to the reference. Fitted to the committed
    quick-preset timings; only ratios matter."""

    seconds: float
    scale: Callable[[Mapping[str, Any]], float]

    def train_seconds(self, settings: Mapping[str, Any]) -> float:
        return self.seconds * self.scale(settings)


@dataclass(frozen=True)
class MethodEntry:
    """A registry entry: ``train(dataset, settings, seed) -> TrainOutput`` and its cost hint."""

    key: str
    kind: MethodKind
    description: str
    params: Mapping[str, ParamSpec]
    train: Callable[[Any, dict[str, Any], int], TrainOutput]
    cost: CostHint | None = None

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}


# ---------------------------------------------------------------------------------- cost hints
def _setting(s: Mapping[str, Any], name: str, default: float) -> float:
    v = s.get(name)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def _patterns_scale(s: Mapping[str, Any]) -> float:
    return _setting(s, "n_patterns", 32) / 32


def _epochs_scale(reference_epochs: float, *, pgd: bool = False):
    def scale(s: Mapping[str, Any]) -> float:
        steps = (_setting(s, "steps", 7) + 1) / 8 if pgd else 1.0
        return (
            _setting(s, "epochs", reference_epochs)
            / reference_epochs
            * steps
            * (_setting(s, "width", 32) / 32)
        )

    return scale


def _admm_scale(s: Mapping[str, Any]) -> float:
    return _setting(s, "max_iter", 1000) / 1000 * _patterns_scale(s)


def _scp_scale(s: Mapping[str, Any]) -> float:
    return _setting(s, "n_neurons", 64) / 64


def _robust_scale(s: Mapping[str, Any]) -> float:
    solver = 1.0 if s.get("solver") == "admm" else 4.0
    return solver * _setting(s, "max_iter", 500) / 500 * _patterns_scale(s)


# ------------------------------------------------------------------------------- helpers
def _nominal_objective(model: Any, dataset: Any, loss: str, beta: float) -> float:
    from robustbench_convex.losses import loss_value

    logits = model.decision_function(dataset.X_train)
    return float(loss_value(loss, logits, dataset.y_train)) + beta * model.weight_decay()


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(y * model.decision_function(X) > 0))


def resolve_device(device: str, *, where: str = "device") -> str:
    """``"cpu"`` / ``"cuda"`` from a ``device`` setting (``"auto"``: CUDA when available).

    Raises:
        ValueError: ``"cuda"`` while CUDA is not available (names ``where`` and the fix)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{where}: 'cuda' requested but CUDA is not available on this machine; "
            'set device = "cpu" (or "auto": CUDA when available)'
        )
    if device not in ("cpu", "cuda"):
        raise ValueError(f"{where}: must be 'cpu', 'cuda' or 'auto', got {device!r}")
    return device


def _device(settings: Mapping[str, Any]) -> str:
    return resolve_device(str(settings.get("device", "cpu")))


@dataclass
class _Trained:
    """What the adapter reads of a trainer's own result type (filled by one reader per type):
    the model, the :class:`TrainingInfo` fields the trainer knows (``objective``, ``raw_status``,
    ``solver``, ``time``, ``program``, ``is_certificate`` and method-specific ones), its notes,
    history, and whether the solver saw a collapse."""

    model: Any
    fields: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    collapsed: bool = False


def _solver_fields(solution: SolverResult) -> dict[str, Any]:
    """The fields every solver result shares (``solution.SolverResult``)."""
    return {
        "objective": float(solution.objective),
        "raw_status": str(solution.status),
        "solver": str(solution.solver),
        "time": float(solution.time),
    }


def _read_convex(solution: ConvexSolution) -> _Trained:
    problem = solution.problem
    notes = list(getattr(problem, "notes", []))
    if solution.message:
        notes.append(f"solver message: {solution.message}")
    fields: dict[str, Any] = {
        **_solver_fields(solution),
        "program": str(solution.program),
        "is_certificate": bool(solution.is_certificate),
        "P": int(problem.P),
        "robust_eps": float(problem.robust_eps),
        "certified_training_loss": solution.certified_training_loss,
        "constraint_violation": float(solution.constraint_violation),
        "iterations": solution.info.get("iterations") or len(solution.history) or None,
        # the same key for every solve of the same program: ADMM and interior-point cells on
        # one problem share it, so the report can measure ADMM's gap against their optimum
        "problem_key": _problem_key(problem),
        "n_relu_active": int(solution.n_relu_active()),
    }
    if solution.is_certificate:  # fraction of training points with a certified margin > 0
        from robustbench_convex.robust import certified_training_accuracy

        fields["certified_train_accuracy"] = certified_training_accuracy(solution)
    fields.update({k: solution.info[k] for k in _PRICING_KEYS if k in solution.info})
    history = [_plain(h) for h in solution.history]
    return _Trained(solution.to_network(), fields, notes, history, bool(solution.collapsed))


def _read_scp(solution: SCPSolution) -> _Trained:
    fields = {**_solver_fields(solution), "program": "nominal", "is_certificate": False}
    return _Trained(solution.to_network(), fields, history=[_plain(h) for h in solution.history])


def _read_baseline(model: Any, record: TrainingRecord, settings: dict[str, Any]) -> _Trained:
    fields = {
        "objective": float(record.objective),
        "raw_status": str(record.status),
        "solver": f"torch-{settings['optimizer']}",
        "time": float(record.time),
        "program": str(record.method),
        "is_certificate": False,
        "robust_objective": record.robust_objective,
        "certified_train_accuracy": record.certified_train_accuracy,
        "epochs_run": int(record.epochs_run),
        "objective_history": [float(v) for v in record.objective_history],
    }
    # evaluated, stored and attacked on the CPU
    return _Trained(model.cpu(), fields, [record.message] if record.message else [])


TrainerResult = Union["ConvexSolution", "SCPSolution", tuple]
"""What the trainers hand to the adapter: a ``ConvexSolution``, an ``SCPSolution`` or the
baselines' ``(TwoLayerReLU, TrainingRecord)``."""


def _adapt(
    result: TrainerResult,
    dataset: Any,
    settings: dict[str, Any],
    *,
    method: str,
    solver_kind: SolverKind,
    device: str = "cpu",
    **fields: Any,
) -> TrainOutput:
    """The one adapter from a trainer's own result to a :class:`TrainOutput`: reads the result
    by its type, derives ``collapsed`` (here only) and the nominal objective / training accuracy
    of the returned network the same way for every method. ``fields``: further
    :class:`TrainingInfo` fields (e.g. the robust programs' penalty ladder)."""
    from robustbench_convex.baselines import TrainingRecord
    from robustbench_convex.solution import ConvexSolution
    from robustbench_convex.solvers.scp import SCPSolution

    if isinstance(result, ConvexSolution):
        trained = _read_convex(result)
    elif isinstance(result, SCPSolution):
        trained = _read_scp(result)
    elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], TrainingRecord):
        trained = _read_baseline(result[0], result[1], settings)
    else:
        raise TypeError(f"{method}: a trainer returned {type(result).__name__}, not a result")
    model = trained.model
    n_active = int(model.n_active()) if model.width else 0
    collapsed = n_active == 0 or trained.collapsed
    info = TrainingInfo(
        **{**trained.fields, **fields},
        method=method,
        kind=get_method(method).kind,
        nominal_objective=_nominal_objective(
            model, dataset, settings["loss"], float(settings["beta"])
        ),
        status=_train_status(trained.fields["raw_status"], method),
        solver_kind=solver_kind,
        device=device,
        n_active=n_active,
        width=int(model.width),
        collapsed=collapsed,
        train_acc=_accuracy(model, dataset.X_train, dataset.y_train),
        notes=[*trained.notes, *([COLLAPSE_NOTE] if collapsed else [])],
        settings=dict(settings),
    )
    warned = [RecordWarning("collapse", COLLAPSE_NOTE)] if collapsed else []
    return TrainOutput(model=model, info=info, history=trained.history, warnings=warned)


def _train_status(raw: str, method: str) -> TrainStatus:
    if raw not in TRAIN_STATUSES:
        raise ValueError(
            f"{method}: the trainer reported status {raw!r}, outside the one vocabulary "
            f"{TRAIN_STATUSES}"
        )
    return raw  # type: ignore[return-value]


def _problem(dataset: Any, settings: dict[str, Any], seed: int, **robust: Any):
    from robustbench_convex.formulations import ConvexReLUProblem

    kwargs: dict[str, Any] = {
        "loss": settings["loss"],
        "beta": settings["beta"],
        "n_patterns": settings["n_patterns"],
        "patterns": settings["patterns"],
        "bias": settings["bias"],
        "seed": seed,
    }
    kwargs.update(robust)
    return ConvexReLUProblem(dataset.X_train, dataset.y_train, **kwargs)


def _admm_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        k: settings[k]
        for k in ("rho", "max_iter", "tol", "time_limit", "history_every")
        if settings.get(k) is not None
    }


def _accuracy_callback(dataset: Any, problem: Any) -> Callable[[int, Any], dict[str, float]]:
    """ADMM callback: train / test accuracy of the iterate's recovered network."""
    from robustbench_convex.solution import recover_network

    def callback(iteration: int, state: Any) -> dict[str, float]:
        V = _get(state, "V")
        W = _get(state, "W")
        if V is None or W is None:
            return {}
        net = recover_network(np.asarray(V), np.asarray(W), bias=problem.bias)
        return {
            "train_acc": _accuracy(net, dataset.X_train, dataset.y_train),
            "test_acc": _accuracy(net, dataset.X_test, dataset.y_test),
        }

    return callback


def _get(state: Any, name: str) -> Any:
    if isinstance(state, Mapping):
        return state.get(name)
    return getattr(state, name, None)


def _solve(problem: Any, dataset: Any, settings: dict[str, Any], solver: str):
    if solver == "ipm":
        from robustbench_convex.solvers.ipm import solve_ipm

        callback = _accuracy_callback(dataset, problem) if settings.get("track_accuracy") else None
        options = {
            k: settings[k] for k in ("max_iter", "tol", "time_limit") if settings.get(k) is not None
        }
        return solve_ipm(problem, callback=callback, device=_device(settings), **options)
    if solver == "admm":
        from robustbench_convex.solvers.admm import solve_admm

        callback = _accuracy_callback(dataset, problem) if settings.get("track_accuracy") else None
        return solve_admm(
            problem, callback=callback, device=_device(settings), **_admm_kwargs(settings)
        )
    from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy

    return solve_cvxpy(problem, solver=settings.get("cvxpy_solver"))


def _problem_key(problem: Any) -> str:
    """A digest of the program solved (data, patterns, loss, beta, program, radius, penalty):
    equal for every solve of the same program, whatever the solver."""
    import hashlib

    h = hashlib.sha256()
    for part in (problem.Xa, problem.y, problem.D):
        h.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
    h.update(
        repr(
            (
                problem.loss,
                float(problem.beta),
                problem.program,
                float(problem.robust_eps),
                getattr(problem, "stability_penalty", None),
            )
        ).encode()
    )
    return h.hexdigest()[:16]


def _plain(value: Any) -> Any:
    """JSON-friendly copy of a history record (arrays left out)."""
    return jsonable(value, drop_arrays=True)


# ------------------------------------------------------------------------------- trainers
def _strategy(settings: dict[str, Any]) -> str:
    strategy = settings.get("pattern_strategy", "sampled")
    if strategy == "auto":
        return "network+pricing" if settings.get("patterns") is None else "sampled"
    return strategy


def _fit_priced(dataset: Any, settings: dict[str, Any], seed: int, solver: str, strategy: str):
    """The nominal program with network-seeded / priced patterns (pricing.fit_convex_network)."""
    from robustbench_convex.pricing import fit_convex_network

    if solver == "cvxpy":
        options = {"cvxpy_solver": settings.get("cvxpy_solver")}
    elif solver == "ipm":
        options = {k: settings[k] for k in ("max_iter", "tol") if settings.get(k) is not None}
    else:
        options = {k: v for k, v in _admm_kwargs(settings).items() if k != "time_limit"}
    if solver in ("admm", "ipm"):
        options["device"] = _device(settings)
    fit = fit_convex_network(
        dataset.X_train,
        dataset.y_train,
        loss=settings["loss"],
        beta=float(settings["beta"]),
        bias=settings["bias"],
        strategy=strategy,  # type: ignore[arg-type]
        # None (the default): the pipeline's own rule (pricing.seed_width)
        n_patterns=int(settings["n_patterns"]) if settings["n_patterns"] else "auto",
        sampler=settings.get("patterns") or "gaussian",
        solver=solver,  # type: ignore[arg-type]
        max_rounds=int(settings["max_rounds"]),
        time_limit=settings.get("pricing_time_limit"),
        bound=settings["bound"] if float(settings["beta"]) > 0 else "none",
        solver_options=options,
        seed=seed,
    )
    return fit.solution


def _adapt_convex(
    solution: ConvexSolution,
    dataset: Any,
    settings: dict[str, Any],
    method: str,
    solver: SolverKind,
    **fields: Any,
) -> TrainOutput:
    """:func:`_adapt` for a convex solve by ``solver`` (its device: CVXPY runs on the CPU)."""
    device = _device(settings) if solver in ("admm", "ipm") else "cpu"
    return _adapt(
        solution, dataset, settings, method=method, solver_kind=solver, device=device, **fields
    )


def _train_convex_nominal(solver: SolverKind, method: str):
    def train(dataset: Any, settings: dict[str, Any], seed: int) -> TrainOutput:
        strategy = _strategy(settings)
        if strategy != "sampled":
            solution = _fit_priced(dataset, settings, seed, solver, strategy)
        else:
            solution = _solve(_problem(dataset, settings, seed), dataset, settings, solver)
        return _adapt_convex(solution, dataset, settings, method, solver)

    return train


def _train_convex_robust(program: str, method: str):
    def train(dataset: Any, settings: dict[str, Any], seed: int) -> TrainOutput:
        robust: dict[str, Any] = {"robust_eps": settings["eps"], "robust": program}
        if "stability_penalty" in settings:
            robust["stability_penalty"] = settings["stability_penalty"]
        strategy = settings["patterns"]
        if strategy is None and program == "class-aware" and settings["eps"] > 0:
            strategy = DEFAULT_ROBUST_PATTERNS
        seeded = None
        if strategy in ROBUST_PATTERN_STRATEGIES:
            seeded = _seeded_patterns(dataset, settings, seed, strategy)
            settings = {**settings, "patterns": None}
            robust["patterns"] = seeded.D
        lam = robust.get("stability_penalty")
        if lam is not None and settings.get("penalty_fallback"):
            from robustbench_convex.robust_patterns import (
                DEFAULT_PENALTY_LADDER,
                solve_soft_with_fallback,
            )

            def build(penalty: float):
                problem = _problem(
                    dataset, settings, seed, **{**robust, "stability_penalty": penalty}
                )
                if seeded is not None:
                    problem.pattern_source = seeded.source
                return problem

            ladder = (lam, *(p for p in DEFAULT_PENALTY_LADDER if p < lam))
            fit = solve_soft_with_fallback(
                build, lambda prob: _solve(prob, dataset, settings, settings["solver"]),
                penalties=ladder,
            )  # fmt: skip
            solution = fit.solution
            extra_info: dict[str, Any] = {
                "stability_penalty_used": fit.penalty,
                "penalties_tried": [[p, r] for p, r, _, _ in fit.tried],
                "extra": {"penalty_choice": fit.reason},  # which rung and why
            }
            # every attempt is part of the training time
            spent = sum(t for _, _, _, t in fit.tried) - float(solution.time)
            solution = solution.replace(time=float(solution.time) + spent)
        else:
            problem = _problem(dataset, settings, seed, **robust)
            if seeded is not None:
                problem.pattern_source = seeded.source
            solution = _solve(problem, dataset, settings, settings["solver"])
            extra_info = {}
        solver = settings["solver"]
        if seeded is not None:
            # the seed network's training is part of this method's training time
            solution = solution.replace(time=float(solution.time) + seeded.seconds)
            settings = {**settings, "patterns": strategy}
            extra_info.update(
                pattern_strategy=strategy,
                pattern_seconds=seeded.seconds,
                pattern_seed_width=seeded.seed_width,
            )
        return _adapt_convex(solution, dataset, settings, method, solver, **extra_info)

    return train


def _seeded_patterns(dataset: Any, settings: dict[str, Any], seed: int, strategy: str):
    from robustbench_convex.robust_patterns import (
        DEFAULT_ROBUST_N_PATTERNS,
        network_seeded_patterns,
    )

    if settings["eps"] <= 0:
        raise ValueError(
            f"patterns={strategy!r} seeds a robust program from a robust network and needs "
            "eps > 0; use a sampler (e.g. 'gaussian') for eps = 0"
        )
    return network_seeded_patterns(
        dataset.X_train,
        dataset.y_train,
        eps=settings["eps"],
        n_patterns=settings["n_patterns"] or DEFAULT_ROBUST_N_PATTERNS,
        strategy=strategy,
        lower=dataset.lower,
        upper=dataset.upper,
        loss=settings["loss"] if settings["loss"] != "squared" else "hinge",
        beta=settings["beta"],
        seed=seed,
    )


def _train_scp(dataset: Any, settings: dict[str, Any], seed: int) -> TrainOutput:
    from robustbench_convex.solvers.scp import solve_scp

    device = _device(settings)
    solution = solve_scp(
        dataset.X_train,
        dataset.y_train,
        n_neurons=settings["n_neurons"],
        loss=settings["loss"],
        beta=settings["beta"],
        bias=settings["bias"],
        seed=seed,
        method=settings["scp_method"],
        device=device,
        **{k: settings[k] for k in ("max_iter", "tol", "time_limit") if settings[k] is not None},
    )
    return _adapt(
        solution, dataset, settings, method="convex-scp", solver_kind="scp", device=device
    )


def _baseline_kwargs(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    kwargs = {k: v for k, v in settings.items() if k != "beta"}
    kwargs["weight_decay"] = settings["beta"]
    kwargs["seed"] = seed
    kwargs["device"] = _device(settings)
    return kwargs


def _train_baseline(key: str):
    def train(dataset: Any, settings: dict[str, Any], seed: int) -> TrainOutput:
        from robustbench_convex import baselines

        kwargs = _baseline_kwargs(settings, seed)
        if key == "sgd":
            result = baselines.train_sgd(dataset.X_train, dataset.y_train, **kwargs)
        else:
            fn = {
                "pgd-at": baselines.train_pgd_at,
                "fgsm-at": baselines.train_fgsm_at,
                "ibp": baselines.train_ibp,
                "crown-ibp": baselines.train_crown_ibp,
            }[key]
            result = fn(
                dataset.X_train, dataset.y_train, lower=dataset.lower, upper=dataset.upper, **kwargs
            )
        return _adapt(
            result, dataset, settings, method=key, solver_kind="torch", device=kwargs["device"]
        )

    return train


def _entry(
    key: str,
    kind: MethodKind,
    description: str,
    params: Mapping[str, ParamSpec],
    train: Callable[[Any, dict[str, Any], int], TrainOutput],
    cost: CostHint,
) -> MethodEntry:
    return MethodEntry(key, kind, description, dict(params), train, cost)


# Cost hints (CostHint): seconds at the reference settings in the comment, fitted to the
# committed quick-preset timings (results/quick, a quiet 2-core machine).
def _registry(entries: tuple[MethodEntry, ...]) -> dict[str, MethodEntry]:
    """Entries by key, in the order given (a key may appear once)."""
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the method registry repeats a key: {keys}")
    return {e.key: e for e in entries}


METHODS: dict[str, MethodEntry] = _registry(
    (
        _entry(
            "convex-admm",
            "convex",
            "sampled convex program (C_s), nominal, solved by ADMM",
            {**_CONVEX_COMMON, **_ADMM, **_PRICING, **_DEVICE},
            _train_convex_nominal("admm", "convex-admm"),
            CostHint(0.3, _admm_scale),  # max_iter 1000, 32 patterns
        ),
        _entry(
            "convex-cvxpy",
            "convex",
            "sampled convex program (C_s), nominal, solved by CVXPY (MOSEK if licensed, Clarabel)",
            {**_CONVEX_COMMON, **_CVXPY, **_PRICING},
            _train_convex_nominal("cvxpy", "convex-cvxpy"),
            CostHint(15.0, _patterns_scale),  # 32 patterns
        ),
        _entry(
            "convex-ipm",
            "convex",
            "sampled convex program (C_s), nominal squared loss, structured interior point (certified)",
            {**_CONVEX_COMMON, **_IPM, **_PRICING, **_DEVICE},
            _train_convex_nominal("ipm", "convex-ipm"),
            CostHint(1.4, _patterns_scale),  # 32 patterns
        ),
        _entry(
            "convex-scp",
            "convex",
            "sampled convex program via solve_scp",
            {**_SCP, **_DEVICE},
            _train_scp,
            CostHint(0.15, _scp_scale),  # 64 neurons
        ),
        _entry(
            "convex-robust-certified",
            "convex",
            "robust convex program with hard/soft stability constraints (certifies the loss)",
            {**_CERTIFIED_CONVEX, **_ROBUST, **_STABILITY, **_ADMM, **_CVXPY, **_DEVICE},
            _train_convex_robust("certified", "convex-robust-certified"),
            # an IBP-seeded pattern set and the soft-stability ladder (up to two solves)
            CostHint(50.0, _robust_scale),
        ),
        _entry(
            "convex-robust-relaxed",
            "convex",
            "relaxed robust convex program (no certificate)",
            {**_CONVEX_COMMON, **_ROBUST, **_ADMM, **_CVXPY, **_DEVICE},
            _train_convex_robust("relaxed", "convex-robust-relaxed"),
            CostHint(3.7, _robust_scale),  # ADMM, max_iter 500, 32 patterns (CVXPY: x4)
        ),
        _entry(
            "convex-robust-class-aware",
            "convex",
            "class-aware robust convex program (certifies the loss), soft stability and "
            "IBP-seeded patterns by default",
            {**_CERTIFIED_CONVEX, **_ROBUST, **_STABILITY, **_ADMM, **_CVXPY, **_DEVICE},
            _train_convex_robust("class-aware", "convex-robust-class-aware"),
            # quick preset, 2026-12-02: training 12.3 s (breast-cancer) and 8.8 s (digits-2v8)
            # with one-sided blocks, the seed's top neurons and the 1 -> 0.3 ladder (was ~60 s)
            CostHint(5.0, _robust_scale),
        ),
        _entry(
            "sgd",
            "baseline",
            "back-propagation (Adam / SGD)",
            _SGD,
            _train_baseline("sgd"),
            CostHint(0.1, _epochs_scale(300)),  # epochs 300
        ),
        _entry(
            "pgd-at",
            "baseline",
            "PGD adversarial training (Madry et al.)",
            {**_SGD, **_AT, "steps": ParamSpec(10, "int>=1", help="PGD steps")},
            _train_baseline("pgd-at"),
            CostHint(0.85, _epochs_scale(100, pgd=True)),  # epochs 100, steps 7
        ),
        _entry(
            "fgsm-at",
            "baseline",
            "fast FGSM adversarial training with random start (Wong et al.)",
            {**_SGD, **_AT},
            _train_baseline("fgsm-at"),
            CostHint(0.3, _epochs_scale(100)),  # epochs 100
        ),
        _entry(
            "ibp",
            "baseline",
            "certified training by interval bound propagation (Gowal et al.)",
            _CERTIFIED_TRAINING,
            _train_baseline("ibp"),
            CostHint(0.05, _epochs_scale(300)),  # epochs 200
        ),
        _entry(
            "crown-ibp",
            "baseline",
            "certified training by CROWN-IBP (Zhang et al.)",
            _CROWN_IBP,
            _train_baseline("crown-ibp"),
            CostHint(0.05, _patterns_scale),  # epochs 200 (fitted without a settings scale)
        ),
    )
)


def list_methods() -> list[str]:
    """Registry keys, in registry order."""
    return list(METHODS)


def get_method(key: str, *, where: str = "method") -> MethodEntry:
    """The registry entry of ``key``; unknown keys raise ValueError naming ``where``."""
    entry = METHODS.get(key) if isinstance(key, str) else None
    if entry is None:
        import difflib

        close = difflib.get_close_matches(str(key), list(METHODS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{where}: unknown method {key!r}{hint}; valid: {', '.join(METHODS)}")
    return entry


def validate_params(
    key: str, params: Mapping[str, Any], *, where: str = "method"
) -> dict[str, Any]:
    """Resolved settings of method ``key``: defaults overridden by ``params``, every value checked.

    Raises ValueError naming ``where.<param>`` for an unknown key or a bad value."""
    entry = get_method(key, where=where)
    for name in params:
        if name not in entry.params:
            raise ValueError(
                f"{where}.{name}: unknown setting for method {key!r}; allowed: "
                f"{', '.join(sorted(entry.params))}"
            )
    settings = entry.defaults()
    for name, value in params.items():
        settings[name] = entry.params[name].check(f"{where}.{name}", value)
    if "device" in settings:  # "cuda" without CUDA fails here, before any work starts
        resolve_device(settings["device"], where=f"{where}.device")
    return settings


def train_method(key: str, dataset: Any, settings: Mapping[str, Any], seed: int) -> TrainOutput:
    """Train method ``key`` on ``dataset`` with ``settings`` (validated here) and ``seed``."""
    return train_validated(key, dataset, validate_params(key, settings, where=key), seed)


def train_validated(key: str, dataset: Any, settings: Mapping[str, Any], seed: int) -> TrainOutput:
    """Train method ``key`` with settings already resolved by :func:`validate_params` (a sweep's
    ``MethodSpec.settings``: validated once, when the sweep was parsed)."""
    return get_method(key).train(dataset, dict(settings), int(seed))
