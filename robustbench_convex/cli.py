"""The ``rbconvex`` command line.

    rbconvex --version
    rbconvex datasets                      # names, sizes, dimensions, offline availability
    rbconvex run --preset quick --out DIR  # a sweep (see `rbconvex run --help`)
    rbconvex report DIR                    # tables, plots, report.md / report.html
    rbconvex train ...                     # train one model on one data set

Each subcommand's work lives in the module that owns it; this file only parses arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from robustbench_convex import __version__


def _cmd_datasets(args: argparse.Namespace) -> int:
    from robustbench_convex.data import describe_datasets

    table = describe_datasets(data_dir=args.data_dir)
    print(table.to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rbconvex",
        description=(
            "robustbench-convex: convex (globally optimal) and SGD training of one-hidden-layer "
            "ReLU networks, attacked by one shared attack module, summarized into reports."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rbconvex {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("datasets", help="list the data sets, their sizes and offline availability")
    p.add_argument(
        "--data-dir",
        default=None,
        help="cache directory of download-backed data sets (default: $RBCONVEX_DATA or "
        "~/.cache/robustbench_convex)",
    )
    p.set_defaults(func=_cmd_datasets)

    # Subcommands owned by other modules register themselves here.
    for module_name in ("robustbench_convex.sweep_cli", "robustbench_convex.report_cli"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as exc:  # pragma: no cover - only while a module is absent
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
