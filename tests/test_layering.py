"""The attack module stands alone: importing it loads nothing of the training suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_import_attacks_leaves_the_suite_unloaded():
    code = (
        "import sys, attacks\n"
        "attacks.make_attack('pgd', 0.1)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'robustbench_convex')\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"import attacks loaded {proc.stdout.strip()} {proc.stderr}"


def test_attack_factory_names_and_errors():
    import attacks

    pgd = attacks.make_attack("PGD", 0.1, steps=7, restarts=2, lower=0, upper=1, seed=3)
    assert isinstance(pgd, attacks.PGD) and (pgd.steps, pgd.restarts, pgd.seed) == (7, 2, 3)
    assert isinstance(attacks.make_attack("fgsm", 0.1), attacks.FGSM)
    assert isinstance(attacks.make_attack("exact", 0.1, lower=0, upper=1), attacks.ExactAttack)
    import pytest

    with pytest.raises(ValueError, match="unknown attack name 'cw'"):
        attacks.make_attack("cw", 0.1)
    with pytest.raises(ValueError, match='norm="inf" only'):
        attacks.make_attack("exact", 0.1, norm="2")
