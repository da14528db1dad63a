"""The results store: typed records, atomic writes, resumability after a kill, failing cells."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest
from sweep_fixtures import tiny, to_toml

from robustbench_convex import methods as methods_module
from robustbench_convex.execution import run_sweep
from robustbench_convex.store import ResultRecord, ResultStore, atomic_write_text
from robustbench_convex.sweep import parse_config

REPO = Path(__file__).resolve().parents[1]


def _record(**changes) -> ResultRecord:
    base = {f.name: None for f in fields(ResultRecord)}
    base.update(
        dataset="d",
        method="m",
        method_kind="baseline",
        seed=0,
        attack="pgd",
        eps=0.1,
        norm="inf",
        n_eval=10,
        clean_acc=0.9,
        robust_acc=0.5,
        train_time=1.5,
        eval_time=0.2,
        objective=3.25,
        nominal_objective=3.25,
        status="completed",
        solver="torch-adam",
        program="sgd",
        is_certificate=False,
        n_active=4,
        width=4,
        method_key="sgd",
        cell_id="abc",
        config_hash="def",
        versions="torch=x",
        hardware="cpu",
        timestamp="2026-01-01T00:00:00+00:00",
        notes="",
    )
    base.update(changes)
    return ResultRecord(**base)


def test_record_round_trips_through_dict_and_csv(tmp_path):
    a = _record()
    b = _record(
        attack="exact",
        certified_acc=0.3,
        exact_acc=0.4,
        exact_acc_upper=0.45,
        sandwich_ok=True,
        seed=2,
        notes="x; y",
    )
    assert ResultRecord.from_dict(a.to_dict()) == a
    store = ResultStore(tmp_path)
    store.write_csv([a, b])
    frame = store.read_csv()
    assert list(frame.columns) == [f.name for f in fields(ResultRecord)]
    back = [ResultRecord.from_dict(r) for r in frame.to_dict(orient="records")]
    assert back[0].certified_acc is None and back[0].exact_acc is None
    assert back[1].certified_acc == 0.3 and back[1].exact_acc_upper == 0.45
    assert back[1].robust_acc == 0.5 and back[1].seed == 2 and back[1].notes == "x; y"
    with pytest.raises(ValueError, match="missing fields"):
        ResultRecord.from_dict({"dataset": "d"})


def test_atomic_write_leaves_old_content_and_no_temp_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "cell.json"
    atomic_write_text(path, '{"old": 1}')

    def boom(fd):
        raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, '{"new": 2, "long": "' + "x" * 100000 + '"}')
    assert json.loads(path.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.json"]


def test_crash_in_a_cell_is_stored_as_error_and_retried(tmp_path, monkeypatch):
    raw = tiny()
    raw["evaluation"]["exact"] = False
    config = parse_config(raw)
    calls = {"n": 0}
    original = methods_module.METHODS["sgd"]

    def failing(dataset, settings, seed):
        calls["n"] += 1
        if settings["width"] == 12:
            raise RuntimeError("solver exploded")
        return original.train(dataset, settings, seed)

    monkeypatch.setitem(
        methods_module.METHODS,
        "sgd",
        methods_module.MethodEntry("sgd", "baseline", "", original.params, failing),
    )
    s1 = run_sweep(config, tmp_path)
    assert len(s1.finished) == 2 and len(s1.failed) == 1
    store = ResultStore(tmp_path)
    bad = next(c for c in config.cells() if c.method.name == "sgd-wide")
    payload = store.read_cell(bad)
    assert payload["status"] == "error" and payload["records"] == []
    assert "RuntimeError: solver exploded" in payload["error"]
    # the CSV holds the finished cells only: 2 cells x (clean + 2 attacks x 2 eps)
    frame = store.read_csv()
    assert len(frame) == 2 * (1 + 4)
    assert set(frame["method"]) == {"sgd"} and set(frame["seed"]) == {0, 1}
    # the rerun retries the failed cell only (and it fails again); --keep-failed skips it
    s2 = run_sweep(config, tmp_path)
    assert s2.skipped and len(s2.skipped) == 2 and len(s2.failed) == 1
    assert calls["n"] == 4
    s3 = run_sweep(config, tmp_path, retry_failed=False)
    assert len(s3.skipped) == 3 and calls["n"] == 4
    # --fresh recomputes everything
    s4 = run_sweep(config, tmp_path, fresh=True)
    assert not s4.skipped and len(s4.finished) == 2 and calls["n"] == 7


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_killed_run_resumes_without_redoing_finished_cells(tmp_path, sig):
    """A sweep process is killed (SIGKILL) or interrupted (SIGINT, as Ctrl-C) as soon as its
    first cell file appears; the rerun finishes the rest and leaves finished files untouched."""
    raw = tiny()
    raw["methods"] = [
        {"name": f"sgd{i}", "method": "sgd", "width": 16, "epochs": 400} for i in range(4)
    ]
    raw["evaluation"]["exact"] = False
    cfg = tmp_path / "s.toml"
    cfg.write_text(to_toml(raw))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "robustbench_convex.cli",
            "run",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--jobs",
            "1",
            "--quiet",
            "--no-report",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    cells_dir = out / "cells"
    deadline = time.time() + 240
    first: list[Path] = []
    while time.time() < deadline and proc.poll() is None:
        first = sorted(cells_dir.glob("*.json")) if cells_dir.is_dir() else []
        if first:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert first, "no cell finished before the deadline"
    stderr = proc.stderr.read().decode()
    done_at_kill = sorted(cells_dir.glob("*.json"))
    assert len(done_at_kill) < 4, "the run finished before it could be killed"
    if sig == signal.SIGINT:
        assert proc.returncode == 130, stderr
        assert "rerun the same command to resume" in stderr
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in done_at_kill}
    for p in done_at_kill:
        assert json.loads(p.read_text())["status"] == "ok"  # complete, parseable JSON

    config = parse_config(raw)
    summary = run_sweep(config, out)
    assert len(summary.skipped) == len(done_at_kill)
    assert len(summary.finished) == 4 - len(done_at_kill) and not summary.failed
    for p, (mtime, content) in stamps.items():
        assert p.stat().st_mtime_ns == mtime and p.read_bytes() == content
    store = ResultStore(out)
    assert all(store.is_done(c) for c in config.cells())
    assert not list(cells_dir.glob(".*.tmp"))  # a temp file left by the kill is cleaned up
    frame = store.read_csv()
    assert sorted(set(frame["method"])) == ["sgd0", "sgd1", "sgd2", "sgd3"]
    assert not any(math.isnan(v) for v in frame["robust_acc"])
