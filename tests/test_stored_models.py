"""Stored networks (one .npz per sweep cell), `load_network`, `rbconvex evaluate` (re-attacks
stored models and changes only what it re-ran), `rbconvex train --save-model`, `rbconvex methods`
and `rbconvex preset`."""

from __future__ import annotations

import copy
import json
import sys

import numpy as np
import pytest
import torch
from sweep_fixtures import tiny

from robustbench_convex import TwoLayerReLU, load_network, save_network
from robustbench_convex.cli import main
from robustbench_convex.evaluation import decode_mask
from robustbench_convex.execution import run_sweep
from robustbench_convex.reevaluate import reevaluate
from robustbench_convex.sweep import parse_config, preset_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.mark.parametrize(
    ("bias", "output_bias", "width"), [(True, True, 7), (False, False, 3), (True, False, 0)]
)
def test_save_load_round_trip_gives_identical_predictions(tmp_path, bias, output_bias, width):
    gen = torch.Generator().manual_seed(3)
    net = TwoLayerReLU(5, width, bias=bias, output_bias=output_bias, generator=gen)
    X = np.random.default_rng(0).normal(size=(50, 5))
    path = save_network(net, tmp_path / "m.npz")
    back = load_network(path)
    assert (back.hidden.bias is None) == (not bias)
    assert (back.output.bias is None) == (not output_bias)
    np.testing.assert_array_equal(back.decision_function(X), net.decision_function(X))
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_load_network_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no stored network"):
        load_network(tmp_path / "absent.json")
    with pytest.raises(ValueError, match=r"\.npz"):
        save_network(TwoLayerReLU(2, 1), tmp_path / "x.pt")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    raw = tiny()
    raw["methods"] = [
        {"name": "sgd", "method": "sgd", "width": 6, "epochs": 15},
        {
            "name": "admm",
            "method": "convex-admm",
            "n_patterns": 6,
            "max_iter": 60,
            "loss": "squared",
        },
    ]
    raw["evaluation"]["exact_max_points"] = 5
    out = tmp_path_factory.mktemp("stored")
    summary = run_sweep(parse_config(raw), out)
    assert not summary.failed
    return out


def _payloads(out):
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.json"))}


def test_every_cell_stores_its_network_and_it_reloads(sweep):
    from robustbench_convex.sweep import DatasetSpec

    for name, payload in _payloads(sweep).items():
        assert "network" not in payload  # the weights live in the .npz, not the JSON
        net = load_network(sweep / "cells" / name)
        assert net.width == payload["training"]["width"]
        data = DatasetSpec(
            **{k: v for k, v in payload["cell"]["dataset"].items() if k not in ("eps", "exact_eps")}
        ).load()
        clean = next(r for r in payload["records"] if r["attack"] == "clean")
        acc = float(np.mean(data.y_test * net.decision_function(data.X_test) > 0))
        assert acc == clean["clean_acc"]
        pts = next(p for p in payload["points"] if p["attack"] == "clean")
        assert decode_mask(pts["robust"]).mean() == clean["clean_acc"]


def test_evaluate_reproduces_stored_pgd_and_changes_only_what_it_reran(sweep, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(sweep, out)
    before = _payloads(out)
    assert main(["evaluate", str(out), "--attack", "pgd", "--no-report", "--quiet"]) == 0
    after = _payloads(out)
    assert before.keys() == after.keys()
    volatile = {"timestamp", "eval_time", "notes"}
    n_pgd = 0
    for name in before:
        b, a = before[name], after[name]
        assert len(a["records"]) == len(b["records"])
        for rb, ra in zip(b["records"], a["records"]):
            if rb["attack"] == "pgd":
                n_pgd += 1
                same = {k: v for k, v in rb.items() if k not in volatile}
                assert same == {k: v for k, v in ra.items() if k not in volatile}
                assert "re-evaluated" in ra["notes"] and "pgd 5 steps x 1 restarts" in ra["notes"]
            else:
                assert ra == rb  # untouched, byte for byte
        assert a["points"] == b["points"]  # same PGD outcome on every point
        assert len(a["reevaluations"]) == 1
        rest_b = {k: v for k, v in b.items() if k not in ("records", "reevaluations")}
        rest_a = {k: v for k, v in a.items() if k not in ("records", "reevaluations")}
        assert rest_a == rest_b
    assert n_pgd == 2 * len(before)  # two radii per cell


def test_evaluate_with_a_stronger_attack_and_a_new_radius(sweep, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(sweep, out)
    before = _payloads(out)
    s = reevaluate(
        out, attacks=["pgd", "exact"], eps=[0.3], pgd_steps=10, pgd_restarts=2, exact_max_points=8
    )
    assert sorted(s.pairs) == [("exact", 0.3), ("lp-certified", 0.3), ("pgd", 0.3)]
    for name, a in _payloads(out).items():
        b = before[name]
        new = [r for r in a["records"] if r["eps"] == 0.3]
        assert sorted(r["attack"] for r in new) == ["exact", "lp-certified", "pgd"]
        ex = next(r for r in new if r["attack"] == "exact")
        pgd = next(r for r in new if r["attack"] == "pgd")
        assert ex["n_eval"] == 8
        assert ex["certified_acc"] <= ex["exact_acc"] and ex["sandwich_ok"] is True
        pts = {p["attack"]: decode_mask(p["robust"]) for p in a["points"] if p["eps"] == 0.3}
        assert len(pts["exact"]) == 8 and len(pts["pgd"]) == pgd["n_eval"]
        assert not np.any(pts["exact"] & ~pts["pgd"][:8])  # exact-robust => not broken by PGD
        assert not np.any(pts["lp-certified"] & ~pts["exact"])
        old = [r for r in a["records"] if r["eps"] != 0.3]
        assert old == b["records"]  # the original radii are untouched
    frame = __import__("pandas").read_csv(out / "results.csv")
    assert (frame["eps"] == 0.3).sum() == 3 * len(before)


def test_evaluate_rejects_bad_input_before_any_work(sweep, capsys):
    with pytest.raises(ValueError, match="eps"):
        reevaluate(sweep, eps=[-0.1])
    with pytest.raises(ValueError, match="unknown attack"):
        reevaluate(sweep, attacks=["cw"])
    with pytest.raises(ValueError, match="pgd_steps"):
        reevaluate(sweep, pgd_steps=0)
    with pytest.raises(ValueError, match=r"methods: no finished cell of.*valid: admm, sgd"):
        reevaluate(sweep, methods=["amdm"])
    assert main(["evaluate", "/nonexistent/folder"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_train_save_model(tmp_path, capsys):
    path = tmp_path / "m.npz"
    args = [
        "train",
        "--dataset",
        "synthetic-xor",
        "--n-train",
        "30",
        "--n-test",
        "10",
        "--method",
        "sgd",
        "--set",
        "width=4",
        "--set",
        "epochs=5",
        "--save-model",
        str(path),
    ]
    assert main(args) == 0
    assert load_network(path).width == 4
    assert main([*args[:-1], str(tmp_path / "m.pt")]) == 2
    assert "--save-model" in capsys.readouterr().err


def test_methods_and_preset_commands(capsys):
    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    assert "convex-admm" in listing and "pgd-at" in listing
    assert main(["methods", "pgd-at"]) == 0
    detail = capsys.readouterr().out
    assert "steps" in detail and "eps" in detail and "0.1" in detail
    assert main(["methods", "pgd-atx"]) == 2
    assert "did you mean 'pgd-at'" in capsys.readouterr().err
    assert main(["preset", "show", "quick"]) == 0
    text = capsys.readouterr().out
    assert text == preset_text("quick")
    parse_config(copy.deepcopy(tomllib.loads(text)))  # a valid config to start from
    assert main(["preset", "show", "nope"]) == 2
    assert main(["preset", "list"]) == 0
    assert "quick" in capsys.readouterr().out.split()
