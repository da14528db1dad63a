"""The fixed linear system of the ADMM u-step, solved in rotated coordinates (MATH.md section 4).

With the stacked constraint operator ``K u = (u, G u, sqrt(c) F u, sqrt(c) A u, E u)`` (copy,
pattern signs, predictions, perturbable effective weights of robust programs, perturbable copy of
the certified cone split) every u-step solves ``K^T K u = R`` with ``R`` of shape ``(d, 2P)``
(columns ``u_1..u_P`` then ``z_1..z_P``). In the rotated coordinates ``p_i = (u_i + z_i)/sqrt2``,
``q_i = (u_i - z_i)/sqrt2`` the predictions and effective weights see only ``q`` (``F u = sqrt2
F_q q``, ``A u = sqrt2 D Q^T``) and ``G^T G = blkdiag(Xa^T Xa)`` is unchanged, so ``K^T K`` splits
into

    p-blocks: H p_i = r_i,  H = I + Xa^T Xa + w_E E     (one d x d Cholesky factor for all i)
    q-system: (I_P (x) H + 2c F_q^T F_q + 2c_z (D^T D) (x) E') vec(Q) = vec(R_q)

with ``F_q = [D_1 Xa, ..., D_P Xa]``. Three ways to solve the q-system, chosen from the sizes:

- ``"cholesky"``: form the ``Pd x Pd`` matrix (row chunks, never ``F``), factor it once and
  keep its explicit inverse (from the factor): one matrix-vector product per u-step; memory
  ``8 (P d)^2`` bytes (three such matrices at once during the setup).
- ``"woodbury"`` (nominal programs, ``c_z = 0``): ``(I_P (x) H + 2c F_q^T F_q)^{-1}`` through the
  ``n x n`` capacitance matrix ``I/(2c) + (Xa H^{-1} Xa^T) o (D D^T)`` (``o``: Hadamard product;
  derived from ``sum_i D_i M D_i = M o (D D^T)``), whose explicit inverse is kept; memory
  ``8 n^2`` bytes (two such matrices at once during the setup).
- ``"cg"``: preconditioned conjugate gradients, operator applied through masks on ``Xa``
  (``O(n d P)`` per product), block-Jacobi preconditioner (one ``d x d`` factor per pattern),
  warm started from the previous solution; memory ``O(n P + P d^2)``.
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import numpy as np
import torch
from scipy.linalg import blas as _blas

__all__ = [
    "LinearSolverName",
    "RotatedSystem",
    "choose_linear_solver",
    "factor_flops",
    "memory_bytes",
]

LinearSolverName = Literal["auto", "cholesky", "woodbury", "cg"]
_SQRT2 = math.sqrt(2.0)


def memory_bytes(path: str, n: int, d: int, P: int, itemsize: int = 8) -> int:
    """Memory model of the q-system's factor for a linear-solver path, in bytes (the iteration's
    own ``O(n P + n d)`` arrays come on top; see ``solve_admm``'s docstring)."""
    if path == "cholesky":
        return itemsize * (P * d) ** 2
    if path == "woodbury":
        return itemsize * n * n
    return itemsize * (P * d * d + 4 * n * P)


def factor_flops(path: str, n: int, d: int, P: int) -> float:
    """Floating-point operations of forming and factoring the q-system for a path (leading
    terms): ``n (P d)^2 + (P d)^3 / 3`` (cholesky), ``n^2 d + n^3 / 3`` (woodbury), ``n d^2 P``
    (cg: the block-Jacobi preconditioner). The explicit inverses of the direct paths (about
    ``2 m^3 / 3`` more for a factor of order ``m``) are not counted: ``admm.REFACTOR_ITERATIONS``
    was set against this count."""
    if path == "cholesky":
        return n * (P * d) ** 2 + (P * d) ** 3 / 3
    if path == "woodbury":
        return n * n * d + n**3 / 3
    return n * d * d * P


def choose_linear_solver(
    n: int, d: int, P: int, *, robust_loss: bool, max_bytes: float, itemsize: int = 8
) -> str:
    """The direct path with the smaller factor (Woodbury only for nominal programs), or ``"cg"``
    when that factor would exceed ``max_bytes``."""
    options = ["cholesky"] if robust_loss else ["cholesky", "woodbury"]
    best = min(options, key=lambda p: memory_bytes(p, n, d, P, itemsize))
    return best if memory_bytes(best, n, d, P, itemsize) <= max_bytes else "cg"


class RotatedSystem:
    """Solves ``K^T K U = R`` for ``R`` of shape ``(d, 2P)`` (see module docstring).

    Args:
        Xa: ``(n, d)`` augmented data; D: ``(n, P)`` 0/1 patterns (same device and dtype).
        c: weight of the prediction constraint (``> 0``).
        c_z: weight of the effective-weight constraint (0 when absent).
        cone_weight: weight ``w_E`` of the perturbable copy (0 or 1).
        perturbable: ``(d,)`` bool mask.
        path: ``"cholesky"``, ``"woodbury"`` or ``"cg"``.
        chunk: rows per chunk when forming ``F_q^T F_q``.
        gram: ``F_q^T F_q`` ``(P d, P d)`` from an earlier system on the same data (the
            ``"cholesky"`` path then skips its ``n (P d)^2`` flops); None: formed here.
        keep_gram: keep ``F_q^T F_q`` (``self.gram``, ``(P d)^2`` more entries) for a later
            system with another ``c`` (``"cholesky"`` path only; the paper splitting of
            ``solve_admm`` refactors at every ``rho`` change).
        gram_dtype: the dtype ``F_q^T F_q`` is formed (and kept) in; None: ``Xa``'s. float32
            does its ``n (P d)^2`` flops in about half float64's time, for iterations that run
            in float32 anyway (its relative error, about ``1e-7``, perturbs the u-step below
            float32's own rounding).
    """

    def __init__(
        self,
        Xa: torch.Tensor,
        D: torch.Tensor,
        *,
        c: float,
        c_z: float,
        cone_weight: float,
        perturbable: torch.Tensor,
        path: str,
        chunk: int = 512,
        cg_tol: float = 1e-10,
        cg_max_iter: int = 200,
        copy_weight: float = 1.0,
        gram: torch.Tensor | None = None,
        keep_gram: bool = False,
        gram_dtype: torch.dtype | None = None,
    ) -> None:
        n, d = Xa.shape
        P = D.shape[1]
        self.Xa, self.D, self.c, self.c_z, self.path = Xa, D, c, c_z, path
        self.n, self.d, self.P = n, d, P
        self.E = perturbable.to(Xa.dtype)
        self.cg_tol, self.cg_max_iter = cg_tol, cg_max_iter
        self.cg_iterations: list[int] = []
        self._cone_weight, self._copy_weight, self._chunk = cone_weight, copy_weight, chunk
        eye = torch.eye(d, dtype=Xa.dtype, device=Xa.device)
        self.H = copy_weight * eye + Xa.T @ Xa + cone_weight * torch.diag(self.E)
        self.H_chol = torch.linalg.cholesky(self.H)
        self.DtD = D.T @ D
        self.gram: torch.Tensor | None = None
        if path == "cholesky":
            if gram is None:
                dtype = Xa.dtype if gram_dtype is None else gram_dtype
                gram = _gram(Xa.to(dtype), D.to(dtype), chunk)
            if keep_gram:
                self.gram = gram
            M = gram.to(Xa.dtype) * (2.0 * c)
            blocks = M.view(P, d, P, d)
            for i in range(P):
                blocks[i, :, i, :] += self.H
            if c_z > 0:
                idx = torch.nonzero(perturbable).flatten()
                blocks[:, idx, :, idx] += 2.0 * c_z * self.DtD[None, :, :]
            # The explicit inverse (LAPACK potri on the Cholesky factor, level-3 BLAS, about
            # (P d)^3 / 3 + (P d)^3 / 3 flops): a u-step is then one matrix-vector product, where
            # two triangular solves with one right-hand side are single-threaded and about 10x
            # slower (measured at P d = 6464). potri is 3x faster than a triangular solve against
            # the identity followed by L^-T L^-1 (measured at 2500, one thread).
            L = torch.linalg.cholesky(M)
            del M
            self.M_inv = torch.cholesky_inverse(L)
            del L
        elif path == "woodbury":
            if c_z > 0:
                raise ValueError("the Woodbury path applies to nominal programs only")
            XHinv = torch.cholesky_solve(Xa.T, self.H_chol)  # (d, n) = H^{-1} Xa^T
            cap = (Xa @ XHinv) * (D @ D.T)
            cap.diagonal().add_(1.0 / (2.0 * c))
            # explicit inverse, as on the cholesky path: a single-right-hand-side solve with an
            # n x n factor runs single-threaded triangular solves (measured 691 ms per iteration
            # at n = 12000, P = 128, against one matrix-vector product)
            chol = torch.linalg.cholesky(cap)
            del cap
            self.cap_inv = torch.cholesky_inverse(chol)
            del chol
        elif path == "cg":
            # block-Jacobi: H + 2c Xa^T D_i Xa + 2 c_z (D^T D)_ii E, one factor per pattern
            blocks = torch.einsum("nd,np,ne->pde", Xa, D, Xa) * (2.0 * c)
            blocks += self.H[None]
            if c_z > 0:
                blocks += 2.0 * c_z * self.DtD.diagonal()[:, None, None] * torch.diag(self.E)[None]
            self.pre_chol = torch.linalg.cholesky(blocks)
            self._Q_prev: torch.Tensor | None = None
        else:
            raise ValueError(f"unknown linear solver path {path!r}")

    def with_c(self, c: float) -> RotatedSystem:
        """The same system with the prediction weight ``c`` (a new factor; the ``"cholesky"``
        path reuses the kept ``F_q^T F_q``, if any, and keeps it)."""
        c_z = c if self.c_z > 0 else 0.0
        return RotatedSystem(
            self.Xa, self.D, c=c, c_z=c_z, cone_weight=self._cone_weight,
            perturbable=self.E > 0, path=self.path, chunk=self._chunk, cg_tol=self.cg_tol,
            cg_max_iter=self.cg_max_iter, copy_weight=self._copy_weight, gram=self.gram,
            keep_gram=self.gram is not None,
        )  # fmt: skip

    # ------------------------------------------------------------------ q-system pieces
    def _apply_q(self, Q: torch.Tensor) -> torch.Tensor:
        """``(I_P (x) H + 2c F_q^T F_q + 2c_z (D^T D) (x) E') Q`` for ``Q`` (d, P)."""
        out = self.H @ Q
        t = (self.D * (self.Xa @ Q)).sum(dim=1)  # F_q q, (n,)
        out += (2.0 * self.c) * (self.Xa.T @ (self.D * t[:, None]))
        if self.c_z > 0:
            out += (2.0 * self.c_z) * (self.E[:, None] * (Q @ self.DtD))
        return out

    def _precondition(self, R: torch.Tensor) -> torch.Tensor:
        return torch.cholesky_solve(R.T.unsqueeze(-1), self.pre_chol).squeeze(-1).T

    def _solve_q(self, Rq: torch.Tensor) -> torch.Tensor:
        if self.path == "cholesky":
            return symmetric_matvec(self.M_inv, Rq.T.reshape(-1)).reshape(self.P, self.d).T
        if self.path == "woodbury":
            Y = torch.cholesky_solve(Rq, self.H_chol)  # A^{-1} r
            t = (self.D * (self.Xa @ Y)).sum(dim=1, keepdim=True)  # F_q A^{-1} r
            w = symmetric_matvec(self.cap_inv, t.reshape(-1)).reshape(-1, 1)
            return Y - torch.cholesky_solve(self.Xa.T @ (self.D * w), self.H_chol)
        return self._cg(Rq)

    def _cg(self, B: torch.Tensor) -> torch.Tensor:
        Q = self._Q_prev if self._Q_prev is not None else self._precondition(B)
        R = B - self._apply_q(Q)
        Z = self._precondition(R)
        Pdir = Z
        rz = torch.sum(R * Z)
        target = self.cg_tol * torch.linalg.vector_norm(B)
        it = 0
        while it < self.cg_max_iter and torch.linalg.vector_norm(R) > target:
            AP = self._apply_q(Pdir)
            step = rz / torch.sum(Pdir * AP)
            Q = Q + step * Pdir
            R = R - step * AP
            Z = self._precondition(R)
            rz_new = torch.sum(R * Z)
            Pdir = Z + (rz_new / rz) * Pdir
            rz = rz_new
            it += 1
        self.cg_iterations.append(it)
        self._Q_prev = Q
        return Q

    # ------------------------------------------------------------------ full solve
    def solve(self, R: torch.Tensor) -> torch.Tensor:
        """``U`` (d, 2P) with ``K^T K U = R``."""
        P = self.P
        Rv, Rw = R[:, :P], R[:, P:]
        # the rotation's two 1/sqrt2 factors folded into one 1/2 (the solves are linear)
        Pm = torch.cholesky_solve(Rv + Rw, self.H_chol)
        Qm = self._solve_q(Rv - Rw)
        return torch.cat([Pm + Qm, Pm - Qm], dim=1).mul_(0.5)

    def apply(self, U: torch.Tensor) -> torch.Tensor:
        """``K^T K U`` (for tests of the solve)."""
        P = self.P
        Pm = (U[:, :P] + U[:, P:]) / _SQRT2
        Qm = (U[:, :P] - U[:, P:]) / _SQRT2
        Rp = self.H @ Pm
        Rq = self._apply_q(Qm)
        return torch.cat([(Rp + Rq) / _SQRT2, (Rp - Rq) / _SQRT2], dim=1)

    def cast(self, dtype: torch.dtype) -> RotatedSystem:
        """A copy whose tensors (data, factors, explicit inverses) are in ``dtype``: the
        float32 iteration of ``solve_admm`` uses the float64 factorization rounded once."""
        out = copy.copy(self)
        for name, value in vars(self).items():
            if name != "gram" and isinstance(value, torch.Tensor) and value.is_floating_point():
                setattr(out, name, value.to(dtype))
        out.cg_iterations = self.cg_iterations
        out.gram = None  # a cast copy is not refactored
        return out


_SYMV = {torch.float32: _blas.ssymv, torch.float64: _blas.dsymv}


def symmetric_matvec(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A @ x`` for a symmetric ``(m, m)`` matrix ``A`` (both triangles stored) and ``x`` ``(m,)``.

    On the CPU this calls BLAS ``symv`` on one triangle: it reads half of ``A`` where a general
    matrix-vector product reads all of it, and the u-step's product is memory-bound (measured at
    order 1632, float32, one thread: 0.25 -> 0.20 ms with the matrix in cache, 0.51 -> 0.33 ms
    evicted, as between ADMM iterations). Elsewhere (GPU, other dtypes) ``A @ x``.
    """
    symv = _SYMV.get(A.dtype)
    stored = A if A.is_contiguous() else A.T  # A^T = A; cholesky_inverse returns column-major
    if symv is None or A.device.type != "cpu" or not stored.is_contiguous():
        return A @ x
    # a row-major symmetric matrix read as column-major is itself (no copy)
    y = symv(1.0, stored.numpy().T, np.ascontiguousarray(x.numpy()), lower=1)
    return torch.from_numpy(y)


def _gram(Xa: torch.Tensor, D: torch.Tensor, chunk: int) -> torch.Tensor:
    """``F_q^T F_q`` ``(P d, P d)`` with ``F_q = [D_1 Xa, ..., D_P Xa]``, in row chunks (never
    ``F``): block ``(i, j)`` is ``(D_i Xa)^T (D_j Xa)``; the upper block triangle is formed
    (half the flops) and mirrored."""
    n, d = Xa.shape
    P = D.shape[1]
    G = torch.zeros(P * d, P * d, dtype=Xa.dtype, device=Xa.device)
    blocks = G.view(P, d, P, d)
    for start in range(0, n, chunk):
        Xc, Dc = Xa[start : start + chunk], D[start : start + chunk]
        Fc = (Dc[:, :, None] * Xc[:, None, :]).reshape(Xc.shape[0], P * d)
        for i in range(P):
            row = blocks[i, :, i:, :].reshape(d, (P - i) * d)  # a view of G
            row.addmm_(Fc[:, i * d : (i + 1) * d].T, Fc[:, i * d :])
    for i in range(P):
        for j in range(i):
            blocks[i, :, j, :] = blocks[j, :, i, :].T
    return G
