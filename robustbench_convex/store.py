"""The results store: typed records, one atomic JSON file per finished cell, an aggregated CSV.

Layout of a sweep's output folder::

    OUT/
      config.json          the resolved sweep configuration (with its config hash)
      cells/<file>.json    one per finished cell: a ``CellPayload`` ({"schema_version", "cell",
                           "status", "records", "training", "history", "sanity", "notes",
                           "warnings", "points", "error", "provenance"}); written atomically
      results.csv          every record of the configuration's finished cells (one row each)
      runs.jsonl           one line per completed `run_sweep` call (wall time, executor, counts)

A cell file is written to a temporary file in ``cells/``, flushed, fsync-ed and renamed over the
final name (``os.replace``), so a crash or Ctrl-C leaves either the complete file or none. A rerun
skips cells whose file exists with status "ok"; cells whose training raised are stored with status
"error" and the traceback, and are retried on the next run.

Robustness conventions (what a user can do to a folder, and what the store does about it):

- **Permissions**: files are created with mode 0666 filtered by the process umask (0644 under the
  usual 022), like any other tool's output; never the 0600 of ``tempfile.mkstemp``.
- **Temporary files are owned per process**: ``.<name>.<pid>.<random>.tmp``. A run removes only
  temporary files whose writer process is gone, never another live process's.
- **One writer per folder**: :class:`FolderLock` (``fcntl.flock`` on ``OUT/.rbconvex.lock``) is held
  by a run for its whole duration; a second run on the same folder refuses with the holder's pid
  and command, or waits for it (``rbconvex run --wait``). The kernel drops the lock when its holder
  dies, even by SIGKILL, so a killed run never blocks the next one.
- **Damaged files are named**: :meth:`ResultStore.inspect_cell` classifies a cell file as absent,
  ok, error or damaged (empty, truncated / invalid JSON, a field missing or of the wrong type, a
  record that does not parse, another cell's content under this cell's name), with the reason.
  A run recomputes a damaged cell and says so; :meth:`ResultStore.load_payloads` (the report's
  reader) refuses a folder with a damaged cell file by raising :class:`StoreError` naming every such
  file, so that no seed is silently dropped from a table; :meth:`ResultStore.audit` lists the damaged
  and the foreign files (cells of another configuration, files that are not cell files).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from robustbench_convex._atomic import TMP_RE, atomic_write_text
from robustbench_convex.records import (
    SCHEMA_VERSION,
    EvaluationRow,
    RecordWarning,
    SanityRow,
    SchemaError,
    TrainingInfo,
    upgrade_payload,
)

__all__ = [
    "SCHEMA_VERSION",
    "CellFile",
    "CellPayload",
    "FolderBusy",
    "FolderLock",
    "ResultRecord",
    "ResultStore",
    "StoreAudit",
    "StoreError",
    "atomic_write_text",
    "hardware_info",
    "package_versions",
]

CELLS_DIR = "cells"
CSV_NAME = "results.csv"
CONFIG_NAME = "config.json"
RUNS_NAME = "runs.jsonl"
LOCK_NAME = ".rbconvex.lock"


class StoreError(ValueError):
    """A results folder cannot be used as it is; the message names the files and the fix."""


class FolderBusy(StoreError):
    """Another live process holds the folder's lock (a run writing into it)."""


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
    ``device``: the torch device the model was trained on (records written before the field
    existed read as "cpu").
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
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_parts(
        cls, cell: Any, row: EvaluationRow, info: TrainingInfo, stamp: RecordStamp
    ) -> ResultRecord:
        """The one constructor of a record: a sweep ``cell`` (``sweep.Cell``), one evaluation
        ``row`` (its attack-specific fields), the model's training ``info`` (the fields named
        alike, ``time`` as ``train_time``) and the run's ``stamp``."""
        trained = info.to_dict()
        return cls(
            **{k: v for k, v in row.to_dict().items() if k in _ROW_FIELDS},
            **{k: trained[k] for k in _INFO_FIELDS},
            **dataclasses.asdict(stamp),
            train_time=float(info.time),
            dataset=cell.dataset.name,
            method=cell.method.name,
            method_kind=cell.method.kind,
            method_key=cell.method.method,
            seed=cell.seed,
            norm=cell.evaluation.norm,
            cell_id=cell.cell_id,
            config_hash=cell.config_hash,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultRecord:
        """Inverse of :meth:`to_dict` (also accepts a CSV row: NaN / "" read as None)."""
        names = {f.name for f in fields(cls)}
        missing = [n for n in names if n not in data and n not in ("notes", "device")]
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


_ROW_FIELDS = {f.name for f in fields(EvaluationRow)}
_INFO_FIELDS = (
    "objective",
    "nominal_objective",
    "status",
    "solver",
    "program",
    "is_certificate",
    "n_active",
    "width",
    "device",
)


@dataclass(frozen=True)
class RecordStamp:
    """Where and when a cell's records were made (the provenance columns of a record)."""

    versions: str
    hardware: str
    timestamp: str

    @classmethod
    def of(cls, versions: Mapping[str, str], hardware: Mapping[str, Any]) -> RecordStamp:
        """From :func:`package_versions` and :func:`hardware_info` (with ``torch_threads``)."""
        return cls(
            versions=" ".join(f"{k}={v}" for k, v in versions.items()),
            hardware=(
                f"{hardware['platform']}; {hardware['processor']}; {hardware['cpu_count']} cpus; "
                f"{hardware['torch_threads']} torch threads"
            ),
            timestamp=utc_now(),
        )


# -------------------------------------------------------------------------------- cell payload
@dataclass
class CellPayload:
    """What one cell's JSON file holds, at :data:`SCHEMA_VERSION` (built here, once, by every
    writer: ``execution.run_cell`` and the driver's error payload for a dead worker).

    ``records``: ``ResultRecord`` s; ``training``: the method's :class:`TrainingInfo` (None when
    training failed); ``history``: per-iteration dicts; ``sanity``: :class:`SanityRow` s;
    ``warnings``: :class:`RecordWarning` s; ``points``: per-point outcomes
    (``evaluation.EvalOutput.points``); ``error``: the traceback of a failed cell;
    ``provenance``: versions, hardware and timings; ``network``: the weights
    (``TwoLayerReLU.to_numpy()``) carried from a worker to the driver, which stores them as
    ``.npz`` and drops the key."""

    cell: dict[str, Any]
    status: Literal["ok", "error"] = "error"
    records: list[ResultRecord] = field(default_factory=list)
    training: TrainingInfo | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    sanity: list[SanityRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[RecordWarning] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "cell": self.cell,
            "status": self.status,
            "records": [r.to_dict() for r in self.records],
            "training": None if self.training is None else self.training.to_dict(),
            "history": list(self.history),
            "sanity": [s.to_dict() for s in self.sanity],
            "notes": list(self.notes),
            "warnings": [w.to_dict() for w in self.warnings],
            "points": list(self.points),
            "error": self.error,
            "provenance": dict(self.provenance),
        }
        if self.network is not None:
            out["network"] = self.network
        return out


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
_TMP_RE = TMP_RE


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    try:  # Linux: a zombie (killed, not yet reaped) writes nothing any more
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def temp_file_owner(path: Path) -> int | None:
    """The pid in a temporary file's name (None for a name without one)."""
    m = _TMP_RE.match(path.name)
    return int(m.group(1)) if m else None


# ------------------------------------------------------------------------------------- lock
class FolderLock:
    """Exclusive lock on a results folder (``fcntl.flock`` on ``<root>/.rbconvex.lock``).

    Held by a run from before it reads the folder until it returns; released by the kernel when
    the holder dies (even by SIGKILL). The lock file records the holder's pid, start time and
    command, which :class:`FolderBusy` quotes. On platforms without ``fcntl`` (Windows) locking is
    a no-op."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / LOCK_NAME
        self._fd: int | None = None

    def holder(self) -> str:
        """What the lock file says about its holder ("" if unknown)."""
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def acquire(self, *, wait: bool = False, poll: float = 0.5) -> None:
        """Take the lock; if another process holds it, raise :class:`FolderBusy` (``wait=False``)
        or block until it is released (``wait=True``)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not wait:
                        who = self.holder() or "another process"
                        raise FolderBusy(
                            f"{self.path.parent} is in use by another run ({who}); wait for it "
                            "to finish, pass --wait to queue behind it, or choose another --out"
                        ) from None
                    time.sleep(poll)
            command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}, started {utc_now()}: {command}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        """``with FolderLock(root):`` takes the lock (refusing if busy) and releases it."""
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


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


# ---------------------------------------------------------------------------- cell files
CellState = Literal["absent", "ok", "error", "damaged"]
_CELL_KEYS = ("cell_id", "config_hash", "dataset", "method", "seed")


@dataclass(frozen=True)
class CellFile:
    """What a cell file on disk holds.

    ``state``: "absent" (no file), "ok" / "error" (a valid payload with that status) or "damaged"
    (``problem`` says why: empty, not valid JSON, a field missing or of the wrong type, a record
    that does not parse, or another cell's payload under this cell's name)."""

    path: Path
    state: CellState
    payload: dict[str, Any] | None = None
    problem: str | None = None


def payload_problem(payload: Any, cell_id: str | None = None) -> str | None:
    """Why ``payload`` is not a valid cell payload (None if it is); ``cell_id``: the cell the
    file should hold."""
    if not isinstance(payload, dict):
        return f"not a cell payload (a JSON {type(payload).__name__}, expected an object)"
    missing = [k for k in ("cell", "status", "records") if k not in payload]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    cell = payload["cell"]
    if not isinstance(cell, dict):
        return "field 'cell' is not an object"
    missing = [k for k in _CELL_KEYS if k not in cell]
    if missing:
        return f"missing field(s) {', '.join('cell.' + k for k in missing)}"
    for key, sub in (("dataset", ("name",)), ("method", ("name", "method", "kind"))):
        if not isinstance(cell[key], dict) or any(k not in cell[key] for k in sub):
            return f"field 'cell.{key}' lacks {', '.join(sub)}"
    if cell_id is not None and cell["cell_id"] != cell_id:
        return f"holds cell {cell['cell_id']!r}, not this file's cell {cell_id!r}"
    status = payload["status"]
    if status not in ("ok", "error"):
        return f"status {status!r} is neither 'ok' nor 'error'"
    records = payload["records"]
    if not isinstance(records, list):
        return "field 'records' is not a list"
    if status == "ok" and not records:
        return "status 'ok' but no records"
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            return f"records[{i}] is not an object"
        try:
            ResultRecord.from_dict(rec)
        except (TypeError, ValueError) as exc:
            return f"records[{i}]: {exc}"
    if status == "ok" and not isinstance(payload.get("training"), dict):
        return "status 'ok' but field 'training' is not an object"
    if status == "ok":
        try:
            TrainingInfo.from_dict(payload["training"])
        except (TypeError, ValueError) as exc:
            return f"field 'training': {exc}"
    try:
        [RecordWarning.from_dict(w) for w in payload.get("warnings") or []]
    except (TypeError, ValueError, KeyError) as exc:
        return f"field 'warnings': not typed warnings {{kind, message}} ({exc})"
    return None


def read_payload(path: Path, cell_id: str | None = None) -> CellFile:
    """Read and check one cell file (see :class:`CellFile`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CellFile(path, "absent")
    except (OSError, UnicodeDecodeError) as exc:
        return CellFile(path, "damaged", problem=f"unreadable ({exc})")
    if not text.strip():
        return CellFile(path, "damaged", problem="empty file")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        return CellFile(
            path,
            "damaged",
            problem=f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}) in "
            f"{len(text)} characters, truncated?",
        )
    if isinstance(payload, dict):
        try:
            payload = upgrade_payload(payload)
        except SchemaError as exc:
            return CellFile(path, "damaged", problem=str(exc))
    problem = payload_problem(payload, cell_id)
    if problem is not None:
        return CellFile(path, "damaged", problem=problem)
    return CellFile(path, payload["status"], payload=payload)


@dataclass
class StoreAudit:
    """Every file of a results folder that is not as a run leaves it.

    ``damaged``: cell files that cannot be used, with the reason; ``foreign``: files that are not
    this configuration's (cells of another configuration hash, files in ``cells/`` that are not
    ``*.json``, stale temporary files of dead writers), with what they are."""

    damaged: list[tuple[Path, str]] = field(default_factory=list)
    foreign: list[tuple[Path, str]] = field(default_factory=list)

    def describe(self, root: Path) -> list[str]:
        """One line per file: ``cells/x.json: damaged (empty file)``."""

        def rel(p: Path) -> str:
            try:
                return str(p.relative_to(root))
            except ValueError:  # pragma: no cover
                return str(p)

        return [f"{rel(p)}: damaged ({why})" for p, why in self.damaged] + [
            f"{rel(p)}: {why}" for p, why in self.foreign
        ]


# --------------------------------------------------------------------------------------- store
class ResultStore:
    """A sweep's output folder (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / CELLS_DIR

    def relative(self, path: Path) -> str:
        """``path`` relative to the folder (for messages)."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:  # pragma: no cover
            return str(path)

    # -- cells
    def stale_temp_files(self) -> list[Path]:
        """Temporary files (``.*.tmp``) whose writer is gone: the pid in the name is not a live
        process (names without a pid: written by an older version, stale after 10 minutes)."""
        out = []
        for folder in (self.root, self.cells_dir):
            if not folder.is_dir():
                continue
            for path in folder.glob(".*.tmp"):
                pid = temp_file_owner(path)
                if pid is not None:
                    stale = pid != os.getpid() and not _pid_alive(pid)
                else:
                    try:
                        stale = time.time() - path.stat().st_mtime > 600
                    except FileNotFoundError:
                        continue
                if stale:
                    out.append(path)
        return out

    def remove_stale_temp_files(self) -> int:
        """Delete temporary files left by a killed writer (never a live process's; see
        :meth:`stale_temp_files`); returns how many."""
        n = 0
        for path in self.stale_temp_files():
            path.unlink(missing_ok=True)
            n += 1
        return n

    def cell_path(self, cell: Any) -> Path:
        return self.cells_dir / cell.filename

    def inspect_cell(self, cell: Any) -> CellFile:
        """The state of ``cell``'s file: absent, ok, error or damaged (with the reason)."""
        return read_payload(self.cell_path(cell), cell.cell_id)

    def read_cell(self, cell: Any) -> dict[str, Any] | None:
        """The stored payload of ``cell`` (None if absent or damaged; see :meth:`inspect_cell`)."""
        return self.inspect_cell(cell).payload

    def is_done(self, cell: Any) -> bool:
        """True when ``cell`` finished successfully (status "ok")."""
        return self.inspect_cell(cell).state == "ok"

    def write_cell(self, cell: Any, payload: Mapping[str, Any]) -> Path:
        path = self.cell_path(cell)
        atomic_write_text(path, dumps(payload))
        return path

    def scan(self) -> tuple[list[dict[str, Any]], StoreAudit]:
        """Every valid payload in ``cells/`` (in file-name order) and the audit of the rest.
        Cells of another configuration hash than ``config.json``'s are listed as foreign."""
        audit = StoreAudit()
        found_files: list[tuple[Path, dict[str, Any]]] = []
        if self.cells_dir.is_dir():
            for path in sorted(self.cells_dir.iterdir()):
                if path.name.startswith(".") and path.name.endswith(".tmp"):
                    continue  # a writer's temporary file (stale ones are listed below)
                if path.name.startswith("."):
                    continue
                if path.suffix == ".npz" and path.with_suffix(".json").is_file():
                    continue  # the cell's stored network, written next to its JSON
                if path.suffix != ".json" or not path.is_file():
                    audit.foreign.append((path, "not a cell file (ignored)"))
                    continue
                found = read_payload(path)
                if found.state == "damaged":
                    audit.damaged.append((path, str(found.problem)))
                elif found.payload is not None:
                    found_files.append((path, found.payload))
        stale = self.stale_temp_files()
        audit.foreign += [(p, "stale temporary file of a dead writer") for p in stale]
        bad_lines = self._damaged_run_lines()
        if bad_lines:
            audit.foreign.append(
                (
                    self.root / RUNS_NAME,
                    f"line(s) {', '.join(map(str, bad_lines))} not valid JSON (ignored; "
                    "the run log only)",
                )
            )
        try:
            config = self.read_config()
        except StoreError:
            config = None
        h = (config or {}).get("config_hash")
        if h is not None:
            for path, payload in found_files:
                if payload["cell"]["config_hash"] != h:
                    audit.foreign.append((path, "a cell of another configuration (ignored)"))
        return [payload for _, payload in found_files], audit

    def audit(self) -> StoreAudit:
        """The damaged and foreign files of the folder (see :class:`StoreAudit`)."""
        return self.scan()[1]

    def load_payloads(self, cells: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        """Payloads of ``cells`` that are on disk and valid (all cell files when None), in order.

        Raises:
            StoreError: ``cells`` is None and a cell file is damaged (the message names each one
                and why); a report must not silently drop a seed. With ``cells`` given, damaged
                files are skipped (the run that asks recomputes them)."""
        if cells is None:
            payloads, audit = self.scan()
            if audit.damaged:
                raise StoreError(self.damaged_message(audit))
            return payloads
        return [p for p in (self.read_cell(c) for c in cells) if p is not None]

    def damaged_message(self, audit: StoreAudit) -> str:
        lines = [f"{self.relative(p)}: {why}" for p, why in audit.damaged]
        return (
            f"{self.root}: {len(lines)} damaged cell file(s): "
            + "; ".join(lines)
            + ". Rerun `rbconvex run` with the same configuration and --out to recompute them, "
            "or move them out of cells/"
        )

    # -- run log
    def append_run(self, entry: Mapping[str, Any]) -> None:
        """Append one line to ``runs.jsonl`` (one per ``run_sweep`` invocation that finished)."""
        with open(self.root / RUNS_NAME, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_finite_or_none(dict(entry)), default=str) + "\n")

    def _damaged_run_lines(self) -> list[int]:
        """1-based numbers of the lines of ``runs.jsonl`` that do not parse."""
        path = self.root / RUNS_NAME
        if not path.is_file():
            return []
        bad = []
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                bad.append(k)
        return bad

    def read_runs(self) -> list[dict[str, Any]]:
        """The entries of ``runs.jsonl`` (lines that do not parse are skipped; :meth:`audit`
        names them)."""
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
        """The stored configuration (None if absent).

        Raises:
            StoreError: ``config.json`` is empty, truncated or not a JSON object (names it)."""
        path = self.root / CONFIG_NAME
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
        fix = "rerun `rbconvex run` with the same configuration and --out to rewrite it"
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            why = "empty file" if not text.strip() else f"not valid JSON: {exc.msg}, truncated?"
            raise StoreError(f"{path}: damaged ({why}); {fix}") from None
        if not isinstance(config, dict):
            raise StoreError(f"{path}: damaged (not a JSON object); {fix}")
        return config

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
