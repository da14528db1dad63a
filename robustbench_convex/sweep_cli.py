"""``rbconvex run``, ``rbconvex report`` and ``rbconvex train`` (registered by ``cli.py``).

rbconvex run --preset quick --out results/quick          # the whole benchmark, then a report
rbconvex run --config my_sweep.toml --out out --jobs 4    # local process pool
rbconvex run --config my_sweep.toml --out out --scheduler tcp://10.0.0.1:8786   # Dask
rbconvex run --config my_sweep.toml --out out --dask-local 4   # Dask LocalCluster
rbconvex run --preset quick --dry-run                     # validate and list the cells
rbconvex run --preset quick --out results/quick --fresh  # recompute even finished cells
rbconvex report results/quick                             # tables, plots, report.md/.html
rbconvex train --dataset breast-cancer --method convex-admm --set beta=1e-3 --eps 0.05 0.1

Every argument is checked before any work starts: a mistake is one line on stderr naming the flag
(``rbconvex train: error: argument --eps: must be a number > 0, got '-0.1'``) and exit code 2. A
damaged or foreign file in a results folder is named (``run`` recomputes a damaged cell and says
so; ``report`` refuses a folder with a damaged cell file, exit code 2). A second ``run`` on a folder
in use refuses (exit code 2) unless ``--wait`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


# ----------------------------------------------------------------- argument types (parse time)
def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum`` (a one-line error naming the bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _fail(command: str, message: str) -> int:
    """One line on stderr, exit code 2 (a usage mistake found before any work)."""
    print(f"rbconvex {command}: error: {message}", file=sys.stderr)
    return 2


def _check_out_folder(out: Path) -> str | None:
    """Why ``out`` cannot be a results folder (None if it can)."""
    if out.exists() and not out.is_dir():
        return f"argument --out: {out} exists and is not a folder"
    parent = next((p for p in (out, *out.parents) if p.exists()), None)
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        return f"argument --out: {parent} is not writable"
    return None


def _load(args: argparse.Namespace):
    from robustbench_convex.sweep import load_config, load_preset

    if args.preset is not None:
        return load_preset(args.preset)
    return load_config(args.config)


def _cmd_run(args: argparse.Namespace) -> int:
    from robustbench_convex.execution import run_sweep
    from robustbench_convex.store import StoreError
    from robustbench_convex.sweep import ConfigError

    try:
        config = _load(args)
    except ConfigError as exc:
        return _fail("run", f"invalid configuration: {exc}")
    cells = config.cells()
    if args.dry_run:
        print(f"{config.name}: {len(cells)} cells (config hash {config.config_hash})")
        for cell in cells:
            print(f"  {cell.cell_id}  {cell.label}")
        return 0
    out = Path(args.out) if args.out else Path("results") / config.name
    problem = _check_out_folder(out)
    if problem is not None:
        return _fail("run", problem)
    where = (
        f"Dask scheduler {args.scheduler}"
        if args.scheduler
        else f"a Dask LocalCluster of {args.dask_local} workers"
        if args.dask_local
        else f"{args.jobs} local process(es)"
    )
    log = None if args.quiet else print
    if log:
        log(f"{config.name}: {len(cells)} cells -> {out} ({where})")
    try:
        summary = run_sweep(
            config,
            out,
            jobs=args.jobs,
            scheduler=args.scheduler,
            dask_local=args.dask_local,
            retry_failed=not args.keep_failed,
            fresh=args.fresh,
            progress=not args.quiet,
            log=log if log is not None else _stderr_notices,
            wait_for_lock=args.wait,
        )
    except (ConfigError, StoreError) as exc:  # StoreError includes FolderBusy
        return _fail("run", str(exc))
    if not args.quiet:
        print(
            f"{len(summary.finished)} cells run, {len(summary.skipped)} already done, "
            f"{len(summary.failed)} failed, in {summary.seconds:.1f} s; results: {summary.csv}"
        )
    if not args.no_report:
        from robustbench_convex.report import write_report

        try:
            paths = write_report(out)
        except StoreError as exc:
            print(f"rbconvex run: report not written: {exc}", file=sys.stderr)
            return 1
        if not args.quiet:
            print(f"report: {paths['md']} and {paths['html']}")
    if summary.failed:
        print(
            f"{len(summary.failed)} cell(s) failed (tracebacks in {out}/cells/*.json, "
            "status 'error'); rerun the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def _stderr_notices(line: str) -> None:
    """With --quiet, still say which damaged files are recomputed and that the run waits."""
    if line.startswith(("damaged ", "waiting: ")):
        print(line, file=sys.stderr)


def _cmd_report(args: argparse.Namespace) -> int:
    from robustbench_convex.report import write_report
    from robustbench_convex.store import CELLS_DIR, CONFIG_NAME, ResultStore, StoreError

    root = Path(args.dir)
    if not root.is_dir():
        return _fail("report", f"no such folder: {args.dir}")
    if not (root / CONFIG_NAME).is_file() and not (root / CELLS_DIR).is_dir():
        return _fail(
            "report",
            f"{root} is not a sweep folder (no {CONFIG_NAME}, no {CELLS_DIR}/); "
            f"write one with `rbconvex run --out {root}`",
        )
    store = ResultStore(root)
    try:
        store.read_config()
        _, audit = store.scan()
    except StoreError as exc:
        return _fail("report", str(exc))
    if audit.damaged:
        print(
            f"rbconvex report: error: refusing to report {root}: {len(audit.damaged)} damaged "
            "cell file(s) (a table would silently lack their seeds); rerun `rbconvex run` with "
            "the same configuration and --out to recompute them, or move them out of cells/:",
            file=sys.stderr,
        )
        for line in audit.describe(root)[: len(audit.damaged)]:
            print(f"  {line}", file=sys.stderr)
        return 2
    for line in audit.describe(root):
        print(f"rbconvex report: note: {line}", file=sys.stderr)
    paths = write_report(root)
    print(f"report: {paths['md']} and {paths['html']} ({len(paths['figures'])} figures)")
    return 0


def _parse_value(text: str) -> Any:
    from robustbench_convex.sweep import tomllib  # tomllib, or the tomli backport on 3.10

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _train_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The method's resolved settings from ``--set`` and ``--device``, validated once.

    Raises:
        ValueError: a malformed ``--set``, an unknown / bad setting, or ``--device`` for a
            method that does not train with torch (the message names the argument)."""
    from robustbench_convex.methods import get_method, resolve_device, validate_params

    settings: dict[str, Any] = {}
    for item in args.set or []:
        if "=" not in item:
            raise ValueError(f"argument --set: expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        settings[key.strip()] = _parse_value(value.strip())
    if args.device is not None:
        if "device" not in get_method(args.method).params:
            raise ValueError(
                f"argument --device: method {args.method!r} does not train with torch and has "
                "no device setting; leave --device out"
            )
        resolve_device(args.device, where="argument --device")  # "cuda" without CUDA: here
        settings["device"] = args.device
    return validate_params(args.method, settings, where="--set")


def _train_cell(args: argparse.Namespace, settings: dict[str, Any]):
    """The one cell (data set, method, seed) of ``rbconvex train``, as a one-cell sweep."""
    from robustbench_convex.sweep import DatasetSpec, EvalSpec, MethodSpec, SweepConfig

    eps = tuple(sorted(set(args.eps or [])))
    config = SweepConfig(
        name="train",
        datasets=(
            DatasetSpec(
                args.dataset, n_train=args.n_train, n_test=args.n_test, data_dir=args.data_dir
            ),
        ),
        methods=(MethodSpec(args.method, args.method, settings, (args.seed,)),),
        evaluation=EvalSpec(
            eps=eps,
            attacks=("fgsm", "pgd") if eps else (),
            pgd_steps=args.pgd_steps,
            pgd_restarts=args.pgd_restarts,
            exact=False,
            sanity="none",
        ),
        threads_per_job=args.threads,
    )
    return config.cells()[0]


def _print_cell(payload: dict[str, Any]) -> None:
    info = payload["training"]
    print(
        f"{info['method']}: status {info['status']}, solver {info['solver']} on "
        f"{info['device']}, program {info['program']}, objective {info['objective']:.6g} "
        f"(nominal objective {info['nominal_objective']:.6g}), {info['n_active']} active "
        f"neurons, train acc {info['train_acc']:.4f}, {info['time']:.2f} s"
    )
    for note in info.get("notes", []):
        print(f"  note: {note}")
    for row in payload["records"]:
        label = "clean" if row["attack"] == "clean" else f"{row['attack']} eps={row['eps']:g}"
        print(f"  {label:<18} accuracy {row['robust_acc']:.4f}  (n={row['n_eval']})")


def _cmd_train(args: argparse.Namespace) -> int:
    """Train and attack one cell through ``execution.run_cell``: the JSON of ``--out`` is the
    same payload as a sweep's cell file."""
    from robustbench_convex.data import list_datasets
    from robustbench_convex.execution import load_dataset, run_cell
    from robustbench_convex.methods import get_method

    try:
        get_method(args.method, where="argument --method")
    except ValueError as exc:
        return _fail("train", str(exc))
    if args.dataset not in list_datasets():
        return _fail(
            "train",
            f"argument --dataset: unknown data set {args.dataset!r}; "
            f"valid: {', '.join(list_datasets())}",
        )
    if args.out and Path(args.out).is_dir():
        return _fail("train", f"argument --out: {args.out} is a folder; give a file name")
    try:
        settings = _train_settings(args)
    except (TypeError, ValueError) as exc:
        return _fail("train", str(exc))
    if args.save_model and not args.save_model.endswith(".npz"):
        return _fail(
            "train",
            f"argument --save-model: the file name must end in .npz, got {args.save_model!r}",
        )
    cell = _train_cell(args, settings)
    try:
        dataset = load_dataset(cell.dataset)
    except (TypeError, ValueError, OSError) as exc:
        return _fail("train", f"argument --dataset: {args.dataset!r} cannot be loaded: {exc}")
    print(dataset.summary())
    payload = run_cell(cell)
    if payload["status"] != "ok":
        err = (payload.get("error") or "").strip().splitlines()
        return _fail("train", f"training failed: {err[-1] if err else 'unknown error'}")
    _print_cell(payload)
    weights = payload.pop("network")
    if args.save_model:
        from robustbench_convex.network import TwoLayerReLU, save_network

        net = TwoLayerReLU.from_numpy(weights["U"], weights["alpha"], weights["b"], weights["c"])
        print(f"saved the network to {save_network(net, args.save_model)}")
    if args.out:
        from robustbench_convex.store import atomic_write_text, dumps

        atomic_write_text(args.out, dumps(payload))
        print(f"saved {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``run``, ``report`` and ``train`` to the ``rbconvex`` parser."""
    from robustbench_convex.sweep import list_presets

    p = sub.add_parser(
        "run",
        help="run a sweep (data sets x methods x seeds, attacked on one grid) and write a report",
        description="Train every method on every data set, attack all models the same way, "
        "store one JSON per finished cell and an aggregated CSV, then write the report. "
        "Rerunning the same command resumes: finished cells are skipped.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", choices=list_presets(), help="a shipped sweep")
    src.add_argument("--config", metavar="FILE", help="a TOML sweep file")
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/<sweep name>)")
    ex = p.add_mutually_exclusive_group()
    ex.add_argument(
        "--jobs",
        type=_positive_int,
        default=_default_jobs(),
        help="local worker processes (default: %(default)s)",
    )
    ex.add_argument(
        "--scheduler", type=_nonempty, metavar="ADDRESS", help="run on this Dask scheduler"
    )
    ex.add_argument(
        "--dask-local",
        type=_positive_int,
        metavar="N",
        help="start a Dask LocalCluster with N workers",
    )
    for flag, text in (
        ("--quiet", "no progress bar or per-cell lines"),
        ("--keep-failed", "do not retry failed cells"),
        ("--fresh", "recompute every cell, also those already finished in --out (default: resume)"),
        ("--no-report", "skip writing the report"),
        ("--dry-run", "validate, list the cells and exit"),
        (
            "--wait",
            "if another run is writing --out, wait for it to finish and then resume "
            "(default: refuse at once)",
        ),
    ):
        p.add_argument(flag, action="store_true", help=text)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="tables, plots, report.md and report.html of a sweep folder")
    p.add_argument("dir", metavar="DIR", help="a folder written by `rbconvex run`")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("train", help="train one method on one data set and print its metrics")
    p.add_argument("--dataset", required=True, help="a name from `rbconvex datasets`")
    p.add_argument("--method", required=True, help="a method key, e.g. convex-admm, sgd, pgd-at")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="a method setting (repeatable)"
    )
    p.add_argument("--seed", type=_nonneg_int, default=0)
    p.add_argument("--n-train", type=_positive_int, default=None)
    p.add_argument("--n-test", type=_positive_int, default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--eps", type=_positive_float, nargs="*", help="attack radii (> 0; l_inf, input units)"
    )
    p.add_argument("--pgd-steps", type=_positive_int, default=20)
    p.add_argument("--pgd-restarts", type=_positive_int, default=1)
    p.add_argument("--threads", type=_positive_int, default=1, help="torch threads (>= 1)")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default=None,
        help="torch device of the training (the method's `device` setting; default: cpu; "
        "auto: CUDA when available)",
    )
    p.add_argument(
        "--out", metavar="FILE", help="save the cell's payload as JSON (a sweep cell file's shape)"
    )
    p.add_argument(
        "--save-model", metavar="FILE.npz", help="save the trained network (load_network(FILE))"
    )
    p.set_defaults(func=_cmd_train)
