"""The automatable part of the evaluation checklist of Carlini et al. (2019), "On Evaluating
Adversarial Robustness", as a pass/fail table.

Every check either passes or fails with a detail string that says what was measured. A failure
of the sandwich ``certified <= exact <= attacked`` (or of the threat model) is a bug in this
module, not a property of the model: it is also raised loudly as a ``SoundnessWarning``.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from attacks.base import (
    BoundsLike,
    SoundnessWarning,
    _eval_no_param_grad,
    as_label_tensor,
    as_tensor_input,
    bounds_as_tensors,
    check_bound,
    check_eps,
    check_norm,
    check_positive_int,
    logits_2d,
    margins,
    model_margins,
)
from attacks.gradient import FGSM, PGD
from attacks.sandwich import check_sandwich

__all__ = ["Check", "sanity_checks"]


def _norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.reshape(delta.shape[0], -1)
    return flat.abs().amax(dim=1) if norm == "inf" else flat.norm(dim=1)


@dataclass(frozen=True)
class Check:
    """One row of the checklist: its name, whether it passed, and what was measured."""

    check: str
    passed: bool
    detail: str


@dataclass
class _Run:
    """What every check reads: the threat model, the data, and the attacks run once per eps."""

    model: nn.Module
    X: torch.Tensor  # (N, ...) the inputs as the model takes them
    y: torch.Tensor  # (N,) labels
    lo: torch.Tensor  # lower bound broadcast to X
    hi: torch.Tensor  # upper bound broadcast to X
    norm: str
    lower: Any
    upper: Any
    grid: list[float]  # radii, sorted, 0 included
    steps: int
    restarts: int
    seed: int
    n_out: int  # logits per row
    clean_margin: torch.Tensor  # (N,)
    clean_acc: float
    fgsm: dict[float, torch.Tensor] = field(default_factory=dict)
    pgd: dict[float, torch.Tensor] = field(default_factory=dict)
    pgd_doubled: dict[float, torch.Tensor] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def make_pgd(self, eps: float, factor: int = 1, seed_offset: int = 0) -> PGD:
        """The checklist's PGD (``factor`` times the steps and restarts, another seed)."""
        return PGD(
            eps,
            steps=self.steps * factor,
            restarts=self.restarts * factor,
            norm=self.norm,
            lower=self.lower,
            upper=self.upper,
            seed=self.seed + seed_offset,
        )

    def accuracy(self, x_adv: torch.Tensor) -> float:
        """Robust accuracy at ``x_adv``: correct at x and at x_adv."""
        return float(self.robust_mask(x_adv).double().mean())

    def robust_mask(self, x_adv: torch.Tensor) -> torch.Tensor:
        """``(k,)`` correct at x and at ``x_adv``, for the first ``k = len(x_adv)`` examples."""
        k = x_adv.shape[0]
        m = torch.as_tensor(model_margins(self.model, x_adv, self.y[:k]))
        return (self.clean_margin[:k] > 0) & (m > 0)


def _prepare(model, X, y, eps_grid, norm, lower, upper, steps, restarts, seed) -> _Run:
    norm = check_norm(norm)
    steps = check_positive_int("steps", steps)
    restarts = check_positive_int("restarts", restarts)
    grid = sorted({check_eps(e) for e in eps_grid} | {0.0})
    lower, upper = check_bound("lower", lower), check_bound("upper", upper)
    Xt, _ = as_tensor_input(model, X)
    if Xt.ndim < 2 or Xt.shape[0] == 0:
        raise ValueError(f"X must be a non-empty batch (N, ...), got shape {tuple(Xt.shape)}")
    yt = as_label_tensor(y, Xt.shape[0], Xt.device)
    lo, hi = bounds_as_tensors(lower, upper, Xt)
    clean_m = torch.as_tensor(model_margins(model, Xt, yt))
    with _eval_no_param_grad(model), torch.no_grad():
        n_out = logits_2d(model(Xt[:1]), 1).shape[1]
    return _Run(
        model=model,
        X=Xt,
        y=yt,
        lo=lo,
        hi=hi,
        norm=norm,
        lower=lower,
        upper=upper,
        grid=grid,
        steps=steps,
        restarts=restarts,
        seed=seed,
        n_out=n_out,
        clean_margin=clean_m,
        clean_acc=float((clean_m > 0).double().mean()),
    )


def _run_attacks(run: _Run) -> None:
    """FGSM, PGD and PGD with doubled steps and restarts, once per radius."""
    for eps in run.grid:
        run.fgsm[eps] = FGSM(eps, norm=run.norm, lower=run.lower, upper=run.upper)(
            run.model, run.X, run.y
        )
        run.pgd[eps] = run.make_pgd(eps)(run.model, run.X, run.y)
        run.pgd_doubled[eps] = run.make_pgd(eps, 2, 1)(run.model, run.X, run.y)


def _check_threat_model(run: _Run) -> Check:
    worst_ball, worst_bound = 0.0, 0.0
    for eps in run.grid:
        for xa in (run.fgsm[eps], run.pgd[eps], run.pgd_doubled[eps]):
            excess = float((_norms(xa - run.X, run.norm) - eps).max())
            worst_ball = max(worst_ball, excess / max(eps, 1.0))
            worst_bound = max(worst_bound, float(torch.maximum(run.lo - xa, xa - run.hi).max()))
    ok = worst_ball <= 1e-9 and worst_bound <= 0.0
    if not ok:
        warnings.warn(
            "an attack left the threat model: this is a bug", SoundnessWarning, stacklevel=3
        )
    return Check(
        "perturbation within the eps-ball and the bounds",
        ok,
        f"largest relative excess of ||x_adv - x||_{run.norm} over eps: "
        f"{max(worst_ball, 0):.2e}; largest bound violation: {max(worst_bound, 0):.2e} "
        "(FGSM, PGD, PGD x2 at every eps)",
    )


def _check_unchanged(run: _Run, before: tuple) -> list[Check]:
    X_before, y_before, state_before, modes_before = before
    same_inputs = torch.equal(run.X, X_before) and torch.equal(run.y, y_before)
    state_after = run.model.state_dict()
    same_params = all(torch.equal(state_before[k], state_after[k]) for k in state_before)
    same_modes = modes_before == [m.training for m in run.model.modules()]
    return [
        Check("inputs unchanged", same_inputs, "x and y compared bit for bit after all attacks"),
        Check(
            "model unchanged",
            same_params and same_modes,
            f"parameters/buffers identical: {same_params}; train/eval modes restored: {same_modes}",
        ),
    ]


def _check_eps_zero(run: _Run) -> Check:
    acc0 = run.accuracy(run.pgd[0.0])
    identical = torch.equal(run.pgd[0.0], run.X) and torch.equal(run.fgsm[0.0], run.X)
    return Check(
        "eps=0 equals clean accuracy",
        identical and acc0 == run.clean_acc,
        f"clean {run.clean_acc:.4f}, PGD at eps=0 {acc0:.4f}; x_adv == x exactly: {identical}",
    )


def _check_attack_strength(run: _Run, slack: int, tol: float) -> list[Check]:
    """Monotone in eps, PGD no weaker than FGSM, doubling the budget changes little."""
    grid = run.grid
    acc_pgd = {e: run.accuracy(run.pgd[e]) for e in grid}
    acc_fgsm = {e: run.accuracy(run.fgsm[e]) for e in grid}
    acc_pgd2 = {e: run.accuracy(run.pgd_doubled[e]) for e in grid}
    s = slack / run.n
    incs = [(a, b) for a, b in itertools.pairwise(grid) if acc_pgd[b] > acc_pgd[a] + s + 1e-12]
    curve = ", ".join(f"{e:g}: {acc_pgd[e]:.3f}" for e in grid)
    weaker = [e for e in grid if acc_pgd[e] > acc_fgsm[e] + s + 1e-12]
    diffs = {e: abs(acc_pgd2[e] - acc_pgd[e]) for e in grid}
    return [
        Check(
            "robust accuracy non-increasing in eps",
            not incs,
            f"PGD robust accuracy by eps {{{curve}}}" + (f"; increases at {incs}" if incs else ""),
        ),
        Check(
            "PGD no weaker than FGSM",
            not weaker,
            "FGSM/PGD: "
            + ", ".join(f"{e:g}: {acc_fgsm[e]:.3f}/{acc_pgd[e]:.3f}" for e in grid)
            + (f"; PGD weaker at eps {weaker}" if weaker else ""),
        ),
        Check(
            "doubling steps and restarts changes little",
            max(diffs.values()) <= tol + 1e-12,
            f"largest change {max(diffs.values()):.4f} (tolerance {tol}); PGD x2: "
            + ", ".join(f"{e:g}: {acc_pgd2[e]:.3f}" for e in grid),
        ),
    ]


def _check_unbounded(run: _Run, chance: float | None) -> Check:
    width = (run.hi - run.lo).reshape(-1)
    if bool(torch.isfinite(width).all()):
        big = float(width.max()) if run.norm == "inf" else float(width.norm())
    else:
        big = 1e3 * (1.0 + float(run.X.abs().max()))
    big = max(big, 1e-12)
    big_restarts = max(10, run.restarts)  # random starts over the whole domain do most of it
    big_steps = max(100, run.steps)
    xa = PGD(
        big,
        steps=big_steps,
        restarts=big_restarts,
        norm=run.norm,
        lower=run.lower,
        upper=run.upper,
        seed=run.seed,
    )(run.model, run.X, run.y)
    acc_big = run.accuracy(xa)
    level = (1.0 / max(run.n_out, 2)) if chance is None else float(chance)
    return Check(
        "unbounded attack reaches chance",
        acc_big <= level + 1e-12,
        f"PGD with eps={big:.3g} (whole input domain), {big_steps} steps, "
        f"{big_restarts} restarts: robust accuracy {acc_big:.3f} (chance {level:.3f})",
    )


def _check_gradients(run: _Run) -> Check:
    n = run.n
    with _eval_no_param_grad(run.model):
        xg = run.X.clone().requires_grad_(True)
        with torch.enable_grad():
            obj = margins(logits_2d(run.model(xg), n), run.y).sum()
            g = torch.autograd.grad(obj, xg, allow_unused=True)[0] if obj.requires_grad else None
    if g is None:
        g = torch.zeros_like(run.X)
    gflat = g.reshape(n, -1)
    nonfinite = int((~torch.isfinite(gflat)).any(dim=1).sum())
    zero = int((gflat == 0).all(dim=1).sum())
    return Check(
        "no zero or non-finite input gradients",
        nonfinite == 0 and zero == 0,
        f"{zero} example(s) with an all-zero and {nonfinite} with a non-finite input gradient "
        f"of the margin (out of {n})",
    )


def _sandwich_applies(run: _Run) -> bool:
    from attacks.verify import _linear_pair

    return (
        run.norm == "inf"
        and run.n_out == 1
        and run.X.ndim == 2
        and _linear_pair(run.model) is not None
    )


def _check_sandwich(run: _Run, n_exact: int | None, time_limit: float) -> Check:
    """certified <= exact <= attacked on the first ``n_exact`` examples, at every eps > 0."""
    from attacks import verify  # looked up at call time (tests substitute a broken certifier)

    k = run.n if n_exact is None else min(run.n, int(n_exact))
    Xn = run.X[:k].detach().cpu().to(torch.float64).numpy()
    yn = run.y[:k].cpu().numpy()
    lo_n, hi_n = run.lo.cpu().double().numpy(), run.hi.cpu().double().numpy()
    results = []
    for eps in run.grid:
        if eps == 0:
            continue
        cert = verify.lp_certify(run.model, Xn, yn, eps, lo_n, hi_n)
        ex = verify.exact(run.model, Xn, yn, eps, lo_n, hi_n, time_limit, mode="margin")
        x_att = run.pgd[eps][:k]
        results.append(
            check_sandwich(
                cert,
                ex,
                run.robust_mask(x_att).numpy(),
                attacked_margin=model_margins(run.model, x_att, run.y[:k]),
            )
        )
    details = [r.describe() for r in results]
    violations = sum(r.violations for r in results)
    if violations:
        warnings.warn(
            f"certified <= exact <= attacked violated {violations} time(s): this is a bug "
            "in the attack module (" + "; ".join(details) + ")",
            SoundnessWarning,
            stacklevel=3,
        )
    return Check(
        "certified <= exact <= attacked", violations == 0, f"{k} example(s); " + "; ".join(details)
    )


def sanity_checks(
    model: nn.Module,
    X: Any,
    y: Any,
    eps_grid: Iterable[float],
    *,
    norm: Literal["inf", "2"] = "inf",
    lower: BoundsLike = None,
    upper: BoundsLike = None,
    steps: int = 50,
    restarts: int = 2,
    seed: int = 0,
    slack: int = 1,
    tol: float = 0.02,
    chance: float | None = None,
    exact: bool | Literal["auto"] = "auto",
    n_exact: int | None = 100,
    time_limit: float = 30.0,
):
    """Run the automatable robustness-evaluation checklist and return a pass/fail table.

    Args:
        model: torch model (one logit per row with labels {-1,+1}, or logits with class indices).
        X, y: evaluation inputs ``(N, ...)`` and labels ``(N,)``.
        eps_grid: radii to check (include 0 for the eps = 0 check; it is added if missing).
        norm, lower, upper: the threat model (as for ``PGD``).
        steps, restarts, seed: the PGD used by the checks (its "doubled" variant uses twice the
            steps and restarts and another seed).
        slack: examples of slack allowed where a heuristic attack must not be weaker than
            another one (PGD vs FGSM; monotonicity in eps).
        tol: largest allowed change of robust accuracy when steps and restarts are doubled.
        chance: robust accuracy an unbounded attack must reach (default ``1 / K``; 0.5 binary).
        exact: run the exact-verifier sandwich check (``"auto"``: when the model is a
            one-hidden-layer ReLU network with one logit and ``norm="inf"``).
        n_exact: examples used in the sandwich check (the first ones; None = all).
        time_limit: MILP time limit per example (seconds).

    Returns:
        ``pandas.DataFrame`` with columns ``check`` (str), ``passed`` (bool), ``detail`` (str).
    """
    import pandas as pd

    run = _prepare(model, X, y, eps_grid, norm, lower, upper, steps, restarts, seed)
    if exact not in (True, False, "auto"):
        raise ValueError(f'exact must be True, False or "auto", got {exact!r}')
    applies = _sandwich_applies(run)
    if exact is True and not applies:
        raise ValueError('exact=True needs a one-hidden-layer ReLU network, one logit, norm="inf"')
    run_exact = applies if exact == "auto" else bool(exact)
    before = (
        run.X.clone(),
        run.y.clone(),
        copy.deepcopy(model.state_dict()),
        [m.training for m in model.modules()],
    )
    _run_attacks(run)
    checks = [
        _check_threat_model(run),
        *_check_unchanged(run, before),
        _check_eps_zero(run),
        *_check_attack_strength(run, slack, tol),
        _check_unbounded(run, chance),
        _check_gradients(run),
    ]
    if run_exact:
        checks.append(_check_sandwich(run, n_exact, time_limit))
    df = pd.DataFrame(
        [(c.check, c.passed, c.detail) for c in checks], columns=["check", "passed", "detail"]
    )
    df.attrs["eps_grid"] = run.grid
    df.attrs["clean_acc"] = run.clean_acc
    df.attrs["skipped"] = [] if run_exact else ["certified <= exact <= attacked (not applicable)"]
    if math.isnan(run.clean_acc):
        raise RuntimeError("clean accuracy is NaN")
    return df
