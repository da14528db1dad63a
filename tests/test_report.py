"""Reports: files, self-contained HTML, tables that agree with the CSV, ADMM gap reference,
loud soundness violations, and the `rbconvex report` command."""

from __future__ import annotations

import base64
import copy
import json
import re

import numpy as np
import pytest
from sweep_fixtures import tiny

from robustbench_convex.cli import main
from robustbench_convex.execution import run_sweep
from robustbench_convex.report import _admm_runs, load_results, write_report
from robustbench_convex.store import ResultStore
from robustbench_convex.sweep import parse_config

PNG = b"\x89PNG\r\n\x1a\n"


def _fake_convex(payload, solver, objective, history, key, status="converged"):
    p = copy.deepcopy(payload)
    p["cell"]["cell_id"] = f"{solver}-{key}"
    p["cell"]["method"]["name"] = f"convex-{solver.lower()}"
    p["training"].update(
        solver=solver,
        # the typed field the report reads (never the solver's name)
        solver_kind="admm" if solver == "ADMM" else "cvxpy",
        objective=objective,
        problem_key=key,
        status=status,
        program="nominal",
    )
    p["history"] = history
    for r in p["records"]:
        r.update(method=p["cell"]["method"]["name"], cell_id=p["cell"]["cell_id"], solver=solver)
    return p


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A tiny real sweep, plus one hand-made ADMM cell (history, and a soundness warning) so
    that every part of the report is exercised; the report is written once."""
    raw = tiny()
    raw["methods"].append({"name": "scp", "method": "convex-scp", "n_neurons": 6, "max_iter": 300})
    raw["evaluation"]["exact_max_points"] = 4
    raw["evaluation"]["sanity"] = "first-seed"
    raw["evaluation"]["sanity_max_points"] = 8
    raw["methods"].pop(1)  # sgd (2 seeds) and scp are enough
    out = tmp_path_factory.mktemp("sweep")
    summary = run_sweep(parse_config(raw), out)
    assert not summary.failed
    payload = json.loads(sorted((out / "cells").glob("*.json"))[0].read_text())
    hist = [
        {"iteration": i, "time": 0.01 * i, "objective": 5 + 1 / i, "test_acc": 0.6 + 0.01 * i}
        for i in range(1, 30)
    ]
    admm = _fake_convex(payload, "ADMM", 5.05, hist, "kk")
    admm["warnings"] = [
        {
            "kind": "soundness",
            "message": "eps=0.05: SOUNDNESS: 1 point(s) proven robust by the MILP but broken by PGD",
        }
    ]
    (out / "cells" / "fake-admm.json").write_text(json.dumps(admm))
    paths = write_report(out)
    return out, paths


def test_report_files_and_self_contained_html(sweep_dir):
    _, paths = sweep_dir
    names = sorted(p.name for p in paths["figures"])
    assert names == sorted(
        [
            "robust_accuracy_synthetic-xor.png",
            "clean_vs_certified.png",
            "training_time.png",
            "objective.png",
            "admm_convergence.png",
        ]
    )
    for p in paths["figures"]:
        assert p.read_bytes().startswith(PNG) and p.stat().st_size > 5000
    page = paths["html"].read_text()
    assert "figures/" not in page  # nothing external
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(paths["figures"])
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    md = paths["md"].read_text()
    for p in paths["figures"]:
        assert f"(figures/{p.name})" in md
    assert "Sanity checks of the attack module" in md
    assert "Provenance" in md and "torch" in md
    # a soundness violation is reported at the top
    assert "## SOUNDNESS VIOLATIONS" in md
    assert md.index("SOUNDNESS VIOLATIONS") < md.index("## Data set")


def _md_row(md: str, heading: str, method: str) -> list[str]:
    section = md.split(heading, 1)[1]
    for line in section.splitlines():
        if line.startswith(f"| {method} |"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row {method!r} after {heading!r}")


def test_tables_agree_with_the_csv(sweep_dir):
    out, paths = sweep_dir
    md = paths["md"].read_text()
    frame = ResultStore(out).read_csv()
    pgd = frame[(frame["method"] == "sgd") & (frame["attack"] == "pgd")]
    row = _md_row(md, "Robust accuracy under PGD", "sgd")
    assert row[1] == "2"  # seeds
    for k, eps in enumerate(sorted(set(pgd["eps"]))):
        v = pgd[pgd["eps"] == eps]["robust_acc"].to_numpy()
        assert row[3 + k] == f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"
    clean = frame[(frame["method"] == "scp") & (frame["attack"] == "clean")]["clean_acc"]
    assert _md_row(md, "Robust accuracy under PGD", "scp")[2] == f"{clean.iloc[0]:.3f}"
    ex = frame[(frame["method"] == "scp") & (frame["attack"] == "exact")].sort_values("eps")
    cells = _md_row(md, "Verified accuracy", "scp")
    for k, (_, r) in enumerate(ex.iterrows()):
        assert cells[3 + k].startswith(f"{r['certified_acc']:.3f} / {r['exact_acc']:.3f}")
    assert cells[-1] == "ok"


def test_admm_gap_is_measured_against_cvxpy_on_the_same_problem(sweep_dir):
    res = load_results(sweep_dir[0])
    base = next(p for p in res.payloads if p["status"] == "ok")
    hist = [
        {"iteration": i, "time": 0.1 * i, "objective": 10.0 + 2.0**-i, "test_acc": 0.5}
        for i in range(1, 8)
    ]
    res.payloads = [
        _fake_convex(base, "ADMM", hist[-1]["objective"], hist, "k1"),
        _fake_convex(base, "CLARABEL", 9.5, [], "k1"),
        _fake_convex(base, "CLARABEL", 1.0, [], "other-problem"),
        _fake_convex(
            base,
            "ADMM",
            7.0,
            [
                {"iteration": 1, "time": 0.1, "objective": 7.25},
                {"iteration": 2, "time": 0.2, "objective": 7.0},
            ],
            "k2",
        ),
    ]
    runs = _admm_runs(res)
    assert [r["ref"] for r in runs] == ["CVXPY optimum", "none"]
    assert runs[0]["pstar"] == 9.5  # the CVXPY optimum of the same problem, not the other one
    assert runs[1]["pstar"] is None  # no CVXPY solve of that program: no gap is claimed
    gap = (runs[0]["history"]["objective"] - runs[0]["pstar"]).abs() / 9.5
    np.testing.assert_allclose(gap, [(0.5 + 2.0**-i) / 9.5 for i in range(1, 8)])


def test_cli_report_of_an_empty_sweep_and_of_a_missing_folder(tmp_path, capsys):
    out = tmp_path / "empty"
    (out / "cells").mkdir(parents=True)
    assert main(["report", str(out)]) == 0
    assert "No finished cells yet." in (out / "report.md").read_text()
    assert (out / "report.html").is_file()
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
