"""Utilities shared by the iterative solvers (``solve_admm``, ``solve_ipm``, ``solve_scp``): the
budget and device checks, torch thread control and the objective evaluator of the records.

One home for each (issue 17): before, ``ipm`` imported ``admm``'s private evaluator and checks.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from robustbench_convex._threads import torch_threads  # re-exported: the solvers' import
from robustbench_convex.formulations import ConvexReLUProblem
from robustbench_convex.losses import robust_loss_value
from robustbench_convex.solution import ConvexSolution

__all__ = [
    "Evaluator",
    "check_budget",
    "check_device",
    "check_time_limit",
    "convex_solution",
    "torch_threads",
]


def check_budget(max_iter: Any, tol: Any, time_limit: Any) -> None:
    """Validate an iterative solver's budget: ``max_iter`` an int >= 1, ``tol`` in (0, 1),
    ``time_limit`` > 0 seconds or None (shared by ``solve_admm`` and ``solve_ipm``)."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    if not isinstance(tol, (int, float)) or not (0 < tol < 1):
        raise ValueError(f"tol must lie in (0, 1), got {tol!r}")
    check_time_limit(time_limit)


def check_time_limit(time_limit: Any) -> None:
    """``time_limit`` must be > 0 seconds or None."""
    if time_limit is not None and (not isinstance(time_limit, (int, float)) or not time_limit > 0):
        raise ValueError(f"time_limit must be > 0 seconds or None, got {time_limit!r}")


def check_device(device: Any) -> torch.device:
    """``torch.device(device)``, refusing unknown devices and CUDA when it is not available."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but CUDA is not available; use device='cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'mps', got {device!r}")
    return dev


class Evaluator:
    """Convex objective at ``V`` and objective of the network recovered from ``V``, in float64 on
    the solver's device whatever the iteration's dtype (the same numbers as
    ``problem.convex_objective`` and ``problem.network_objective(recover_network(...))``,
    checked in the tests).

    Args:
        problem: the program.
        device: torch device of the solver.
        rtol: relative block-norm threshold of the recovered network (``recover_network``).
    """

    def __init__(self, problem: ConvexReLUProblem, device: torch.device, rtol: float) -> None:
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float64, device=device)  # noqa: E731
        if problem.robust_eps > 0 and problem.has_input_bounds:
            raise ValueError(
                "this solver treats the adversary's ball as unbounded; a robust problem with "
                "input bounds (lower / upper) is solved by solve_cvxpy (or drop the bounds)"
            )
        if problem.clean_weight > 0:
            raise ValueError(
                "this solver minimizes the robust loss alone; a robust problem with "
                f"clean_weight={problem.clean_weight:g} (robust + nominal loss mix) is solved by "
                "solve_cvxpy (or set clean_weight=0)"
            )
        if problem.output_signs is not None:
            raise ValueError(
                "this solver keeps both blocks of every pattern; a problem with output_signs "
                "is solved by solve_cvxpy (or set output_signs=None)"
            )
        self.problem, self.rtol = problem, rtol
        self.Xa, self.D, self.y = as_t(problem.Xa), as_t(problem.D), as_t(problem.y)
        self.pert = torch.as_tensor(problem.perturbable, device=device)
        self.P = problem.P
        self.eps = problem.robust_eps
        self.sign = (2.0 * self.D - 1.0).repeat(1, 2)

    def __call__(self, V: torch.Tensor) -> tuple[float, float, int, float]:
        """``(convex objective, network objective, active neurons, constraint violation)`` at
        ``V`` of shape ``(d_aug, 2P)`` (blocks ``v_1..v_P, w_1..w_P``; any float dtype)."""
        V = V.to(torch.float64)
        P, pr = self.P, self.problem
        norms = torch.linalg.vector_norm(V, dim=0)
        top = norms.max()
        keep = norms > self.rtol * top if top > 0 else torch.zeros_like(norms, dtype=torch.bool)
        XV = self.Xa @ V
        pred = (self.D * (XV[:, :P] - XV[:, P:])).sum(dim=1)
        XVk = XV * keep
        relu = torch.clamp(XVk, min=0.0)
        net_pred = relu[:, :P].sum(dim=1) - relu[:, P:].sum(dim=1)
        reg = pr.beta * float(norms.sum())
        reg_net = pr.beta * float(norms[keep].sum())
        if self.eps == 0:
            rc = rn = 0.0
        else:
            Vv, Vw = V[:, :P], V[:, P:]
            Zc = self.D @ (Vv - Vw)[self.pert].T
            active = (XVk > 0).to(V.dtype)
            Vkp = (V * keep)[self.pert]
            Zn = active[:, :P] @ Vkp[:, :P].T - active[:, P:] @ Vkp[:, P:].T
            rc = self.eps * Zc.abs().sum(dim=1)
            rn = self.eps * Zn.abs().sum(dim=1)
        conv = float(robust_loss_value(pr.loss, pred, self.y, rc)) + reg
        net = float(robust_loss_value(pr.loss, net_pred, self.y, rn)) + reg_net
        slack = self._sign_slack(V, XV)
        if pr.stability_penalty is None:
            violation = float(slack.max())
        else:  # soft stability: the minimal slacks are priced, nothing is violated
            violation = 0.0
            conv += pr.stability_penalty * float(slack.sum())
        return conv, net, int(keep.sum()), violation

    def _sign_slack(self, V: torch.Tensor, XV: torch.Tensor) -> torch.Tensor:
        """Violation of each hard sign constraint (``problem.constraint_violation``'s terms)."""
        pr, P = self.problem, self.P
        lhs = self.sign * XV
        if pr.program in ("certified", "class-aware"):
            rhs = self.eps * V[self.pert].abs().sum(dim=0)
        else:
            rhs = torch.zeros(2 * P, dtype=V.dtype, device=V.device)
        slack = torch.clamp(rhs[None, :] - lhs, min=0.0)
        if pr.program == "class-aware":
            neg = (self.y < 0).to(V.dtype)[:, None]
            slack = torch.cat([slack[:, :P] * neg, slack[:, P:] * (1.0 - neg)], dim=1)
        return slack


def convex_solution(
    problem: ConvexReLUProblem,
    U: torch.Tensor,
    *,
    solver: str,
    start: float,
    run: Any,
    info: dict[str, Any],
) -> ConvexSolution:
    """The ``ConvexSolution`` of a solver's point ``U = [V, W]`` (``(d_aug, 2P)``, any device
    and float dtype): float64 arrays, the objective recomputed by ``problem.convex_objective``,
    the time since ``start`` (``time.perf_counter()``); ``run`` carries ``status``,
    ``message`` and ``history``."""
    Un = U.detach().cpu().numpy().astype(np.float64)
    P = problem.P
    V, W = np.ascontiguousarray(Un[:, :P]), np.ascontiguousarray(Un[:, P:])
    return ConvexSolution(
        V=V,
        W=W,
        objective=problem.convex_objective(V, W),
        status=run.status,
        solver=solver,
        time=time.perf_counter() - start,
        problem=problem,
        message=run.message,
        history=run.history,
        info=info,
    )
