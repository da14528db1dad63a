"""Typed records that travel between the sweep's layers, and the cell payload's schema version.

The flow (ARCHITECTURE.md): ``methods.train_method`` returns a ``TrainOutput`` whose ``info`` is a
:class:`TrainingInfo`; ``evaluation.evaluate_model`` returns :class:`EvaluationRow` s,
:class:`SanityRow` s and :class:`RecordWarning` s; ``execution.run_cell`` turns them into
``store.ResultRecord`` s (one constructor, ``ResultRecord.from_parts``) inside one cell payload
(``store.CellPayload``) stamped with :data:`SCHEMA_VERSION`; the report and the leaderboard read
the payload back through these types (:meth:`TrainingInfo.from_dict`, :func:`warnings_of`) and
the cell's description through ``sweep.cell_of`` (``sweep.CellDescription``).

Schema versions of a cell payload (``payload["schema_version"]``):

* 1 — written before the field existed (no ``schema_version`` key): warnings were plain strings
  and the training info had no ``solver_kind`` / ``raw_status`` / ``device``. Read by
  :func:`upgrade_payload`, which migrates it in memory to version 2 (the file is not rewritten).
* 2 — this version: typed warnings ``{"kind", "message"}``, the fields of :class:`TrainingInfo`.

Any other version (a newer robustbench-convex, a hand-edited file) is refused by
:func:`upgrade_payload` with a message naming the version found and the version expected.

This module imports only ``solution`` (for the solvers' status vocabulary) of the package: it sits
below every layer that uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from robustbench_convex.solution import SolveStatus

__all__ = [
    "COLLAPSE_NOTE",
    "SCHEMA_VERSION",
    "TRAIN_STATUSES",
    "EvaluationRow",
    "RecordWarning",
    "SanityRow",
    "SchemaError",
    "SolverKind",
    "TrainStatus",
    "TrainingInfo",
    "WarningKind",
    "upgrade_payload",
    "warnings_of",
]

SCHEMA_VERSION = 2
"""Version of the cell payload written by this code (see the module docstring)."""

WarningKind = Literal["soundness", "sanity", "collapse", "convergence", "verification", "other"]
WARNING_KINDS: tuple[str, ...] = get_args(WarningKind)

SolverKind = Literal["admm", "ipm", "cvxpy", "scp", "torch"]
"""Which algorithm produced a model: the convex ADMM / interior point / CVXPY solvers, the
sampled convex program (``solve_scp``), or back-propagation in torch."""
SOLVER_KINDS: tuple[str, ...] = get_args(SolverKind)

TrainStatus = Literal[SolveStatus, "completed", "early_stopped"]
"""One vocabulary for every trainer: the convex solvers' ``solution.SolveStatus`` and the
back-propagation trainers' ``completed`` (every epoch ran) / ``early_stopped``; ``diverged`` and
``failed`` mean the same for both."""
TRAIN_STATUSES: tuple[str, ...] = get_args(TrainStatus)

COLLAPSE_NOTE = "collapsed: no effective ReLU neuron (a constant or linear predictor)"
"""The one wording of a collapsed model, in notes, warnings, tables and summaries."""


class SchemaError(ValueError):
    """A cell payload of a schema version this code cannot read."""


# ------------------------------------------------------------------------------------ warnings
@dataclass(frozen=True)
class RecordWarning:
    """A warning attached to a cell: ``kind`` says what failed (the report sorts by it, never by
    the text); ``message`` is the sentence shown.

    Kinds: "soundness" (the sandwich certified <= exact <= attacked failed), "sanity" (a check of
    ``attacks.sanity_checks`` failed), "collapse" (the model has no effective ReLU neuron),
    "verification" (exact verification skipped), "convergence" (for a solver's convergence
    trouble; nothing emits it yet: the status field carries it), "other" (version-1 text that
    matched none of the above)."""

    kind: WarningKind
    message: str

    def __post_init__(self) -> None:
        if self.kind not in WARNING_KINDS:
            raise ValueError(f"warning kind must be one of {WARNING_KINDS}, got {self.kind!r}")

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordWarning:
        return cls(kind=data["kind"], message=str(data["message"]))


def warnings_of(payload: Mapping[str, Any]) -> list[RecordWarning]:
    """The typed warnings of a (current-schema) cell payload."""
    return [RecordWarning.from_dict(w) for w in payload.get("warnings") or []]


# ------------------------------------------------------------------------------ mapping access
class _ReadOnlyMapping:
    """``record["field"]`` / ``record.get("field")`` / ``"field" in record`` read access to a
    dataclass record (for code written against the dict it replaces); attributes are the API."""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        data = self.to_dict()
        if key not in data:
            raise KeyError(key)
        return data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def keys(self) -> Iterator[str]:
        return iter(self.to_dict())


# ------------------------------------------------------------------------------- training info
_OPTIONAL_GROUP = "optional"
_OPTIONAL = {_OPTIONAL_GROUP: True}  # a method-specific field: in the JSON only when not None


@dataclass
class TrainingInfo(_ReadOnlyMapping):
    """What a trainer reports about the model it returns (``payload["training"]``).

    Always present: ``method`` (registry key), ``kind`` ("convex" / "baseline"), ``objective``
    (what the method optimized), ``nominal_objective`` (sum of training losses + beta/2 *
    ||weights||^2 of the returned network, the same formula for every method), ``status`` (one
    of :data:`TRAIN_STATUSES`), ``raw_status`` (the solver's / trainer's own status string),
    ``solver`` (the solver's name as it reports it, e.g. "ADMM", "CLARABEL", "torch-adam"),
    ``solver_kind`` (:data:`SolverKind`), ``device`` (torch device the trainer ran on), ``time``
    (seconds of training), ``program``, ``is_certificate``, ``n_active`` (neurons with a non-zero
    output weight), ``width``, ``collapsed`` (no effective ReLU neuron; derived once, in
    ``methods``), ``train_acc``, ``notes``, ``settings`` (the resolved settings).

    Method-specific (None when not applicable, then left out of the JSON): the convex programs'
    ``P``, ``robust_eps``, ``certified_training_loss``, ``constraint_violation``, ``iterations``,
    ``problem_key`` (equal for every solve of the same program: the report pairs ADMM with an
    interior-point optimum through it), ``certified_train_accuracy``, ``n_relu_active``; the
    pattern-pricing fields of ``pricing.fit_convex_network``; the robust programs' pattern seed
    and penalty ladder; the baselines' ``robust_objective``, ``epochs_run``,
    ``objective_history``. ``extra``: any other key (kept, written flat)."""

    method: str
    kind: str
    objective: float
    nominal_objective: float
    status: TrainStatus
    raw_status: str
    solver: str
    solver_kind: SolverKind
    time: float
    program: str
    is_certificate: bool
    n_active: int
    width: int
    collapsed: bool
    train_acc: float
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    # convex programs
    P: int | None = field(default=None, metadata=_OPTIONAL)
    robust_eps: float | None = field(default=None, metadata=_OPTIONAL)
    certified_training_loss: float | None = field(default=None, metadata=_OPTIONAL)
    constraint_violation: float | None = field(default=None, metadata=_OPTIONAL)
    iterations: int | None = field(default=None, metadata=_OPTIONAL)
    problem_key: str | None = field(default=None, metadata=_OPTIONAL)
    certified_train_accuracy: float | None = field(default=None, metadata=_OPTIONAL)
    n_relu_active: int | None = field(default=None, metadata=_OPTIONAL)
    # pattern pricing (pricing.fit_convex_network)
    pattern_strategy: str | None = field(default=None, metadata=_OPTIONAL)
    seed_objective: float | None = field(default=None, metadata=_OPTIONAL)
    pricing_rounds: int | None = field(default=None, metadata=_OPTIONAL)
    patterns_added: int | None = field(default=None, metadata=_OPTIONAL)
    patterns_dropped: int | None = field(default=None, metadata=_OPTIONAL)
    final_violation: float | None = field(default=None, metadata=_OPTIONAL)
    pricing_stop: str | None = field(default=None, metadata=_OPTIONAL)
    global_lower_bound: float | None = field(default=None, metadata=_OPTIONAL)
    bound_method: str | None = field(default=None, metadata=_OPTIONAL)
    bound_M_ratio: float | None = field(default=None, metadata=_OPTIONAL)
    certified_gap: float | None = field(default=None, metadata=_OPTIONAL)
    time_seed: float | None = field(default=None, metadata=_OPTIONAL)
    time_solve: float | None = field(default=None, metadata=_OPTIONAL)
    time_bound: float | None = field(default=None, metadata=_OPTIONAL)
    # robust programs seeded by a network / solved along a penalty ladder
    pattern_seconds: float | None = field(default=None, metadata=_OPTIONAL)
    pattern_seed_width: int | None = field(default=None, metadata=_OPTIONAL)
    stability_penalty_used: float | None = field(default=None, metadata=_OPTIONAL)
    penalties_tried: list[list[Any]] | None = field(default=None, metadata=_OPTIONAL)
    # back-propagation baselines
    robust_objective: float | None = field(default=None, metadata=_OPTIONAL)
    epochs_run: int | None = field(default=None, metadata=_OPTIONAL)
    objective_history: list[float] | None = field(default=None, metadata=_OPTIONAL)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in TRAIN_STATUSES:
            raise ValueError(f"status must be one of {TRAIN_STATUSES}, got {self.status!r}")
        if self.solver_kind not in SOLVER_KINDS:
            raise ValueError(f"solver_kind must be one of {SOLVER_KINDS}, got {self.solver_kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-friendly dict (method-specific fields only where set, ``extra`` merged)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.metadata.get(_OPTIONAL_GROUP) and value is None:
                continue
            out[f.name] = value
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingInfo:
        """Inverse of :meth:`to_dict` (keys that are not fields go to ``extra``)."""
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def replace(self, **changes: Any) -> TrainingInfo:
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------ evaluation rows
@dataclass(frozen=True)
class EvaluationRow(_ReadOnlyMapping):
    """One (attack, eps) result of ``evaluation.evaluate_model``: the attack-specific fields of a
    ``store.ResultRecord`` (see there for their meaning); ``eval_time`` in seconds."""

    attack: str
    eps: float
    n_eval: int
    clean_acc: float
    robust_acc: float | None
    certified_acc: float | None = None
    exact_acc: float | None = None
    exact_acc_upper: float | None = None
    sandwich_ok: bool | None = None
    eval_time: float = 0.0
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationRow:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class SanityRow(_ReadOnlyMapping):
    """One row of ``attacks.sanity_checks`` as stored in a cell (``payload["sanity"]``)."""

    check: str
    passed: bool
    detail: str
    eps: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SanityRow:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


# ------------------------------------------------------------------------------ schema versions
def _v1_warning_kind(text: str) -> WarningKind:
    """Version-1 payloads stored warnings as text; the only place text decides a kind."""
    if "SOUNDNESS" in text:
        return "soundness"
    if text.startswith("sanity check failed"):
        return "sanity"
    if text.startswith("exact verification skipped"):
        return "verification"
    return "other"


def _v1_solver_kind(solver: str, kind: str) -> SolverKind:
    """Version-1 training info named its solver only by the solver's own string."""
    s = solver.upper()
    if s == "ADMM":
        return "admm"
    if s == "IPM":
        return "ipm"
    if s.startswith("SCP-"):
        return "scp"
    if kind == "baseline" or s.startswith("TORCH"):
        return "torch"
    return "cvxpy"


def _migrate_v1(payload: dict[str, Any]) -> dict[str, Any]:
    out = dict(payload)
    out["warnings"] = [
        RecordWarning(_v1_warning_kind(str(w)), str(w)).to_dict()
        for w in payload.get("warnings") or []
    ]
    info = payload.get("training")
    if isinstance(info, dict):
        info = dict(info)
        info.setdefault("raw_status", str(info.get("status", "")))
        info.setdefault(
            "solver_kind", _v1_solver_kind(str(info.get("solver", "")), str(info.get("kind", "")))
        )
        info.setdefault("device", "cpu")
        out["training"] = info
    out["schema_version"] = SCHEMA_VERSION
    return out


def upgrade_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` at :data:`SCHEMA_VERSION`: returned as is when current, migrated (a copy) from
    version 1 (no ``schema_version`` key).

    Raises:
        SchemaError: any other version, naming the version found and the one expected."""
    version = payload.get("schema_version", 1)
    if version == SCHEMA_VERSION:
        return payload
    if version == 1:
        return _migrate_v1(payload)
    raise SchemaError(
        f"cell payload schema version {version!r} is not supported: this robustbench-convex "
        f"reads schema version {SCHEMA_VERSION} (and migrates version 1); upgrade "
        "robustbench-convex to read it, or rerun the sweep with this version to rewrite it"
    )
