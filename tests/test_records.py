"""Typed records between the layers: the schema version of a cell payload (an old record is
migrated, a newer one refused by name), one payload skeleton, one trainer result, one collapse
wording, and the `device` setting (CPU here; "cuda" without CUDA refused before any work)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sweep_fixtures import tiny

from robustbench_convex.cli import main
from robustbench_convex.data import load_dataset
from robustbench_convex.execution import _result_or_error, estimate_cost, run_cell
from robustbench_convex.methods import METHODS, TrainOutput, _adapt, train_method, validate_params
from robustbench_convex.records import (
    COLLAPSE_NOTE,
    SCHEMA_VERSION,
    TRAIN_STATUSES,
    RecordWarning,
    SchemaError,
    TrainingInfo,
    upgrade_payload,
    warnings_of,
)
from robustbench_convex.store import (
    ResultRecord,
    ResultStore,
    StoreError,
    payload_problem,
    read_payload,
)
from robustbench_convex.sweep import CellDescription, ConfigError, cell_of, parse_config

DATA = Path(__file__).parent / "data"
# a cell written by main at edbfcef (results/quick, before payloads carried a schema version):
# an IPM cell whose sanity check failed, so it carries a warning stored as plain text
V1_CELL = DATA / "cell_schema1_convex_priced.json"
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="tests the no-CUDA error path")


# ------------------------------------------------------------------------------ schema versions
def test_a_record_of_the_previous_version_is_read_and_migrated(tmp_path):
    raw = json.loads(V1_CELL.read_text())
    assert "schema_version" not in raw and isinstance(raw["warnings"][0], str)
    cells = tmp_path / "cells"
    cells.mkdir()
    shutil.copy(V1_CELL, cells / V1_CELL.name)
    found = read_payload(cells / V1_CELL.name)
    assert found.state == "ok", found.problem
    payload = found.payload
    assert payload["schema_version"] == SCHEMA_VERSION
    [warning] = warnings_of(payload)
    assert warning.kind == "sanity" and warning.message == raw["warnings"][0]
    info = TrainingInfo.from_dict(payload["training"])
    assert info.solver_kind == "ipm" and info.raw_status == raw["training"]["status"]
    assert info.objective == raw["training"]["objective"] and info.device == "cpu"
    assert info.problem_key == raw["training"]["problem_key"]
    # its records parse unchanged (device defaults to cpu), and the store reads the folder
    records = ResultStore(tmp_path).records()
    assert [r.robust_acc for r in records] == [r["robust_acc"] for r in raw["records"]]
    assert {r.device for r in records} == {"cpu"}
    assert json.loads(V1_CELL.read_text()) == raw  # migrated in memory, the file untouched


def test_a_record_of_a_newer_version_is_refused_naming_both_versions(tmp_path):
    raw = json.loads(V1_CELL.read_text())
    future = {**upgrade_payload(raw), "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(SchemaError, match=rf"schema version {SCHEMA_VERSION + 1} is not "):
        upgrade_payload(future)
    cells = tmp_path / "cells"
    cells.mkdir()
    (cells / "future.json").write_text(json.dumps(future))
    found = read_payload(cells / "future.json")
    assert found.state == "damaged"
    assert f"version {SCHEMA_VERSION + 1}" in found.problem
    assert f"reads schema version {SCHEMA_VERSION}" in found.problem
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        ResultStore(tmp_path).load_payloads()  # the report refuses it, naming the file
    with pytest.raises(SchemaError, match="'two'"):
        upgrade_payload({**raw, "schema_version": "two"})


def test_training_info_round_trips_and_rejects_words_outside_the_vocabularies():
    raw = upgrade_payload(json.loads(V1_CELL.read_text()))["training"]
    info = TrainingInfo.from_dict(raw)
    assert TrainingInfo.from_dict(info.to_dict()) == info
    # nothing lost, nothing added (a method-specific field that is null is left out)
    assert info.to_dict() == {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ValueError, match="status must be one of"):
        info.replace(status="optimal")
    with pytest.raises(ValueError, match="solver_kind must be one of"):
        info.replace(solver_kind="CLARABEL")
    with pytest.raises(ValueError, match="warning kind"):
        RecordWarning("SOUNDNESS", "x")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ one skeleton
@pytest.fixture(scope="module")
def one_cell():
    raw = tiny()
    raw["evaluation"]["exact"] = False  # fast: the skeleton is what is tested
    cell = parse_config(raw).cells()[0]
    return cell, run_cell(cell)


def test_ok_and_error_payloads_share_one_skeleton(one_cell):
    cell, ok = one_cell
    assert ok["status"] == "ok", ok["error"]

    def died():
        raise RuntimeError("worker died")

    dead = _result_or_error(cell, died)
    assert dead["status"] == "error" and "worker died" in dead["error"]
    ok_keys = set(ok) - {"network"}
    assert set(dead) == ok_keys  # the same keys, built by store.CellPayload
    assert ok["schema_version"] == dead["schema_version"] == SCHEMA_VERSION
    # every record is built by ResultRecord.from_parts from the training info and a row
    info = TrainingInfo.from_dict(ok["training"])
    for rec in map(ResultRecord.from_dict, ok["records"]):
        assert (rec.status, rec.solver, rec.device) == (info.status, info.solver, info.device)
        assert rec.train_time == info.time and rec.width == info.width


def test_the_cell_description_is_typed_and_round_trips(one_cell):
    """payload["cell"] read through sweep.CellDescription (what the report and the leaderboard
    read): typed fields, and to_dict gives back the stored JSON exactly (schema unchanged)."""
    cell, ok = one_cell
    typed = cell_of(ok)
    assert isinstance(typed, CellDescription) and typed == cell.description()
    assert typed.dataset == cell.dataset and typed.evaluation == cell.evaluation
    assert (typed.method.name, typed.method.kind, typed.seed) == (cell.method.name, "baseline", 0)
    assert typed.label == cell.label and typed.cell_id == cell.cell_id
    assert json.dumps(typed.to_dict()) == json.dumps(ok["cell"]) == json.dumps(cell.describe())
    old = json.loads(V1_CELL.read_text())["cell"]  # a file of the previous schema version
    read = CellDescription.from_dict(old)
    assert read.evaluation.exact_eps == tuple(old["evaluation"]["exact_eps"])
    assert json.dumps(read.to_dict()) == json.dumps(old)


# ------------------------------------------------------------------------ one trainer result
@pytest.mark.parametrize(
    ("key", "settings", "solver_kind"),
    [
        ("sgd", {"width": 4, "epochs": 3}, "torch"),
        ("pgd-at", {"width": 4, "epochs": 2, "steps": 2}, "torch"),
        ("convex-admm", {"n_patterns": 4, "max_iter": 20}, "admm"),
        ("convex-ipm", {"n_patterns": 4}, "ipm"),
        ("convex-scp", {"n_neurons": 4, "max_iter": 20}, "scp"),
    ],
)
def test_every_method_returns_the_same_typed_output(key, settings, solver_kind):
    d = load_dataset("synthetic-xor", n_train=30, n_test=10, seed=0)
    out = train_method(key, d, settings, seed=0)
    assert isinstance(out, TrainOutput) and isinstance(out.info, TrainingInfo)
    assert out.status in TRAIN_STATUSES and out.raw_status == out.info.raw_status
    assert out.info.solver_kind == solver_kind and out.info.device == "cpu"
    assert out.network is out.model and out.time == out.info.time > 0
    assert np.isfinite(out.objective) and out.info["objective"] == out.objective


def test_the_adapter_derives_collapse_once_with_one_wording():
    from robustbench_convex.baselines import TrainingRecord
    from robustbench_convex.network import TwoLayerReLU

    d = load_dataset("synthetic-xor", n_train=20, n_test=10, seed=0)
    zero = TwoLayerReLU.from_numpy(np.ones((3, 2)), np.zeros(3), b=np.zeros(3), c=None)
    settings = validate_params("sgd", {"width": 3})
    out = _adapt(
        (zero, TrainingRecord(method="sgd", objective=1.0, status="completed")),
        d,
        settings,
        method="sgd",
        solver_kind="torch",
    )
    assert out.info.collapsed and out.info.n_active == 0
    assert out.info.notes[-1] == COLLAPSE_NOTE
    assert out.warnings == [RecordWarning("collapse", COLLAPSE_NOTE)]
    with pytest.raises(TypeError, match="not a result"):
        _adapt({"objective": 1.0}, d, settings, method="sgd", solver_kind="torch")  # type: ignore[arg-type]


def test_cost_hints_live_on_the_method_entries():
    cell = parse_config(tiny()).cells()[0]
    assert all(entry.cost is not None for entry in METHODS.values())
    entry = METHODS[cell.method.method]
    base = estimate_cost(cell)
    assert entry.cost.train_seconds(cell.method.settings) > 0 and base > 0.2


# ------------------------------------------------------------------------------------- device
@NO_CUDA
def test_cuda_without_cuda_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"pgd-at\.device: 'cuda' requested .* set device"):
        validate_params("pgd-at", {"device": "cuda"}, where="pgd-at")
    raw = tiny()
    raw.setdefault("sweep", {})["device"] = "cuda"
    with pytest.raises(ConfigError, match=r"sweep\.device: 'cuda' requested"):
        parse_config(raw)
    raw = tiny()
    raw["methods"][0]["device"] = "cuda"
    with pytest.raises(ConfigError, match=r"methods\[0\]\.device: 'cuda' requested"):
        parse_config(raw)
    argv = ["train", "--dataset", "synthetic-xor", "--method", "sgd", "--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "argument --device: 'cuda' requested" in err and len(err.splitlines()) == 1
    argv = ["train", "--dataset", "synthetic-xor", "--method", "convex-cvxpy", "--device", "cpu"]
    assert main(argv) == 2
    assert "no device setting" in capsys.readouterr().err


def test_device_is_settable_per_sweep_and_method_and_recorded(tmp_path, capsys):
    raw = tiny()
    raw.setdefault("sweep", {})["device"] = "cpu"
    raw["methods"][0]["device"] = "auto"
    config = parse_config(raw)
    devices = {m.name: m.settings.get("device") for m in config.methods}
    assert devices[raw["methods"][0]["name"]] == "auto"
    assert all(v in ("cpu", "auto", None) for v in devices.values())
    # the device does not change which model a cell is: cell ids are those of the default
    assert [c.cell_id for c in config.cells()] == [c.cell_id for c in parse_config(tiny()).cells()]
    out = tmp_path / "m.json"
    argv = ["train", "--dataset", "synthetic-xor", "--method", "sgd", "--device", "auto"]
    argv += ["--set", "width=3", "--set", "epochs=2", "--n-train", "20", "--n-test", "10"]
    assert main([*argv, "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert payload["training"]["device"] == expected
    assert {r["device"] for r in payload["records"]} == {expected}
    assert payload["schema_version"] == SCHEMA_VERSION and "network" not in payload
    assert payload_problem(payload) is None  # a valid sweep cell file
    assert f"on {expected}" in capsys.readouterr().out
