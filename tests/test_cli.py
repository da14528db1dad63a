"""Tests of the ``rbconvex`` command line: ``--help``, ``--version``, ``datasets``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import robustbench_convex
from robustbench_convex.cli import main
from robustbench_convex.data import list_datasets


def _table(text: str) -> dict[str, list[str]]:
    """``rbconvex datasets`` output -> {name: [source, classes..., n_train, n_test, d, offline]}."""
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert header[0] == "name" and header[-1] == "offline"
    return {row[0]: row[1:] for row in rows}


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rbconvex") and "datasets" in out and "--version" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rbconvex {robustbench_convex.__version__}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: rbconvex" in capsys.readouterr().out


def test_datasets_reports_sizes_and_offline_availability(capsys, tmp_path, fake_mnist_root):
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    rows = _table(capsys.readouterr().out)
    assert list(rows) == list_datasets()
    assert rows["digits-2v8"][-4:] == ["245", "106", "64", "True"]
    assert rows["breast-cancer"][-4:] == ["398", "171", "30", "True"]
    assert rows["mnist-2v8"][-1] == "False" and rows["cifar10-2v8"][-1] == "False"
    assert rows["mnist-2v8"][-4:-1] == ["11809", "2006", "784"]
    # a cache root holding MNIST files makes the MNIST sets available offline
    assert main(["datasets", "--data-dir", str(fake_mnist_root["root"])]) == 0
    rows = _table(capsys.readouterr().out)
    assert rows["mnist-2v8"][-1] == "True" and rows["mnist-2v8-t10k"][-1] == "True"
    assert rows["fashion-mnist-2v8"][-1] == "False"


def test_console_script_datasets_uses_env_cache(tmp_path, fake_mnist_root):
    exe = shutil.which("rbconvex")
    if exe is None:
        pytest.skip("console script rbconvex not installed (pip install -e .)")
    env = {**os.environ, "RBCONVEX_DATA": str(fake_mnist_root["root"])}
    done = subprocess.run(
        [exe, "datasets"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    rows = _table(done.stdout)
    assert list(rows) == list_datasets()
    assert rows["mnist-2v8"][-1] == "True" and rows["cifar10-2v8"][-1] == "False"
    version = subprocess.run(
        [sys.executable, "-m", "robustbench_convex.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert version.returncode == 0 and version.stdout.strip().startswith("rbconvex ")
