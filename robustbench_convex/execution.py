"""Running a sweep: one cell at a time in-process, on a local process pool, or on Dask.

:func:`run_cell` is the unit of work (train one method on one data set with one seed, evaluate
it on the whole grid, return a JSON-friendly payload); it runs unchanged in the driver process,
in a ``ProcessPoolExecutor`` worker or on a Dask worker, and never touches the output folder.
:func:`run_sweep` is the driver: it validates and preflights the configuration, skips finished
cells, dispatches the rest, and writes every payload atomically *as it arrives* (so a crash or
Ctrl-C loses at most the cells in flight), then the aggregated CSV.

Executors: ``jobs=1`` (in-process), ``jobs=N`` (a process pool of N spawned workers, each with
``threads_per_job`` torch threads), ``scheduler="tcp://host:port"`` (an existing Dask cluster;
workers must have the package installed and the data sets available) or ``dask_local=N`` (a
``distributed.LocalCluster`` of N single-threaded worker processes).
"""

from __future__ import annotations

import functools
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustbench_convex.reevaluate import save_cell_network
from robustbench_convex.store import (
    ResultRecord,
    ResultStore,
    hardware_info,
    package_versions,
    utc_now,
)
from robustbench_convex.sweep import Cell, SweepConfig

__all__ = ["SweepSummary", "run_cell", "run_sweep"]


# ---------------------------------------------------------------------------------- one cell
@functools.lru_cache(maxsize=8)
def _load_dataset(spec: Any):
    return spec.load()


def _set_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def run_cell(cell: Cell) -> dict[str, Any]:
    """Train and evaluate one cell; return its payload (status "ok" or "error").

    The payload holds ``cell`` (the cell's description), ``status``, ``records`` (a list of
    ``ResultRecord`` dicts), ``training`` (the method's info), ``history`` (per-iteration records,
    ADMM), ``sanity`` (sanity-check rows), ``warnings``, ``error`` (traceback or None) and
    ``provenance`` (versions, hardware, timings). Exceptions of training or evaluation are caught
    and returned as an "error" payload; KeyboardInterrupt propagates."""
    import torch

    from robustbench_convex.evaluation import evaluate_model
    from robustbench_convex.methods import train_method

    _set_threads(cell.threads)
    # torch's note on read-only numpy arrays (Dataset arrays are frozen) is noise here
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    versions = package_versions()
    hardware = hardware_info()
    hardware["torch_threads"] = torch.get_num_threads()
    payload: dict[str, Any] = {
        "cell": cell.describe(),
        "status": "error",
        "records": [],
        "training": None,
        "history": [],
        "sanity": [],
        "notes": [],
        "warnings": [],
        "error": None,
        "provenance": {"versions": versions, "hardware": hardware, "started": utc_now()},
    }
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        dataset = _load_dataset(cell.dataset)
        trained = train_method(cell.method.method, dataset, cell.method.settings, cell.seed)
        info = trained.info
        payload["training"] = info
        payload["history"] = trained.history
        t1 = time.perf_counter()
        notes = list(info.get("notes", []))
        evaluated = evaluate_model(
            trained.model,
            dataset,
            cell.evaluation,
            sanity=cell.sanity,
            notes=["collapsed: no effective ReLU neuron"] if info.get("collapsed") else None,
        )
        payload["sanity"] = evaluated.sanity
        payload["points"] = evaluated.points  # per-point outcomes (report: robust against all)
        payload["notes"] = notes
        payload["warnings"] = evaluated.warnings
        versions_s = " ".join(f"{k}={v}" for k, v in versions.items())
        hardware_s = (
            f"{hardware['platform']}; {hardware['processor']}; {hardware['cpu_count']} cpus; "
            f"{hardware['torch_threads']} torch threads"
        )
        stamp = utc_now()
        records = []
        for row in evaluated.rows:
            record = ResultRecord(
                dataset=cell.dataset.name,
                method=cell.method.name,
                method_kind=cell.method.kind,
                seed=cell.seed,
                attack=row["attack"],
                eps=row["eps"],
                norm=cell.evaluation.norm,
                n_eval=row["n_eval"],
                clean_acc=row["clean_acc"],
                robust_acc=row["robust_acc"],
                certified_acc=row["certified_acc"],
                exact_acc=row["exact_acc"],
                exact_acc_upper=row["exact_acc_upper"],
                sandwich_ok=row["sandwich_ok"],
                train_time=float(info["time"]),
                eval_time=row["eval_time"],
                objective=info.get("objective"),
                nominal_objective=info.get("nominal_objective"),
                status=str(info["status"]),
                solver=str(info["solver"]),
                program=str(info["program"]),
                is_certificate=bool(info["is_certificate"]),
                n_active=int(info["n_active"]),
                width=int(info["width"]),
                method_key=cell.method.method,
                cell_id=cell.cell_id,
                config_hash=cell.config_hash,
                versions=versions_s,
                hardware=hardware_s,
                timestamp=stamp,
                notes=row["notes"],
            )
            records.append(record.to_dict())
        payload["records"] = records
        payload["network"] = trained.model.to_numpy()  # stored as .npz by the driver
        payload["status"] = "ok"
        payload["provenance"]["eval_seconds"] = time.perf_counter() - t1
    except Exception as exc:  # a failing cell must not stop the sweep
        payload["error"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    payload["provenance"]["seconds"] = time.perf_counter() - t0
    payload["provenance"]["cpu_seconds"] = time.process_time() - c0
    payload["provenance"]["finished"] = utc_now()
    return payload


# --------------------------------------------------------------------------------- executors
# imported once by the fork server (workers are forked from it with these already loaded)
_PRELOAD = [
    "torch",
    "torch._dynamo",  # imported lazily by the first optimizer step: seconds, once per process
    "scipy.optimize",
    "attacks",
    "robustbench_convex.execution",
    "robustbench_convex.evaluation",
    "robustbench_convex.methods",
    "robustbench_convex.baselines",
    "robustbench_convex.data",
]


def _pool_initializer(threads: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    _set_threads(threads)


def _iter_inprocess(cells: Sequence[Cell]) -> Iterator[tuple[Cell, dict[str, Any]]]:
    for cell in cells:
        yield cell, run_cell(cell)


def _iter_pool(cells: Sequence[Cell], jobs: int, threads: int):
    import multiprocessing as mp

    # Forking the driver after torch / BLAS started threads is unsafe; "forkserver" forks the
    # workers from a clean server process that has imported the heavy modules once, so workers
    # start in a fraction of a "spawn" start (which re-imports torch in every worker).
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
    else:  # pragma: no cover - Windows
        ctx = mp.get_context("spawn")
    executor = ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_pool_initializer, initargs=(threads,)
    )
    pending: dict[Future, Cell] = {executor.submit(run_cell, c): c for c in cells}
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                cell = pending.pop(fut)
                yield cell, _result_or_error(cell, fut.result)
    finally:
        if pending:  # interrupted: stop the workers now rather than after their current cell
            for proc in list(getattr(executor, "_processes", {}).values()):
                proc.terminate()
        executor.shutdown(wait=True, cancel_futures=True)


def _iter_dask(cells: Sequence[Cell], scheduler: str | None, dask_local: int | None, threads: int):
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=int(dask_local or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = {
            client.submit(run_cell, c, pure=False, key=f"cell-{c.cell_id}"): c for c in cells
        }
        for fut in as_completed(list(futures)):
            cell = futures[fut]
            yield cell, _result_or_error(cell, fut.result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _result_or_error(cell: Cell, get: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The worker's payload, or an error payload when the worker itself died."""
    try:
        return get()
    except Exception as exc:
        return {
            "cell": cell.describe(),
            "status": "error",
            "records": [],
            "training": None,
            "history": [],
            "sanity": [],
            "warnings": [],
            "error": "worker failed: "
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            "provenance": {"finished": utc_now()},
        }


# ------------------------------------------------------------------------------------ driver
@dataclass
class SweepSummary:
    """What :func:`run_sweep` did."""

    out: Path
    n_cells: int
    skipped: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    csv: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def _expected_cost(cell: Cell) -> int:
    """A rough rank of a cell's cost (for scheduling only): robust convex programs, then
    interior-point solves, then adversarial training, then the rest."""
    key = cell.method.method
    if key.startswith("convex-robust-"):
        return 4
    if key == "convex-cvxpy":
        return 3
    if key in ("pgd-at", "convex-admm"):
        return 2
    return 1 if key == "fgsm-at" else 0


def _preflight(config: SweepConfig) -> None:
    """Load every data set in the driver: a missing file or an impossible size fails here,
    before any training starts."""
    from robustbench_convex.sweep import ConfigError

    for i, spec in enumerate(config.datasets):
        try:
            _load_dataset(spec)
        except Exception as exc:
            raise ConfigError(f"datasets[{i}] ({spec.name!r}): cannot be loaded: {exc}") from exc


def run_sweep(
    config: SweepConfig,
    out: str | Path,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    dask_local: int | None = None,
    retry_failed: bool = True,
    fresh: bool = False,
    progress: bool = False,
    preflight: bool = True,
    log: Callable[[str], None] | None = None,
) -> SweepSummary:
    """Run every unfinished cell of ``config``, storing results in ``out``.

    Args:
        config: a validated sweep.
        out: output folder (created); a rerun with the same folder resumes.
        jobs: local worker processes (1: in this process).
        scheduler: address of a Dask scheduler (overrides ``jobs``).
        dask_local: start a Dask ``LocalCluster`` with this many workers (overrides ``jobs``).
        retry_failed: rerun cells stored with status "error" (default), else keep them.
        fresh: recompute every cell, even those finished in ``out`` (each is overwritten,
            atomically, when its new result arrives).
        progress: show a tqdm bar over cells.
        preflight: load every data set before starting (fails early on missing data).
        log: where to print one line per finished cell (default: nowhere; the CLI prints).

    Returns:
        a :class:`SweepSummary`; the aggregated CSV is ``summary.csv``.

    KeyboardInterrupt: finished cells are already on disk; the CSV is written for them and the
    interrupt is re-raised (rerun the same command to resume).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    if scheduler is not None and dask_local is not None:
        raise ValueError("pass either scheduler (an address) or dask_local (a worker count)")
    if dask_local is not None and (not isinstance(dask_local, int) or dask_local < 1):
        raise ValueError(f"dask_local must be an int >= 1, got {dask_local!r}")
    t0 = time.perf_counter()
    store = ResultStore(out)
    store.root.mkdir(parents=True, exist_ok=True)
    store.remove_stale_temp_files()
    cells = config.cells()
    summary = SweepSummary(out=store.root, n_cells=len(cells))
    todo = []
    for cell in cells:
        payload = None if fresh else store.read_cell(cell)
        if payload is not None and (
            payload.get("status") == "ok" or (not retry_failed and payload.get("status") == "error")
        ):
            summary.skipped.append(cell.cell_id)
        else:
            todo.append(cell)
    if todo and preflight:
        _preflight(config)
    store.write_config(config.to_dict())

    if scheduler is not None or dask_local is not None:
        stream = _iter_dask(todo, scheduler, dask_local, config.threads_per_job)
    elif jobs > 1 and len(todo) > 1:
        # longest first, so that no long cell starts last while the other workers idle
        todo = sorted(todo, key=_expected_cost, reverse=True)
        stream = _iter_pool(todo, min(jobs, len(todo)), config.threads_per_job)
    else:
        stream = _iter_inprocess(todo)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(cells), initial=len(summary.skipped), unit="cell", desc=config.name)
    try:
        for cell, payload in stream:
            save_cell_network(store, cell, payload)  # the .npz first, then the JSON
            store.write_cell(cell, payload)
            if payload["status"] == "ok":
                summary.finished.append(cell.cell_id)
            else:
                summary.failed.append(cell.cell_id)
            if log is not None:
                secs = payload.get("provenance", {}).get("seconds")
                took = f" in {secs:.1f} s" if secs is not None else ""
                line = f"{payload['status']:>5}  {cell.label}{took}"
                if payload["status"] != "ok":
                    err = (payload.get("error") or "").strip().splitlines()
                    line += f": {err[-1] if err else 'unknown error'}"
                if bar is not None:
                    bar.write(line)
                else:
                    log(line)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"last: {cell.label}", refresh=True)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        summary.csv = store.write_csv(store.records(cells))
        print(
            f"\ninterrupted: {len(summary.skipped) + len(summary.finished)} of {len(cells)} cells "
            f"are finished and saved in {store.root}; rerun the same command to resume.",
            file=sys.stderr,
        )
        raise
    finally:
        if bar is not None:
            bar.close()
    summary.csv = store.write_csv(store.records(cells))
    summary.seconds = time.perf_counter() - t0
    store.append_run(
        {
            "finished": utc_now(),
            "seconds": summary.seconds,
            "executor": (
                f"dask scheduler {scheduler}"
                if scheduler
                else f"dask LocalCluster({dask_local})"
                if dask_local
                else f"{min(jobs, max(len(todo), 1))} local process(es)"
            ),
            "cells": len(cells),
            "run": len(summary.finished) + len(summary.failed),
            "skipped": len(summary.skipped),
            "failed": len(summary.failed),
            "cpu_count": os.cpu_count(),
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
    )
    return summary
