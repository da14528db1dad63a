"""``rbconvex evaluate``, ``rbconvex methods`` and ``rbconvex preset`` (registered by ``cli.py``).

rbconvex evaluate results/quick --attack pgd --pgd-steps 100 --pgd-restarts 5   # stronger PGD
rbconvex evaluate results/quick --attack exact --exact-points 100               # more verified points
rbconvex evaluate results/quick --attack pgd fgsm --eps 0.25                     # a new radius
rbconvex methods                      # every method key, its kind and description
rbconvex methods convex-admm          # its settings, defaults and help
rbconvex preset list                  # the shipped presets
rbconvex preset show quick > my.toml  # a preset's TOML, to start a config from
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from robustbench_convex.reevaluate import reevaluate

    if not Path(args.dir).is_dir():
        print(f"rbconvex evaluate: no such folder: {args.dir}", file=sys.stderr)
        return 2
    try:
        summary = reevaluate(
            args.dir,
            attacks=args.attack,
            eps=args.eps,
            pgd_steps=args.pgd_steps,
            pgd_restarts=args.pgd_restarts,
            exact_max_points=args.exact_points,
            exact_time_limit=args.exact_time_limit,
            n_eval=args.n_eval,
            methods=args.method,
            datasets=args.dataset,
            log=None if args.quiet else print,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"rbconvex evaluate: {exc}", file=sys.stderr)
        return 2
    for name, why in summary.skipped:
        print(f"skipped {name}: {why}", file=sys.stderr)
    pairs = ", ".join(f"{a}@{e:g}" for a, e in summary.pairs) or "nothing"
    print(f"{len(summary.updated)} cell(s) updated ({pairs}); results: {summary.csv}")
    if not args.no_report:
        from robustbench_convex.report import write_report

        paths = write_report(args.dir)
        print(f"report: {paths['md']} and {paths['html']}")
    return 0 if summary.updated or not summary.skipped else 1


def _cmd_methods(args: argparse.Namespace) -> int:
    from robustbench_convex.methods import METHODS, get_method

    if args.key is None:
        width = max(len(k) for k in METHODS)
        for key, entry in METHODS.items():
            print(f"{key:<{width}}  {entry.kind:<8}  {entry.description}")
        print("\n`rbconvex methods KEY` lists a method's settings, defaults and help.")
        torch_methods = [k for k, e in METHODS.items() if "device" in e.params]
        print(
            'Device: `device = "cpu"` (default), "cuda" or "auto" (CUDA when available) for '
            f"the methods that train with torch ({', '.join(torch_methods)}); per method, in "
            '[sweep] for every such method, or `rbconvex train --device`. "cuda" without '
            "CUDA is refused before any work starts; the device is recorded in every record."
        )
        return 0
    try:
        entry = get_method(args.key, where="KEY")
    except ValueError as exc:
        print(f"rbconvex methods: {exc}", file=sys.stderr)
        return 2
    print(f"{entry.key} ({entry.kind}): {entry.description}\n")
    rows = []
    for name, spec in entry.params.items():
        kind = spec.kind + (" or none" if spec.optional else "")
        if spec.choices:
            kind = " | ".join(spec.choices) + (" | none" if spec.optional else "")
        rows.append((name, repr(spec.default), kind, spec.help))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"{'setting':<{w[0]}}  {'default':<{w[1]}}  {'values':<{w[2]}}  help")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    print(
        f'\nIn a sweep: [[methods]] name = "..." method = "{entry.key}" and any setting above; '
        f"one run: rbconvex train --method {entry.key} --set KEY=VALUE"
        + (" [--device cpu|cuda|auto]" if "device" in entry.params else "")
    )
    return 0


def _cmd_preset(args: argparse.Namespace) -> int:
    from robustbench_convex.sweep import ConfigError, list_presets, preset_text

    if args.action == "list":
        for name in list_presets():
            print(name)
        return 0
    if args.name is None:
        print(
            "rbconvex preset show: give a NAME (one of: " + ", ".join(list_presets()) + ")",
            file=sys.stderr,
        )
        return 2
    try:
        sys.stdout.write(preset_text(args.name))
    except ConfigError as exc:
        print(f"rbconvex preset: {exc}", file=sys.stderr)
        return 2
    return 0


def _command(
    sub: argparse._SubParsersAction, name: str, func: Any, text: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A sub-command ``name`` (``text``: its one-line help) that runs ``func(args)``."""
    p = sub.add_parser(name, help=text, description=description)
    p.set_defaults(func=func)
    return p


_EVALUATE = (
    "Load every stored network (cells/*.npz) of a sweep folder, run the given attacks again (same "
    "settings by default, which reproduces the stored numbers; or stronger ones), replace only "
    "the re-run (attack, eps) records in each cell file, rewrite results.csv and the report."
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate``, ``methods`` and ``preset`` to the ``rbconvex`` parser."""
    text = "re-attack the stored models of a sweep folder (no retraining) and update it"
    p = _command(sub, "evaluate", _cmd_evaluate, text, _EVALUATE)
    p.add_argument("dir", metavar="DIR", help="a folder written by `rbconvex run`")
    p.add_argument(
        "--attack",
        nargs="+",
        choices=("fgsm", "pgd", "exact"),
        default=["pgd"],
        help="what to re-run (exact = MILP + LP certificate); default: pgd",
    )
    p.add_argument("--eps", type=float, nargs="+", help="radii (default: each cell's own grid)")
    p.add_argument("--pgd-steps", type=int, help="PGD steps (default: as the sweep ran it)")
    p.add_argument("--pgd-restarts", type=int, help="PGD restarts (default: as the sweep)")
    p.add_argument("--exact-points", type=int, help="test points verified by exact / LP")
    p.add_argument("--exact-time-limit", type=float, help="seconds per MILP")
    p.add_argument("--n-eval", type=int, help="test points attacked (default: as the sweep)")
    p.add_argument("--method", nargs="+", help="only these method labels")
    p.add_argument("--dataset", nargs="+", help="only these data sets")
    p.add_argument("--no-report", action="store_true", help="do not rewrite the report")
    p.add_argument("--quiet", action="store_true", help="no per-cell lines")

    text = "list the training methods, or one method's settings"
    p = _command(sub, "methods", _cmd_methods, text)
    p.add_argument("key", nargs="?", metavar="KEY", help="a method key (e.g. convex-admm)")

    text = "list the shipped presets or print one (a config to start from)"
    p = _command(sub, "preset", _cmd_preset, text)
    p.add_argument("action", choices=("list", "show"))
    p.add_argument("name", nargs="?", metavar="NAME", help="a preset name (with show)")
