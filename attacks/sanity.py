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
from typing import Any, Literal

import numpy as np
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

__all__ = ["sanity_checks"]


def _norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.reshape(delta.shape[0], -1)
    return flat.abs().amax(dim=1) if norm == "inf" else flat.norm(dim=1)


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

    from attacks.verify import _linear_pair, lp_certify
    from attacks.verify import exact as exact_fn

    norm = check_norm(norm)
    steps = check_positive_int("steps", steps)
    restarts = check_positive_int("restarts", restarts)
    grid = sorted({check_eps(e) for e in eps_grid} | {0.0})
    lower, upper = check_bound("lower", lower), check_bound("upper", upper)

    Xt, _ = as_tensor_input(model, X)
    if Xt.ndim < 2 or Xt.shape[0] == 0:
        raise ValueError(f"X must be a non-empty batch (N, ...), got shape {tuple(Xt.shape)}")
    yt = as_label_tensor(y, Xt.shape[0], Xt.device)
    n = Xt.shape[0]
    lo, hi = bounds_as_tensors(lower, upper, Xt)
    X_before, y_before = Xt.clone(), yt.clone()
    state_before = copy.deepcopy(model.state_dict())
    modes_before = [m.training for m in model.modules()]
    clean_m = torch.as_tensor(model_margins(model, Xt, yt))
    clean_acc = float((clean_m > 0).double().mean())
    with _eval_no_param_grad(model), torch.no_grad():
        n_out = logits_2d(model(Xt[:1]), 1).shape[1]
    rows: list[dict[str, Any]] = []

    def add(check: str, passed: bool, detail: str) -> None:
        rows.append({"check": check, "passed": bool(passed), "detail": detail})

    def acc_at(x_adv: torch.Tensor) -> tuple[float, torch.Tensor]:
        m = torch.as_tensor(model_margins(model, x_adv, yt))
        robust = (clean_m > 0) & (m > 0)
        return float(robust.double().mean()), m

    def pgd(eps: float, k: int = 1, s: int = 0) -> PGD:
        return PGD(
            eps,
            steps=steps * k,
            restarts=restarts * k,
            norm=norm,
            lower=lower,
            upper=upper,
            seed=seed + s,
        )

    # ---- run the attacks once per eps
    fg, pg, pg2 = {}, {}, {}
    for eps in grid:
        fg[eps] = FGSM(eps, norm=norm, lower=lower, upper=upper)(model, Xt, yt)
        pg[eps] = pgd(eps)(model, Xt, yt)
        pg2[eps] = pgd(eps, 2, 1)(model, Xt, yt)

    # 1. threat model
    worst_ball, worst_bound = 0.0, 0.0
    for eps in grid:
        for xa in (fg[eps], pg[eps], pg2[eps]):
            excess = float((_norms(xa - Xt, norm) - eps).max())
            worst_ball = max(worst_ball, excess / max(eps, 1.0))
            worst_bound = max(worst_bound, float(torch.maximum(lo - xa, xa - hi).max()))
    ok = worst_ball <= 1e-9 and worst_bound <= 0.0
    add(
        "perturbation within the eps-ball and the bounds",
        ok,
        f"largest relative excess of ||x_adv - x||_{norm} over eps: {max(worst_ball, 0):.2e}; "
        f"largest bound violation: {max(worst_bound, 0):.2e} (FGSM, PGD, PGD x2 at every eps)",
    )
    if not ok:
        warnings.warn(
            "an attack left the threat model: this is a bug", SoundnessWarning, stacklevel=2
        )

    # 2. inputs and model unchanged
    same_inputs = torch.equal(Xt, X_before) and torch.equal(yt, y_before)
    state_after = model.state_dict()
    same_params = all(torch.equal(state_before[k], state_after[k]) for k in state_before)
    same_modes = modes_before == [m.training for m in model.modules()]
    add("inputs unchanged", same_inputs, "x and y compared bit for bit after all attacks")
    add(
        "model unchanged",
        same_params and same_modes,
        f"parameters/buffers identical: {same_params}; train/eval modes restored: {same_modes}",
    )

    # 3. eps = 0
    acc0, _ = acc_at(pg[0.0])
    identical = torch.equal(pg[0.0], Xt) and torch.equal(fg[0.0], Xt)
    add(
        "eps=0 equals clean accuracy",
        identical and acc0 == clean_acc,
        f"clean {clean_acc:.4f}, PGD at eps=0 {acc0:.4f}; x_adv == x exactly: {identical}",
    )

    # 4. monotone in eps; 5. PGD no weaker than FGSM; 6. doubling changes little
    acc_pgd = {e: acc_at(pg[e])[0] for e in grid}
    acc_fgsm = {e: acc_at(fg[e])[0] for e in grid}
    acc_pgd2 = {e: acc_at(pg2[e])[0] for e in grid}
    s = slack / n
    incs = [(a, b) for a, b in itertools.pairwise(grid) if acc_pgd[b] > acc_pgd[a] + s + 1e-12]
    curve = ", ".join(f"{e:g}: {acc_pgd[e]:.3f}" for e in grid)
    add(
        "robust accuracy non-increasing in eps",
        not incs,
        f"PGD robust accuracy by eps {{{curve}}}" + (f"; increases at {incs}" if incs else ""),
    )
    weaker = [e for e in grid if acc_pgd[e] > acc_fgsm[e] + s + 1e-12]
    add(
        "PGD no weaker than FGSM",
        not weaker,
        "FGSM/PGD: "
        + ", ".join(f"{e:g}: {acc_fgsm[e]:.3f}/{acc_pgd[e]:.3f}" for e in grid)
        + (f"; PGD weaker at eps {weaker}" if weaker else ""),
    )
    diffs = {e: abs(acc_pgd2[e] - acc_pgd[e]) for e in grid}
    add(
        "doubling steps and restarts changes little",
        max(diffs.values()) <= tol + 1e-12,
        f"largest change {max(diffs.values()):.4f} (tolerance {tol}); PGD x2: "
        + ", ".join(f"{e:g}: {acc_pgd2[e]:.3f}" for e in grid),
    )

    # 7. unbounded attack
    width = (hi - lo).reshape(-1)
    if bool(torch.isfinite(width).all()):
        big = float(width.max()) if norm == "inf" else float(width.norm())
    else:
        big = 1e3 * (1.0 + float(Xt.abs().max()))
    big = max(big, 1e-12)
    big_restarts = max(10, restarts)  # random starts over the whole domain do most of the work
    xa = PGD(
        big,
        steps=max(100, steps),
        restarts=big_restarts,
        norm=norm,
        lower=lower,
        upper=upper,
        seed=seed,
    )(model, Xt, yt)
    acc_big, _ = acc_at(xa)
    level = (1.0 / max(n_out, 2)) if chance is None else float(chance)
    add(
        "unbounded attack reaches chance",
        acc_big <= level + 1e-12,
        f"PGD with eps={big:.3g} (whole input domain), {max(100, steps)} steps, "
        f"{big_restarts} restarts: robust accuracy {acc_big:.3f} "
        f"(chance {level:.3f})",
    )

    # 8. input gradients
    with _eval_no_param_grad(model):
        xg = Xt.clone().requires_grad_(True)
        with torch.enable_grad():
            m = margins(logits_2d(model(xg), n), yt)
            obj = m.sum()
            g = torch.autograd.grad(obj, xg, allow_unused=True)[0] if obj.requires_grad else None
    if g is None:
        g = torch.zeros_like(Xt)
    gflat = g.reshape(n, -1)
    nonfinite = int((~torch.isfinite(gflat)).any(dim=1).sum())
    zero = int((gflat == 0).all(dim=1).sum())
    add(
        "no zero or non-finite input gradients",
        nonfinite == 0 and zero == 0,
        f"{zero} example(s) with an all-zero and {nonfinite} with a non-finite input gradient "
        f"of the margin (out of {n})",
    )

    # 9. certified <= exact <= attacked
    applies = norm == "inf" and n_out == 1 and Xt.ndim == 2 and _linear_pair(model) is not None
    if exact == "auto":
        exact = applies
    if exact and not applies:
        raise ValueError('exact=True needs a one-hidden-layer ReLU network, one logit, norm="inf"')
    if exact:
        k = n if n_exact is None else min(n, int(n_exact))
        Xn = Xt[:k].detach().cpu().to(torch.float64).numpy()
        yn = yt[:k].cpu().numpy()
        lo_n, hi_n = lo.cpu().double().numpy(), hi.cpu().double().numpy()
        details, violations = [], 0
        for eps in grid:
            if eps == 0:
                continue
            cert = lp_certify(model, Xn, yn, eps, lo_n, hi_n)
            ex = exact_fn(model, Xn, yn, eps, lo_n, hi_n, time_limit, mode="margin")
            att = model_margins(model, pg[eps][:k], yt[:k])
            scale = 1.0 + np.abs(att) + np.abs(ex.upper_bound)
            t = 1e-6 * scale
            v1 = cert.lower_bound > ex.upper_bound + t
            v2 = ex.lower_bound > att + t
            violations += int(v1.sum() + v2.sum())
            c_acc, e_lo, e_hi = cert.certified.mean(), ex.robust_accuracy, ex.robust_accuracy_upper
            a_acc = float(((att > 0) & (clean_m[:k].numpy() > 0)).mean())
            acc_bad = not (c_acc <= e_hi + 1e-12 and e_lo <= a_acc + 1e-12)
            violations += int(acc_bad)
            details.append(
                f"eps {eps:g}: certified {c_acc:.3f} <= exact {e_lo:.3f}"
                + (f"..{e_hi:.3f}" if e_hi != e_lo else "")
                + f" <= PGD {a_acc:.3f}; per-example violations {int(v1.sum())}+{int(v2.sum())}"
            )
        if violations:
            warnings.warn(
                f"certified <= exact <= attacked violated {violations} time(s): this is a bug "
                "in the attack module (" + "; ".join(details) + ")",
                SoundnessWarning,
                stacklevel=2,
            )
        add(
            "certified <= exact <= attacked",
            violations == 0,
            f"{k} example(s); " + "; ".join(details),
        )
    df = pd.DataFrame(rows, columns=["check", "passed", "detail"])
    df.attrs["eps_grid"] = grid
    df.attrs["clean_acc"] = clean_acc
    df.attrs["skipped"] = [] if exact else ["certified <= exact <= attacked (not applicable)"]
    if math.isnan(clean_acc):
        raise RuntimeError("clean accuracy is NaN")
    return df
