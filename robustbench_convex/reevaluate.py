"""Stored models of a sweep and their re-evaluation without retraining.

Every finished cell of a sweep keeps its trained network next to its JSON::

    OUT/cells/<cell>.json    the cell's records, training info, per-point outcomes, ...
    OUT/cells/<cell>.npz     the network (``network.save_network``; read with ``load_network``)

:func:`save_cell_network` is called by the sweep driver before it writes the cell's JSON (the
``.npz`` is written atomically first, so a cell file with status "ok" has its network).
:func:`reevaluate` re-attacks the stored networks (e.g. a stronger PGD, more points for the exact
and LP verification, new radii) and updates, in each cell file, only the records and per-point
outcomes of the (attack, eps) pairs it re-ran; every other record is left byte for byte as it was.
The aggregated CSV is rewritten from the cell files. ``rbconvex evaluate DIR`` is the command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from robustbench_convex.records import EvaluationRow
from robustbench_convex.store import (
    ResultRecord,
    ResultStore,
    StoreError,
    atomic_write_text,
    dumps,
    read_payload,
    utc_now,
)
from robustbench_convex.sweep import cell_of

__all__ = [
    "ReevalSummary",
    "network_path",
    "reevaluate",
    "save_cell_network",
]

ReattackName = Literal["fgsm", "pgd", "exact"]
REATTACKS: tuple[str, ...] = get_args(ReattackName)

NETWORK_KEY = "network"  # payload key that carries the weights from a worker to the driver


def network_path(cell_json: str | Path) -> Path:
    """Where the network of the cell stored at ``cell_json`` lives (same name, ``.npz``)."""
    return Path(cell_json).with_suffix(".npz")


def save_cell_network(store: ResultStore, cell: Any, payload: dict[str, Any]) -> Path | None:
    """Write the network carried by ``payload`` (key ``"network"``: ``TwoLayerReLU.to_numpy()``,
    set by ``run_cell``) next to the cell's JSON, atomically, and drop it from the payload.

    Returns the ``.npz`` path, or None when the payload carries no network (a failed cell)."""
    from robustbench_convex.network import TwoLayerReLU, save_network

    weights = payload.pop(NETWORK_KEY, None)
    if weights is None:
        return None
    net = TwoLayerReLU.from_numpy(weights["U"], weights["alpha"], weights["b"], weights["c"])
    return save_network(net, network_path(store.cell_path(cell)))


# ------------------------------------------------------------------------------- re-evaluation
@dataclass
class ReevalSummary:
    """What :func:`reevaluate` did: cell files updated, cells skipped (with the reason), and the
    (attack, eps) pairs re-run."""

    root: Path
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    pairs: list[tuple[str, float]] = field(default_factory=list)
    csv: Path | None = None


def _check_request(
    attacks: Sequence[str], eps: Sequence[float] | None, opts: Mapping[str, Any]
) -> None:
    if isinstance(attacks, str) or not attacks:
        raise ValueError(f"attacks: a non-empty list of {list(REATTACKS)}, got {attacks!r}")
    for a in attacks:
        if a not in REATTACKS:
            raise ValueError(f"attacks: unknown attack {a!r}; valid: {', '.join(REATTACKS)}")
    for e in eps or ():
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not e > 0:
            raise ValueError(f"eps: radii must be numbers > 0 (input units), got {e!r}")
    for name, kind in (
        ("pgd_steps", int),
        ("pgd_restarts", int),
        ("exact_max_points", int),
        ("n_eval", int),
    ):
        v = opts.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, kind) or v < 1):
            raise ValueError(f"{name}: must be an integer >= 1, got {v!r}")
    t = opts.get("exact_time_limit")
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0):
        raise ValueError(f"exact_time_limit: must be a number > 0 (seconds), got {t!r}")


def _merge(
    payload: dict[str, Any], rows: list[EvaluationRow], points: list[dict[str, Any]], note: str
) -> list[tuple[str, float]]:
    """Replace (or add) the records and per-point outcomes of the re-run (attack, eps) pairs."""
    records = payload.get("records") or []
    template = next((r for r in records if r["attack"] == "clean"), records[0])
    stamp = utc_now()
    done: list[tuple[str, float]] = []
    for row in rows:
        if row.attack == "clean":
            continue  # clean accuracy does not depend on the attack: kept as it was
        key = (row.attack, float(row.eps))
        new = dict(template)
        new.update({k: v for k, v in row.to_dict().items() if k in new and k != "notes"})
        new["timestamp"] = stamp
        new["notes"] = "; ".join(p for p in (row.notes, note) if p)
        ResultRecord.from_dict(new)  # still a valid record
        at = [i for i, r in enumerate(records) if (r["attack"], float(r["eps"])) == key]
        if at:
            records[at[0]] = new
        else:
            records.append(new)
        done.append(key)
    stored = payload.setdefault("points", [])
    for pt in points:
        key = (pt["attack"], float(pt["eps"]))
        if pt["attack"] == "clean":
            continue
        at = [i for i, p in enumerate(stored) if (p["attack"], float(p["eps"])) == key]
        if at:
            stored[at[0]] = pt
        else:
            stored.append(pt)
    payload["records"] = records
    return done


def _finished_cells(
    store: ResultStore, config_hash: str | None
) -> list[tuple[Path, dict[str, Any]]]:
    """``(path, payload)`` of every finished cell of the configuration, read by the store's
    reader (older schema versions migrated; a damaged or newer-version file raises)."""
    files = []
    for path in sorted(store.cells_dir.glob("*.json")):
        found = read_payload(path)
        if found.state == "damaged":
            raise StoreError(f"{store.relative(path)}: {found.problem}")
        payload = found.payload
        if payload is None or payload["status"] != "ok":
            continue
        if config_hash is None or cell_of(payload).config_hash == config_hash:
            files.append((path, payload))
    return files


def _check_selection(
    files: list[tuple[Path, dict[str, Any]]],
    root: str | Path,
    methods: Sequence[str] | None,
    datasets: Sequence[str] | None,
) -> None:
    for name, wanted, field_ in (("methods", methods, "method"), ("datasets", datasets, "dataset")):
        have = {getattr(cell_of(p), field_).name for _, p in files}
        unknown = sorted(set(wanted or ()) - have)
        if unknown:
            raise ValueError(
                f"{name}: no finished cell of {unknown} in {root}; valid: {', '.join(sorted(have))}"
            )


def _reeval_spec(
    spec: Any,
    attacks: Sequence[str],
    eps: Sequence[float] | None,
    opts: Mapping[str, Any],
):
    """The cell's evaluation grid (``sweep.EvalSpec``) with the requested attacks, radii and
    overrides."""
    grid = tuple(sorted(eps)) if eps else spec.eps
    exact_grid = tuple(sorted(eps)) if eps else (spec.exact_eps or spec.eps)
    spec = replace(
        spec,
        eps=grid,
        attacks=tuple(a for a in attacks if a != "exact"),
        exact="exact" in attacks,
        exact_eps=exact_grid if "exact" in attacks else None,
        sanity="none",
        **{k: v for k, v in opts.items() if v is not None},
    )
    if spec.exact:  # exact_eps must lie in eps
        spec = replace(spec, eps=tuple(sorted(set(spec.eps) | set(exact_grid))))
        if not spec.attacks:
            spec = replace(spec, eps=exact_grid)
    return spec


def _reevaluate_cell(
    payload: dict[str, Any], net: Any, dataset: Any, spec: Any, attacks: Sequence[str]
) -> list[tuple[str, float]]:
    """Attack ``net`` on ``spec`` and merge the re-run records into ``payload``."""
    from robustbench_convex.evaluation import evaluate_model

    evaluated = evaluate_model(net, dataset, spec)
    note = f"re-evaluated {utc_now()}: " + ", ".join(
        f"pgd {spec.pgd_steps} steps x {spec.pgd_restarts} restarts"
        if a == "pgd"
        else f"exact/LP on {spec.exact_max_points} points"
        if a == "exact"
        else a
        for a in attacks
    )
    rows = [
        r
        for r in evaluated.rows
        if r.attack in ("clean", *spec.attacks)
        or (spec.exact and r.attack in ("exact", "lp-certified"))
    ]
    done = _merge(payload, rows, evaluated.points, note)
    warned = [w.to_dict() for w in evaluated.warnings]
    payload.setdefault("reevaluations", []).append(
        {
            "when": utc_now(),
            "attacks": list(attacks),
            "eps": sorted({e for _, e in done}),
            "pgd_steps": spec.pgd_steps,
            "pgd_restarts": spec.pgd_restarts,
            "exact_max_points": spec.exact_max_points if spec.exact else None,
            "n_eval": spec.n_eval,
            "warnings": warned,
        }
    )
    payload.setdefault("warnings", []).extend(warned)
    return done


def reevaluate(
    root: str | Path,
    *,
    attacks: Sequence[ReattackName] = ("pgd",),
    eps: Sequence[float] | None = None,
    pgd_steps: int | None = None,
    pgd_restarts: int | None = None,
    exact_max_points: int | None = None,
    exact_time_limit: float | None = None,
    n_eval: int | None = None,
    methods: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> ReevalSummary:
    """Re-attack the stored networks of the sweep folder ``root`` and update its records.

    Args:
        root: a folder written by ``rbconvex run`` (cells of its ``config.json`` are used).
        attacks: what to re-run: "fgsm", "pgd" (gradient attacks on the evaluated test points)
            and/or "exact" (the MILP and the LP certificate on the first ``exact_max_points``).
        eps: radii (l_inf, input units); None: each cell's own grid (for "exact": its verified
            radii). New radii add records; existing (attack, eps) records are replaced.
        pgd_steps, pgd_restarts, exact_max_points, exact_time_limit, n_eval: override the
            cell's evaluation settings (None: as the sweep ran them, which reproduces its numbers).
        methods, datasets: only cells of these method labels / data sets (None: all).
        log: called with one line per cell.

    Returns:
        a :class:`ReevalSummary`. Every updated record's ``notes`` says what re-ran it and when;
        each cell file gains an entry in ``"reevaluations"``. Cells without a stored network are
        skipped (listed in ``skipped``), never retrained.
    """
    from robustbench_convex.network import load_network

    opts = {
        "pgd_steps": pgd_steps,
        "pgd_restarts": pgd_restarts,
        "exact_max_points": exact_max_points,
        "exact_time_limit": exact_time_limit,
        "n_eval": n_eval,
    }
    attacks = list(dict.fromkeys(attacks))
    _check_request(attacks, eps, opts)
    store = ResultStore(root)
    if not store.cells_dir.is_dir():
        raise FileNotFoundError(f"{root}: no cells/ folder (not a sweep folder written by run)")
    config = store.read_config() or {}
    summary = ReevalSummary(Path(root))
    loaded: dict[Any, Any] = {}  # DatasetSpec -> Dataset
    files = _finished_cells(store, config.get("config_hash"))
    _check_selection(files, root, methods, datasets)
    for path, payload in files:
        cell = cell_of(payload)
        if methods is not None and cell.method.name not in methods:
            continue
        if datasets is not None and cell.dataset.name not in datasets:
            continue
        npz = network_path(path)
        if not npz.is_file():
            summary.skipped.append((path.name, "no stored network (.npz)"))
            continue
        if cell.dataset not in loaded:  # DatasetSpec is frozen: one load per data set
            loaded[cell.dataset] = cell.dataset.load()
        spec = _reeval_spec(cell.evaluation, attacks, eps, opts)
        done = _reevaluate_cell(payload, load_network(npz), loaded[cell.dataset], spec, attacks)
        atomic_write_text(path, dumps(payload))
        summary.updated.append(path.name)
        summary.pairs.extend(p for p in done if p not in summary.pairs)
        if log is not None:
            log(f"updated {cell.label}: {len(done)} record(s)")
    summary.csv = store.write_csv(store.records_of([p for _, p in files]))
    return summary
