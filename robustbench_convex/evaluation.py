"""Evaluate one trained model on a sweep's evaluation grid, with the shared ``attacks`` module only.

For a model, a data set and an :class:`~robustbench_convex.sweep.EvalSpec`:

* clean accuracy on the evaluated test points;
* per eps and per gradient attack (``attacks.FGSM``, ``attacks.PGD`` with restarts): robust
  accuracy (correct at x *and* at the attack's output, ``attacks.evaluation.robust_mask``);
* for models of width <= ``exact_max_width``, on the first ``exact_max_points`` test points:
  the LP-certified accuracy (``attacks.lp_certify``) and the exact accuracy (``attacks.exact``,
  MILP), and the point-by-point *sandwich* ``certified => exact-robust => PGD-robust``. A violation
  is a soundness bug in an attack or the verifier: it is recorded (``sandwich_ok = False``, a note
  in the record) and reported loudly (a ``SoundnessWarning`` and the report's warnings section).

No attack is implemented here.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustbench_convex.records import EvaluationRow, RecordWarning, SanityRow

__all__ = ["EvalOutput", "decode_mask", "encode_mask", "evaluate_model"]


@dataclass
class EvalOutput:
    """Evaluation rows (:class:`~robustbench_convex.records.EvaluationRow`: the attack-specific
    fields of a ``ResultRecord``), the sanity table (:class:`~robustbench_convex.records.SanityRow`
    s, empty when not run), typed warnings raised along the way
    (:class:`~robustbench_convex.records.RecordWarning`: kind "soundness", "sanity" or
    "verification"), and per-point outcomes.

    ``points``: one dict per (attack, eps) with ``attack``, ``eps``, ``n`` (the first ``n`` test
    points) and ``robust``: a string of ``n`` characters, "1" where the point was classified
    correctly and the attack did not break it ("clean": correct at x). For "exact" (the MILP),
    ``robust`` is "1" where proven robust and ``refuted`` is "1" where a counterexample was
    proven (undecided points are "0" in both); for "lp-certified", ``robust`` is the certificate.
    The report's "robust against all" column is the point-wise AND over every attack run."""

    rows: list[EvaluationRow] = field(default_factory=list)
    sanity: list[SanityRow] = field(default_factory=list)
    warnings: list[RecordWarning] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)


def encode_mask(mask: Any) -> str:
    """A boolean vector as a string of "0" / "1" (compact, exact and JSON-friendly)."""
    return "".join("1" if bool(v) else "0" for v in np.asarray(mask).reshape(-1))


def decode_mask(text: str) -> np.ndarray:
    """Inverse of :func:`encode_mask`: a boolean array of ``len(text)``."""
    if any(ch not in "01" for ch in text):
        raise ValueError("a per-point mask is a string of '0' and '1'")
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")


def _points(attack: str, eps: float, robust: Any, **extra: Any) -> dict[str, Any]:
    mask = np.asarray(robust, dtype=bool)
    out = {"attack": attack, "eps": float(eps), "n": int(mask.size), "robust": encode_mask(mask)}
    out.update({k: encode_mask(v) for k, v in extra.items()})
    return out


def _attack_for(name: str, eps: float, spec: Any, lower: np.ndarray, upper: np.ndarray):
    import attacks

    return attacks.make_attack(
        name,
        eps,
        norm=spec.norm,
        lower=lower,
        upper=upper,
        steps=spec.pgd_steps,
        step_size=spec.pgd_step_size,
        restarts=spec.pgd_restarts,
        seed=spec.attack_seed,
    )


def _row(
    attack: str, eps: float, n: int, clean: float, robust: float | None, t: float, **kw: Any
) -> EvaluationRow:
    return EvaluationRow(
        attack=attack,
        eps=float(eps),
        n_eval=int(n),
        clean_acc=float(clean),
        robust_acc=None if robust is None else float(robust),
        eval_time=float(t),
        **kw,
    )


def evaluate_model(
    model: Any, dataset: Any, spec: Any, *, sanity: bool = False, notes: list[str] | None = None
) -> EvalOutput:
    """Evaluate ``model`` on ``dataset``'s test split with the grid ``spec`` (an ``EvalSpec``).

    Args:
        model: a ``TwoLayerReLU`` (one logit per row).
        dataset: a ``Dataset`` (test split, bounds).
        spec: the evaluation grid.
        sanity: also run ``attacks.sanity_checks`` (on ``spec.sanity_max_points`` test points).
        notes: appended to every row's notes (e.g. "collapsed").
    """
    import attacks
    from attacks.evaluation import robust_mask

    out = EvalOutput()
    # writable copies: the Dataset's arrays are read-only and torch warns about those
    lower, upper = np.array(dataset.lower), np.array(dataset.upper)
    n_eval = dataset.n_test if spec.n_eval is None else min(spec.n_eval, dataset.n_test)
    X = dataset.X_test[:n_eval]
    y = dataset.y_test[:n_eval]
    t0 = time.perf_counter()
    clean = attacks.model_margins(model, X, y) > 0
    clean_acc = float(clean.mean())
    base_note = "; ".join(notes or [])
    out.rows.append(
        _row("clean", 0.0, n_eval, clean_acc, clean_acc, time.perf_counter() - t0, notes=base_note)
    )
    out.points.append(_points("clean", 0.0, clean))

    pgd_robust: dict[float, np.ndarray] = {}
    for eps in spec.eps:
        for name in spec.attacks:
            t0 = time.perf_counter()
            _, robust = robust_mask(model, X, y, _attack_for(name, eps, spec, lower, upper))
            if name == "pgd":
                pgd_robust[eps] = robust
            out.points.append(_points(name, eps, robust))
            out.rows.append(
                _row(
                    name,
                    eps,
                    n_eval,
                    clean_acc,
                    float(robust.mean()),
                    time.perf_counter() - t0,
                    notes=base_note,
                )
            )

    verify = spec.exact and spec.norm == "inf" and model.width <= spec.exact_max_width
    if spec.exact and not verify:
        out.warnings.append(
            RecordWarning(
                "verification",
                f"exact verification skipped: width {model.width} > exact_max_width "
                f"{spec.exact_max_width}",
            )
        )
    if verify:
        k = min(spec.exact_max_points, n_eval)
        Xs, ys = X[:k], y[:k]
        clean_k = float(clean[:k].mean())
        for eps in spec.eps if spec.exact_eps is None else spec.exact_eps:
            t0 = time.perf_counter()
            cert = attacks.lp_certify(model, Xs, ys, eps, lower, upper)
            t_lp = time.perf_counter() - t0
            t0 = time.perf_counter()
            ex = attacks.exact(
                model,
                Xs,
                ys,
                eps,
                lower,
                upper,
                time_limit=spec.exact_time_limit,
                mode="decide",
            )
            t_ex = time.perf_counter() - t0
            certified = np.asarray(cert.certified, dtype=bool)
            exact_robust = np.asarray(ex.robust, dtype=bool)
            undecided = ~np.asarray(ex.decided, dtype=bool)
            # the attacked side of the sandwich: this evaluation's PGD where it ran at this eps,
            # else the counterexamples the verifier itself found (its upper bounds)
            attacked = pgd_robust[eps][:k] if eps in pgd_robust else ex.upper_bound > 0
            sandwich = attacks.check_sandwich(cert, ex, attacked)
            ok = sandwich.ok
            msgs = sandwich.soundness_messages()
            for m in msgs:
                text = f"eps={eps:g}: {m}"
                out.warnings.append(RecordWarning("soundness", text))
                warnings.warn(text, attacks.SoundnessWarning, stacklevel=2)
            if undecided.any():
                msgs.append(f"{int(undecided.sum())} MILP(s) hit the time limit")
            note = "; ".join([base_note, *msgs]).strip("; ")
            out.points.append(
                _points("exact", eps, exact_robust, refuted=~exact_robust & ~undecided)
            )
            out.points.append(_points("lp-certified", eps, certified))
            exact_acc = float(ex.robust_accuracy)
            exact_up = float(ex.robust_accuracy_upper)
            cert_acc = float(cert.certified_accuracy)
            out.rows.append(
                _row(
                    "exact",
                    eps,
                    k,
                    clean_k,
                    exact_acc,
                    t_ex,
                    certified_acc=cert_acc,
                    exact_acc=exact_acc,
                    exact_acc_upper=exact_up,
                    sandwich_ok=ok,
                    notes=note,
                )
            )
            out.rows.append(
                _row(
                    "lp-certified",
                    eps,
                    k,
                    clean_k,
                    cert_acc,
                    t_lp,
                    certified_acc=cert_acc,
                    exact_acc=exact_acc,
                    exact_acc_upper=exact_up,
                    sandwich_ok=ok,
                    notes=note,
                )
            )

    if sanity:
        k = min(spec.sanity_max_points, n_eval)
        eps_s = spec.sanity_eps if spec.sanity_eps is not None else spec.eps[len(spec.eps) // 2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", attacks.SoundnessWarning)
            table = attacks.sanity_checks(
                model,
                X[:k],
                y[:k],
                [0.0, eps_s],
                norm=spec.norm,
                lower=lower,
                upper=upper,
                steps=spec.pgd_steps,
                restarts=max(1, spec.pgd_restarts),
                seed=spec.attack_seed,
                exact=bool(verify),
                n_exact=min(spec.exact_max_points, k),
                time_limit=spec.exact_time_limit,
            )
        for row in table.to_dict(orient="records"):
            out.sanity.append(
                SanityRow(
                    check=str(row["check"]),
                    passed=bool(row["passed"]),
                    detail=str(row["detail"]),
                    eps=float(eps_s),
                    n=int(k),
                )
            )
            if not row["passed"]:
                out.warnings.append(
                    RecordWarning("sanity", f"sanity check failed at eps={eps_s:g}: {row['check']}")
                )
    return out
