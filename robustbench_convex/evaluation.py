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


@dataclass
class _Run:
    """One evaluation in progress: the model, its test points and bounds, and the output."""

    model: Any
    X: np.ndarray
    y: np.ndarray
    clean: np.ndarray  # correct at x, per point
    lower: np.ndarray
    upper: np.ndarray
    spec: Any
    note: str  # appended to every row's notes
    out: EvalOutput
    pgd_robust: dict[float, np.ndarray] = field(default_factory=dict)

    @property
    def clean_acc(self) -> float:
        return float(self.clean.mean())


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

    n_eval = dataset.n_test if spec.n_eval is None else min(spec.n_eval, dataset.n_test)
    X = dataset.X_test[:n_eval]
    y = dataset.y_test[:n_eval]
    t0 = time.perf_counter()
    run = _Run(
        model=model,
        X=X,
        y=y,
        clean=attacks.model_margins(model, X, y) > 0,
        # writable copies: the Dataset's arrays are read-only and torch warns about those
        lower=np.array(dataset.lower),
        upper=np.array(dataset.upper),
        spec=spec,
        note="; ".join(notes or []),
        out=EvalOutput(),
    )
    run.out.rows.append(
        _row(
            "clean",
            0.0,
            n_eval,
            run.clean_acc,
            run.clean_acc,
            time.perf_counter() - t0,
            notes=run.note,
        )
    )
    run.out.points.append(_points("clean", 0.0, run.clean))
    _gradient_attacks(run)
    verify = spec.exact and spec.norm == "inf" and model.width <= spec.exact_max_width
    if spec.exact and not verify:
        run.out.warnings.append(
            RecordWarning(
                "verification",
                f"exact verification skipped: width {model.width} > exact_max_width "
                f"{spec.exact_max_width}",
            )
        )
    if verify:
        for eps in spec.eps if spec.exact_eps is None else spec.exact_eps:
            _verify_at(run, eps)
    if sanity:
        _sanity(run, exact=bool(verify))
    return run.out


def _gradient_attacks(run: _Run) -> None:
    """Every gradient attack of the grid at every eps: rows and per-point outcomes (PGD's kept
    for the sandwich)."""
    from attacks.evaluation import robust_mask

    spec = run.spec
    for eps in spec.eps:
        for name in spec.attacks:
            t0 = time.perf_counter()
            attack = _attack_for(name, eps, spec, run.lower, run.upper)
            _, robust = robust_mask(run.model, run.X, run.y, attack)
            if name == "pgd":
                run.pgd_robust[eps] = robust
            run.out.points.append(_points(name, eps, robust))
            elapsed = time.perf_counter() - t0
            run.out.rows.append(
                _row(
                    name, eps, len(run.y), run.clean_acc, float(robust.mean()), elapsed,
                    notes=run.note,
                )
            )  # fmt: skip


def _verify_at(run: _Run, eps: float) -> None:
    """LP certificate and exact MILP on the first ``exact_max_points`` points at ``eps``, and
    the sandwich certified => exact-robust => attacked point by point (a violation: a
    ``SoundnessWarning`` and a typed "soundness" warning)."""
    import attacks

    spec = run.spec
    k = min(spec.exact_max_points, len(run.y))
    Xs, ys = run.X[:k], run.y[:k]
    t0 = time.perf_counter()
    cert = attacks.lp_certify(run.model, Xs, ys, eps, run.lower, run.upper)
    t_lp = time.perf_counter() - t0
    t0 = time.perf_counter()
    ex = attacks.exact(
        run.model, Xs, ys, eps, run.lower, run.upper, time_limit=spec.exact_time_limit,
        mode="decide",
    )  # fmt: skip
    t_ex = time.perf_counter() - t0
    exact_robust = np.asarray(ex.robust, dtype=bool)
    undecided = ~np.asarray(ex.decided, dtype=bool)
    # the attacked side of the sandwich: this evaluation's PGD where it ran at this eps, else
    # the counterexamples the verifier itself found (its upper bounds)
    attacked = run.pgd_robust[eps][:k] if eps in run.pgd_robust else ex.upper_bound > 0
    sandwich = attacks.check_sandwich(cert, ex, attacked)
    msgs = sandwich.soundness_messages()
    for m in msgs:
        text = f"eps={eps:g}: {m}"
        run.out.warnings.append(RecordWarning("soundness", text))
        warnings.warn(text, attacks.SoundnessWarning, stacklevel=4)
    if undecided.any():
        msgs.append(f"{int(undecided.sum())} MILP(s) hit the time limit")
    run.out.points.append(_points("exact", eps, exact_robust, refuted=~exact_robust & ~undecided))
    run.out.points.append(_points("lp-certified", eps, np.asarray(cert.certified, dtype=bool)))
    shared = {
        "certified_acc": float(cert.certified_accuracy),
        "exact_acc": float(ex.robust_accuracy),
        "exact_acc_upper": float(ex.robust_accuracy_upper),
        "sandwich_ok": sandwich.ok,
        "notes": "; ".join([run.note, *msgs]).strip("; "),
    }
    clean_k = float(run.clean[:k].mean())
    for name, t in (("exact", t_ex), ("lp-certified", t_lp)):
        robust = shared["exact_acc"] if name == "exact" else shared["certified_acc"]
        run.out.rows.append(_row(name, eps, k, clean_k, robust, t, **shared))


def _sanity(run: _Run, *, exact: bool) -> None:
    """``attacks.sanity_checks`` on the first ``sanity_max_points`` points: typed rows, and a
    typed "sanity" warning per failed check."""
    import attacks

    spec = run.spec
    k = min(spec.sanity_max_points, len(run.y))
    eps_s = spec.sanity_eps if spec.sanity_eps is not None else spec.eps[len(spec.eps) // 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attacks.SoundnessWarning)
        table = attacks.sanity_checks(
            run.model,
            run.X[:k],
            run.y[:k],
            [0.0, eps_s],
            norm=spec.norm,
            lower=run.lower,
            upper=run.upper,
            steps=spec.pgd_steps,
            restarts=max(1, spec.pgd_restarts),
            seed=spec.attack_seed,
            exact=exact,
            n_exact=min(spec.exact_max_points, k),
            time_limit=spec.exact_time_limit,
        )
    for row in table.to_dict(orient="records"):
        run.out.sanity.append(
            SanityRow(
                check=str(row["check"]),
                passed=bool(row["passed"]),
                detail=str(row["detail"]),
                eps=float(eps_s),
                n=int(k),
            )
        )
        if not row["passed"]:
            run.out.warnings.append(
                RecordWarning("sanity", f"sanity check failed at eps={eps_s:g}: {row['check']}")
            )
