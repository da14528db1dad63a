"""Sweeps that survive what users do to them (issue 19): kills, two runs at once, damaged files,
wrong flags, umask, broken pipes. Every subprocess is bounded in time; the sweeps are tiny."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_fixtures import tiny, to_toml

from robustbench_convex.cli import main
from robustbench_convex.execution import estimate_cost, run_sweep
from robustbench_convex.store import (
    FolderBusy,
    FolderLock,
    ResultStore,
    StoreError,
    atomic_write_text,
)
from robustbench_convex.sweep import parse_config

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "robustbench_convex.cli"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _umask_022() -> None:
    os.umask(0o022)


def _quick_raw() -> dict:
    raw = tiny()
    raw["evaluation"]["exact"] = False
    return raw


def _long_raw(n: int = 2, epochs: int = 1500) -> dict:
    """Cells of a few seconds each (long enough to be killed in flight)."""
    raw = _quick_raw()
    raw["methods"] = [
        {"name": f"sgd{i}", "method": "sgd", "width": 16, "epochs": epochs} for i in range(n)
    ]
    return raw


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # a zombie is dead
    except OSError:
        return False


def _assert_intact(out: Path, config) -> None:
    store = ResultStore(out)
    for cell in config.cells():
        found = store.inspect_cell(cell)
        assert found.state == "ok", (cell.label, found.state, found.problem)
    assert not store.audit().damaged
    assert not list((out / "cells").glob(".*.tmp")) and not list(out.glob(".*.tmp"))


# ------------------------------------------------------------------------------------- kills
@pytest.mark.slow  # about 15-35 s each on 2 shared cores
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_pool_run_leaves_no_process_and_a_resumable_folder(tmp_path, sig):
    """A `--jobs 2` run is killed while both workers compute: within 10 s no process of it is
    alive (fork server, workers), no cell finishes after the kill, and the folder resumes.
    The cells are long (6,000 epochs: several seconds each) so that a fast, quiet machine does not
    finish the run before the pool is seen; the kill comes about a second after the start."""
    raw = _long_raw(epochs=6_000)
    cfg = tmp_path / "s.toml"
    cfg.write_text(to_toml(raw))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*CLI, "run", "--config", str(cfg), "--out", str(out), "--jobs", "2", "--quiet"],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 120
        family: list[int] = []
        while time.time() < deadline and proc.poll() is None:
            family = _descendants(proc.pid)
            # the fork server and two workers, and the workers have started computing
            if len(family) >= 3 and (out / "config.json").is_file():
                time.sleep(1.0)
                family = _descendants(proc.pid)
                break
            time.sleep(0.1)
        assert proc.poll() is None and len(family) >= 3, "the pool did not start in time"
        proc.send_signal(sig)
        proc.wait(timeout=30)
        at_kill = (
            sorted(p.name for p in (out / "cells").glob("*.json"))
            if (out / "cells").is_dir()
            else []
        )
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(p) for p in family):
            time.sleep(0.1)
        left = [p for p in family if _alive(p)]
        assert not left, f"processes still alive 10 s after {sig.name}: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, stderr
        assert "rerun the same command to resume" in stderr
        assert "Traceback" not in stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)
    cells_now = (
        sorted(p.name for p in (out / "cells").glob("*.json")) if (out / "cells").is_dir() else []
    )
    assert cells_now == at_kill, "a worker finished a cell after the driver was killed"
    assert len(at_kill) < 2
    config = parse_config(raw)
    summary = run_sweep(config, out)  # the kernel dropped the lock with its holder
    assert len(summary.skipped) == len(at_kill) and not summary.failed
    assert len(summary.finished) == 2 - len(at_kill)
    _assert_intact(out, config)


# ------------------------------------------------------------------------- two runs at once
def _start(cfg: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "run", "--config", str(cfg), "--out", str(out), "--jobs", "1", "--quiet", *extra],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_umask_022,
    )


@pytest.mark.slow  # about 20 s each on 2 shared cores
@pytest.mark.parametrize("wait", [False, True], ids=["refuse", "wait"])
def test_two_runs_on_one_folder_compute_every_cell_once(tmp_path, wait):
    """Two runs started together on one --out: the second refuses with the first one's pid
    (default) or waits and then finds every cell done (--wait). Every cell is computed once
    (runs.jsonl), every file is intact, and every file is world-readable under umask 022."""
    raw = _long_raw(n=2, epochs=300)
    cfg = tmp_path / "s.toml"
    cfg.write_text(to_toml(raw))
    out = tmp_path / "out"
    extra = ("--wait",) if wait else ()
    procs = [_start(cfg, out, *extra), _start(cfg, out, *extra)]
    try:
        results = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = [p.returncode for p in procs]
    for code, (_, err) in zip(codes, results):
        assert "Traceback" not in err, err
        if code == 2:
            assert "is in use by another run (pid" in err and "--wait" in err
            assert len(err.strip().splitlines()) == 1
        else:
            assert code == 0, err
    if wait:
        assert codes == [0, 0]
    runs = ResultStore(out).read_runs()
    assert sum(r["run"] for r in runs) == 2, runs  # each cell computed once in all
    assert len(runs) == codes.count(0)
    config = parse_config(raw)
    _assert_intact(out, config)
    for path in [*out.rglob("*")]:
        if path.is_file():
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o044 == 0o044, f"{path.relative_to(out)} has mode {oct(mode)}"


def test_lock_refuses_then_is_released(tmp_path):
    first = FolderLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(FolderBusy, match=rf"in use by another run \(pid {os.getpid()}"):
            run_sweep(parse_config(_quick_raw()), tmp_path)
    finally:
        first.release()
    summary = run_sweep(parse_config(_quick_raw()), tmp_path)
    assert len(summary.finished) == 3


def test_temporary_files_of_live_writers_are_kept(tmp_path):
    """A run removes only temporary files whose writer (the pid in the name) is dead."""
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        cells = tmp_path / "cells"
        cells.mkdir()
        mine = cells / f".a.json.{live.pid}.0123abcd.tmp"
        gone = cells / f".b.json.{dead.pid}.0123abcd.tmp"
        mine.write_text("{")
        gone.write_text("{")
        store = ResultStore(tmp_path)
        assert store.stale_temp_files() == [gone]
        assert [why for _, why in store.audit().foreign] == [
            "stale temporary file of a dead writer"
        ]
        assert store.remove_stale_temp_files() == 1
        assert mine.is_file() and not gone.exists()
    finally:
        live.kill()
        live.wait()


# ---------------------------------------------------------------------------- damaged files
def _damage(out: Path) -> dict[str, str]:
    """Truncate one cell file, empty one, break the schema of one; return name -> damage."""
    files = sorted((out / "cells").glob("*.json"))
    assert len(files) == 3
    text = files[0].read_text()
    files[0].write_text(text[: len(text) // 2])
    files[1].write_text("")
    payload = json.loads(files[2].read_text())
    del payload["records"][1]["clean_acc"]
    files[2].write_text(json.dumps(payload))
    return {
        files[0].name: "not valid JSON",
        files[1].name: "empty file",
        files[2].name: "records[1]: record is missing fields ['clean_acc']",
    }


def test_damaged_cells_are_named_refused_by_report_and_recomputed_by_run(tmp_path, capsys):
    raw = _quick_raw()
    cfg = tmp_path / "s.toml"
    cfg.write_text(to_toml(raw))
    out = tmp_path / "out"
    args = ["run", "--config", str(cfg), "--out", str(out), "--quiet", "--jobs", "1"]
    assert main(args) == 0
    reference = ResultStore(out).read_csv()
    damage = _damage(out)
    capsys.readouterr()

    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "refusing to report" in err
    for name, why in damage.items():
        assert f"cells/{name}: damaged ({why}" in err
    with pytest.raises(StoreError, match="3 damaged cell file"):  # the library refuses too
        ResultStore(out).load_payloads()

    assert main(args) == 0
    err = capsys.readouterr().err
    for name, why in damage.items():
        assert f"damaged cells/{name} ({why}" in err and "recomputing" in err
    runs = ResultStore(out).read_runs()
    assert runs[-1]["run"] == 3 and runs[-1]["skipped"] == 0
    _assert_intact(out, parse_config(raw))
    again = ResultStore(out).read_csv()
    assert len(again) == len(reference) == 3 * 5
    assert list(again["robust_acc"]) == list(reference["robust_acc"])  # same seeds, same numbers
    assert main(["report", str(out)]) == 0


def test_foreign_cell_under_a_cells_name_and_damaged_config_are_named(tmp_path, capsys):
    raw = _quick_raw()
    config = parse_config(raw)
    run_sweep(config, tmp_path)
    a, b = config.cells()[:2]
    store = ResultStore(tmp_path)
    store.cell_path(a).write_text(store.cell_path(b).read_text())  # b's content under a's name
    found = store.inspect_cell(a)
    assert found.state == "damaged" and f"holds cell {b.cell_id!r}" in found.problem
    (tmp_path / "cells" / "notes.txt").write_text("mine")
    with open(tmp_path / "runs.jsonl", "a") as fh:
        fh.write('{"finished": "2026-\n')  # a run log line cut by a kill
    audit = store.audit()
    assert [p.name for p, _ in audit.foreign] == ["notes.txt", "runs.jsonl"]
    assert "line(s) 2 not valid JSON" in audit.foreign[1][1]
    # a truncated config.json: report names it, no JSONDecodeError traceback
    text = (tmp_path / "config.json").read_text()
    (tmp_path / "config.json").write_text(text[:40])
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "config.json: damaged (not valid JSON" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    lines: list[str] = []
    summary = run_sweep(config, tmp_path, log=lines.append)  # rewrites, recomputes, says so
    assert any(x.startswith("damaged config.json (not valid JSON") for x in lines), lines
    assert any(f"holds cell {b.cell_id!r}" in x and "recomputing" in x for x in lines), lines
    assert summary.finished == [a.cell_id] and len(summary.skipped) == 2
    assert ResultStore(tmp_path).read_config()["config_hash"] == config.config_hash


def test_report_refuses_a_folder_that_is_not_a_sweep(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a sweep folder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "report.md").exists()


def test_unloadable_dataset_fails_before_creating_the_folder(tmp_path, capsys):
    raw = _quick_raw()
    raw["datasets"] = [
        {
            "name": "mnist-2v8",
            "n_train": 40,
            "n_test": 20,
            "download": False,
            "data_dir": str(tmp_path / "empty-cache"),
        }
    ]
    cfg = tmp_path / "s.toml"
    cfg.write_text(to_toml(raw))
    out = tmp_path / "out"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "datasets[0] ('mnist-2v8'): cannot be loaded" in err and "Traceback" not in err
    assert not out.exists()


# ------------------------------------------------------------------------------ CLI mistakes
MISTAKES = [
    (["train", "--dataset", "synthetic-xor", "--method", "sgd", "--eps", "-0.1"], "--eps"),
    (["train", "--dataset", "synthetic-xor", "--method", "sgd", "--eps", "nan"], "--eps"),
    (["train", "--dataset", "synthetic-xor", "--method", "sgd", "--pgd-steps", "0"], "--pgd-steps"),
    (
        ["train", "--dataset", "synthetic-xor", "--method", "sgd", "--pgd-restarts", "0"],
        "--pgd-restarts",
    ),
    (["train", "--dataset", "synthetic-xor", "--method", "sgd", "--threads", "0"], "--threads"),
    (["train", "--dataset", "synthetic-xor", "--method", "sgd", "--n-train", "0"], "--n-train"),
    (["train", "--dataset", "synthetic-xor", "--method", "sgd", "--seed", "-1"], "--seed"),
    (["train", "--dataset", "synthetic-xor", "--method", "nosuch"], "--method: unknown method"),
    (["train", "--dataset", "nosuch", "--method", "sgd"], "--dataset: unknown data set"),
    (["train", "--dataset", "synthetic-xor", "--method", "sgd", "--set", "width"], "--set"),
    (["train", "--dataset", "synthetic-xor", "--method", "sgd", "--set", "width=0"], "--set.width"),
    (["run", "--preset", "quick", "--jobs", "0"], "--jobs"),
    (["run", "--preset", "quick", "--jobs", "-1"], "--jobs"),
    (["run", "--preset", "quick", "--jobs", "two"], "--jobs"),
    (["run", "--preset", "quick", "--dask-local", "0"], "--dask-local"),
    (["run", "--preset", "quick", "--scheduler", ""], "--scheduler"),
    (["run", "--preset", "nosuch"], "--preset"),
    (["run", "--config", "/nonexistent/sweep.toml"], "config file not found"),
]


@pytest.mark.parametrize("argv,flag", MISTAKES, ids=[" ".join(m[0][-2:]) for m in MISTAKES])
def test_each_cli_mistake_exits_2_with_one_line_naming_the_flag(argv, flag, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert flag in lines[0] and lines[0].startswith("rbconvex "), lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_out_that_is_a_file_is_refused_before_work(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["run", "--preset", "quick", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "argument --out" in err and "is not a folder" in err and target.read_text() == "x"


def test_train_mistake_in_a_subprocess_fails_fast_without_traceback(tmp_path):
    t0 = time.perf_counter()
    done = subprocess.run(
        [*CLI, "train", "--dataset", "breast-cancer", "--method", "sgd", "--eps", "-0.1"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "rbconvex train: error: argument --eps: must be a finite number > 0, got '-0.1' "
        "(see `rbconvex train --help`)"
    ]
    assert done.stdout == "" and time.perf_counter() - t0 < 60  # nothing was trained


def test_dry_run_into_a_closed_pipe_exits_quietly(tmp_path):
    script = f"{' '.join(CLI)} run --preset quick --dry-run | head -n 1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    from robustbench_convex.sweep import load_preset

    n_cells = len(load_preset("quick").cells())
    assert done.stdout.startswith(f"quick: {n_cells} cells")
    assert "BrokenPipeError" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 141)


# ---------------------------------------------------------------------------- small things
def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        os.umask(0o077)
        atomic_write_text(tmp_path / "b.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o600


def test_cost_model_ranks_cells_and_predicts_the_quick_preset():
    """The model orders the quick preset's cells as their committed timings do (Spearman > 0.6)
    and its ETA after the first finished cell of a 2-worker longest-first schedule is within a
    factor 2 of the true remaining time (counting cells: 4.8x too long)."""
    from robustbench_convex.sweep import load_preset

    config = load_preset("quick")
    sizes = {"breast-cancer": (398, 30), "digits-2v8": (245, 64)}
    store = ResultStore(REPO / "results" / "quick")
    actual, predicted = [], []
    for cell in config.cells():
        payload = store.read_cell(cell)
        if payload is None:
            pytest.skip("results/quick does not hold this version's cells")
        actual.append(payload["provenance"]["seconds"])
        predicted.append(estimate_cost(cell, sizes[cell.dataset.name]))
    import numpy as np
    from scipy.stats import spearmanr

    assert spearmanr(actual, predicted).statistic > 0.6
    order = np.argsort(predicted)[::-1]  # longest first, two workers
    free = [0.0, 0.0]
    finish = []
    for i in order:
        w = int(np.argmin(free))
        free[w] += actual[i]
        finish.append((free[w], i))
    finish.sort()
    t1, first = finish[0]
    total = max(free)
    eta_cost = (sum(predicted) - predicted[first]) * t1 / predicted[first]
    eta_cells = (len(actual) - 1) * t1
    true_left = total - t1
    assert true_left / 2 <= eta_cost <= 2 * true_left, (eta_cost, true_left)
    assert eta_cells > 2 * true_left  # the old bar's estimate, for contrast


def test_train_set_parses_without_tomllib(tmp_path):
    """Python 3.10 has no tomllib: `rbconvex train --set` uses the tomli backport."""
    code = f"""
import sys, types
import tomllib as real
sys.modules["tomllib"] = None  # as on Python 3.10: import tomllib fails
fake = types.ModuleType("tomli")
fake.loads, fake.TOMLDecodeError = real.loads, real.TOMLDecodeError
fake.used = 0
def loads(text, _f=real.loads):
    fake.used += 1
    return _f(text)
fake.loads = loads
sys.modules["tomli"] = fake
from robustbench_convex.cli import main
out = {str(tmp_path / "m.json")!r}
code = main(["train", "--dataset", "synthetic-xor", "--method", "sgd", "--set", "width=3",
             "--set", "epochs=2", "--n-train", "20", "--n-test", "10", "--out", out])
import json
assert code == 0, code
assert json.load(open(out))["training"]["settings"]["width"] == 3
assert fake.used >= 2, fake.used
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr


def test_sklearn_floor_covers_the_estimator_api():
    """The estimator uses sklearn.utils.validation.validate_data and __sklearn_tags__, both new
    in scikit-learn 1.6: pyproject's floor must say so."""
    import re

    text = (REPO / "pyproject.toml").read_text()
    floor = re.search(r'"scikit-learn>=([0-9.]+)"', text)
    assert floor is not None
    assert tuple(int(x) for x in floor.group(1).split(".")[:2]) >= (1, 6)
    from sklearn.utils.validation import validate_data  # noqa: F401


# ------------------------------------------------------------------------------------ labels
def test_training_refuses_a_single_class_and_names_non_numeric_labels():
    import numpy as np

    from robustbench_convex import ConvexReLUProblem, train_sgd
    from robustbench_convex.formulations import check_binary_labels

    X = np.random.default_rng(0).normal(size=(8, 2))
    for y in (np.ones(8), -np.ones(8), np.zeros(8)):
        # the convex problem stays defined (its objective is evaluated on any data), but says so
        with pytest.warns(UserWarning, match="y holds a single class"):
            problem = ConvexReLUProblem(X, y, beta=1e-3)
        assert any("single class" in note for note in problem.notes)
        with pytest.raises(ValueError, match="y holds a single class"):
            check_binary_labels(y, 8, both_classes=True)
    with pytest.warns(UserWarning, match="y holds a single class"):
        train_sgd(X, np.ones(8), width=2, epochs=1)
    with pytest.raises(ValueError, match=r"y must hold numeric labels in .*dtype <U3"):
        train_sgd(X, ["pos", "neg"] * 4, width=2, epochs=1)
    with pytest.raises(ValueError, match=r"y must hold numeric labels in .*dtype <U3"):
        ConvexReLUProblem(X, ["pos", "neg"] * 4, beta=1e-3)
    # both classes are fine, and a one-class *test* set is not a training set
    ConvexReLUProblem(X, np.array([1.0, -1.0] * 4), beta=1e-3)
    labels, note = check_binary_labels(np.ones(3), 3)
    assert labels.tolist() == [1.0] * 3 and "single class" in note
