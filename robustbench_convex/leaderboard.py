"""The report's summary: one ranked row per method and data set at the headline radius.

:func:`summarize` turns a sweep's cell payloads into :class:`DatasetSummary` objects (typed rows,
no free dicts); :func:`binomial_interval` gives the 95% intervals (Clopper-Pearson, exact);
:func:`takeaways` writes the plain sentences under each table. The report renders them.

Conventions:

* the *headline eps* of a data set is the training radius of its adversarially trained methods
  (the value most of them share) when it is on the data set's evaluation grid; otherwise the
  middle radius of the verified grid (``exact_eps``), else of the whole grid;
* accuracies of a method with several seeds pool the test points of all seeds (k robust of n
  points in total) for the interval; the training objective shown is the best seed's;
* "robust against all" counts a test point iff it is classified correctly and no attack run on
  it found an adversarial example: every gradient attack (FGSM, PGD, any re-evaluation), and the
  MILP (where run) did not prove a counterexample. It is an upper bound on the true robust
  accuracy, at most every single attack's accuracy;
* a row is *unreliable* when a check failed for that model: a sanity check of the attack module,
  the sandwich certified <= exact <= PGD, or a training status that says so (collapsed, diverged,
  failed).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustbench_convex.records import COLLAPSE_NOTE, SanityRow, TrainingInfo
from robustbench_convex.sweep import cell_of

__all__ = [
    "DatasetSummary",
    "Estimate",
    "SummaryRow",
    "binomial_interval",
    "headline_eps",
    "summarize",
    "takeaways",
]

UNRELIABLE_STATUSES = ("diverged", "failed")  # of records.TRAIN_STATUSES; collapse is a flag


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) two-sided interval for a binomial proportion with ``k`` successes
    out of ``n`` trials: ``(lo, hi)`` in [0, 1], guaranteed coverage >= ``level``.

    ``lo = Beta(alpha/2; k, n-k+1)`` quantile (0 when k = 0), ``hi = Beta(1-alpha/2; k+1, n-k)``
    quantile (1 when k = n)."""
    from scipy.stats import beta

    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise TypeError(f"k and n must be integers, got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


@dataclass(frozen=True)
class Estimate:
    """``k`` of ``n`` test points (pooled over seeds) and the 95% Clopper-Pearson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return binomial_interval(self.k, self.n) if self.n else (math.nan, math.nan)

    def text(self) -> str:
        if not self.n:
            return "n/a"
        lo, hi = self.interval
        return f"{self.value:.3f} [{lo:.2f}, {hi:.2f}]"


@dataclass
class SummaryRow:
    """One method on one data set at the headline eps (see the module docstring)."""

    method: str
    method_key: str
    kind: str
    program: str
    seeds: int
    width: int
    n_active: int
    train_eps: float | None
    clean: Estimate | None
    pgd: Estimate | None
    all_attacks: Estimate | None
    exact: Estimate | None
    exact_upper: Estimate | None
    lp: Estimate | None
    certified_train_acc: float | None
    is_certificate: bool
    objective: float | None
    objective_ratio: float | None
    loss: str | None
    beta: float | None
    global_lower_bound: float | None
    certified_gap: float | None
    fit_time: float
    status: str
    solver: str
    unreliable: list[str] = field(default_factory=list)
    attacks_run: list[str] = field(default_factory=list)

    @property
    def rank_key(self) -> tuple[float, float, float]:
        def v(e: Estimate | None) -> float:
            return -1.0 if e is None or not e.n else e.value

        return (v(self.all_attacks), v(self.exact), v(self.clean))


@dataclass
class DatasetSummary:
    """The ranked rows of one data set, the headline eps and how it was chosen."""

    dataset: str
    eps: float | None
    eps_reason: str
    rows: list[SummaryRow]
    best_sgd_objective: float | None
    exact_points: int | None
    sentences: list[str] = field(default_factory=list)


def _mask(text: str) -> np.ndarray:
    from robustbench_convex.evaluation import decode_mask

    return decode_mask(text)


def _train_eps(settings: Mapping[str, Any], method_key: str) -> float | None:
    """The training radius of adversarially / certifiably trained methods (None: nominal)."""
    if "eps" not in settings or settings.get("eps") is None:
        return None
    if method_key in ("sgd",) or (method_key.startswith("convex-") and "robust" not in method_key):
        return None
    return float(settings["eps"])


def headline_eps(
    grid: Sequence[float], exact_grid: Sequence[float] | None, train_eps: Sequence[float]
) -> tuple[float | None, str]:
    """The radius a data set's summary is read at, and a phrase saying why (module docstring)."""
    grid = sorted(float(e) for e in grid)
    if not grid:
        return None, "no attack radius evaluated"
    on_grid = [e for e in train_eps if any(math.isclose(e, g) for g in grid)]
    if on_grid:
        e, _ = Counter(on_grid).most_common(1)[0]
        return next(g for g in grid if math.isclose(e, g)), "the training eps"
    pool = sorted(exact_grid) if exact_grid else grid
    return pool[len(pool) // 2], "the middle verified radius (no training eps on the grid)"


def _cells_of(payloads: Sequence[Mapping[str, Any]], dataset: str) -> list[Mapping[str, Any]]:
    return [p for p in payloads if p.get("status") == "ok" and cell_of(p).dataset.name == dataset]


def _points_at(payload: Mapping[str, Any], eps: float) -> dict[str, Mapping[str, Any]]:
    return {
        p["attack"]: p
        for p in payload.get("points") or []
        if math.isclose(float(p["eps"]), eps) or p["attack"] == "clean"
    }


def _record_at(payload: Mapping[str, Any], attack: str, eps: float) -> Mapping[str, Any] | None:
    for r in payload.get("records") or []:
        if r["attack"] == attack and (attack == "clean" or math.isclose(float(r["eps"]), eps)):
            return r
    return None


def _count(payload: Mapping[str, Any], attack: str, eps: float, field_: str) -> Estimate | None:
    """k of n from the record (fraction x n, rounded: records store fractions of n points)."""
    r = _record_at(payload, attack, eps)
    if r is None or r.get(field_) is None:
        return None
    n = int(r["n_eval"])
    return Estimate(round(float(r[field_]) * n), n)


def _robust_against_all(
    payload: Mapping[str, Any], eps: float
) -> tuple[Estimate | None, list[str]]:
    pts = _points_at(payload, eps)
    if "clean" not in pts:
        return None, []
    ok = _mask(pts["clean"]["robust"]).copy()
    used = []
    for name, p in pts.items():
        if name in ("clean", "lp-certified"):
            continue
        m = _mask(p["robust"])
        if name == "exact":  # the MILP breaks a point only where it proved a counterexample
            refuted = _mask(p["refuted"]) if "refuted" in p else ~m
            ok[: len(refuted)] &= ~refuted
        else:
            ok[: len(m)] &= m
        used.append(name)
    return Estimate(int(ok.sum()), int(ok.size)), used


def _pool(estimates: Sequence[Estimate | None]) -> Estimate | None:
    es = [e for e in estimates if e is not None]
    if not es:
        return None
    return Estimate(sum(e.k for e in es), sum(e.n for e in es))


def _unreliable(payload: Mapping[str, Any]) -> list[str]:
    info = TrainingInfo.from_dict(payload["training"])
    seed = cell_of(payload).seed
    out = []
    for s in map(SanityRow.from_dict, payload.get("sanity") or []):
        if not s.passed:
            out.append(f"sanity FAIL (seed {seed}): {s.check}")
    for r in payload.get("records") or []:
        if r.get("sandwich_ok") is False:
            out.append(f"sandwich violated at eps={float(r['eps']):g} (seed {seed})")
            break
    if info.status in UNRELIABLE_STATUSES:
        out.append(f"status {info.status} (seed {seed})")
    if info.collapsed:
        out.append(f"{COLLAPSE_NOTE} (seed {seed})")
    return out


def _finite(*values: Any) -> float | None:
    """The first finite number of ``values`` (None if there is none)."""
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
            return float(v)
    return None


def _gap(info: TrainingInfo) -> float | None:
    """The certified gap to the *global* optimum, ``(objective - bound) / |objective|``, where the
    method computed a global lower bound (``global_bound.certified_gap``); None otherwise. A
    solver's own gap to the optimum of its sampled program (ADMM's ``certified_gap`` without a
    global bound) certifies nothing about other networks and is not shown here."""
    glb = _finite(info.global_lower_bound)
    objective = _finite(info.objective)
    if glb is None or objective is None or objective == 0:
        return None
    return (objective - glb) / abs(objective)


def _row(label: str, cells: Sequence[Mapping[str, Any]], eps: float | None) -> SummaryRow:
    method = cell_of(cells[0]).method
    infos = [TrainingInfo.from_dict(p["training"]) for p in cells]
    info0 = infos[0]
    key = method.method
    clean = _pool([_count(p, "clean", 0.0, "clean_acc") for p in cells])
    pgd = all_ = exact = exact_up = lp = None
    used: list[str] = []
    if eps is not None:
        pgd = _pool([_count(p, "pgd", eps, "robust_acc") for p in cells])
        pairs = [_robust_against_all(p, eps) for p in cells]
        all_ = _pool([a for a, _ in pairs])
        used = sorted({u for _, us in pairs for u in us})
        exact = _pool([_count(p, "exact", eps, "exact_acc") for p in cells])
        exact_up = _pool([_count(p, "exact", eps, "exact_acc_upper") for p in cells])
        lp = _pool([_count(p, "lp-certified", eps, "certified_acc") for p in cells])
    objs = [o for o in (_finite(i.nominal_objective) for i in infos) if o is not None]
    statuses = Counter(str(i.status) for i in infos)
    status = ", ".join(f"{s} x{n}" if n > 1 else s for s, n in statuses.items())
    cta = [c for c in (_finite(i.certified_train_accuracy) for i in infos) if c is not None]
    return SummaryRow(
        method=label,
        method_key=key,
        kind=method.kind,
        program=info0.program,
        seeds=len(cells),
        width=max(int(i.width) for i in infos),
        n_active=max(int(i.n_active) for i in infos),
        train_eps=_train_eps(method.settings, key),
        clean=clean,
        pgd=pgd,
        all_attacks=all_,
        exact=exact,
        exact_upper=exact_up,
        lp=lp,
        certified_train_acc=float(np.mean(cta)) if cta else None,
        is_certificate=any(i.is_certificate for i in infos),
        objective=min(objs) if objs else None,
        objective_ratio=None,
        loss=method.settings.get("loss"),
        beta=None if method.settings.get("beta") is None else float(method.settings["beta"]),
        global_lower_bound=_finite(info0.global_lower_bound),
        certified_gap=_gap(info0),
        fit_time=float(np.mean([float(i.time) for i in infos])),
        status=status,
        solver=info0.solver,
        unreliable=[u for p in cells for u in _unreliable(p)],
        attacks_run=used,
    )


def summarize(
    payloads: Sequence[Mapping[str, Any]],
    datasets: Sequence[str],
    methods: Sequence[str],
    grids: Mapping[str, tuple[Sequence[float], Sequence[float] | None]],
) -> list[DatasetSummary]:
    """One :class:`DatasetSummary` per data set (in ``datasets`` order), rows ranked by
    "robust against all", then exact, then clean accuracy (best first).

    Args:
        payloads: cell payloads (those with status "ok" are used).
        datasets, methods: display order of data sets and method labels.
        grids: per data set, its evaluation radii and verified radii (None: all of them)."""
    out = []
    for d in datasets:
        cells = _cells_of(payloads, d)
        if not cells:
            continue
        methods_run = [cell_of(p).method for p in cells]
        train = [e for m in methods_run if (e := _train_eps(m.settings, m.method)) is not None]
        grid, exact_grid = grids.get(d, ((), None))
        eps, why = headline_eps(grid, exact_grid, train)
        by_method: dict[str, list[Mapping[str, Any]]] = {}
        for p in sorted(cells, key=lambda p: cell_of(p).seed):
            by_method.setdefault(cell_of(p).method.name, []).append(p)
        order = [m for m in methods if m in by_method] + sorted(set(by_method) - set(methods))
        rows = [_row(m, by_method[m], eps) for m in order]
        sgd = [r for r in rows if r.method_key == "sgd" and r.objective is not None]
        best = min(sgd, key=lambda r: r.objective) if sgd else None
        best_sgd = best.objective if best else None
        for r in rows:  # a ratio only between the same objective: same loss and beta
            if (
                best
                and best_sgd
                and r.objective is not None
                and (r.loss, r.beta)
                == (
                    best.loss,
                    best.beta,
                )
            ):
                r.objective_ratio = r.objective / best_sgd
        rows.sort(key=lambda r: r.rank_key, reverse=True)
        npts = [r.exact.n // r.seeds for r in rows if r.exact is not None and r.exact.n]
        summary = DatasetSummary(d, eps, why, rows, best_sgd, max(npts) if npts else None)
        summary.sentences = takeaways(summary)
        out.append(summary)
    return out


def _name(r: SummaryRow) -> str:
    return r.method + (" (unreliable)" if r.unreliable else "")


def takeaways(s: DatasetSummary) -> list[str]:
    """Two to four plain sentences stating the result of one data set."""
    if s.eps is None or not s.rows:
        return []
    out = []
    ranked = [r for r in s.rows if r.all_attacks is not None and r.all_attacks.n]
    if ranked:
        top = ranked[0]
        clean = f", clean {top.clean.value:.3f}" if top.clean else ""
        tied = [
            r.method for r in ranked[1:] if math.isclose(r.all_attacks.value, top.all_attacks.value)
        ]
        tie = f" (tied with {', '.join(tied)})" if tied else ""
        out.append(
            f"On {s.dataset} at eps = {s.eps:g} ({s.eps_reason}), {_name(top)} is the most "
            f"robust against every attack run{tie}: {top.all_attacks.text()} of "
            f"{top.all_attacks.n // top.seeds} test points{clean}."
        )
    verified = [r for r in s.rows if r.lp is not None and r.lp.n]
    if verified:
        best = max(verified, key=lambda r: (r.lp.value, r.exact.value if r.exact else 0.0))
        ex = f" (exact MILP {best.exact.value:.3f})" if best.exact else ""
        out.append(
            f"The highest LP-certified accuracy on the first {s.exact_points} test points is "
            f"{_name(best)}'s {best.lp.text()}{ex}."
        )
        certs = [r for r in verified if r.is_certificate]
        if certs:
            c = max(certs, key=lambda r: r.lp.value)
            train = (
                f"; its program certifies {c.certified_train_acc:.3f} of its training points"
                if c.certified_train_acc is not None
                else ""
            )
            if c is not best:
                out.append(
                    f"The certified convex program {_name(c)} has LP-certified accuracy "
                    f"{c.lp.text()} on the verified test points{train} (clean "
                    f"{c.clean.value:.3f})."
                )
            elif c.certified_train_acc is not None:
                out.append(
                    f"Its program is a certificate: it certifies {c.certified_train_acc:.3f} of "
                    "its training points at the training eps."
                )
    elif s.exact_points is None:
        out.append(f"No model was verified (exact / LP) at eps = {s.eps:g}.")
    nominal = [
        r
        for r in s.rows
        if r.train_eps is None and r.objective_ratio is not None and r.method_key != "sgd"
    ]
    if nominal and s.best_sgd_objective:
        b = min(nominal, key=lambda r: r.objective_ratio)
        out.append(
            f"On the nominal training objective, the best convex model ({_name(b)}) reaches "
            f"{b.objective_ratio:.2f} x the best SGD run's objective ({s.best_sgd_objective:.4g})."
        )
    bad = [r.method for r in s.rows if r.unreliable]
    if bad:
        out.append(
            "Marked unreliable (a check failed for that model; see the sanity table): "
            + ", ".join(bad)
            + "."
        )
    return out
