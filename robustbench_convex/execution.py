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

What a user can do to a running sweep, and what happens (design decisions):

- **Ctrl-C (SIGINT) or SIGTERM** of the driver: the workers are terminated at once, the cells
  finished so far are on disk, the CSV is written for them, a resume hint is printed and the
  interrupt propagates (``rbconvex`` exits 130 for SIGINT, 143 for SIGTERM; its SIGTERM handler
  raises :class:`KeyboardInterrupt`, so both take the same path).
- **SIGKILL of the driver** (no code of the driver runs): every pool worker kills itself within
  about a second, before it finishes a cell whose result nobody would store. Each worker runs a
  watchdog thread that waits on the driver's pid (a ``pidfd`` on Linux >= 5.3, else polling every
  0.2 s) and also asks the kernel for ``SIGKILL`` when its parent (the fork server) dies
  (``prctl(PR_SET_PDEATHSIG)`` on Linux, through ctypes). The fork server exits by itself when the
  driver's end of its "alive" pipe closes. A process group was not chosen: the driver would have
  to kill the group from code that SIGKILL never runs.
- **Two runs on one folder**: the second refuses at once with the first one's pid and command
  (``wait_for_lock=True``, ``rbconvex run --wait``: it waits, then resumes, finding the cells the
  first one finished); see :class:`~robustbench_convex.store.FolderLock`. Cells are therefore
  computed once; the lock is taken before the folder is read, so both runs never plan the same cell.
- **Damaged cell files** (empty, truncated, schema-broken, another cell's content): recomputed,
  and each is named in the log (``damaged cells/x.json (empty file): recomputing``).
- **A data set that cannot be loaded**: the run fails before creating the output folder.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustbench_convex._threads import set_torch_threads
from robustbench_convex.records import COLLAPSE_NOTE
from robustbench_convex.reevaluate import save_cell_network
from robustbench_convex.store import (
    CellPayload,
    FolderBusy,
    FolderLock,
    RecordStamp,
    ResultRecord,
    ResultStore,
    StoreError,
    hardware_info,
    package_versions,
    utc_now,
)
from robustbench_convex.sweep import Cell, SweepConfig

__all__ = ["SweepSummary", "estimate_cost", "load_dataset", "run_cell", "run_sweep"]


# ---------------------------------------------------------------------------------- one cell
@functools.lru_cache(maxsize=8)
def load_dataset(spec: Any):
    """``spec.load()`` (a ``sweep.DatasetSpec``), cached per process (a worker runs many cells
    of one data set)."""
    return spec.load()


def run_cell(cell: Cell) -> dict[str, Any]:
    """Train and evaluate one cell; return its payload (status "ok" or "error").

    The payload is a :class:`~robustbench_convex.store.CellPayload` (``to_dict()``): ``cell``
    (the cell's description), ``status``, ``records`` (``ResultRecord`` dicts), ``training``
    (the method's ``TrainingInfo``), ``history`` (per-iteration records), ``sanity`` (sanity-check
    rows), ``notes``, ``warnings`` (typed), ``points`` (per-point outcomes), ``error`` (traceback
    or None), ``provenance`` (versions, hardware, timings) and ``schema_version``. Exceptions of
    training or evaluation are caught and returned as an "error" payload; KeyboardInterrupt
    propagates."""
    import torch

    set_torch_threads(cell.threads)
    # torch's note on read-only numpy arrays (Dataset arrays are frozen) is noise here
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    versions = package_versions()
    hardware = {**hardware_info(), "torch_threads": torch.get_num_threads()}
    payload = CellPayload(
        cell=cell.describe(),
        provenance={"versions": versions, "hardware": hardware, "started": utc_now()},
    )
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        _train_and_evaluate(cell, payload, RecordStamp.of(versions, hardware))
    except Exception as exc:  # a failing cell must not stop the sweep
        payload.error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    payload.provenance["seconds"] = time.perf_counter() - t0
    payload.provenance["cpu_seconds"] = time.process_time() - c0
    payload.provenance["finished"] = utc_now()
    return payload.to_dict()


def _train_and_evaluate(cell: Cell, payload: CellPayload, stamp: RecordStamp) -> None:
    """Fill ``payload`` (status "ok" last) with the training and evaluation of ``cell``."""
    from robustbench_convex.evaluation import evaluate_model
    from robustbench_convex.methods import train_validated

    dataset = load_dataset(cell.dataset)
    # the cell's settings were validated once, when the sweep was parsed
    trained = train_validated(cell.method.method, dataset, cell.method.settings, cell.seed)
    info = trained.info
    payload.training = info
    payload.history = trained.history
    t1 = time.perf_counter()
    evaluated = evaluate_model(
        trained.model,
        dataset,
        cell.evaluation,
        sanity=cell.sanity,
        notes=[COLLAPSE_NOTE] if info.collapsed else None,
    )
    payload.sanity = evaluated.sanity
    payload.points = evaluated.points  # per-point outcomes (report: robust against all)
    payload.notes = list(info.notes)
    payload.warnings = [*trained.warnings, *evaluated.warnings]
    payload.records = [ResultRecord.from_parts(cell, row, info, stamp) for row in evaluated.rows]
    payload.network = trained.model.to_numpy()  # stored as .npz by the driver
    payload.status = "ok"
    payload.provenance["eval_seconds"] = time.perf_counter() - t1


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


def _set_parent_death_signal() -> bool:
    """Linux: ask the kernel to SIGKILL this process when its parent dies
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        return libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        return False


def _wait_for_exit(pid: int, poll: float = 0.2) -> None:
    """Block until process ``pid`` has exited (a zombie counts as exited)."""
    from robustbench_convex.store import _pid_alive

    pidfd = None
    try:
        pidfd = os.pidfd_open(pid)  # type: ignore[attr-defined]  # Linux >= 5.3, Python >= 3.9
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        pass
    if pidfd is not None:
        import select

        select.select([pidfd], [], [])  # readable once the process has exited
        return
    while _pid_alive(pid):  # pragma: no cover - platforms without pidfd
        time.sleep(poll)


def _die_with(driver_pid: int) -> None:
    """Make this pool worker die as soon as the driver ``driver_pid`` is gone (see the module
    docstring): a parent-death signal and a daemon watchdog thread that SIGKILLs this process
    (SIGTERM on platforms without SIGKILL) when the driver exits, however it exits."""
    parent = os.getppid()
    _set_parent_death_signal()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        _wait_for_exit(driver_pid)
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))

    threading.Thread(target=watch, name="rbconvex-driver-watchdog", daemon=True).start()


def _pool_initializer(threads: int, driver_pid: int | None = None) -> None:
    if driver_pid is not None:
        _die_with(driver_pid)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    set_torch_threads(threads)


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
        max_workers=jobs,
        mp_context=ctx,
        initializer=_pool_initializer,
        initargs=(threads, os.getpid()),
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
        return CellPayload(
            cell=cell.describe(),
            error="worker failed: "
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            provenance={"finished": utc_now()},
        ).to_dict()


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


# The training seconds of a cell come from its method's cost hint (``methods.CostHint``), for a
# data set of REF_SIZE = n_train * d = 12000 (breast-cancer: 398 x 30).
_REF_SIZE = 12000.0
# Seconds of evaluation without sanity checks, with exact verification of 30 points x 2 radii.
_EVAL_SECONDS = {"baseline": 0.8, "convex": 2.5, "convex-robust": 10.0}


def estimate_cost(cell: Cell, size: tuple[int, int] | None = None) -> float:
    """Estimated seconds of one cell on one core: a coarse model used to order a pool's queue
    (longest first) and to weight the progress bar, so that its ETA is the remaining estimated
    cost over the observed rate instead of remaining cells over cells per second (which, with
    the longest cells first, overstates the first ETA: replaying the committed quick-preset
    timings on 2 workers, the first ETA is 329 s for 68 s left by cells, 79 s by this model).

    Model: training = the method's cost hint (``MethodEntry.cost``: seconds at its reference
    settings x the ratio of iterations / epochs / patterns / width asked for) x
    ``n_train * d / 12000``;
    evaluation = a per-family constant x (0.4 + 0.6 x the fraction of the reference exact
    verification, 30 points x 2 radii) x 3 when the cell runs the sanity checks. ``size``:
    ``(n_train, d)`` of the data set (None: the reference size). Only ratios matter; the bar
    rescales to the observed speed as cells finish."""
    from robustbench_convex.methods import get_method

    key = cell.method.method
    n, d = size if size is not None else (398, 30)
    size_ratio = max(n * d / _REF_SIZE, 0.01)
    hint = get_method(key).cost
    train = (hint.train_seconds(cell.method.settings) if hint is not None else 3.0) * size_ratio
    family = (
        "convex-robust"
        if key.startswith("convex-robust-")
        else "convex"
        if cell.method.kind == "convex"
        else "baseline"
    )
    ev = cell.evaluation
    n_exact = len(ev.exact_eps if ev.exact_eps is not None else ev.eps)
    exact = min(ev.exact_max_points, 1000) * n_exact / 60 if ev.exact else 0.0
    evaluation = _EVAL_SECONDS[family] * (0.4 + 0.6 * exact) * (3.0 if cell.sanity else 1.0)
    return 0.2 + train + evaluation


def _preflight(config: SweepConfig, cells: Sequence[Cell]) -> dict[str, tuple[int, int]]:
    """Load the data sets of ``cells`` in the driver: a missing file or an impossible size
    fails here, before any training starts. Returns ``{name: (n_train, d)}``."""
    from robustbench_convex.sweep import ConfigError

    needed = {c.dataset.name for c in cells}
    sizes = {}
    for i, spec in enumerate(config.datasets):
        if spec.name not in needed:
            continue
        try:
            data = load_dataset(spec)
        except Exception as exc:
            raise ConfigError(f"datasets[{i}] ({spec.name!r}): cannot be loaded: {exc}") from exc
        sizes[spec.name] = (int(data.X_train.shape[0]), int(data.X_train.shape[1]))
    return sizes


def _plan(
    store: ResultStore,
    cells: Sequence[Cell],
    *,
    fresh: bool,
    retry_failed: bool,
    log: Callable[[str], None] | None,
) -> tuple[list[Cell], list[str]]:
    """The cells to run and the ids of those to skip; damaged files are named in the log."""
    todo, skipped = [], []
    for cell in cells:
        if fresh:
            todo.append(cell)
            continue
        found = store.inspect_cell(cell)
        if found.state == "ok" or (found.state == "error" and not retry_failed):
            skipped.append(cell.cell_id)
            continue
        if found.state == "damaged" and log is not None:
            log(f"damaged {store.relative(found.path)} ({found.problem}): recomputing {cell.label}")
        todo.append(cell)
    return todo, skipped


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
    wait_for_lock: bool = False,
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
        progress: show a tqdm bar (weighted by :func:`estimate_cost`; ETA from the model).
        preflight: load every data set before starting (fails early on missing data, before
            the output folder is created).
        log: where to print one line per finished cell and per damaged file found (default:
            nowhere; the CLI prints).
        wait_for_lock: when another run holds ``out``'s lock, wait for it (default: raise
            :class:`~robustbench_convex.store.FolderBusy` at once).

    Returns:
        a :class:`SweepSummary`; the aggregated CSV is ``summary.csv``.

    Raises:
        ConfigError: a data set cannot be loaded (before any training).
        FolderBusy: another live run holds ``out`` (unless ``wait_for_lock``).

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
    if store.root.exists() and not store.root.is_dir():
        raise ValueError(f"out: {store.root} exists and is not a folder")
    cells = config.cells()
    sizes: dict[str, tuple[int, int]] = {}
    if not store.root.exists() and preflight:  # fail before creating the folder
        sizes = _preflight(config, cells)
    store.root.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(store.root)
    try:
        lock.acquire(wait=False)
    except FolderBusy as exc:
        if not wait_for_lock:
            raise
        if log is not None:
            log(f"waiting: {exc}".split("; wait for it")[0])
        lock.acquire(wait=True)
    try:
        return _run_locked(
            config,
            store,
            cells,
            sizes,
            t0=t0,
            jobs=jobs,
            scheduler=scheduler,
            dask_local=dask_local,
            retry_failed=retry_failed,
            fresh=fresh,
            progress=progress,
            preflight=preflight,
            log=log,
        )
    finally:
        lock.release()


def _run_locked(
    config: SweepConfig,
    store: ResultStore,
    cells: list[Cell],
    sizes: dict[str, tuple[int, int]],
    *,
    t0: float,
    jobs: int,
    scheduler: str | None,
    dask_local: int | None,
    retry_failed: bool,
    fresh: bool,
    progress: bool,
    preflight: bool,
    log: Callable[[str], None] | None,
) -> SweepSummary:
    """:func:`run_sweep` once the folder is locked."""
    store.remove_stale_temp_files()
    summary = SweepSummary(out=store.root, n_cells=len(cells))
    todo, summary.skipped = _plan(store, cells, fresh=fresh, retry_failed=retry_failed, log=log)
    if log is not None:
        _log_foreign_damage(store, cells, log)
    if todo and preflight and not sizes:
        sizes = _preflight(config, todo)
    _rewrite_config(store, config, log)
    costs = {c.cell_id: estimate_cost(c, sizes.get(c.dataset.name)) for c in cells}
    todo, stream = _stream(todo, costs, config.threads_per_job, jobs, scheduler, dask_local)
    bar = _progress_bar(config.name, sum(costs[c.cell_id] for c in todo)) if progress else None
    n_done = len(summary.skipped)
    if bar is not None:
        bar.set_postfix_str(f"{n_done}/{len(cells)} cells", refresh=True)
    try:
        for cell, payload in _interruptible(stream):
            save_cell_network(store, cell, payload)  # the .npz first, then the JSON
            store.write_cell(cell, payload)
            ok = payload["status"] == "ok"
            (summary.finished if ok else summary.failed).append(cell.cell_id)
            if log is not None:
                (bar.write if bar is not None else log)(_cell_line(cell, payload))
            n_done += 1
            if bar is not None:
                bar.update(costs[cell.cell_id])
                bar.set_postfix_str(
                    f"{n_done}/{len(cells)} cells, last: {cell.label}", refresh=True
                )
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
    executor = (
        f"dask scheduler {scheduler}"
        if scheduler
        else f"dask LocalCluster({dask_local})"
        if dask_local
        else f"{min(jobs, max(len(todo), 1))} local process(es)"
    )
    store.append_run(_run_entry(summary, executor, len(cells)))
    return summary


def _log_foreign_damage(store: ResultStore, cells: list[Cell], log: Callable[[str], None]) -> None:
    """Name the damaged cell files that are not cells of this configuration."""
    ours = {store.cell_path(c) for c in cells}
    for path, why in store.audit().damaged:
        if path not in ours:
            log(
                f"damaged {store.relative(path)} ({why}): not a cell of this configuration; "
                "`rbconvex report` refuses the folder until it is moved out of cells/"
            )


def _rewrite_config(
    store: ResultStore, config: SweepConfig, log: Callable[[str], None] | None
) -> None:
    """Write ``config.json`` (saying so when the one on disk was damaged)."""
    try:
        store.read_config()
    except StoreError as exc:
        if log is not None:
            why = str(exc).split("; rerun")[0].split(": damaged ", 1)[-1]
            log(f"damaged config.json {why}: rewritten")
    store.write_config(config.to_dict())


def _stream(
    todo: list[Cell],
    costs: dict[str, float],
    threads: int,
    jobs: int,
    scheduler: str | None,
    dask_local: int | None,
) -> tuple[list[Cell], Iterator[tuple[Cell, dict[str, Any]]]]:
    """The executor's stream of ``(cell, payload)`` and the cells in the order submitted."""
    if scheduler is not None or dask_local is not None:
        return todo, _iter_dask(todo, scheduler, dask_local, threads)
    if jobs > 1 and len(todo) > 1:
        # longest first (by the cost model), so that no long cell starts last while others idle
        todo = sorted(todo, key=lambda c: costs[c.cell_id], reverse=True)
        return todo, _iter_pool(todo, min(jobs, len(todo)), threads)
    return todo, _iter_inprocess(todo)


def _interruptible(
    stream: Iterator[tuple[Cell, dict[str, Any]]],
) -> Iterator[tuple[Cell, dict[str, Any]]]:
    """``stream``, with Ctrl-C made reliable: SIGINT raises ``KeyboardInterrupt`` as Python's own
    handler does, and is also remembered, so that an interrupt Python drops (one that lands in a
    finalizer, whose exceptions are printed and ignored) still stops the sweep before the next
    cell is taken. The previous handler is restored afterwards; outside the main thread the
    stream is passed through unchanged."""
    hit = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        hit.set()
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield from stream
        return
    try:
        for item in stream:
            if hit.is_set():
                raise KeyboardInterrupt
            yield item
            if hit.is_set():
                raise KeyboardInterrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def _progress_bar(name: str, total: float):
    """A tqdm bar in estimated seconds (see :func:`estimate_cost`): its ETA is the remaining
    estimated cost at the observed rate; the cell count is in the postfix."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=name,
        smoothing=0,  # average rate since the start: cells finish in irregular bursts
        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]{postfix}",
    )


def _cell_line(cell: Cell, payload: dict[str, Any]) -> str:
    """One log line per finished cell: status, label, seconds, and the error's last line."""
    secs = payload.get("provenance", {}).get("seconds")
    took = f" in {secs:.1f} s" if secs is not None else ""
    line = f"{payload['status']:>5}  {cell.label}{took}"
    if payload["status"] != "ok":
        err = (payload.get("error") or "").strip().splitlines()
        line += f": {err[-1] if err else 'unknown error'}"
    return line


def _run_entry(summary: SweepSummary, executor: str, n_cells: int) -> dict[str, Any]:
    """The ``runs.jsonl`` line of a finished run."""
    return {
        "finished": utc_now(),
        "seconds": summary.seconds,
        "executor": executor,
        "cells": n_cells,
        "run": len(summary.finished) + len(summary.failed),
        "skipped": len(summary.skipped),
        "failed": len(summary.failed),
        "cpu_count": os.cpu_count(),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
