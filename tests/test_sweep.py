"""Sweep configurations: parsing, validation (errors name the field), cells and their ids,
presets, the method registry's settings, and the evaluation of one model with the attacks module."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sweep_fixtures import tiny, to_toml

from robustbench_convex.methods import list_methods, validate_params
from robustbench_convex.sweep import (
    ConfigError,
    EvalSpec,
    list_presets,
    load_config,
    load_preset,
    parse_config,
)


# ----------------------------------------------------------------------------- valid configs
def test_cells_are_the_product_of_datasets_methods_and_seeds():
    raw = tiny(
        datasets=[
            {"name": "synthetic-xor", "n_train": 40, "n_test": 24},
            {"name": "synthetic-spirals", "n_train": 40, "n_test": 24},
        ]
    )
    config = parse_config(raw)
    cells = config.cells()
    # sgd has 2 seeds, sgd-wide inherits sweep.seeds = [0]: 3 cells per data set
    assert len(cells) == 2 * 3
    assert [(c.dataset.name, c.method.name, c.seed) for c in cells[:3]] == [
        ("synthetic-xor", "sgd", 0),
        ("synthetic-xor", "sgd", 1),
        ("synthetic-xor", "sgd-wide", 0),
    ]
    assert len({c.cell_id for c in cells}) == len(cells)
    assert all(c.config_hash == config.config_hash for c in cells)
    # method_defaults reach the methods, mapped onto the registry's settings
    assert cells[0].method.settings["beta"] == 1e-3
    assert cells[0].method.settings["loss"] == "logistic"
    assert cells[0].method.settings["width"] == 6


def test_editing_a_method_changes_only_its_cells():
    a = parse_config(tiny())
    raw = tiny()
    raw["methods"][1]["epochs"] = 11
    b = parse_config(raw)
    ids_a = {(c.method.name, c.seed): c.cell_id for c in a.cells()}
    ids_b = {(c.method.name, c.seed): c.cell_id for c in b.cells()}
    assert ids_a[("sgd", 0)] == ids_b[("sgd", 0)]
    assert ids_a[("sgd", 1)] == ids_b[("sgd", 1)]
    assert ids_a[("sgd-wide", 0)] != ids_b[("sgd-wide", 0)]
    assert a.config_hash != b.config_hash
    # the evaluation grid is part of every cell's identity
    raw = tiny()
    raw["evaluation"]["pgd_steps"] = 7
    c = parse_config(raw)
    assert not set(ids_a.values()) & {x.cell_id for x in c.cells()}


def test_dataset_eps_overrides_the_grid_and_sanity_first_seed():
    raw = tiny(
        datasets=[
            {
                "name": "synthetic-xor",
                "n_train": 40,
                "n_test": 24,
                "eps": [0.3, 0.1],
                "exact_eps": [0.3],
            }
        ]
    )
    raw["evaluation"]["sanity"] = "first-seed"
    cells = parse_config(raw).cells()
    assert all(c.evaluation.eps == (0.1, 0.3) for c in cells)
    assert all(c.evaluation.exact_eps == (0.3,) for c in cells)
    assert [(c.method.name, c.seed, c.sanity) for c in cells] == [
        ("sgd", 0, True),
        ("sgd", 1, False),
        ("sgd-wide", 0, True),
    ]


def test_toml_file_round_trip(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(to_toml(tiny()))
    config = load_config(path)
    assert config.config_hash == parse_config(tiny()).config_hash
    assert config.evaluation == EvalSpec(
        eps=(0.05, 0.15),
        attacks=("fgsm", "pgd"),
        pgd_steps=5,
        pgd_restarts=1,
        exact=True,
        exact_max_points=6,
        exact_time_limit=5.0,
        sanity="none",
    )


# ------------------------------------------------------------------------------- bad configs
def _bad(raw) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return str(info.value)


def test_negative_method_eps_names_the_field():
    raw = tiny()
    raw["methods"].append({"name": "at", "method": "pgd-at", "eps": -0.1})
    msg = _bad(raw)
    assert msg.startswith("methods[2].eps: must be finite and >= 0"), msg


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r["methods"][1].update(method="sgdd"),
            "methods[1].method: unknown method 'sgdd'",
        ),
        (lambda r: r["methods"][0].update(widht=3), "methods[0].widht: unknown setting"),
        (lambda r: r["methods"][0].update(width=0), "methods[0].width: must be >= 1"),
        (lambda r: r["methods"][0].update(width=2.5), "methods[0].width: must be an integer"),
        (lambda r: r["methods"][0].pop("method"), "methods[0].method: missing"),
        (lambda r: r["methods"][1].update(name="sgd"), "methods[1].name: duplicate"),
        (lambda r: r["datasets"][0].update(name="mnist-3v5"), "datasets[0].name: unknown data set"),
        (lambda r: r["datasets"][0].pop("name"), "datasets[0].name: missing"),
        (lambda r: r["datasets"][0].update(n_train=-3), "datasets[0].n_train: must be >= 1"),
        (
            lambda r: r["evaluation"].update(eps=[0.1, -0.2]),
            "evaluation.eps[1]: must be finite and >= 0",
        ),
        (lambda r: r["evaluation"].update(eps=[0.0]), "evaluation.eps[0]: must be > 0"),
        (lambda r: r["evaluation"].pop("eps"), "evaluation.eps: missing"),
        (lambda r: r["evaluation"].update(attacks=["cw"]), "evaluation.attacks[0]: unknown attack"),
        (
            lambda r: r["evaluation"].update(exact_eps=[0.05, 0.3]),
            "evaluation.exact_eps[1]: 0.3 is not in the eps grid of 'synthetic-xor'",
        ),
        (
            lambda r: r["datasets"][0].update(exact_eps=[0.1]),
            "datasets[0].exact_eps[0]: 0.1 is not in the eps grid",
        ),
        (lambda r: r["evaluation"].update(pgd_steps=0), "evaluation.pgd_steps: must be >= 1"),
        (lambda r: r["evaluation"].update(sanity="some"), "evaluation.sanity: must be one of"),
        (lambda r: r["evaluation"].update(exact="yes"), "evaluation.exact: must be true or false"),
        (
            lambda r: r["methods"].append({"method": "ibp", "kappa_end": 1.5}),
            "methods[2].kappa_end: must be in [0, 1], got 1.5",
        ),
        (lambda r: r.pop("datasets"), "datasets: missing"),
        (lambda r: r.pop("methods"), "methods: missing"),
        (lambda r: r.pop("evaluation"), "evaluation: missing"),
        (lambda r: r["sweep"].update(seeds=[0, -1]), "sweep.seeds[1]: must be >= 0"),
        (lambda r: r["method_defaults"].update(lr_decay=1), "method_defaults.lr_decay"),
        (lambda r: r.update(extra={}), "config.extra: unknown field"),
    ],
)
def test_bad_configs_name_the_field(change, expected):
    raw = tiny()
    change(raw)
    msg = _bad(raw)
    assert msg.startswith(expected), msg


def test_robust_convex_eps_is_validated_and_relaxed_has_no_stability_penalty():
    raw = tiny()
    raw["methods"].append({"method": "convex-robust-class-aware", "eps": -1})
    assert _bad(raw).startswith("methods[2].eps: must be finite and >= 0")
    raw = tiny()
    raw["methods"].append({"method": "convex-robust-relaxed", "stability_penalty": 1.0})
    assert _bad(raw).startswith("methods[2].stability_penalty: unknown setting")


def test_cli_rejects_a_bad_config_before_any_work(tmp_path):
    raw = tiny()
    raw["methods"].append({"name": "at", "method": "pgd-at", "eps": -0.1})
    cfg = tmp_path / "bad.toml"
    cfg.write_text(to_toml(raw))
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "robustbench_convex.cli",
            "run",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "methods[2].eps: must be finite and >= 0" in proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------------------------ presets
def test_presets_parse_and_quick_is_offline():
    from robustbench_convex.data import _get_spec

    assert {"quick", "paper"} <= set(list_presets())
    quick = load_preset("quick")
    assert {d.name for d in quick.datasets} == {"breast-cancer", "digits-2v8"}
    assert all(_get_spec(d.name).source != "download" for d in quick.datasets)
    keys = {m.method for m in quick.methods}
    assert {"convex-admm", "convex-ipm", "convex-scp", "sgd", "pgd-at", "fgsm-at"} <= keys
    assert "convex-robust-relaxed" in keys
    # a certified robust program with a margin loss (so the certificate bounds robust accuracy),
    # trained at a radius that is verified exactly on every data set
    [cert] = [m for m in quick.methods if m.method == "convex-robust-class-aware"]
    assert cert.settings["loss"] == "hinge"
    assert all(cert.settings["eps"] in d.exact_eps for d in quick.datasets)
    assert quick.evaluation.exact
    paper = load_preset("paper")
    assert {d.name for d in paper.datasets} == {"mnist-2v8", "fashion-mnist-2v8", "cifar10-2v8"}
    assert set(list_methods()) >= {m.method for m in paper.methods}


# ----------------------------------------------------------------------------------- registry
def test_registry_settings_defaults_and_checks():
    s = validate_params("pgd-at", {"eps": 0.2, "beta": 0.5})
    assert s["eps"] == 0.2 and s["beta"] == 0.5 and s["steps"] == 10
    with pytest.raises(ValueError, match=r"pgd-at\.weight_decay: unknown setting"):
        validate_params("pgd-at", {"weight_decay": 0.5}, where="pgd-at")
    with pytest.raises(ValueError, match="must be one of"):
        validate_params("convex-cvxpy", {"loss": "l1"})


def test_convex_ipm_method_matches_convex_cvxpy_and_refuses_other_losses():
    from robustbench_convex.data import load_dataset
    from robustbench_convex.methods import train_method

    d = load_dataset("synthetic-xor", n_train=40, n_test=20)
    settings = {"beta": 0.3, "n_patterns": 8}
    ipm = train_method("convex-ipm", d, settings, 1)
    ref = train_method("convex-cvxpy", d, {**settings, "loss": "squared"}, 1)
    assert ipm.info["objective"] == pytest.approx(ref.info["objective"], rel=1e-5)
    assert ipm.info["status"] == "converged" and ipm.info["solver"] == "IPM"
    assert ipm.history and "test_acc" in ipm.history[-1]
    with pytest.raises(ValueError, match="must be one of"):
        validate_params("convex-ipm", {"loss": "hinge"})


def test_baseline_method_objective_matches_its_definition():
    """The registry's nominal objective is sum loss + beta/2 * ||weights||^2 of the returned
    network, recomputed here from its weights."""
    from robustbench_convex.data import load_dataset
    from robustbench_convex.methods import train_method

    d = load_dataset("synthetic-xor", n_train=40, n_test=20)
    out = train_method("sgd", d, {"width": 5, "epochs": 5, "beta": 0.3, "loss": "hinge"}, 1)
    w = out.model.to_numpy()
    f = np.maximum(d.X_train @ w["U"].T + w["b"], 0) @ w["alpha"]
    expected = np.maximum(0, 1 - d.y_train * f).sum() + 0.15 * (
        (w["U"] ** 2).sum() + (w["b"] ** 2).sum() + (w["alpha"] ** 2).sum()
    )
    assert out.info["nominal_objective"] == pytest.approx(expected, rel=1e-10)
    assert out.info["objective"] == pytest.approx(expected, rel=1e-10)
    assert out.info["train_acc"] == pytest.approx(np.mean(d.y_train * f > 0))
    assert out.info["program"] == "sgd" and out.info["is_certificate"] is False


# --------------------------------------------------------------------------------- evaluation
def test_evaluation_records_agree_with_the_attacks_module():
    import attacks
    from robustbench_convex.data import load_dataset
    from robustbench_convex.evaluation import evaluate_model
    from robustbench_convex.methods import train_method

    d = load_dataset("synthetic-xor", n_train=40, n_test=30)
    model = train_method("sgd", d, {"width": 6, "epochs": 20}, 0).model
    spec = EvalSpec(
        eps=(0.05, 0.1),
        exact_eps=(0.1,),
        pgd_steps=5,
        pgd_restarts=2,
        exact=True,
        exact_max_points=8,
        sanity="none",
        n_eval=25,
    )
    out = evaluate_model(model, d, spec)
    rows = {(r["attack"], r["eps"]): r for r in out.rows}
    X, y = d.X_test[:25], d.y_test[:25]
    assert rows[("clean", 0.0)]["clean_acc"] == pytest.approx(
        np.mean(y * model.decision_function(X) > 0)
    )
    pgd = attacks.PGD(0.1, steps=5, restarts=2, lower=np.array(d.lower), upper=np.array(d.upper))
    assert rows[("pgd", 0.1)]["robust_acc"] == pytest.approx(
        attacks.robust_accuracy(model, X, y, pgd)
    )
    ex = rows[("exact", 0.1)]
    assert ex["n_eval"] == 8
    # the sandwich: LP-certified <= exact <= PGD (on the same first 8 points) <= clean
    _, mask = attacks.robust_accuracy(model, X[:8], y[:8], pgd, return_mask=True)
    assert ex["certified_acc"] <= ex["exact_acc"] + 1e-12
    assert ex["exact_acc"] <= mask.mean() + 1e-12
    assert ex["sandwich_ok"] is True
    assert rows[("lp-certified", 0.1)]["robust_acc"] == ex["certified_acc"]
    # verification only at exact_eps; gradient attacks at every eps
    assert ("exact", 0.05) not in rows and ("pgd", 0.05) in rows and ("fgsm", 0.05) in rows


def test_exact_verification_skipped_for_wide_models():
    from robustbench_convex.data import load_dataset
    from robustbench_convex.evaluation import evaluate_model
    from robustbench_convex.network import TwoLayerReLU

    d = load_dataset("synthetic-xor", n_train=40, n_test=10)
    model = TwoLayerReLU(2, 10)
    out = evaluate_model(
        model, d, EvalSpec(eps=(0.1,), exact=True, exact_max_width=4, sanity="none")
    )
    assert not any(r["attack"] == "exact" for r in out.rows)
    assert any(
        w.kind == "verification" and "exact verification skipped" in w.message for w in out.warnings
    )


# ------------------------------------------------------------------------------- rbconvex train
def test_cli_train_prints_and_saves_metrics(tmp_path, capsys):
    import json

    from robustbench_convex.cli import main

    out = tmp_path / "m.json"
    argv = [
        "train",
        "--dataset",
        "synthetic-xor",
        "--method",
        "sgd",
        "--set",
        "width=4",
        "--set",
        "epochs=3",
        "--set",
        "loss='hinge'",
        "--n-train",
        "40",
        "--n-test",
        "20",
        "--eps",
        "0.1",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["training"]["settings"]["width"] == 4
    assert saved["training"]["settings"]["loss"] == "hinge"
    attacks_run = [(r["attack"], r["eps"]) for r in saved["records"]]  # a sweep cell's payload
    assert attacks_run == [("clean", 0.0), ("fgsm", 0.1), ("pgd", 0.1)]
    assert f"accuracy {saved['records'][2]['robust_acc']:.4f}" in text
    assert main(["train", "--dataset", "synthetic-xor", "--method", "sgd", "--set", "widht=4"]) == 2
    assert "--set.widht: unknown setting" in capsys.readouterr().err
