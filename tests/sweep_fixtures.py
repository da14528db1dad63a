"""Tiny sweep configurations shared by the sweep / store / execution / report tests."""

from __future__ import annotations

import copy
from typing import Any

TINY: dict[str, Any] = {
    "sweep": {"name": "tiny", "seeds": [0]},
    "datasets": [{"name": "synthetic-xor", "n_train": 40, "n_test": 24}],
    "method_defaults": {"beta": 1e-3, "loss": "logistic"},
    "methods": [
        {"name": "sgd", "method": "sgd", "width": 6, "epochs": 15, "seeds": [0, 1]},
        {"name": "sgd-wide", "method": "sgd", "width": 12, "epochs": 10},
    ],
    "evaluation": {
        "eps": [0.05, 0.15],
        "attacks": ["fgsm", "pgd"],
        "pgd_steps": 5,
        "pgd_restarts": 1,
        "exact": True,
        "exact_max_points": 6,
        "exact_time_limit": 5.0,
        "sanity": "none",
    },
}


def tiny(**changes: Any) -> dict[str, Any]:
    """A deep copy of TINY with top-level tables replaced by ``changes``."""
    raw = copy.deepcopy(TINY)
    raw.update(copy.deepcopy(changes))
    return raw


def to_toml(raw: dict[str, Any]) -> str:
    """Minimal TOML writer for the configs above (tables, arrays of tables, scalars, lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines: list[str] = []
    for key, v in raw.items():
        if isinstance(v, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {value(x)}" for k, x in v.items()]
        else:
            for entry in v:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {value(x)}" for k, x in entry.items()]
        lines.append("")
    return "\n".join(lines)
