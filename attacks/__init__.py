"""The shared attack module of robustbench-convex (importable alone: ``import attacks``).

Attacks are objects with one call, ``attack(model, x, y) -> x_adv``, for any torch model that
returns one logit per row (binary, labels in {-1, +1}) or a logits matrix (multi-class, integer
class indices). ``x`` may be a torch tensor or a numpy array (numpy in -> numpy out).

* ``FGSM``, ``PGD``: gradient attacks, L-infinity and L2, input bounds, restarts, best iterate.
* ``exact``: the exact L-infinity worst case of one-hidden-layer ReLU networks (MILP, HiGHS);
  ``lp_certify`` (LP relaxation: certified lower bound); ``stable_margin`` (closed form);
  ``ExactAttack`` (the verifier as an attack object).
* ``robust_accuracy``, ``sweep``: evaluation helpers (``sweep`` returns a tidy DataFrame).
* ``sanity_checks``: the automatable checklist of Carlini et al. (2019) as a pass/fail table;
  ``check_sandwich``: its soundness check certified <= exact <= attacked, on its own.
* ``make_attack``: an attack by name ("fgsm", "pgd", "exact"), the same everywhere.

Depends only on torch, numpy, scipy (and pandas for the tables).
"""

from attacks.base import Attack, SoundnessWarning, margins, model_margins
from attacks.evaluation import robust_accuracy, sweep
from attacks.factory import ATTACK_NAMES, make_attack
from attacks.gradient import FGSM, PGD
from attacks.sandwich import Sandwich, check_sandwich
from attacks.sanity import sanity_checks
from attacks.verify import (
    CertifyResult,
    ExactAttack,
    ExactResult,
    TwoLayerWeights,
    exact,
    extract_two_layer,
    lp_certify,
    stable_margin,
)

__all__ = [
    "ATTACK_NAMES",
    "FGSM",
    "PGD",
    "Attack",
    "CertifyResult",
    "ExactAttack",
    "ExactResult",
    "Sandwich",
    "SoundnessWarning",
    "TwoLayerWeights",
    "check_sandwich",
    "exact",
    "extract_two_layer",
    "lp_certify",
    "make_attack",
    "margins",
    "model_margins",
    "robust_accuracy",
    "sanity_checks",
    "stable_margin",
    "sweep",
]
