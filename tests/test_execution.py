"""The same sweep gives the same records in-process, on a process pool and on Dask."""

from __future__ import annotations

import pytest
from sweep_fixtures import tiny

from robustbench_convex.execution import run_sweep
from robustbench_convex.store import ResultRecord, ResultStore
from robustbench_convex.sweep import parse_config


def _config():
    raw = tiny()
    raw["methods"].append({"name": "scp", "method": "convex-scp", "n_neurons": 6, "max_iter": 300})
    raw["evaluation"]["exact_max_points"] = 4
    return parse_config(raw)


def _comparable(out) -> list[dict]:
    volatile = set(ResultRecord.volatile_fields())
    rows = [
        {k: v for k, v in r.to_dict().items() if k not in volatile}
        for r in ResultStore(out).records()
    ]
    return sorted(rows, key=lambda r: (r["cell_id"], r["attack"], r["eps"]))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    summary = run_sweep(_config(), out, jobs=1)
    assert len(summary.finished) == 4 and not summary.failed
    return _comparable(out)


def test_reference_records_are_complete(reference):
    config = _config()
    n_eps = len(config.evaluation.eps)
    # per cell: clean + (fgsm, pgd) x eps + (exact, lp-certified) x eps
    assert len(reference) == 4 * (1 + 2 * n_eps + 2 * n_eps)
    assert {r["cell_id"] for r in reference} == {c.cell_id for c in config.cells()}
    for r in reference:
        assert r["config_hash"] == config.config_hash
        assert 0.0 <= r["robust_acc"] <= r["clean_acc"] <= 1.0


def test_dask_cluster_gives_the_same_records(reference, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address=None,
        protocol="tcp://",
        host="127.0.0.1",  # a real TCP scheduler on loopback
    ) as cluster:
        summary = run_sweep(_config(), tmp_path, scheduler=cluster.scheduler_address)
    assert len(summary.finished) == 4 and not summary.failed
    assert _comparable(tmp_path) == reference


def test_process_pool_gives_the_same_records(reference, tmp_path):
    summary = run_sweep(_config(), tmp_path, jobs=2)
    assert len(summary.finished) == 4 and not summary.failed
    assert _comparable(tmp_path) == reference


def test_executor_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="jobs must be an int >= 1"):
        run_sweep(_config(), tmp_path, jobs=0)
    with pytest.raises(ValueError, match="either scheduler"):
        run_sweep(_config(), tmp_path, scheduler="tcp://127.0.0.1:1", dask_local=1)
