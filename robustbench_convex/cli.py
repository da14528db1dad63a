"""The ``rbconvex`` command line.

    rbconvex --version
    rbconvex datasets                      # names, sizes, dimensions, offline availability
    rbconvex run --preset quick --out DIR  # a sweep (see `rbconvex run --help`)
    rbconvex report DIR                    # tables, plots, report.md / report.html
    rbconvex train ...                     # train one model on one data set

Each subcommand's work lives in the module that owns it; this file only parses arguments.

Exit codes: 0 success; 1 the work ran but some of it failed (e.g. failed cells); 2 a mistake in
the arguments, the configuration or the folder, reported in one line naming the flag or file
before any work starts; 130 interrupted by Ctrl-C (SIGINT); 143 terminated by SIGTERM (handled
like Ctrl-C: finished work is saved and a resume hint printed); 141 the reader of stdout went
away (``rbconvex run --dry-run | head``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from robustbench_convex import __version__


def _cmd_datasets(args: argparse.Namespace) -> int:
    from robustbench_convex.data import describe_datasets

    table = describe_datasets(data_dir=args.data_dir)
    print(table.to_string(index=False))
    return 0


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (exit code 2), naming the
    subcommand, the flag and the fix: ``rbconvex train: error: argument --eps: must be > 0, got
    -0.1 (see `rbconvex train --help`)``. Subparsers inherit the class."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, so that a terminated command cleans up exactly as
    after Ctrl-C (a sweep stops its workers and saves what finished) and exits 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM terminates at once
    raise Terminated


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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


def _stdout_gone() -> int:
    """stdout's reader went away (``| head``): silence the flush at exit, exit 141 (as SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
        pass
    return 141


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a worker thread)
        pass
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe surfaces here, not as a traceback at exit
        return code
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _stdout_gone()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
