"""Reports of a sweep folder: a summary, tables, plots, ``report.md`` and a self-contained
``report.html``.

:func:`write_report` reads the cell files of the folder's configuration (``config.json``: only
cells with its config hash are used) and writes

* the **summary** first: per data set one ranked row per method at the headline eps (the training
  eps), with 95% Clopper-Pearson intervals, "robust against all" (per-point worst case over every
  attack run), exact and LP-certified accuracy, certified training accuracy, the objective and its
  ratio to the best SGD run, the certified optimality gap where a method computed one, fit time,
  status and an UNRELIABLE mark where a check failed (:mod:`robustbench_convex.leaderboard`), and a
  few generated sentences;
* ``figures/clean_vs_certified.png``: clean, PGD, robust-vs-all, exact and LP-certified accuracy
  of every method side by side at the headline eps;
* ``figures/robust_accuracy_<data set>.png``: PGD robust accuracy vs eps, every method on one plot
  (mean over seeds, min-max band; curves offset slightly so that equal curves stay visible; the
  training eps a dashed line), next to the exact (MILP) and LP-certified accuracy;
* ``figures/training_time.png``: training time per method and data set (log scale);
* ``figures/objective.png``: the nominal training objective reached by the convex methods vs the
  distribution over SGD seeds (same objective, same loss and beta);
* ``figures/admm_convergence.png``: ADMM's relative objective gap (to a converged interior-point
  solve of the same program) and test accuracy vs iterations and vs time;
* ``report.md`` and ``report.html``: the same blocks rendered by two Jinja2 templates
  (``robustbench_convex/templates``); the HTML embeds its figures as base64 PNG.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from robustbench_convex.leaderboard import DatasetSummary, _train_eps, summarize
from robustbench_convex.records import COLLAPSE_NOTE, SanityRow, TrainingInfo, warnings_of
from robustbench_convex.store import ResultStore, atomic_write_text
from robustbench_convex.sweep import cell_of

__all__ = ["load_results", "write_report"]

NONADVERSARIAL = ("nominal", "sgd")


# ------------------------------------------------------------------------------------ loading
@dataclass
class SweepResults:
    """What a report is made of."""

    root: Path
    config: dict[str, Any]
    payloads: list[dict[str, Any]]
    records: pd.DataFrame  # one row per ResultRecord
    cells: pd.DataFrame  # one row per finished cell (training info)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [p for p in self.payloads if p.get("status") != "ok"]

    def method_order(self) -> list[str]:
        names = [m["name"] for m in self.config.get("methods", [])]
        seen = set(self.records["method"]) if len(self.records) else set()
        return [n for n in names if n in seen] + sorted(seen - set(names))

    def dataset_order(self) -> list[str]:
        names = [d["name"] for d in self.config.get("datasets", [])]
        seen = set(self.records["dataset"]) if len(self.records) else set()
        return [n for n in names if n in seen] + sorted(seen - set(names))


def load_results(root: str | Path) -> SweepResults:
    """Read a sweep folder (the cells of its ``config.json``; every cell file when absent)."""
    store = ResultStore(root)
    config = store.read_config() or {}
    payloads = store.load_payloads()
    h = config.get("config_hash")
    if h is not None:
        payloads = [p for p in payloads if cell_of(p).config_hash == h]
    records = pd.DataFrame([r.to_dict() for r in store.records_of(payloads)])
    rows = []
    for p in payloads:
        if p.get("status") != "ok":
            continue
        info = TrainingInfo.from_dict(p["training"]).to_dict()
        cell = cell_of(p)
        rows.append(
            {
                **{k: v for k, v in info.items() if not isinstance(v, (list, dict))},
                "dataset": cell.dataset.name,
                "method": cell.method.name,  # the label (info["method"] is the key)
                "method_key": cell.method.method,
                "kind": cell.method.kind,
                "seed": cell.seed,
            }
        )
    return SweepResults(Path(root), config, payloads, records, pd.DataFrame(rows))


# ------------------------------------------------------------------------------------ figures
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p"]


def _styles(methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {
        m: {"color": cmap(i % 10), "marker": _MARKERS[i % len(_MARKERS)]}
        for i, m in enumerate(methods)
    }


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _curve(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """Per eps: mean, min, max of ``col`` over seeds."""
    g = df.groupby("eps")[col]
    return pd.DataFrame({"mean": g.mean(), "min": g.min(), "max": g.max(), "n": g.count()})


def _offsets(methods: Sequence[str], recs: pd.DataFrame) -> dict[str, float]:
    """Small horizontal offsets per method (1% of the largest eps apart) so that methods with
    identical curves stay visible side by side instead of hiding each other."""
    top = float(recs["eps"].max()) if len(recs) else 0.0
    shown = [m for m in methods if (recs["method"] == m).any()]
    mid = (len(shown) - 1) / 2
    return {m: (i - mid) * 0.01 * top for i, m in enumerate(shown)}


def _mark_train_eps(ax: Any, train_eps: Sequence[float]) -> None:
    for i, e in enumerate(train_eps):
        ax.axvline(
            e, color="0.35", ls="--", lw=1.1, zorder=0, label="training eps" if i == 0 else None
        )


def _accuracy_axis(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    """Title, labels, the [0, 1] range and the grid of an accuracy-vs-eps panel."""
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)


def plot_robust_accuracy(
    res: SweepResults, dataset: str, path: Path, train_eps: Sequence[float] = ()
) -> Path:
    """PGD robust accuracy vs eps (left) and exact / LP-certified accuracy (right) of every
    method; the training eps of the adversarially trained methods is a dashed vertical line.
    Markers are hollow with sizes decreasing in method order, and curves are offset by 1% of the
    largest eps per method, so overlapping curves stay visible."""
    plt = _plt()
    recs = res.records[res.records["dataset"] == dataset]
    methods = res.method_order()
    styles = _styles(methods)
    dx = _offsets(methods, recs)
    size = {m: 11 - 5 * i / max(len(methods) - 1, 1) for i, m in enumerate(methods)}
    has_exact = bool((recs["attack"] == "exact").any())
    ncols = 2 if has_exact else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols + 2.2, 4.6), squeeze=False)
    ax = axes[0, 0]
    for m in methods:
        r = recs[recs["method"] == m]
        if r.empty:
            continue
        clean = r[r["attack"] == "clean"].assign(eps=0.0)
        pgd = pd.concat([clean, r[r["attack"] == "pgd"]])
        c = _curve(pgd, "robust_acc")
        st = styles[m]
        x = c.index.to_numpy(dtype=float) + dx[m]
        ax.plot(x, c["mean"], label=m, lw=1.6, ms=size[m], mfc="none", mew=1.6, alpha=0.9, **st)
        if (c["n"] > 1).any():
            ax.fill_between(x, c["min"], c["max"], color=st["color"], alpha=0.15, lw=0)
    _mark_train_eps(ax, train_eps)
    n_eval = int(recs[recs["attack"] == "pgd"]["n_eval"].max()) if len(recs) else 0
    ev = res.config.get("evaluation", {})
    _accuracy_axis(
        ax,
        f"{dataset}: PGD ({ev.get('pgd_steps', '?')} steps x {ev.get('pgd_restarts', '?')} "
        f"restarts), {n_eval} test points",
        "eps (l_inf radius, input units; 0 = clean; methods offset by 1% for visibility)",
        "robust accuracy",
    )
    if has_exact:
        ax2 = axes[0, 1]
        for m in methods:
            r = recs[(recs["method"] == m) & (recs["attack"] == "exact")]
            if r.empty:
                continue
            st = styles[m]
            c = _curve(r, "exact_acc")
            cc = _curve(r, "certified_acc")
            x0 = np.array([0.0, *c.index], dtype=float) + dx[m]
            y0 = [float(r.groupby("seed")["clean_acc"].first().mean()), *c["mean"]]
            ax2.plot(x0, y0, lw=1.6, ms=size[m], mfc="none", mew=1.6, alpha=0.9, **st)
            ax2.plot(
                cc.index.to_numpy(dtype=float) + dx[m],
                cc["mean"],
                ls=":",
                lw=1.4,
                color=st["color"],
                marker=st["marker"],
                ms=size[m] * 0.6,
                alpha=0.9,
            )
        _mark_train_eps(ax2, train_eps)
        k = int(recs[recs["attack"] == "exact"]["n_eval"].max())
        _accuracy_axis(
            ax2,
            f"{dataset}: exact (MILP, solid, hollow) and LP-certified (dotted, filled), {k} points",
            "eps (l_inf radius, input units; 0 = clean)",
            "verified accuracy",
        )
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="method"
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_clean_vs_certified(
    res: SweepResults, summaries: Sequence[DatasetSummary], path: Path
) -> Path | None:
    """One panel per data set: for every method (ranked as in the summary) grouped bars of clean,
    PGD, robust-vs-all, exact and LP-certified accuracy at the headline eps, with 95%
    Clopper-Pearson whiskers."""
    summaries = [s for s in summaries if s.rows]
    if not summaries:
        return None
    plt = _plt()
    series = [
        ("clean", "clean", "#4c72b0"),
        ("pgd", "PGD", "#dd8452"),
        ("all_attacks", "robust vs all", "#c44e52"),
        ("exact", "exact (MILP)", "#55a868"),
        ("lp", "LP-certified", "#8172b3"),
    ]
    n_max = max(len(s.rows) for s in summaries)
    fig, axes = plt.subplots(
        len(summaries),
        1,
        figsize=(max(8.0, 1.25 * n_max + 2.5), 3.6 * len(summaries)),
        squeeze=False,
    )
    width = 0.16
    for ax, s in zip(axes[:, 0], summaries):
        xs = np.arange(len(s.rows))
        for j, (attr, label, color) in enumerate(series):
            vals, lo, hi = [], [], []
            for r in s.rows:
                e = getattr(r, attr)
                if e is None or not e.n:
                    vals.append(np.nan)
                    lo.append(0.0)
                    hi.append(0.0)
                    continue
                a, bnd = e.interval
                vals.append(e.value)
                lo.append(e.value - a)
                hi.append(bnd - e.value)
            ax.bar(
                xs + (j - 2) * width,
                vals,
                width,
                label=label,
                color=color,
                yerr=[lo, hi],
                capsize=2,
                error_kw={"lw": 0.8},
            )
        names = [r.method + (" (!)" if r.unreliable else "") for r in s.rows]
        ax.set_xticks(xs, names, rotation=20, ha="right", fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("accuracy")
        eps = "" if s.eps is None else f" at eps = {s.eps:g} ({s.eps_reason})"
        ax.set_title(f"{s.dataset}{eps}; (!) = unreliable", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.12), frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def _panels(
    cells: pd.DataFrame,
    column: str,
    datasets: Sequence[str],
    methods: Sequence[str],
    size: tuple[float, float, float],
):
    """The figure, and per data set ``(ax, d, panel, rows)``: ``panel`` the cells of ``d``,
    ``rows`` the ``(i, method, values)`` of the methods with values of ``column`` (floats);
    ``size``: (panel width, height per method, extra height)."""
    plt = _plt()
    width, per_method, extra = size
    fig, axes = plt.subplots(
        1,
        len(datasets),
        figsize=(width * len(datasets), per_method * len(methods) + extra),
        squeeze=False,
    )
    out = []
    for ax, d in zip(axes[0], datasets):
        panel = cells[cells["dataset"] == d]
        rows = [
            (i, m, panel[panel["method"] == m][column].astype(float)) for i, m in enumerate(methods)
        ]
        out.append((ax, d, panel, [(i, m, v) for i, m, v in rows if not v.empty]))
        ax.set_yticks(range(len(methods)), methods)
        ax.grid(axis="x", alpha=0.3)
    return fig, out


def plot_training_time(res: SweepResults, path: Path) -> Path:
    methods = res.method_order()
    styles = _styles(methods)
    fig, panels = _panels(res.cells, "time", res.dataset_order(), methods, (5.2, 0.45, 1.6))
    for ax, d, _, rows in panels:
        for i, m, t in rows:
            ax.barh(i, t.mean(), color=styles[m]["color"], alpha=0.8)
            if len(t) > 1:
                ax.plot(t, np.full(len(t), i), "k|", ms=10)
            mean = t.mean()
            label = f"{mean:.0f} s" if mean >= 10 else f"{mean:.2g} s"
            ax.text(t.max() * 1.15, i, label, va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("seconds (log scale)")
        ax.set_title(f"{d}: training time (bar: mean over seeds; |: each seed)", fontsize=10)
        lo, hi = ax.get_xlim()
        ax.set_xlim(lo, hi * 3)
    fig.tight_layout()
    return _save(fig, path)


def plot_objective(res: SweepResults, path: Path) -> Path | None:
    """Nominal objective of convex methods (nominal program) vs SGD's distribution over seeds."""
    cells = res.cells
    if cells.empty or "nominal_objective" not in cells:
        return None
    sub = cells[cells["program"].isin(NONADVERSARIAL)]
    if sub.empty:
        return None
    datasets = [d for d in res.dataset_order() if d in set(sub["dataset"])]
    methods = [m for m in res.method_order() if m in set(sub["method"])]
    styles = _styles(res.method_order())
    fig, panels = _panels(sub, "nominal_objective", datasets, methods, (5.4, 0.5, 1.8))
    for ax, d, s, rows in panels:
        for i, m, v in rows:
            st = styles[m]
            if len(v) > 1:  # range over seeds and the median
                ax.plot([v.min(), v.max()], [i, i], color=st["color"], lw=6, alpha=0.25)
                ax.plot([v.median()] * 2, [i - 0.25, i + 0.25], color=st["color"], lw=2)
            ax.scatter(
                v, np.full(len(v), i), color=st["color"], marker=st["marker"], s=40, zorder=3
            )
        best = s[s["kind"] == "convex"]["nominal_objective"].astype(float)
        if len(best):
            ax.axvline(best.min(), color="0.3", ls="--", lw=1)
        ax.set_ylim(len(methods) - 0.5, -0.5)
        ax.set_xlabel("training objective: sum of losses + beta/2 * ||weights||^2")
        ax.set_title(f"{d}: objective reached (dashed: best convex)")
    fig.tight_layout()
    return _save(fig, path)


def _admm_runs(res: SweepResults) -> list[dict[str, Any]]:
    """ADMM histories with the reference optimum p* of their problem: the lowest objective of a
    converged interior-point solve (IPM or CVXPY) with the same ``problem_key``."""
    ok = [(p, TrainingInfo.from_dict(p["training"])) for p in res.payloads if p["status"] == "ok"]
    ref: dict[str, float] = {}
    for _, info in ok:
        if info.solver_kind in ("ipm", "cvxpy") and info.status == "converged":
            key = info.problem_key
            if key is not None:
                ref[key] = min(ref.get(key, math.inf), float(info.objective))
    runs = []
    for p, info in ok:
        hist = p.get("history") or []
        if info.solver_kind != "admm" or not hist:
            continue
        h = pd.DataFrame(hist)
        if "objective" not in h:
            continue
        key = info.problem_key
        # without a converged interior-point solve of the same program there is no trustworthy
        # p*: such runs are shown in the accuracy panels only
        pstar, label = (ref[key], "CVXPY optimum") if key in ref else (None, "none")
        runs.append({"cell": cell_of(p), "history": h, "pstar": pstar, "ref": label})
    return runs


def plot_admm_convergence(res: SweepResults, path: Path) -> Path | None:
    runs = _admm_runs(res)
    if not runs:
        return None
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 7.5))
    cmap = plt.get_cmap("tab10")
    handles = []
    for i, run in enumerate(runs):
        h = run["history"]
        cell = run["cell"]
        name = f"{cell.dataset.name} / {cell.method.name}"
        label = name + (
            " (gap to the interior-point optimum: IPM or CVXPY)"
            if run["pstar"] is not None
            else " (no converged IPM / CVXPY solve of this program: accuracy only)"
        )
        color = cmap(i % 10)
        it = h["iteration"] if "iteration" in h else np.arange(len(h))
        t = h["time"].clip(lower=1e-3)
        if run["pstar"] is not None:
            gap = (h["objective"] - run["pstar"]).abs() / max(abs(run["pstar"]), 1e-300)
            gap = gap.clip(lower=1e-12)
            axes[0, 0].semilogy(it, gap, color=color)
            axes[0, 1].loglog(t, gap, color=color)
        if "test_acc" in h:
            axes[1, 0].plot(it, h["test_acc"], color=color, alpha=0.85)
            axes[1, 1].semilogx(t, h["test_acc"], color=color, alpha=0.85)
        handles.append(plt.Line2D([], [], color=color, label=label))
    axes[0, 0].set_ylabel("|objective - p*| / |p*| (log scale)")
    axes[1, 0].set_ylabel("test accuracy of the recovered network")
    for ax in axes[:, 0]:
        ax.set_xlabel("ADMM iteration")
    for ax in axes[:, 1]:
        ax.set_xlabel("time (seconds, log scale)")
    axes[0, 0].set_title("objective gap vs iterations")
    axes[0, 1].set_title("objective gap vs time")
    axes[1, 0].set_title("test accuracy vs iterations")
    axes[1, 1].set_title("test accuracy vs time")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.suptitle(
        "ADMM convergence (p* = the optimum of the same sampled program by a converged interior-point solver: IPM or CVXPY)",
        y=1.0 + 0.035 * (len(runs) + 1),
    )
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------------------------ tables
def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        av = abs(float(v))
        if av != 0 and (av >= 1e4 or av < 1e-3):
            return f"{float(v):.{digits}e}"
        return f"{float(v):.{digits}f}" if av < 10 else f"{float(v):.{max(digits - 1, 1)}f}"
    return str(v)


def _mean_pm(values: pd.Series, digits: int = 3) -> str:
    v = values.dropna().astype(float)
    if v.empty:
        return "-"
    if len(v) == 1:
        return _fmt(v.iloc[0], digits)
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def _accuracy_table(
    res: SweepResults, dataset: str, attack: str
) -> tuple[list[str], list[list[str]]]:
    recs = res.records[res.records["dataset"] == dataset]
    eps = sorted(set(recs[recs["attack"] == attack]["eps"]))
    header = ["method", "seeds", "clean", *[f"eps={e:g}" for e in eps]]
    rows = []
    for m in res.method_order():
        r = recs[recs["method"] == m]
        if r.empty:
            continue
        clean = r[r["attack"] == "clean"]
        row = [m, str(clean["seed"].nunique()), _mean_pm(clean["robust_acc"])]
        for e in eps:
            row.append(_mean_pm(r[(r["attack"] == attack) & (r["eps"] == e)]["robust_acc"]))
        rows.append(row)
    return header, rows


def _exact_table(res: SweepResults, dataset: str) -> tuple[list[str], list[list[CellLike]]] | None:
    recs = res.records[(res.records["dataset"] == dataset) & (res.records["attack"] == "exact")]
    if recs.empty:
        return None
    eps = sorted(set(recs["eps"]))
    header = ["method", "points", "clean", *[f"eps={e:g}: LP / exact" for e in eps], "sandwich"]
    rows = []
    for m in res.method_order():
        r = recs[recs["method"] == m]
        if r.empty:
            continue
        row = [m, str(int(r["n_eval"].iloc[0])), _mean_pm(r.groupby("seed")["clean_acc"].first())]
        for e in eps:
            re_ = r[r["eps"] == e]
            exact = _mean_pm(re_["exact_acc"])
            upper = re_["exact_acc_upper"].astype(float)
            if (upper > re_["exact_acc"].astype(float) + 1e-12).any():
                exact += f" (≤ {_mean_pm(upper)}, time limit)"
            row.append(f"{_mean_pm(re_['certified_acc'])} / {exact}")
        ok = r["sandwich_ok"].dropna()
        row.append(
            "ok" if len(ok) and ok.astype(bool).all() else (warn("VIOLATED") if len(ok) else "-")
        )
        rows.append(row)
    return header, rows


def _training_table(res: SweepResults, dataset: str) -> tuple[list[str], list[list[str]]]:
    cells = res.cells[res.cells["dataset"] == dataset]
    header = [
        "method",
        "program",
        "width (ReLU)",
        "train eps",
        "solver",
        "status",
        "certificate",
        "train time (s)",
        "objective",
        "nominal objective",
        "active neurons",
        "train acc",
    ]
    rows = []
    for m in res.method_order():
        c = cells[cells["method"] == m]
        if c.empty:
            continue
        status = ", ".join(
            f"{s} x{n}" if n > 1 else s for s, n in c["status"].value_counts().items()
        )
        if c["collapsed"].fillna(False).astype(bool).any():
            status += f" ({COLLAPSE_NOTE})"
        settings = next(
            (
                cell.method.settings
                for cell in (cell_of(p) for p in res.payloads if p.get("status") == "ok")
                if cell.dataset.name == dataset and cell.method.name == m
            ),
            {},
        )
        te = _train_eps(settings, str(c["method_key"].iloc[0]))
        nrelu = c["n_relu_active"] if "n_relu_active" in c else c["n_active"]
        rows.append(
            [
                m,
                str(c["program"].iloc[0]),
                f"{int(c['width'].max())} ({int(nrelu.fillna(c['n_active']).max())})",
                "-" if te is None else f"{te:g}",
                str(c["solver"].iloc[0]),
                status,
                "yes" if bool(c["is_certificate"].iloc[0]) else "no",
                _mean_pm(c["time"], 2),
                _mean_pm(c["objective"], 4),
                _mean_pm(c["nominal_objective"], 4),
                _mean_pm(c["n_active"], 1) if len(c) > 1 else _fmt(int(c["n_active"].iloc[0])),
                _mean_pm(c["train_acc"]),
            ]
        )
    return header, rows


def _sanity_table(
    res: SweepResults, dataset: str
) -> tuple[list[str], list[list[CellLike]], list[str]] | None:
    entries: list[tuple[str, int, list[SanityRow]]] = []
    for p in res.payloads:
        cell = cell_of(p)
        if p.get("status") == "ok" and p.get("sanity") and cell.dataset.name == dataset:
            rows = [SanityRow.from_dict(r) for r in p["sanity"]]
            entries.append((cell.method.name, cell.seed, rows))
    if not entries:
        return None
    order = {m: i for i, m in enumerate(res.method_order())}
    entries.sort(key=lambda e: (order.get(e[0], 1e9), e[1]))
    checks = list(dict.fromkeys(r.check for _, _, rows in entries for r in rows))
    header = ["check", *[f"{m} (s{s})" for m, s, _ in entries]]
    rows = []
    failures = []
    for chk in checks:
        row: list[CellLike] = [chk]
        for m, s, rs in entries:
            hit = [r for r in rs if r.check == chk]
            if not hit:
                row.append("-")
                continue
            row.append("pass" if hit[0].passed else warn("FAIL"))
            if not hit[0].passed:
                failures.append(f"{m} (seed {s}), {chk}: {hit[0].detail}")
        rows.append(row)
    first = entries[0][2][0]
    return (
        header,
        rows,
        failures
        + ([f"(checked at eps={first.eps:g} on {first.n} test points)"] if first.eps else []),
    )


# ------------------------------------------------------------------------------------ blocks
# The report is built once as typed blocks and rendered by two Jinja2 templates
# (templates/report.md.j2, templates/report.html.j2): no markup is parsed from strings.
SpanStyle = Literal["", "b", "code", "warn", "link"]


@dataclass(frozen=True)
class Span:
    """A run of text in one style (``link``: ``href`` is the target)."""

    text: str
    style: SpanStyle = ""
    href: str = ""


def b(text: str) -> Span:
    return Span(text, "b")


def code(text: str) -> Span:
    return Span(text, "code")


def warn(text: str) -> Span:
    return Span(text, "warn")


def link(text: str, href: str) -> Span:
    return Span(text, "link", href)


Inline = list[Span]
CellLike = str | Span | Sequence[Span]


def _inline(*parts: str | Span | Sequence[Span]) -> Inline:
    out: Inline = []
    for p in parts:
        if isinstance(p, Span):
            out.append(p)
        elif isinstance(p, str):
            out.append(Span(p))
        else:
            out.extend(p)
    return out


@dataclass
class Block:
    """One block of the report: ``kind`` is "h" (``level``, ``spans``), "p" (``spans``), "ul"
    (``items``: list of span lists), "table" (``header``, ``rows``: lists of span lists, ``cls``
    for styling), "img" (``path``, ``rel``, ``caption``; ``data``: base64 PNG for the HTML)."""

    kind: Literal["h", "p", "ul", "table", "img"]
    level: int = 0
    spans: Inline = field(default_factory=list)
    items: list[Inline] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[Inline]] = field(default_factory=list)
    cls: str = ""
    path: Path | None = None
    rel: str = ""
    caption: Inline = field(default_factory=list)
    anchor: str = ""

    @property
    def data(self) -> str:
        return base64.b64encode(self.path.read_bytes()).decode("ascii") if self.path else ""


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


class _Doc:
    """Blocks, rendered to Markdown and to HTML by the package's Jinja2 templates."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blocks: list[Block] = []

    def h(self, level: int, *text: str | Span) -> None:
        spans = _inline(*text)
        self.blocks.append(
            Block("h", level=level, spans=spans, anchor=_anchor("".join(s.text for s in spans)))
        )

    def p(self, *text: str | Span | Sequence[Span], cls: str = "") -> None:
        self.blocks.append(Block("p", spans=_inline(*text), cls=cls))

    def ul(self, items: Sequence[CellLike]) -> None:
        if items:
            self.blocks.append(Block("ul", items=[_inline(i) for i in items]))

    def table(self, header: list[str], rows: Sequence[Sequence[CellLike]], cls: str = "") -> None:
        self.blocks.append(
            Block("table", header=header, rows=[[_inline(c) for c in r] for r in rows], cls=cls)
        )

    def img(self, path: Path | None, *caption: str | Span) -> None:
        if path is not None:
            rel = path.relative_to(self.root).as_posix()
            self.blocks.append(Block("img", path=path, rel=rel, caption=_inline(*caption)))

    def render(self, fmt: Literal["md", "html"], title: str) -> str:
        return _template(f"report.{fmt}.j2").render(title=title, blocks=self.blocks)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@functools.lru_cache(maxsize=4)
def _template(name: str) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("robustbench_convex", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md_cell"] = _md_cell
    return env.get_template(name)


# ------------------------------------------------------------------------------------ report
def _provenance(res: SweepResults) -> list[CellLike]:
    prov = [p.get("provenance", {}) for p in res.payloads if p.get("status") == "ok"]
    items: list[CellLike] = []
    if prov:
        versions = prov[0].get("versions", {})
        spans: Inline = [Span("versions: ")]
        for i, (k, v) in enumerate(versions.items()):
            spans += [Span(", ")] * (i > 0) + [code(f"{k} {v}")]
        items.append(spans)
        hw = prov[0].get("hardware", {})
        items.append(
            f"hardware: {hw.get('platform')}, {hw.get('processor')}, {hw.get('cpu_count')} CPUs, "
            f"{hw.get('torch_threads')} torch thread(s) per job"
        )
        starts = sorted(p.get("started", "") for p in prov if p.get("started"))
        ends = sorted(p.get("finished", "") for p in prov if p.get("finished"))
        if starts and ends:
            items.append(f"cells computed between {starts[0]} and {ends[-1]} (UTC)")
        total = sum(float(p.get("seconds", 0.0)) for p in prov)
        cpu = sum(float(p.get("cpu_seconds", 0.0)) for p in prov)
        items.append(
            f"time summed over cells: {total:.1f} s wall, {cpu:.1f} s CPU (training and "
            "evaluation, in the worker processes)"
        )
    runs = ResultStore(res.root).read_runs()
    if runs:
        last = runs[-1]
        items.append(
            f"last run: '{last.get('command', '')}' finished {last.get('finished')} in "
            f"{float(last.get('seconds', 0.0)):.1f} s wall on {last.get('executor')} "
            f"({last.get('cpu_count')} CPUs): {last.get('run')} cells computed, "
            f"{last.get('skipped')} already done, {last.get('failed')} failed"
            + (
                f"; load average of the machine at the end: {last['loadavg'][0]:.1f}"
                + (
                    " (above the CPU count: the machine was shared, times are inflated)"
                    if last["loadavg"][0] > (last.get("cpu_count") or 1)
                    else ""
                )
                if last.get("loadavg")
                else ""
            )
        )
    solvers = sorted(set(res.cells["solver"])) if len(res.cells) else []
    if solvers:
        items.append("solvers used: " + ", ".join(solvers))
    return items


def _summary_block(doc: _Doc, s: DatasetSummary) -> None:
    """The ranked summary table of one data set and its sentences."""
    header = [
        "#",
        "method",
        "width (ReLU)",
        "train eps",
        "clean",
        f"PGD @{s.eps:g}" if s.eps is not None else "PGD",
        "robust vs all",
        "exact (MILP)",
        "LP-certified",
        "cert. train acc",
        "objective (x best SGD)",
        "opt. gap",
        "fit (s)",
        "status",
        "reliability",
    ]
    rows = []
    for i, r in enumerate(s.rows, 1):
        exact: CellLike = r.exact.text() if r.exact else "n/a"
        if r.exact and r.exact_upper and r.exact_upper.k > r.exact.k:
            exact = f"{exact}, <= {r.exact_upper.value:.3f} (MILP time limit)"
        obj = "n/a" if r.objective is None else _fmt(r.objective, 4)
        if r.objective_ratio is not None:
            obj += f" ({r.objective_ratio:.2f}x)"
        elif r.objective is not None and s.best_sgd_objective is not None:
            obj += f" ({r.loss} loss)"  # another objective than SGD's: no ratio
        status = r.status + (f" ({r.solver})" if r.solver else "")
        if r.is_certificate:
            status += ", certificate"
        rows.append(
            [
                str(i),
                r.method + (f" ({r.seeds} seeds, pooled)" if r.seeds > 1 else ""),
                f"{r.width} ({r.n_active})",
                "-" if r.train_eps is None else f"{r.train_eps:g}",
                r.clean.text() if r.clean else "n/a",
                r.pgd.text() if r.pgd else "n/a",
                r.all_attacks.text() if r.all_attacks else "n/a",
                exact,
                r.lp.text() if r.lp else "n/a",
                "n/a" if r.certified_train_acc is None else f"{r.certified_train_acc:.3f}",
                obj,
                "n/a" if r.certified_gap is None else f"{r.certified_gap:.2e}",
                f"{r.fit_time:.2f}",
                status,
                [warn("UNRELIABLE: " + "; ".join(r.unreliable))] if r.unreliable else "ok",
            ]
        )
    doc.h(3, f"{s.dataset} at eps = {s.eps:g}" if s.eps is not None else s.dataset)
    for sentence in s.sentences:
        doc.p(sentence, cls="takeaway")
    doc.table(header, rows, cls="summary")


def _summary_legend(doc: _Doc, summaries: list[DatasetSummary], math_href: str | None) -> None:
    attacks = sorted({a for s in summaries for r in s.rows for a in r.attacks_run})
    doc.p(
        b("How to read the summary."),
        " One row per method, ranked by 'robust vs all' (then exact, then clean accuracy), read at "
        "each data set's headline eps: the radius the adversarially trained methods were trained "
        "at. Accuracies are fractions of test points with ",
        b("95% Clopper-Pearson (exact binomial) intervals"),
        " in brackets; methods with several seeds pool their test points over seeds. ",
        b("robust vs all"),
        ": a point counts iff it is classified correctly and no attack run on it found an "
        f"adversarial example ({', '.join(attacks) or 'none'}; the MILP only where it proved a "
        "counterexample): an upper bound on the true robust accuracy. ",
        b("exact"),
        " (MILP) and ",
        b("LP-certified"),
        " are computed on the first test points only (their n is in the interval's width); LP <= "
        "exact <= PGD point by point. ",
        b("cert. train acc"),
        ": fraction of training points whose margin the robust program certifies at its training "
        "eps (n/a: the method certifies nothing). ",
        b("objective"),
        ": the nominal training objective sum of losses + beta/2 ||weights||^2 of the returned "
        "network (best seed), and its ratio to the best SGD run where the loss and beta are "
        "the same (models trained with another loss show it instead; adversarially trained "
        "models optimize another objective, so a ratio above 1 is expected there). ",
        b("opt. gap"),
        ": certified relative optimality gap (objective - global lower bound) / objective, "
        "where the method computed a lower bound (n/a otherwise). ",
        b("width (ReLU)"),
        ": hidden neurons of the returned network (effective ReLU neurons). ",
        b("reliability"),
        ": UNRELIABLE where a sanity check of the attack module, the sandwich check or the "
        "training status failed for that model.",
        *(
            [" Formulations and algorithms: ", link("MATH.md", math_href), "."]
            if math_href
            else [" Formulations and algorithms: ", code("MATH.md"), " in the repository."]
        ),
    )


def _math_href(root: Path) -> str | None:
    """A relative link from the report folder to the repository's MATH.md, when there is one."""
    import os

    repo = Path(__file__).resolve().parent.parent / "MATH.md"
    if not repo.is_file():
        return None
    return Path(os.path.relpath(repo, root.resolve())).as_posix()


def _grids(res: SweepResults) -> dict[str, tuple[list[float], list[float] | None]]:
    out: dict[str, tuple[list[float], list[float] | None]] = {}
    ev = res.config.get("evaluation", {})
    for d in res.config.get("datasets", []):
        grid = d.get("eps") or ev.get("eps") or []
        exact = d.get("exact_eps") or ev.get("exact_eps")
        out[d["name"]] = (list(grid), None if exact is None else list(exact))
    for p in res.payloads:  # folders without config.json: the cells' own grids
        cell = cell_of(p)
        if cell.dataset.name not in out:
            e = cell.evaluation
            out[cell.dataset.name] = (
                list(e.eps),
                None if e.exact_eps is None else list(e.exact_eps),
            )
    return out


def _warnings(res: SweepResults) -> list[tuple[str, str]]:
    """``(kind, line)`` of every cell's typed warnings, the line prefixed with the cell."""
    out = []
    for p in res.payloads:
        where = cell_of(p).label
        out += [(w.kind, f"{where}: {w.message}") for w in warnings_of(p)]
    return out


def write_report(root: str | Path) -> dict[str, Any]:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into the sweep folder ``root``.

    Both files are rendered from the same blocks by the package's Jinja2 templates; the HTML
    embeds its figures (one self-contained file). The summary comes first.

    Returns ``{"md": Path, "html": Path, "figures": [Path, ...], "summary": [DatasetSummary]}``."""
    root = Path(root)
    res = load_results(root)
    figdir = root / "figures"
    figures: list[Path] = []
    name = res.config.get("name", root.name)
    doc = _Doc(root)
    _header(doc, res, name)
    warnings_list = _warnings(res)
    _soundness_and_failures(doc, res, [t for kind, t in warnings_list if kind == "soundness"])
    summaries: list[DatasetSummary] = []
    if res.records.empty:
        doc.p("No finished cells yet.")
    else:
        summaries = summarize(res.payloads, res.dataset_order(), res.method_order(), _grids(res))
        _summary_section(doc, res, summaries, root, figdir, figures)
        for d in res.dataset_order():
            _dataset_section(doc, res, d, summaries, figdir, figures)
        _across_section(doc, res, figdir, figures)
    other = [text for kind, text in warnings_list if kind != "soundness"]
    if other:
        doc.h(2, "Warnings")
        doc.ul(other)
    doc.h(2, "Provenance")
    doc.ul(_provenance(res))
    md = root / "report.md"
    htm = root / "report.html"
    title = f"robustbench-convex report: {name}"
    atomic_write_text(md, doc.render("md", title))
    atomic_write_text(htm, doc.render("html", title))
    return {"md": md, "html": htm, "figures": figures, "summary": summaries}


def _header(doc: _Doc, res: SweepResults, name: str) -> None:
    cfg = res.config
    doc.h(1, f"robustbench-convex report: {name}")
    if cfg.get("description"):
        doc.p(cfg["description"])
    n_ok = sum(p.get("status") == "ok" for p in res.payloads)
    doc.p(
        "Config hash ",
        code(str(cfg.get("config_hash", "?"))),
        f"; {n_ok} cells finished, {len(res.failed)} failed. Every record is in ",
        code("results.csv"),
        " (one row per data set, method, seed, attack and eps); per-cell details (training info, "
        "histories, sanity checks, per-point outcomes, provenance) are in ",
        code("cells/*.json"),
        " and each trained network in ",
        code("cells/*.npz"),
        " (",
        code("robustbench_convex.load_network(path)"),
        "; re-attack them with ",
        code("rbconvex evaluate DIR"),
        "). Accuracies are fractions of test points; eps is the l_inf radius in the units of the "
        "attacked (preprocessed) input. An example counts as robust iff it is classified "
        "correctly at x and at the attack's output.",
    )


def _soundness_and_failures(doc: _Doc, res: SweepResults, sound: list[str]) -> None:
    """The loud sections at the top: soundness violations, then failed cells."""
    if sound:
        doc.h(2, "SOUNDNESS VIOLATIONS")
        doc.p(
            warn(
                "The sandwich certified <= exact <= PGD failed: an attack or the verifier is wrong."
            )
        )
        doc.ul(sound)
    if res.failed:
        doc.h(2, "Failed cells")
        items: list[CellLike] = []
        for p in res.failed:
            err = (p.get("error") or "").strip().splitlines()
            items.append(
                _inline(f"{cell_of(p).label}: ", code(err[-1] if err else "unknown error"))
            )
        doc.ul(items)


def _summary_section(
    doc: _Doc,
    res: SweepResults,
    summaries: list[DatasetSummary],
    root: Path,
    figdir: Path,
    figures: list[Path],
) -> None:
    doc.h(2, "Summary")
    _summary_legend(doc, summaries, _math_href(root))
    for s in summaries:
        _summary_block(doc, s)
    cvc = plot_clean_vs_certified(res, summaries, figdir / "clean_vs_certified.png")
    if cvc is not None:
        figures.append(cvc)
        doc.img(
            cvc,
            "clean, PGD, robust-vs-all, exact and LP-certified accuracy of every method at the "
            "headline eps, side by side (bars: value; whiskers: 95% Clopper-Pearson interval; "
            "exact and LP on the verified subset only)",
        )
    reev = [r for p in res.payloads for r in (p.get("reevaluations") or [])]
    if reev:
        doc.p(
            b("Re-evaluated records."),
            f" {len(reev)} cell(s) were re-attacked from their stored networks by ",
            code("rbconvex evaluate"),
            "; their records' notes say with which settings (e.g. ",
            code(", ".join(sorted({f"pgd {r['pgd_steps']}x{r['pgd_restarts']}" for r in reev}))),
            ").",
        )


def _dataset_section(
    doc: _Doc,
    res: SweepResults,
    d: str,
    summaries: list[DatasetSummary],
    figdir: Path,
    figures: list[Path],
) -> None:
    """One data set: accuracy tables, verified accuracy, training, the robust-accuracy figure
    and the sanity checks."""
    summary = next((s for s in summaries if s.dataset == d), None)
    train_eps = (
        sorted({r.train_eps for r in summary.rows if r.train_eps is not None}) if summary else []
    )
    headline = summary.eps if summary is not None else None
    doc.h(2, f"Data set: {d}")
    h, rows = _accuracy_table(res, d, "pgd")
    ev = res.config.get("evaluation", {})
    doc.p(
        b("Robust accuracy under PGD"),
        f" ({ev.get('pgd_steps')} steps, {ev.get('pgd_restarts')} restarts, random start; "
        "methods with several seeds: mean ± std over seeds):",
    )
    doc.table(h, rows)
    if (res.records["attack"] == "fgsm").any():
        h, rows = _accuracy_table(res, d, "fgsm")
        doc.p(b("Robust accuracy under FGSM:"))
        doc.table(h, rows)
    ex = _exact_table(res, d)
    if ex is not None:
        doc.p(
            b("Verified accuracy"),
            " on the first test points (LP-certified lower bound / exact MILP); "
            "'sandwich' checks certified => exact-robust => PGD-robust point by point:",
        )
        doc.table(*ex)
    h, rows = _training_table(res, d)
    doc.p(
        b("Training."),
        " 'objective' is what the method optimized (the convex program's objective, or "
        "the baseline's nominal objective); 'nominal objective' is the same quantity for "
        "every model: sum of training losses + beta/2 * (||U||^2 + ||b||^2 + "
        "||alpha||^2). 'certificate': the robust program's loss certifies the robust "
        "training loss (a margin loss such as the hinge makes that a certificate of "
        "robust accuracy on the training points).",
    )
    doc.table(h, rows)
    figures.append(plot_robust_accuracy(res, d, figdir / f"robust_accuracy_{d}.png", train_eps))
    te = ", ".join(f"{e:g}" for e in train_eps) or "none"
    hl = float("nan") if headline is None else headline
    doc.img(
        figures[-1],
        f"{d}: robust accuracy vs eps (dashed vertical line: training eps {te}; "
        f"headline eps {hl:g})",
    )
    san = _sanity_table(res, d)
    if san is not None:
        doc.p(
            b("Sanity checks of the attack module"),
            " (",
            code("attacks.sanity_checks"),
            ", each method's first seed; a FAIL marks that model UNRELIABLE in the summary):",
        )
        doc.table(san[0], san[1])
        doc.ul(san[2])


_OBJECTIVE_CAPTION = (
    "nominal training objective: convex methods vs SGD seeds (same loss and beta; adversarially "
    "trained models left out). A sampled convex program is solved to global optimality over the "
    "networks its sampled patterns allow: its optimum upper-bounds the non-convex global "
    "optimum, so SGD can reach a lower objective when the number of sampled patterns is small"
)
_ADMM_CAPTION = (
    "ADMM convergence: relative objective gap |objective - p*| / |p*| and test accuracy of the "
    "recovered network (ADMM's iterates satisfy the constraints only in the limit, so the "
    "objective may approach p* from below)"
)


def _across_section(doc: _Doc, res: SweepResults, figdir: Path, figures: list[Path]) -> None:
    """Figures across data sets: training time, objective, ADMM convergence (each when it has
    something to show)."""
    doc.h(2, "Across data sets")
    for figure, caption in (
        (plot_training_time(res, figdir / "training_time.png"), "training time per method"),
        (plot_objective(res, figdir / "objective.png"), _OBJECTIVE_CAPTION),
        (plot_admm_convergence(res, figdir / "admm_convergence.png"), _ADMM_CAPTION),
    ):
        if figure is not None:
            figures.append(figure)
            doc.img(figure, caption)
