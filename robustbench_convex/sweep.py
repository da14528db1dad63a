"""Sweep configurations: data sets x methods x seeds, and the evaluation grid.

A sweep is written in TOML::

    [sweep]
    name = "quick"
    seeds = [0]                      # default seeds of every method
    threads_per_job = 1              # torch / BLAS threads inside each job
    device = "cpu"                   # torch device: "cpu" (default), "cuda" or "auto"; a method's
                                     # own `device` overrides it (SGD, PGD-AT, FGSM-AT, IBP,
                                     # CROWN-IBP, convex ADMM / IPM / SCP)

    [[datasets]]
    name = "breast-cancer"           # a name of robustbench_convex.list_datasets()
    # n_train, n_test, seed (split seed), downsample, data_dir, download,
    # eps = [...]                    # this data set's radii (overrides evaluation.eps)

    [method_defaults]                # merged into every method that accepts the key
    beta = 1e-3

    [[methods]]
    name = "sgd"                     # unique label in tables and plots
    method = "sgd"                   # registry key (robustbench_convex.methods.list_methods())
    seeds = [0, 1, 2]                # optional: overrides sweep.seeds
    width = 32                       # the method's own settings

    [evaluation]
    eps = [0.05, 0.1, 0.2]           # l_inf radii (> 0) in the units of the attacked input
    attacks = ["fgsm", "pgd"]
    pgd_steps = 20
    pgd_restarts = 2
    exact = true                     # MILP verification (attacks.exact) + LP certificate
    exact_max_points = 40            # test points verified
    exact_max_width = 64             # only models this narrow
    exact_time_limit = 10.0          # seconds per MILP
    exact_eps = [0.05]               # radii verified (default: every eps)

:func:`load_config` / :func:`parse_config` validate everything before any work starts; errors name
the field (``methods[2].eps: must be finite and >= 0, got -0.1``). :meth:`SweepConfig.cells` expands the sweep
into :class:`Cell` s, the unit of work: one (data set, method, seed) trained once and evaluated on
the whole grid. A cell's id hashes everything that determines its result, so editing a method's
settings makes new cells instead of reusing stale ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

try:  # Python >= 3.11; the `tomli` backport (a dependency on 3.10) has the same interface
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - exercised by tests/test_sweep_robustness.py
    import tomli as tomllib  # type: ignore[no-redef]

from robustbench_convex.methods import ParamSpec, get_method, validate_params

__all__ = [
    "Cell",
    "CellDescription",
    "ConfigError",
    "DatasetSpec",
    "EvalSpec",
    "MethodDescription",
    "MethodSpec",
    "SweepConfig",
    "cell_of",
    "list_presets",
    "load_config",
    "load_preset",
    "parse_config",
]

AttackName = Literal["fgsm", "pgd"]
SanityMode = Literal["none", "first-seed", "all"]


class ConfigError(ValueError):
    """A sweep configuration is invalid; the message names the field."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _hash(value: Any, n: int = 16) -> str:
    return hashlib.sha256(_canonical(value).encode()).hexdigest()[:n]


# ---------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class DatasetSpec:
    """How to load one data set (arguments of ``load_dataset``)."""

    name: str
    n_train: int | None = None
    n_test: int | None = None
    seed: int = 0
    downsample: int | None = None
    data_dir: str | None = None
    download: bool = True
    eps: tuple[float, ...] | None = None  # overrides evaluation.eps for this data set
    exact_eps: tuple[float, ...] | None = None  # overrides evaluation.exact_eps

    def load(self):
        """The :class:`~robustbench_convex.data.Dataset`."""
        from robustbench_convex.data import load_dataset

        kwargs: dict[str, Any] = {
            "seed": self.seed,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "data_dir": self.data_dir,
            "download": self.download,
        }
        if self.downsample is not None:
            kwargs["downsample"] = self.downsample
        return load_dataset(self.name, **kwargs)

    def identity(self) -> dict[str, Any]:
        """What determines the data (``data_dir`` and ``download`` only say where it comes from)."""
        d = asdict(self)
        d.pop("data_dir")
        d.pop("download")
        d.pop("eps")  # part of the evaluation grid, hashed there
        d.pop("exact_eps")
        return d


@dataclass(frozen=True)
class MethodSpec:
    """One method entry: a unique label, the registry key and the resolved settings."""

    name: str
    method: str
    settings: Mapping[str, Any]
    seeds: tuple[int, ...]

    @property
    def kind(self) -> str:
        return get_method(self.method).kind

    def identity(self) -> dict[str, Any]:
        """What names the method's cells: the label, key and settings except ``device`` (where
        a model is trained does not change which model it is; the device is recorded in its
        training info and records)."""
        settings = {k: v for k, v in self.settings.items() if k != "device"}
        return {"name": self.name, "method": self.method, "settings": settings}


@dataclass(frozen=True)
class EvalSpec:
    """The evaluation grid applied to every trained model.

    Attributes:
        eps: l_inf radii (> 0) in input units; clean accuracy is always recorded (eps = 0).
        attacks: gradient attacks run at every eps ("fgsm", "pgd").
        norm: "inf" (the exact verifier is l_inf only).
        pgd_steps, pgd_restarts, pgd_step_size (None: 2.5 * eps / steps): PGD settings.
        attack_seed: seed of PGD's random starts.
        n_eval: test points attacked (first n_eval of the test split; None: all).
        exact: MILP verification (``attacks.exact``) and the LP certificate (``attacks.lp_certify``)
            on the first ``exact_max_points`` test points of models of width <= ``exact_max_width``.
        exact_time_limit: seconds per MILP.
        exact_eps: the radii verified (a subset of ``eps``; None: all of them).
        sanity: which cells run ``attacks.sanity_checks``: "none", "first-seed" (each method's
            first seed) or "all"; sanity_eps: the radius it checks at (None: the middle eps).
        sanity_max_points: test points used by the sanity checks.
    """

    eps: tuple[float, ...] = (0.05, 0.1)
    attacks: tuple[str, ...] = ("fgsm", "pgd")
    norm: str = "inf"
    pgd_steps: int = 20
    pgd_restarts: int = 1
    pgd_step_size: float | None = None
    attack_seed: int = 0
    n_eval: int | None = None
    exact: bool = False
    exact_max_points: int = 30
    exact_max_width: int = 64
    exact_time_limit: float = 10.0
    exact_eps: tuple[float, ...] | None = None
    sanity: str = "first-seed"
    sanity_eps: float | None = None
    sanity_max_points: int = 100

    def identity(self) -> dict[str, Any]:
        return asdict(self)


_EVAL_PARAMS: dict[str, ParamSpec] = {
    "norm": ParamSpec("inf", "str", choices=("inf",)),
    "pgd_steps": ParamSpec(20, "int>=1"),
    "pgd_restarts": ParamSpec(1, "int>=1"),
    "pgd_step_size": ParamSpec(None, "float>0", optional=True),
    "attack_seed": ParamSpec(0, "int>=0"),
    "n_eval": ParamSpec(None, "int>=1", optional=True),
    "exact": ParamSpec(False, "bool"),
    "exact_max_points": ParamSpec(30, "int>=1"),
    "exact_max_width": ParamSpec(64, "int>=0"),
    "exact_time_limit": ParamSpec(10.0, "float>0"),
    "sanity": ParamSpec("first-seed", "str", choices=("none", "first-seed", "all")),
    "sanity_eps": ParamSpec(None, "float>0", optional=True),
    "sanity_max_points": ParamSpec(100, "int>=1"),
}
_DATASET_PARAMS: dict[str, ParamSpec] = {
    "n_train": ParamSpec(None, "int>=1", optional=True),
    "n_test": ParamSpec(None, "int>=1", optional=True),
    "seed": ParamSpec(0, "int>=0"),
    "downsample": ParamSpec(None, "int>=1", optional=True),
    "data_dir": ParamSpec(None, "str", optional=True),
    "download": ParamSpec(True, "bool"),
}
_SWEEP_PARAMS: dict[str, ParamSpec] = {
    "name": ParamSpec("sweep", "str"),
    "description": ParamSpec("", "str"),
    "threads_per_job": ParamSpec(1, "int>=1"),
    "device": ParamSpec(
        None,
        "str",
        choices=("cpu", "cuda", "auto"),
        optional=True,
        help="torch device of every method that trains with torch (a method's own device, or "
        "method_defaults.device, overrides it)",
    ),
}


@dataclass(frozen=True)
class Cell:
    """The unit of work: train ``method`` on ``dataset`` with ``seed``, evaluate on ``evaluation``.

    ``cell_id`` hashes the data set's identity, the method's label, key and settings, the seed
    and the evaluation grid; ``config_hash`` is the hash of the whole sweep configuration."""

    dataset: DatasetSpec
    method: MethodSpec
    seed: int
    evaluation: EvalSpec
    config_hash: str
    sanity: bool = False
    threads: int = 1

    @property
    def cell_id(self) -> str:
        return _hash(
            {
                "dataset": self.dataset.identity(),
                "method": self.method.identity(),
                "seed": self.seed,
                "evaluation": self.evaluation.identity(),
                "sanity": self.sanity,
            }
        )

    @property
    def label(self) -> str:
        return f"{self.dataset.name} / {self.method.name} / seed {self.seed}"

    @property
    def filename(self) -> str:
        safe = "".join(
            c if c.isalnum() or c in "-_." else "_"
            for c in f"{self.dataset.name}__{self.method.name}"
        )
        return f"{safe}__s{self.seed}__{self.cell_id}.json"

    def description(self) -> CellDescription:
        """What is stored with the cell's results (``payload["cell"]``), typed."""
        return CellDescription(
            cell_id=self.cell_id,
            config_hash=self.config_hash,
            dataset=self.dataset,
            method=MethodDescription(
                self.method.name, self.method.method, self.method.kind, dict(self.method.settings)
            ),
            seed=self.seed,
            evaluation=self.evaluation,
            sanity=self.sanity,
        )

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description stored with the cell's results (``payload["cell"]``)."""
        return self.description().to_dict()


# ------------------------------------------------------------------------ stored descriptions
@dataclass(frozen=True)
class MethodDescription:
    """A stored cell's method: its label ``name``, registry key ``method``, ``kind`` (as
    recorded when the cell ran, not looked up again) and resolved ``settings``."""

    name: str
    method: str
    kind: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class CellDescription:
    """A cell as its payload describes it (``payload["cell"]``, written by
    :meth:`Cell.describe`): what the report and the leaderboard read, typed. The data set and
    the evaluation grid are the sweep's own :class:`DatasetSpec` and :class:`EvalSpec` (keys
    that are not their fields are ignored)."""

    cell_id: str
    config_hash: str
    dataset: DatasetSpec
    method: MethodDescription
    seed: int
    evaluation: EvalSpec
    sanity: bool = False

    @property
    def label(self) -> str:
        """``"<data set> / <method label> / seed <seed>"``."""
        return f"{self.dataset.name} / {self.method.name} / seed {self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``payload["cell"]`` (schema version 2)."""
        return {
            "cell_id": self.cell_id,
            "config_hash": self.config_hash,
            "dataset": asdict(self.dataset),
            "method": {
                "name": self.method.name,
                "method": self.method.method,
                "kind": self.method.kind,
                "settings": dict(self.method.settings),
            },
            "seed": self.seed,
            "evaluation": asdict(self.evaluation),
            "sanity": self.sanity,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellDescription:
        """Inverse of :meth:`to_dict`. A stored cell file has every key (``store`` checks it);
        a description built by hand needs ``dataset.name``, ``method`` (``name``, ``method``,
        ``kind``) and ``seed``, the rest taking its default (ids ``""``)."""
        method = data["method"]
        return cls(
            cell_id=str(data.get("cell_id", "")),
            config_hash=str(data.get("config_hash", "")),
            dataset=_spec_from_dict(DatasetSpec, data["dataset"]),
            method=MethodDescription(
                name=str(method["name"]),
                method=str(method["method"]),
                kind=str(method["kind"]),
                settings=dict(method.get("settings") or {}),
            ),
            seed=int(data["seed"]),
            evaluation=_spec_from_dict(EvalSpec, data.get("evaluation") or {}),
            sanity=bool(data.get("sanity", False)),
        )


def _spec_from_dict(cls: Any, data: Mapping[str, Any]) -> Any:
    """A frozen spec dataclass from its ``asdict`` form (JSON lists back to tuples)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


def cell_of(payload: Mapping[str, Any]) -> CellDescription:
    """The typed description of a cell payload's cell (``payload["cell"]``)."""
    return CellDescription.from_dict(payload["cell"])


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep (see the module docstring)."""

    name: str
    datasets: tuple[DatasetSpec, ...]
    methods: tuple[MethodSpec, ...]
    evaluation: EvalSpec
    description: str = ""
    threads_per_job: int = 1
    source: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def config_hash(self) -> str:
        return _hash(
            {
                "datasets": [
                    d.identity() | {"eps": d.eps, "exact_eps": d.exact_eps} for d in self.datasets
                ],
                "methods": [m.identity() | {"seeds": list(m.seeds)} for m in self.methods],
                "evaluation": self.evaluation.identity(),
            }
        )

    def cells(self) -> list[Cell]:
        """Every (data set, method, seed), data set-major, in config order."""
        h = self.config_hash
        out = []
        for d in self.datasets:
            for m in self.methods:
                evaluation = self.evaluation
                if d.eps is not None:
                    evaluation = replace(evaluation, eps=d.eps)
                if d.exact_eps is not None:
                    evaluation = replace(evaluation, exact_eps=d.exact_eps)
                for i, seed in enumerate(m.seeds):
                    mode = evaluation.sanity
                    sanity = mode == "all" or (mode == "first-seed" and i == 0)
                    out.append(Cell(d, m, seed, evaluation, h, sanity, self.threads_per_job))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "threads_per_job": self.threads_per_job,
            "config_hash": self.config_hash,
            "datasets": [asdict(d) for d in self.datasets],
            "methods": [
                {"name": m.name, "method": m.method, "seeds": list(m.seeds), **dict(m.settings)}
                for m in self.methods
            ],
            "evaluation": asdict(self.evaluation),
        }


# -------------------------------------------------------------------------------- parsing
def _table(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table, got {type(raw).__name__}")
    return dict(raw)


def _check(spec: ParamSpec, where: str, value: Any) -> Any:
    try:
        return spec.check(where, value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _known(raw: Mapping[str, Any], allowed: Any, where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"{where}.{key}: unknown field; allowed: {', '.join(sorted(allowed))}"
            )


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: must be a non-empty list of integers >= 0, got {value!r}")
    seeds = tuple(_check(ParamSpec(0, "int>=0"), f"{where}[{i}]", s) for i, s in enumerate(value))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds must be distinct, got {list(seeds)}")
    return seeds


def _eps_list(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: must be a non-empty list of numbers, got {value!r}")
    eps = []
    for i, e in enumerate(value):
        v = _check(ParamSpec(0.0, "float>=0"), f"{where}[{i}]", e)
        if v == 0:
            raise ConfigError(
                f"{where}[{i}]: must be > 0 (clean accuracy, eps = 0, is always recorded)"
            )
        eps.append(v)
    if len(set(eps)) != len(eps):
        raise ConfigError(f"{where}: values must be distinct, got {eps}")
    return tuple(sorted(eps))


def _entries(raw: Any, name: str, fix: str) -> list[tuple[str, dict[str, Any]]]:
    """``(where, table)`` of each entry of the array of tables ``[[name]]`` (non-empty)."""
    if raw is None:
        raise ConfigError(f"{name}: missing; {fix}")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{name}: must be a non-empty array of tables ([[{name}]])")
    return [(f"{name}[{i}]", _table(entry, f"{name}[{i}]")) for i, entry in enumerate(raw)]


def _pop_required(entry: dict[str, Any], key: str, where: str, valid: str) -> Any:
    if key not in entry:
        raise ConfigError(f"{where}.{key}: missing ({valid})")
    return entry.pop(key)


def _parse_datasets(raw: Any) -> tuple[DatasetSpec, ...]:
    from robustbench_convex.data import list_datasets

    valid = list_datasets()
    out = []
    seen = set()
    entries = _entries(raw, "datasets", "add at least one [[datasets]] entry with a name")
    for where, entry in entries:
        name = _pop_required(entry, "name", where, f"one of {', '.join(valid)}")
        eps = _eps_list(entry.pop("eps"), f"{where}.eps") if "eps" in entry else None
        exact_eps = (
            _eps_list(entry.pop("exact_eps"), f"{where}.exact_eps")
            if "exact_eps" in entry
            else None
        )
        if name not in valid:
            raise ConfigError(f"{where}.name: unknown data set {name!r}; valid: {', '.join(valid)}")
        _known(entry, _DATASET_PARAMS, where)
        kwargs = {k: _check(_DATASET_PARAMS[k], f"{where}.{k}", v) for k, v in entry.items()}
        spec = DatasetSpec(name=name, eps=eps, exact_eps=exact_eps, **kwargs)
        if spec.identity().__repr__() in seen:
            raise ConfigError(f"{where}: duplicate data set entry {name!r}")
        seen.add(spec.identity().__repr__())
        out.append(spec)
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise ConfigError(
            "datasets: each data set may appear once (labels in tables are data set names); "
            f"got {names}"
        )
    return tuple(out)


def _parse_methods(
    raw: Any, defaults: Mapping[str, Any], seeds: tuple[int, ...]
) -> tuple[MethodSpec, ...]:
    from robustbench_convex.methods import METHODS

    entries = _entries(raw, "methods", "add at least one [[methods]] entry")
    used = set()
    for key in defaults:
        if not any(key in e.params for e in METHODS.values()):
            raise ConfigError(f"method_defaults.{key}: no method has a setting named {key!r}")
    out = []
    for where, entry in entries:
        key = _pop_required(entry, "method", where, f"one of {', '.join(METHODS)}")
        try:
            registry = get_method(key, where=f"{where}.method")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        name = entry.pop("name", key)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: must be a non-empty string, got {name!r}")
        if name in used:
            raise ConfigError(f"{where}.name: duplicate method label {name!r}; labels are unique")
        used.add(name)
        method_seeds = _seeds(entry.pop("seeds"), f"{where}.seeds") if "seeds" in entry else seeds
        params = {k: v for k, v in defaults.items() if k in registry.params}
        params.update(entry)
        try:
            settings = validate_params(key, params, where=where)
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        out.append(MethodSpec(name=name, method=key, settings=settings, seeds=method_seeds))
    return tuple(out)


def _parse_evaluation(raw: Any) -> EvalSpec:
    where = "evaluation"
    if raw is None:
        raise ConfigError("evaluation: missing; add an [evaluation] table with at least eps")
    raw = _table(raw, where)
    if "eps" not in raw:
        raise ConfigError("evaluation.eps: missing (a list of l_inf radii > 0, input units)")
    eps = _eps_list(raw.pop("eps"), "evaluation.eps")
    exact_eps = (
        _eps_list(raw.pop("exact_eps"), "evaluation.exact_eps") if "exact_eps" in raw else None
    )
    attacks_raw = raw.pop("attacks", ["fgsm", "pgd"])
    if not isinstance(attacks_raw, list):
        raise ConfigError(f"evaluation.attacks: must be a list, got {attacks_raw!r}")
    for i, a in enumerate(attacks_raw):
        if a not in ("fgsm", "pgd"):
            raise ConfigError(
                f"evaluation.attacks[{i}]: unknown attack {a!r}; valid: 'fgsm', 'pgd' "
                "(exact verification is the 'exact' switch)"
            )
    _known(raw, _EVAL_PARAMS, where)
    kwargs = {k: _check(_EVAL_PARAMS[k], f"{where}.{k}", v) for k, v in raw.items()}
    return EvalSpec(
        eps=eps, exact_eps=exact_eps, attacks=tuple(dict.fromkeys(attacks_raw)), **kwargs
    )


def parse_config(raw: Mapping[str, Any], *, default_name: str = "sweep") -> SweepConfig:
    """Validate a parsed TOML document (a dict) into a :class:`SweepConfig`.

    Raises:
        ConfigError: the first problem found, naming the field."""
    raw = _table(raw, "config")
    _known(raw, {"sweep", "datasets", "methods", "method_defaults", "evaluation"}, "config")
    sweep = _table(raw.get("sweep", {}), "sweep")
    seeds = _seeds(sweep.pop("seeds"), "sweep.seeds") if "seeds" in sweep else (0,)
    _known(sweep, _SWEEP_PARAMS, "sweep")
    opts = {k: _check(_SWEEP_PARAMS[k], f"sweep.{k}", v) for k, v in sweep.items()}
    datasets = _parse_datasets(raw.get("datasets"))
    defaults = _table(raw.get("method_defaults", {}), "method_defaults")
    if opts.get("device") is not None:
        from robustbench_convex.methods import resolve_device

        try:  # "cuda" without CUDA: refused here, before any data is loaded
            resolve_device(opts["device"], where="sweep.device")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        defaults = {"device": opts["device"], **defaults}
    methods = _parse_methods(raw.get("methods"), defaults, seeds)
    evaluation = _parse_evaluation(raw.get("evaluation"))
    for i, d in enumerate(datasets):
        grid = d.eps if d.eps is not None else evaluation.eps
        chosen, where = (
            (d.exact_eps, f"datasets[{i}].exact_eps")
            if d.exact_eps is not None
            else (evaluation.exact_eps, "evaluation.exact_eps")
        )
        for k, e in enumerate(chosen or ()):
            if e not in grid:
                raise ConfigError(
                    f"{where}[{k}]: {e:g} is not in the eps grid of {d.name!r} ({list(grid)})"
                )
    return SweepConfig(
        name=opts.get("name", default_name),
        datasets=datasets,
        methods=methods,
        evaluation=evaluation,
        description=opts.get("description", ""),
        threads_per_job=opts.get("threads_per_job", 1),
        source=raw,
    )


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a TOML sweep file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, default_name=path.stem)


def list_presets() -> list[str]:
    """Names of the presets shipped with the package (``quick``, ``paper``)."""
    folder = resources.files("robustbench_convex") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    """The TOML text of a shipped preset."""
    if name not in list_presets():
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(list_presets())}")
    return (resources.files("robustbench_convex") / "presets" / f"{name}.toml").read_text("utf-8")


def load_preset(name: str) -> SweepConfig:
    """A shipped preset (``quick``: offline, minutes; ``paper``: MNIST / Fashion-MNIST / CIFAR-10)."""
    return parse_config(tomllib.loads(preset_text(name)), default_name=name)
