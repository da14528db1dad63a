"""The results store: typed records, one atomic JSON file per finished cell, an aggregated CSV.

Layout of a sweep's output folder::

    OUT/
      config.json          the resolved sweep configuration (with its config hash)
      cells/<file>.json    one per finished cell: {"cell", "status", "records", "training",
                           "history", "sanity", "error", "provenance"}; written atomically
      results.csv          every record of the configuration's finished cells (one row each)
      runs.jsonl           one line per completed `run_sweep` call (wall time, executor, counts)

A cell file is written to a temporary file in ``cells/``, flushed, fsync-ed and renamed over the
final name (``os.replace``), so a crash or Ctrl-C leaves either the complete file or none. A rerun
skips cells whose file exists with status "ok"; cells whose training raised are stored with status
"error" and the traceback, and are retried on the next run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "ResultRecord",
    "ResultStore",
    "atomic_write_text",
    "hardware_info",
    "package_versions",
]

CELLS_DIR = "cells"
CSV_NAME = "results.csv"
CONFIG_NAME = "config.json"
RUNS_NAME = "runs.jsonl"

ATTACKS = ("clean", "fgsm", "pgd", "exact", "lp-certified")


@dataclass(frozen=True)
class ResultRecord:
    """One row of results: a (data set, method, seed, attack, eps).

    Accuracies are fractions in [0, 1] over ``n_eval`` test points (``clean_acc`` on the same
    points). ``robust_acc``: accuracy under the attack (for "exact": the fraction proven robust by
    the MILP; for "lp-certified": the fraction certified by the LP relaxation); ``certified_acc`` /
    ``exact_acc``: LP-certified / MILP-exact accuracy on those points where computed (None
    elsewhere); ``exact_acc_upper``: fraction not proven non-robust (equals ``exact_acc`` when every
    MILP finished). ``sandwich_ok``: whether certified <= exact <= PGD held point by point (None
    when not checked). eps is in the units of the attacked input space (``norm`` = "inf").
    """

    dataset: str
    method: str
    method_kind: str
    seed: int
    attack: str
    eps: float
    norm: str
    n_eval: int
    clean_acc: float
    robust_acc: float | None
    certified_acc: float | None
    exact_acc: float | None
    exact_acc_upper: float | None
    sandwich_ok: bool | None
    train_time: float
    eval_time: float
    objective: float | None
    nominal_objective: float | None
    status: str
    solver: str
    program: str
    is_certificate: bool
    n_active: int
    width: int
    method_key: str
    cell_id: str
    config_hash: str
    versions: str
    hardware: str
    timestamp: str
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultRecord:
        """Inverse of :meth:`to_dict` (also accepts a CSV row: NaN / "" read as None)."""
        names = {f.name for f in fields(cls)}
        missing = [n for n in names if n not in data and n != "notes"]
        if missing:
            raise ValueError(f"record is missing fields {sorted(missing)}")
        clean = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            v = data[f.name]
            if isinstance(v, float) and math.isnan(v) and "None" in str(f.type):
                v = None
            clean[f.name] = v
        return cls(**clean)

    @staticmethod
    def volatile_fields() -> tuple[str, ...]:
        """Fields that legitimately differ between two runs of the same cell."""
        return ("train_time", "eval_time", "hardware", "timestamp", "versions")


# --------------------------------------------------------------------------------- provenance
def package_versions() -> dict[str, str]:
    """Versions of the packages that determine results."""
    from importlib import metadata

    out = {}
    for name in ("robustbench-convex", "torch", "numpy", "scipy", "cvxpy", "clarabel"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def hardware_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ atomic writes
def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: temp file in the same folder, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _finite_or_none(value: Any) -> Any:
    """NaN / inf -> None recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def dumps(payload: Any) -> str:
    return json.dumps(_finite_or_none(payload), indent=1, default=_json_default, allow_nan=False)


# --------------------------------------------------------------------------------------- store
class ResultStore:
    """A sweep's output folder (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / CELLS_DIR

    # -- cells
    def remove_stale_temp_files(self) -> int:
        """Delete temp files left by a killed writer (``.<name>.*.tmp``); returns how many."""
        n = 0
        for folder in (self.root, self.cells_dir):
            if folder.is_dir():
                for path in folder.glob(".*.tmp"):
                    path.unlink(missing_ok=True)
                    n += 1
        return n

    def cell_path(self, cell: Any) -> Path:
        return self.cells_dir / cell.filename

    def read_cell(self, cell: Any) -> dict[str, Any] | None:
        """The stored payload of ``cell`` (None if absent or unreadable)."""
        path = self.cell_path(cell)
        if not path.is_file():
            return None
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if payload.get("cell", {}).get("cell_id") != cell.cell_id:
            return None
        return payload

    def is_done(self, cell: Any) -> bool:
        """True when ``cell`` finished successfully (status "ok")."""
        payload = self.read_cell(cell)
        return payload is not None and payload.get("status") == "ok"

    def write_cell(self, cell: Any, payload: Mapping[str, Any]) -> Path:
        path = self.cell_path(cell)
        atomic_write_text(path, dumps(payload))
        return path

    def load_payloads(self, cells: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        """Payloads of ``cells`` that are on disk (all cell files when None), in order."""
        if cells is None:
            out = []
            for path in sorted(self.cells_dir.glob("*.json")):
                try:
                    out.append(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, json.JSONDecodeError):
                    continue
            return out
        return [p for p in (self.read_cell(c) for c in cells) if p is not None]

    # -- run log
    def append_run(self, entry: Mapping[str, Any]) -> None:
        """Append one line to ``runs.jsonl`` (one per ``run_sweep`` invocation that finished)."""
        with open(self.root / RUNS_NAME, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_finite_or_none(dict(entry)), default=str) + "\n")

    def read_runs(self) -> list[dict[str, Any]]:
        path = self.root / RUNS_NAME
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    # -- config
    def write_config(self, config_dict: Mapping[str, Any]) -> None:
        atomic_write_text(self.root / CONFIG_NAME, dumps(config_dict))

    def read_config(self) -> dict[str, Any] | None:
        path = self.root / CONFIG_NAME
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    # -- records
    @staticmethod
    def records_of(payloads: Iterable[Mapping[str, Any]]) -> list[ResultRecord]:
        out = []
        for p in payloads:
            if p.get("status") == "ok":
                out.extend(ResultRecord.from_dict(r) for r in p.get("records", []))
        return out

    def records(self, cells: Iterable[Any] | None = None) -> list[ResultRecord]:
        return self.records_of(self.load_payloads(cells))

    def write_csv(self, records: Iterable[ResultRecord]) -> Path:
        """The aggregated CSV (atomically), one row per record, columns in field order."""
        import pandas as pd

        cols = [f.name for f in fields(ResultRecord)]
        frame = pd.DataFrame([r.to_dict() for r in records], columns=cols)
        path = self.root / CSV_NAME
        atomic_write_text(path, frame.to_csv(index=False, float_format="%.10g"))
        return path

    def read_csv(self):
        """The aggregated CSV as a DataFrame."""
        import pandas as pd

        return pd.read_csv(self.root / CSV_NAME)
