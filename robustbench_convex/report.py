"""Reports of a sweep folder: tables, plots, ``report.md`` and a self-contained ``report.html``.

:func:`write_report` reads the cell files of the folder's configuration (``config.json``: only
cells with its config hash are used) and writes

* ``figures/robust_accuracy_<data set>.png``: PGD robust accuracy vs eps, every method on one plot
  (mean over seeds, min-max band), next to the exact (MILP) and LP-certified accuracy on the
  verified subset;
* ``figures/training_time.png``: training time per method and data set (log scale);
* ``figures/objective.png``: the nominal training objective reached by the convex methods vs the
  distribution over SGD seeds (same objective, same loss and beta);
* ``figures/admm_convergence.png``: ADMM's relative objective gap and test accuracy vs iterations
  and vs time;
* ``report.md`` (tables + figure links) and ``report.html`` (the same, figures embedded as base64
  PNG, no external file needed).

The content is built once as a list of blocks and rendered to both formats.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustbench_convex.store import ResultStore, atomic_write_text

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
        payloads = [p for p in payloads if p.get("cell", {}).get("config_hash") == h]
    records = pd.DataFrame([r.to_dict() for r in store.records_of(payloads)])
    rows = []
    for p in payloads:
        if p.get("status") != "ok":
            continue
        info = p.get("training") or {}
        cell = p["cell"]
        rows.append(
            {
                **{k: v for k, v in info.items() if not isinstance(v, (list, dict))},
                "dataset": cell["dataset"]["name"],
                "method": cell["method"]["name"],  # the label (info["method"] is the key)
                "method_key": cell["method"]["method"],
                "kind": cell["method"]["kind"],
                "seed": cell["seed"],
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


def plot_robust_accuracy(res: SweepResults, dataset: str, path: Path) -> Path:
    plt = _plt()
    recs = res.records[res.records["dataset"] == dataset]
    methods = res.method_order()
    styles = _styles(methods)
    has_exact = bool((recs["attack"] == "exact").any())
    ncols = 2 if has_exact else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols + 2.2, 4.4), squeeze=False)
    ax = axes[0, 0]
    for m in methods:
        r = recs[recs["method"] == m]
        if r.empty:
            continue
        clean = r[r["attack"] == "clean"].assign(eps=0.0)
        pgd = pd.concat([clean, r[r["attack"] == "pgd"]])
        c = _curve(pgd, "robust_acc")
        st = styles[m]
        ax.plot(c.index, c["mean"], label=m, lw=1.8, ms=6, **st)
        if (c["n"] > 1).any():
            ax.fill_between(c.index, c["min"], c["max"], color=st["color"], alpha=0.15, lw=0)
    n_eval = int(recs[recs["attack"] == "pgd"]["n_eval"].max()) if len(recs) else 0
    ev = res.config.get("evaluation", {})
    ax.set_title(
        f"{dataset}: PGD ({ev.get('pgd_steps', '?')} steps x {ev.get('pgd_restarts', '?')} "
        f"restarts), {n_eval} test points"
    )
    ax.set_xlabel("eps (l_inf radius, input units; 0 = clean)")
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if has_exact:
        ax2 = axes[0, 1]
        for m in methods:
            r = recs[(recs["method"] == m) & (recs["attack"] == "exact")]
            if r.empty:
                continue
            st = styles[m]
            clean = recs[(recs["method"] == m) & (recs["attack"] == "exact")]
            c = _curve(r, "exact_acc")
            cc = _curve(r, "certified_acc")
            x0 = [0.0, *c.index]
            y0 = [float(clean.groupby("seed")["clean_acc"].first().mean()), *c["mean"]]
            ax2.plot(x0, y0, lw=1.8, ms=6, **st)
            ax2.plot(
                cc.index,
                cc["mean"],
                ls=":",
                lw=1.4,
                color=st["color"],
                marker=st["marker"],
                mfc="none",
                ms=6,
            )
        k = int(recs[recs["attack"] == "exact"]["n_eval"].max())
        ax2.set_title(f"{dataset}: exact (MILP, solid) and LP-certified (dotted), {k} points")
        ax2.set_xlabel("eps (l_inf radius, input units; 0 = clean)")
        ax2.set_ylabel("verified accuracy")
        ax2.set_ylim(-0.02, 1.02)
        ax2.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="method"
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_training_time(res: SweepResults, path: Path) -> Path:
    plt = _plt()
    cells = res.cells
    datasets = res.dataset_order()
    methods = res.method_order()
    styles = _styles(methods)
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(5.2 * len(datasets), 0.45 * len(methods) + 1.6), squeeze=False
    )
    for ax, d in zip(axes[0], datasets):
        sub = cells[cells["dataset"] == d]
        for i, m in enumerate(methods):
            t = sub[sub["method"] == m]["time"].astype(float)
            if t.empty:
                continue
            ax.barh(i, t.mean(), color=styles[m]["color"], alpha=0.8)
            if len(t) > 1:
                ax.plot(t, np.full(len(t), i), "k|", ms=10)
            m = t.mean()
            ax.text(
                t.max() * 1.15,
                i,
                f"{m:.0f} s" if m >= 10 else f"{m:.2g} s",
                va="center",
                fontsize=8,
            )
        ax.set_yticks(range(len(methods)), methods)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("seconds (log scale)")
        ax.set_title(f"{d}: training time (bar: mean over seeds; |: each seed)", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        lo, hi = ax.get_xlim()
        ax.set_xlim(lo, hi * 3)
    fig.tight_layout()
    return _save(fig, path)


def plot_objective(res: SweepResults, path: Path) -> Path | None:
    """Nominal objective of convex methods (nominal program) vs SGD's distribution over seeds."""
    plt = _plt()
    cells = res.cells
    if cells.empty or "nominal_objective" not in cells:
        return None
    sub = cells[cells["program"].isin(NONADVERSARIAL)]
    if sub.empty:
        return None
    datasets = [d for d in res.dataset_order() if d in set(sub["dataset"])]
    methods = [m for m in res.method_order() if m in set(sub["method"])]
    styles = _styles(res.method_order())
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(5.4 * len(datasets), 0.5 * len(methods) + 1.8), squeeze=False
    )
    for ax, d in zip(axes[0], datasets):
        s = sub[sub["dataset"] == d]
        for i, m in enumerate(methods):
            v = s[s["method"] == m]["nominal_objective"].astype(float)
            if v.empty:
                continue
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
        ax.set_yticks(range(len(methods)), methods)
        ax.set_ylim(len(methods) - 0.5, -0.5)
        ax.set_xlabel("training objective: sum of losses + beta/2 * ||weights||^2")
        ax.set_title(f"{d}: objective reached (dashed: best convex)")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _admm_runs(res: SweepResults) -> list[dict[str, Any]]:
    """ADMM histories with the reference optimum p* of their problem."""
    ref: dict[str, float] = {}
    for p in res.payloads:
        info = p.get("training") or {}
        if p.get("status") == "ok" and str(info.get("solver", "")).upper() not in ("ADMM", ""):
            key = info.get("problem_key")
            if key and info.get("objective") is not None and info.get("status") == "converged":
                ref[key] = min(ref.get(key, math.inf), float(info["objective"]))
    runs = []
    for p in res.payloads:
        info = p.get("training") or {}
        hist = p.get("history") or []
        if p.get("status") != "ok" or str(info.get("solver", "")).upper() != "ADMM" or not hist:
            continue
        h = pd.DataFrame(hist)
        if "objective" not in h:
            continue
        key = info.get("problem_key")
        # without a converged CVXPY solve of the same program there is no trustworthy p*: such
        # runs are shown in the accuracy panels only
        pstar, label = (ref[key], "CVXPY optimum") if key in ref else (None, "none")
        runs.append({"cell": p["cell"], "history": h, "pstar": pstar, "ref": label})
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
        name = f"{cell['dataset']['name']} / {cell['method']['name']}"
        label = name + (
            " (gap to CVXPY's optimum)"
            if run["pstar"] is not None
            else " (no CVXPY solve of this program: accuracy only)"
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
        "ADMM convergence (p* = CVXPY's optimum of the same sampled program)",
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


def _exact_table(res: SweepResults, dataset: str) -> tuple[list[str], list[list[str]]] | None:
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
        row.append("ok" if len(ok) and ok.astype(bool).all() else ("VIOLATED" if len(ok) else "-"))
        rows.append(row)
    return header, rows


def _training_table(res: SweepResults, dataset: str) -> tuple[list[str], list[list[str]]]:
    cells = res.cells[res.cells["dataset"] == dataset]
    header = [
        "method",
        "program",
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
        if c.get("collapsed", pd.Series(dtype=bool)).fillna(False).astype(bool).any():
            status += " (COLLAPSED: no effective ReLU neuron)"
        rows.append(
            [
                m,
                str(c["program"].iloc[0]),
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
) -> tuple[list[str], list[list[str]], list[str]] | None:
    entries = []
    for p in res.payloads:
        cell = p.get("cell", {})
        if p.get("status") == "ok" and p.get("sanity") and cell["dataset"]["name"] == dataset:
            entries.append((cell["method"]["name"], cell["seed"], p["sanity"]))
    if not entries:
        return None
    order = {m: i for i, m in enumerate(res.method_order())}
    entries.sort(key=lambda e: (order.get(e[0], 1e9), e[1]))
    checks = list(dict.fromkeys(r["check"] for _, _, rows in entries for r in rows))
    header = ["check", *[f"{m} (s{s})" for m, s, _ in entries]]
    rows = []
    failures = []
    for chk in checks:
        row = [chk]
        for m, s, rs in entries:
            hit = [r for r in rs if r["check"] == chk]
            if not hit:
                row.append("-")
                continue
            row.append("pass" if hit[0]["passed"] else "**FAIL**")
            if not hit[0]["passed"]:
                failures.append(f"{m} (seed {s}), {chk}: {hit[0]['detail']}")
        rows.append(row)
    eps = entries[0][2][0].get("eps")
    n = entries[0][2][0].get("n")
    return (
        header,
        rows,
        failures + ([f"(checked at eps={eps:g} on {n} test points)"] if eps else []),
    )


# ------------------------------------------------------------------------------------ blocks
def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in [header, *rows]]
    out = ["| " + " | ".join(esc[0]) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(out)


def _html_inline(text: str) -> str:
    t = html.escape(text)
    parts = t.split("**")
    t = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = t.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{_html_inline(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.6em 0 1.2em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
thead{background:#f0f0f0}
img{max-width:100%;border:1px solid #eee;margin:0.4em 0}
code{background:#f5f5f5;padding:0 3px}
.warn{color:#a00;font-weight:bold}
"""


class _Doc:
    """Blocks rendered to Markdown and HTML."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blocks: list[tuple[str, Any]] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", (level, text)))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def ul(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", items))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", (header, rows)))

    def img(self, path: Path | None, caption: str) -> None:
        if path is not None:
            self.blocks.append(("img", (path, caption)))

    def markdown(self) -> str:
        out = []
        for kind, v in self.blocks:
            if kind == "h":
                out.append("#" * v[0] + " " + v[1])
            elif kind == "p":
                out.append(v)
            elif kind == "ul":
                out.append("\n".join(f"- {i}" for i in v))
            elif kind == "table":
                out.append(_md_table(*v))
            elif kind == "img":
                rel = v[0].relative_to(self.root).as_posix()
                out.append(f"![{v[1]}]({rel})\n\n*{v[1]}*")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        out = []
        for kind, v in self.blocks:
            if kind == "h":
                out.append(f"<h{v[0]}>{_html_inline(v[1])}</h{v[0]}>")
            elif kind == "p":
                out.append(f"<p>{_html_inline(v)}</p>")
            elif kind == "ul":
                out.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in v) + "</ul>")
            elif kind == "table":
                out.append(_html_table(*v))
            elif kind == "img":
                data = base64.b64encode(v[0].read_bytes()).decode("ascii")
                out.append(
                    f'<figure><img alt="{html.escape(v[1])}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{_html_inline(v[1])}</figcaption></figure>"
                )
        body = "\n".join(out)
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
            "</body></html>\n"
        )


# ------------------------------------------------------------------------------------ report
def _provenance(res: SweepResults) -> list[str]:
    prov = [p.get("provenance", {}) for p in res.payloads if p.get("status") == "ok"]
    items = []
    if prov:
        versions = prov[0].get("versions", {})
        items.append("versions: " + ", ".join(f"`{k} {v}`" for k, v in versions.items()))
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
            f"last run: `{last.get('command', '')}` finished {last.get('finished')} in "
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
        items.append("solvers used: " + ", ".join(f"`{s}`" for s in solvers))
    return items


def write_report(root: str | Path) -> dict[str, Any]:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into the sweep folder ``root``.

    Returns ``{"md": Path, "html": Path, "figures": [Path, ...]}``."""
    root = Path(root)
    res = load_results(root)
    figdir = root / "figures"
    figures: list[Path] = []
    cfg = res.config
    name = cfg.get("name", root.name)
    doc = _Doc(root)
    doc.h(1, f"robustbench-convex report: {name}")
    if cfg.get("description"):
        doc.p(cfg["description"])
    n_ok = sum(p.get("status") == "ok" for p in res.payloads)
    doc.p(
        f"Config hash `{cfg.get('config_hash', '?')}`; {n_ok} cells finished, "
        f"{len(res.failed)} failed. Every record is in `results.csv` (one row per data set, "
        "method, seed, attack and eps); per-cell details (training info, histories, sanity "
        "checks, provenance) are in `cells/*.json`. Accuracies are fractions of test points; "
        "eps is the l_inf radius in the units of the attacked (preprocessed) input. An example "
        "counts as robust iff it is classified correctly at x and at the attack's output."
    )
    warnings_list = []
    for p in res.payloads:
        for w in p.get("warnings") or []:
            cell = p["cell"]
            warnings_list.append(
                f"{cell['dataset']['name']} / {cell['method']['name']} / seed {cell['seed']}: {w}"
            )
    sound = [w for w in warnings_list if "SOUNDNESS" in w]
    if sound:
        doc.h(2, "SOUNDNESS VIOLATIONS")
        doc.p(
            "**The sandwich certified <= exact <= PGD failed: an attack or the verifier is wrong.**"
        )
        doc.ul(sound)
    if res.failed:
        doc.h(2, "Failed cells")
        items = []
        for p in res.failed:
            cell = p["cell"]
            err = (p.get("error") or "").strip().splitlines()
            items.append(
                f"{cell['dataset']['name']} / {cell['method']['name']} / seed {cell['seed']}: "
                f"`{err[-1] if err else 'unknown error'}`"
            )
        doc.ul(items)
    if res.records.empty:
        doc.p("No finished cells yet.")
    else:
        for d in res.dataset_order():
            doc.h(2, f"Data set: {d}")
            h, rows = _accuracy_table(res, d, "pgd")
            ev = cfg.get("evaluation", {})
            doc.p(
                f"**Robust accuracy under PGD** ({ev.get('pgd_steps')} steps, "
                f"{ev.get('pgd_restarts')} restarts, random start; mean ± std over seeds):"
            )
            doc.table(h, rows)
            if (res.records["attack"] == "fgsm").any():
                h, rows = _accuracy_table(res, d, "fgsm")
                doc.p("**Robust accuracy under FGSM:**")
                doc.table(h, rows)
            ex = _exact_table(res, d)
            if ex is not None:
                doc.p(
                    "**Verified accuracy** on the first test points (LP-certified lower bound / "
                    "exact MILP); 'sandwich' checks certified => exact-robust => PGD-robust "
                    "point by point:"
                )
                doc.table(*ex)
            h, rows = _training_table(res, d)
            doc.p(
                "**Training.** 'objective' is what the method optimized (the convex program's "
                "objective, or the baseline's nominal objective); 'nominal objective' is the same "
                "quantity for every model: sum of training losses + beta/2 * (||U||^2 + ||b||^2 + "
                "||alpha||^2). 'certificate': the robust program's loss certifies the robust "
                "training loss."
            )
            doc.table(h, rows)
            figures.append(plot_robust_accuracy(res, d, figdir / f"robust_accuracy_{d}.png"))
            doc.img(figures[-1], f"{d}: robust accuracy vs eps")
            san = _sanity_table(res, d)
            if san is not None:
                doc.p(
                    "**Sanity checks of the attack module** (`attacks.sanity_checks`, each "
                    "method's first seed):"
                )
                doc.table(san[0], san[1])
                doc.ul(san[2])
        doc.h(2, "Across data sets")
        figures.append(plot_training_time(res, figdir / "training_time.png"))
        doc.img(figures[-1], "training time per method")
        obj = plot_objective(res, figdir / "objective.png")
        if obj is not None:
            figures.append(obj)
            doc.img(
                obj,
                "nominal training objective: convex methods vs SGD seeds (same loss and beta; "
                "adversarially trained models left out). A sampled convex program is solved to "
                "global optimality over the networks its sampled patterns allow: its optimum "
                "upper-bounds the non-convex global optimum, so SGD can reach a lower objective "
                "when the number of sampled patterns is small",
            )
        conv = plot_admm_convergence(res, figdir / "admm_convergence.png")
        if conv is not None:
            figures.append(conv)
            doc.img(
                conv,
                "ADMM convergence: relative objective gap |objective - p*| / |p*| and test "
                "accuracy of the recovered network (ADMM's iterates satisfy the constraints only "
                "in the limit, so the objective may approach p* from below)",
            )
    other = [w for w in warnings_list if "SOUNDNESS" not in w]
    if other:
        doc.h(2, "Warnings")
        doc.ul(other)
    doc.h(2, "Provenance")
    doc.ul(_provenance(res))
    md = root / "report.md"
    htm = root / "report.html"
    atomic_write_text(md, doc.markdown())
    atomic_write_text(htm, doc.html(f"robustbench-convex report: {name}"))
    return {"md": md, "html": htm, "figures": figures}
