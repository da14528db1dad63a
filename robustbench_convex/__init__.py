"""robustbench-convex: globally optimal (convex) training of one-hidden-layer ReLU networks,
their robust counterparts, SGD / adversarial-training baselines, and one shared attack module.

Public names are imported lazily (``robustbench_convex.solve_admm`` loads only the ADMM module),
so ``import robustbench_convex`` is cheap and a command-line call pays only for what it uses.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = _metadata.version("robustbench-convex")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # data
    "Dataset": "robustbench_convex.data",
    "load_dataset": "robustbench_convex.data",
    "list_datasets": "robustbench_convex.data",
    "describe_datasets": "robustbench_convex.data",
    "DatasetNotAvailableError": "robustbench_convex.data",
    # the network every trainer returns
    "TwoLayerReLU": "robustbench_convex.network",
    "load_network": "robustbench_convex.network",
    "save_network": "robustbench_convex.network",
    # convex core
    "sample_patterns": "robustbench_convex.patterns",
    "enumerate_patterns": "robustbench_convex.patterns",
    "ConvexReLUProblem": "robustbench_convex.formulations",
    "ConvexSolution": "robustbench_convex.solution",
    "solve_cvxpy": "robustbench_convex.solvers.cvxpy_backend",
    "solve_admm": "robustbench_convex.solvers.admm",
    "solve_ipm": "robustbench_convex.solvers.ipm",
    "solve_scp": "robustbench_convex.solvers.scp",
    "solve": "robustbench_convex.solvers.front",
    "scenario_sample_size": "robustbench_convex.solvers.scp",
    "patterns_from_network": "robustbench_convex.patterns",
    "gap_patterns": "robustbench_convex.patterns",
    "CollapseWarning": "robustbench_convex.solution",
    "diagnose": "robustbench_convex.robust",
    "check_certificates": "robustbench_convex.robust",
    "certified_margins": "robustbench_convex.robust",
    "lower_bound": "robustbench_convex.duality",
    # pattern pricing and the certified any-width bound
    "fit_convex_network": "robustbench_convex.pricing",
    "column_generation": "robustbench_convex.pricing",
    "global_lower_bound": "robustbench_convex.global_bound",
    "certified_gap": "robustbench_convex.global_bound",
    "network_seeded_patterns": "robustbench_convex.patterns",
    # estimator
    "ConvexReLUClassifier": "robustbench_convex.estimators",
    # baselines
    "train_sgd": "robustbench_convex.baselines",
    "train_pgd_at": "robustbench_convex.baselines",
    "train_fgsm_at": "robustbench_convex.baselines",
    "train_ibp": "robustbench_convex.baselines",
    "train_crown_ibp": "robustbench_convex.baselines",
    "margin_bounds": "robustbench_convex.baselines",
    "multi_start": "robustbench_convex.baselines",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'robustbench_convex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # static analysers and IDEs see the real names
    from robustbench_convex.baselines import (
        margin_bounds,
        multi_start,
        train_crown_ibp,
        train_fgsm_at,
        train_ibp,
        train_pgd_at,
        train_sgd,
    )
    from robustbench_convex.data import (
        Dataset,
        DatasetNotAvailableError,
        describe_datasets,
        list_datasets,
        load_dataset,
    )
    from robustbench_convex.duality import lower_bound
    from robustbench_convex.estimators import ConvexReLUClassifier
    from robustbench_convex.formulations import ConvexReLUProblem
    from robustbench_convex.global_bound import certified_gap, global_lower_bound
    from robustbench_convex.network import TwoLayerReLU, load_network, save_network
    from robustbench_convex.patterns import (
        enumerate_patterns,
        gap_patterns,
        network_seeded_patterns,
        patterns_from_network,
        sample_patterns,
    )
    from robustbench_convex.pricing import column_generation, fit_convex_network
    from robustbench_convex.robust import certified_margins, check_certificates, diagnose
    from robustbench_convex.solution import CollapseWarning, ConvexSolution
    from robustbench_convex.solvers.admm import solve_admm
    from robustbench_convex.solvers.cvxpy_backend import solve_cvxpy
    from robustbench_convex.solvers.ipm import solve_ipm
    from robustbench_convex.solvers.scp import scenario_sample_size, solve_scp
