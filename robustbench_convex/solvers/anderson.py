"""Type-II Anderson acceleration of a fixed-point iteration ``x <- g(x)`` (Walker and Ni 2011),
on flat torch vectors, with the safeguard left to the caller.

Given the last ``m + 1`` pairs ``(x_i, g_i = g(x_i))`` with residuals ``f_i = g_i - x_i``, the
next input is ``g_k - dG gamma`` where ``gamma = argmin ||f_k - dF gamma||`` over the differences
``dF = [f_{i+1} - f_i]``, ``dG = [g_{i+1} - g_i]`` (Tikhonov-regularised normal equations, solved
in float64). The differences live in ring buffers and the Gram matrix is updated by one row per
pair, so a step costs two passes over the ``m x N`` buffers.

``solve_admm`` uses it on the ADMM prox inputs (Douglas-Rachford form) and accepts an
extrapolated point only when the fixed-point residual it produces is not larger than the plain
step's (otherwise it reverts to the plain step and ``reset`` s the memory).
"""

from __future__ import annotations

import torch

__all__ = ["Anderson"]


class Anderson:
    """Anderson acceleration with memory ``memory`` (>= 1) and relative regularisation ``reg``."""

    def __init__(self, memory: int, reg: float = 1e-10) -> None:
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 1:
            raise ValueError(f"memory must be an int >= 1, got {memory!r}")
        self.memory, self.reg = memory, reg
        self._dF: torch.Tensor | None = None
        self._dG: torch.Tensor | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every pair (after a change of the map, or a rejected extrapolation)."""
        self._prev: tuple[torch.Tensor, torch.Tensor] | None = None
        self._count = self._pos = 0
        self._gram = torch.zeros(self.memory, self.memory, dtype=torch.float64)

    def step(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor | None:
        """Record the pair ``(x, g(x))`` and return the extrapolated next input (None while no
        difference is stored yet: the caller takes the plain step ``g``)."""
        f = g - x
        prev, self._prev = self._prev, (g, f)
        if prev is None:
            return None
        if self._dF is None or self._dF.shape[1] != f.numel() or self._dF.dtype != f.dtype:
            self._dF = torch.empty(self.memory, f.numel(), dtype=f.dtype, device=f.device)
            self._dG = torch.empty_like(self._dF)
        assert self._dG is not None
        pos = self._pos
        torch.sub(f, prev[1], out=self._dF[pos])
        torch.sub(g, prev[0], out=self._dG[pos])
        self._count = min(self._count + 1, self.memory)
        self._pos = (pos + 1) % self.memory
        k = self._count
        dF = self._dF[:k]
        prods = (dF @ torch.stack([self._dF[pos], f], dim=1)).to(torch.float64).cpu()
        self._gram[pos, :k] = prods[:, 0]
        self._gram[:k, pos] = prods[:, 0]
        gram = self._gram[:k, :k]
        shift = self.reg * float(gram.diagonal().sum()) + 1e-300
        try:
            gamma = torch.linalg.solve(
                gram + shift * torch.eye(k, dtype=torch.float64), prods[:, 1]
            )
        except RuntimeError:  # singular even when shifted: no extrapolation this time
            return None
        if not bool(torch.isfinite(gamma).all()):
            return None
        return g - gamma.to(dtype=g.dtype, device=g.device) @ self._dG[:k]
