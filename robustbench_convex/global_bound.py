"""A certified lower bound on the global optimum of two-layer ReLU training, any width
(MATH.md section 8).

For a loss ``L`` (summed; squared, hinge or logistic), ``beta > 0`` and data ``Xa`` (augmented with
a ones column when the hidden neurons have biases) every network ``f(x) = sum_j alpha_j
relu(u_j^T x + b_j)`` (no output bias) of *any* width has

    L(f(X), y) + beta/2 sum_j (||u_j||^2 + b_j^2 + alpha_j^2)  >=  p*  >=  -L*(t theta)

for every ``theta`` in the conjugate's domain and ``t`` with ``t M(theta) <= beta`` (and ``t <= 1``
for the hinge and logistic losses, whose conjugate domains are boxes around 0), where

    M(theta) = max_{||u||_2 <= 1} |theta^T (Xa u)_+|.

(``p*`` is the optimum of the all-pattern convex program (C): the network maps to a feasible
point of (C) no worse than itself, ``patterns.network_blocks``; ``t theta`` is feasible for its
dual.) Only an **upper** bound ``Mbar >= M(theta)`` is needed; :func:`global_lower_bound` takes
``t`` in ``[0, min(1, beta / Mbar)]`` maximizing ``-L*(t theta)`` and reports how ``Mbar`` was
obtained (``GlobalBound.method``):

- ``"enumeration"`` (every pattern enumerable: low-rank data, ``patterns.enumerate_patterns``):
  ``M = max_i max_s max_{u in cone_i, ||u|| <= 1} s theta^T D_i Xa u`` and each inner maximum
  equals ``min_{lambda >= 0} ||s Xa^T D_i theta + G_i^T lambda||`` (conic duality; ``G_i =
  (2 D_i - I) Xa``), solved by non-negative least squares. Any ``lambda >= 0`` gives an upper
  bound, so the result is valid whatever the NNLS accuracy, and exact when it is accurate; blocks
  whose plain norm ``||Xa^T D_i theta||`` cannot beat the running maximum are skipped. Valid as
  long as the enumeration is complete (it is for data in general position, see
  ``enumerate_patterns``).
  For data of rank <= 3 (2-D inputs with biases) :func:`face_candidates` replaces the NNLS:
  the maximizer candidate of every face of the arrangement, exact in seconds.
- ``"mip"`` (any data; needs ``pyscipopt``, the ``mip`` extra): the smaller of the relaxation
  below and SCIP's dual bound on a big-M model (:func:`max_violation_mip`), valid at its time
  limit. Measured on breast-cancer it stayed above the relaxation after 60 s.
- ``"relaxation"`` (any data; cheap, loose): with ``(a)_+ = (|a| + a) / 2`` and dropping the
  samples whose ``theta_k`` has the wrong sign,
  ``M <= ||Xa^T theta|| / 2 + max_s N(A_s) / 2``, ``A_s`` the rows ``|theta_k| x_k`` with
  ``s theta_k > 0`` and ``N(A) = max_{||u|| <= 1} ||A u||_1 = max_{sigma in {-1,1}^m} ||A^T sigma||``.
  ``N(A)^2`` is bounded by the dual of its semidefinite relaxation: for any ``w > 0``,
  ``N(A)^2 <= sum(w) lambda_max(A^T diag(1/w) A)`` (``w`` is improved by a few multiplicative
  steps). Typically several times ``M``: the bound is then far below the optimum; the gap says
  so. Certifies something on every data set, never anything close off the enumerable cases.

What is guaranteed: ``value <= `` the training objective of every network above (up to float64
rounding; the NNLS residual and the eigenvalue are recomputed from the returned certificates).
What is not: tightness. The gap ``(objective - value) / objective`` (:func:`certified_gap`) of a
trained network says how far from the global optimum it can be, at most.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from robustbench_convex.duality import _best_scale, _project_theta, conjugate_loss_sum
from robustbench_convex.losses import check_loss

BoundMethod = Literal["auto", "enumeration", "relaxation", "mip"]
BOUND_METHODS: tuple[str, ...] = ("auto", "enumeration", "relaxation", "mip")
DEFAULT_MAX_ENUMERATED = 100_000

__all__ = [
    "BOUND_METHODS",
    "FaceCandidates",
    "GlobalBound",
    "MipBound",
    "block_values",
    "certified_gap",
    "face_candidates",
    "global_lower_bound",
    "max_violation_enumerated",
    "max_violation_mip",
    "max_violation_relaxed",
    "scaled_dual_value",
]


@dataclass(frozen=True)
class GlobalBound:
    """A lower bound on the training objective of every two-layer ReLU network (any width).

    Attributes:
        value: the bound (same units as the objective: summed loss plus weight decay).
        M_upper: the certified upper bound ``Mbar >= M(theta)`` used.
        M_lower: a value of ``|theta^T (Xa u)_+|`` attained by a unit ``u`` (``<= M(theta)``), or
            NaN when not known; ``M_upper / M_lower`` says how loose ``Mbar`` may be.
        scale: the factor ``t`` applied to ``theta``.
        method: how ``M_upper`` was obtained (``"enumeration"`` or ``"relaxation"``).
        n_patterns: patterns enumerated (``"enumeration"``; None for data of rank <= 3, whose
            faces are generated without an enumeration), else None.
        time: seconds spent.
        note: why ``"auto"`` chose the method (e.g. the enumeration was too large).
    """

    value: float
    M_upper: float
    M_lower: float
    scale: float
    method: str
    n_patterns: int | None
    time: float
    note: str = ""


def certified_gap(objective: float, bound: float) -> float:
    """``(objective - bound) / |objective|``: at most this fraction of the objective separates it
    from the global optimum (NaN when the objective is 0 or not finite)."""
    if not np.isfinite(objective) or objective == 0 or not np.isfinite(bound):
        return float("nan")
    return float((objective - bound) / abs(objective))


def _augment(X: np.ndarray, bias: bool) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X


def _pg_bound(Xa: np.ndarray, C: np.ndarray, D: np.ndarray, steps: int) -> np.ndarray:
    """``max_s min_{lambda >= 0} ||s c_i + G_i^T lambda||`` bounded from above for many blocks at
    once by accelerated projected gradient (every iterate's residual is a valid bound)."""
    Xt = torch.as_tensor(Xa)
    S = torch.as_tensor(2.0 * D - 1.0)  # (n, B)
    step = 1.0 / float(torch.linalg.matrix_norm(Xt, ord=2)) ** 2
    out = torch.zeros(C.shape[1], dtype=torch.float64)
    for s in (1.0, -1.0):
        c = s * torch.as_tensor(C)  # (d, B)
        lam = torch.zeros_like(S)
        mom, prev = lam, lam
        best = torch.linalg.vector_norm(c, dim=0)
        for k in range(1, steps + 1):
            r = c + Xt.T @ (S * mom)
            lam = torch.clamp(mom - step * (S * (Xt @ r)), min=0.0)
            mom = lam + (k - 1) / (k + 2) * (lam - prev)
            prev = lam
            best = torch.minimum(best, torch.linalg.vector_norm(c + Xt.T @ (S * lam), dim=0))
        out = torch.maximum(out, best)
    return out.numpy() * (1.0 + 1e-12)


def block_values(
    Xa: np.ndarray,
    theta: np.ndarray,
    patterns: np.ndarray,
    *,
    threshold: float,
    top: int = 1,
    chunk: int = 4096,
    steps: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Certified upper bounds on each pattern's dual-constraint value
    ``max_s max_{u in cone_i, ||u|| <= 1} s theta^T D_i Xa u``, exact for the blocks that may
    exceed ``threshold`` (module docstring, "enumeration").

    Screening, cheapest first, each a valid upper bound: the plain norm ``||Xa^T D_i theta||``
    (``lambda = 0``), then the best single sign constraint (closed form), then (``steps > 0``;
    measured slower than NNLS alone on synthetic-spirals) ``steps`` batched accelerated
    projected-gradient steps on the multipliers of all blocks, then NNLS (exact up
    to its accuracy; the residual is recomputed from the clipped multipliers), run in decreasing
    order of the screened bound until the ``top`` largest values are exact (the next screened
    bound cannot beat the ``top``-th exact value) or the screened bounds reach ``threshold``.
    ``max(upper)`` is then a certified upper bound on the maximum, exact with ``top >= 1``.

    Returns:
        ``(upper, attained)``, each ``(P,)``: ``upper[i] >= `` block ``i``'s value (exact where
        NNLS ran); ``attained[i]`` a value ``|theta^T (Xa u)_+|`` at a unit ``u`` recovered from
        the NNLS residual (0 where NNLS did not run): a lower bound on ``M(theta)``.
    """
    from scipy.optimize import nnls

    Xa = np.asarray(Xa, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    D = np.asarray(patterns, dtype=np.float64)
    P = D.shape[1]
    C = Xa.T @ (D * theta[:, None])  # (d, P): Xa^T D_i theta
    upper = np.linalg.norm(C, axis=0)
    attained = np.zeros(P)
    sq_norms = np.einsum("kd,kd->k", Xa, Xa)  # ||g_k||^2 = ||x_k||^2
    idx = np.flatnonzero(upper > threshold)
    for lo in range(0, idx.size, chunk):
        cols = idx[lo : lo + chunk]
        S = 2.0 * D[:, cols] - 1.0  # (n, B) constraint signs
        XC = Xa @ C[:, cols]  # (n, B): x_k^T c_i
        for s in (1.0, -1.0):
            # lambda on one constraint k: ||c||^2 - (max(0, -s c^T g_k))^2 / ||g_k||^2
            gain = np.maximum(0.0, -s * S * XC) ** 2 / np.maximum(sq_norms, 1e-300)[:, None]
            single = np.sqrt(np.maximum(upper[cols] ** 2 - gain.max(axis=0), 0.0))
            if s == 1.0:
                best = single
            else:
                best = np.maximum(best, single)
        upper[cols] = np.minimum(upper[cols], best * (1.0 + 1e-12))
        live = cols[upper[cols] > threshold]
        if live.size and steps > 0:
            upper[live] = np.minimum(upper[live], _pg_bound(Xa, C[:, live], D[:, live], steps))
    # refine in decreasing order of the screened bound until the `top` largest values are exact
    todo = idx[np.argsort(-upper[idx], kind="stable")]
    exact: list[float] = []
    for i in todo:
        kth = sorted(exact, reverse=True)[top - 1] if len(exact) >= top else -np.inf
        if upper[i] <= max(threshold, kth):
            break  # no remaining block can enter the top `top`
        G = ((2.0 * D[:, i] - 1.0)[:, None] * Xa).T  # (d, n): columns g_k
        value_i = 0.0
        for s in (1.0, -1.0):
            c = s * C[:, i]
            lam, _ = nnls(G, -c, maxiter=50 * G.shape[1])
            r = c + G @ np.maximum(lam, 0.0)
            value = float(np.linalg.norm(r))
            value_i = max(value_i, value)
            if value > 0:  # the primal point of the NNLS: u = r / ||r|| (in the cone at optimum)
                u = r / value
                attained[i] = max(attained[i], abs(float(theta @ np.maximum(Xa @ u, 0.0))))
        upper[i] = min(upper[i], value_i)
        exact.append(upper[i])
    return upper, attained


def max_violation_enumerated(
    Xa: np.ndarray, theta: np.ndarray, patterns: np.ndarray | None, *, M_lower: float = 0.0
) -> tuple[float, float]:
    """Upper and lower bounds on ``M(theta)`` over the given ``(n, P)`` patterns (all of them:
    module docstring, "enumeration"); ``M_lower`` a value known to be attained (screens blocks).
    Data of rank <= 3: every face of the arrangement (:func:`face_candidates`), exact up to
    float64 rounding (raised by a relative 1e-12), ``patterns`` optional; otherwise
    :func:`block_values` (``patterns`` required).

    Returns:
        ``(upper, lower)``: ``upper`` certified (valid for any NNLS accuracy), ``lower`` attained.
    """
    if np.linalg.matrix_rank(Xa) <= LOWRANK_MAX_RANK:  # every face: exact, seconds
        faces = face_candidates(Xa, theta, patterns, keep=1)
        best = float(faces.values.max(initial=0.0))
        lower = max(best, M_lower)
        return max(best * (1.0 + 1e-12) + faces.rounding, lower), lower
    if patterns is None:
        raise ValueError("max_violation_enumerated needs every pattern for data of rank > 3")
    upper, attained = block_values(Xa, theta, patterns, threshold=max(M_lower, 0.0))
    lower = max(float(attained.max(initial=0.0)), M_lower)
    return max(float(upper.max(initial=0.0)), lower), lower


LOWRANK_MAX_RANK = 3  # faces of every dimension enumerated exactly up to this rank


@dataclass(frozen=True)
class FaceCandidates:
    """Unit directions of :func:`face_candidates` and their values ``|theta^T (Xa u)_+|``.

    Attributes:
        directions: ``(d_aug, K)`` unit directions (in the row space of ``Xa``).
        values: ``(K,)`` ``|theta^T (Xa u)_+|`` at each (attained; their max is ``M(theta)``).
        patterns: ``(n, K)`` bool ``1[Xa u >= 0]``: a pattern whose closed cone holds ``u``.
    """

    directions: np.ndarray
    values: np.ndarray
    patterns: np.ndarray
    # an absolute margin covering the rounding of values computed without evaluating every
    # candidate (the sweep of :func:`_swept_faces`): ``max(values) + rounding >= M(theta)``
    rounding: float = 0.0


def _circle_candidates(Z: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Rank-2 rows ``Z`` ``(n, 2)``: the unit stationary points of ``theta^T (Z w)_+`` on every
    arc between consecutive breakpoints of the circle, and the breakpoints, ``(2, K)``."""
    live = np.linalg.norm(Z, axis=1) > 0
    if not live.any():
        return np.zeros((2, 0))
    Zl = Z[live]
    # breakpoints: the two unit vectors orthogonal to each row
    angles = np.arctan2(Zl[:, 0], -Zl[:, 1])
    angles = np.sort(np.mod(np.concatenate([angles, angles + np.pi]), 2 * np.pi))
    rays = np.vstack([np.cos(angles), np.sin(angles)])
    mids = np.append(angles[1:], angles[0] + 2 * np.pi)
    mid = (angles + mids) / 2
    M = np.vstack([np.cos(mid), np.sin(mid)])  # one point per arc
    D = (Z @ M) >= 0
    C = Z.T @ (D * theta[:, None])  # (2, arcs): the gradient on each arc
    return np.hstack([rays, _unit(C), -_unit(C)])


def _unit(U: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(U, axis=0)
    return U[:, norms > 1e-300] / norms[norms > 1e-300]


def _plane_bases(Z: np.ndarray) -> np.ndarray:
    """``(K, 3, 2)`` orthonormal bases of the planes ``z_k^T w = 0`` of the rows ``Z`` ``(K, 3)``
    (all nonzero): the cross product with the coordinate axis least aligned with ``z_k``."""
    zhat = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    axis = np.eye(3)[np.argmin(np.abs(zhat), axis=1)]
    b1 = np.cross(zhat, axis)
    b1 /= np.linalg.norm(b1, axis=1, keepdims=True)
    b2 = np.cross(zhat, b1)
    return np.stack([b1, b2], axis=2)


def _plane_candidates(Z: np.ndarray, theta: np.ndarray, chunk: int = 16):
    """Rank 3, every row's plane at once (chunks of ``chunk`` planes): the candidates of
    :func:`_circle_candidates` in the plane ``z_k^T w = 0``, mapped back to ``R^3``, and the
    stationary points (both signs) of the two cells on either side of every arc; yields
    ``(3, K)`` blocks. Rows parallel to ``z_k`` (zero in its plane) get the breakpoints 0 and
    pi instead: extra points, never missing ones.

    Every cell of the arrangement is among those cells: a cell (an open region of the sphere)
    is bounded by arcs of the planes, and on either side of an arc of plane ``k`` the pattern
    is the arc's own with the rows of that plane (``k`` and the rows parallel to it) all on or
    all off. So no pattern enumeration is needed."""
    rows = np.flatnonzero(np.linalg.norm(Z, axis=1) > 0)
    n = Z.shape[0]
    for lo in range(0, rows.size, chunk):
        ks = rows[lo : lo + chunk]
        Zc = Z[ks]
        Pk = _plane_bases(Zc)  # (c, 3, 2)
        Zk = np.matmul(Z[None], Pk)  # (c, n, 2): the rows in each plane
        dead = np.linalg.norm(Zk, axis=2) <= 1e-300
        raw = np.where(dead, 0.0, np.arctan2(Zk[..., 0], -Zk[..., 1]))
        raw = np.mod(np.concatenate([raw, raw + np.pi], axis=1), 2 * np.pi)  # (c, 2n)
        # rays: where plane k meets plane j, kept in the plane of the smaller index only
        j = np.tile(np.arange(n), 2)
        ray_ok = (j[None, :] > ks[:, None]) & ~np.tile(dead, 2)
        R = np.matmul(Pk, np.stack([np.cos(raw), np.sin(raw)], axis=1))  # (c, 3, 2n)
        yield R.transpose(1, 0, 2)[:, ray_ok], None
        angles = np.sort(raw, axis=1)
        mids = np.concatenate([angles[:, 1:], angles[:, :1] + 2 * np.pi], axis=1)
        mid = (angles + mids) / 2
        Mid = np.stack([np.cos(mid), np.sin(mid)], axis=1)  # (c, 2, arcs)
        D = np.matmul(Zk, Mid) >= 0  # (c, n, arcs): each arc's pattern
        C = np.matmul(Zk.transpose(0, 2, 1), D * theta[None, :, None])  # gradient on each arc
        norms = np.linalg.norm(C, axis=1, keepdims=True)
        C = C / np.where(norms > 1e-300, norms, 1.0)
        arcs = np.matmul(Pk, np.concatenate([C, -C], axis=2)).transpose(1, 0, 2).reshape(3, -1)
        yield arcs, np.concatenate([norms[:, 0], norms[:, 0]], axis=1).reshape(-1)
        # the cells on either side of each arc: the arc's pattern on the rows not in the plane,
        # the plane's own rows all on (side z_k^T u > 0) or all off
        live = (D & ~dead[:, :, None]) * theta[None, :, None]
        G = np.matmul(Z.T[None], live)  # (c, 3, arcs)
        side = Z @ Zc.T  # (n, c): z_j^T z_k, the side of the parallel rows
        on = ((dead & (side.T > 0)) * theta[None, :]) @ Z  # (c, 3)
        cells = np.concatenate([G + on[:, :, None], G], axis=2).transpose(1, 0, 2).reshape(3, -1)
        yield from _both_signs(cells)


def _both_signs(G: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Gradients ``G`` ``(r, K)`` of linear pieces -> the candidates ``+-G/||G||`` with the bound
    ``||G||`` on their value where they lie in their own piece (see :func:`_evaluate_faces`)."""
    norms = np.linalg.norm(G, axis=0)
    U = G / np.where(norms > 1e-300, norms, 1.0)
    return ((np.hstack([U, -U]), np.concatenate([norms, norms])),)


def face_candidates(
    Xa: np.ndarray,
    theta: np.ndarray,
    patterns: np.ndarray | None = None,
    *,
    keep: int | None = None,
) -> FaceCandidates:
    """Exact ``M(theta) = max_{||u|| <= 1} |theta^T (Xa u)_+|`` for data of rank <= 3.

    ``f(u) = s theta^T (Xa u)_+`` is linear on every face of the hyperplane arrangement of the
    rows (cells, the arcs of each hyperplane, the rays where two meet); a maximizer on the
    sphere lies in the relative interior of one face ``F``, where it is the normalized
    projection of ``F``'s gradient onto ``span F`` (or ``F`` is a ray). Every such point is
    generated here: per arc of every row's hyperplane (:func:`_circle_candidates` in its
    plane, every plane at once by :func:`_plane_candidates`), every ray, and per cell: the two
    cells beside every arc, which are all the cells (:func:`_plane_candidates`; no pattern
    enumeration), plus the cells of ``patterns`` if given; ``f`` is then evaluated at the
    points themselves. **Guarantee:** every value is attained; the largest equals ``M(theta)``
    up to float64 rounding; cost ``O(n^2)`` candidates of ``n`` products each.

    Args:
        Xa, theta, patterns: ``(n, d_aug)`` data of rank <= 3, ``(n,)`` dual vector, ``(n, P)``
            patterns whose cells are added as candidates (optional: every cell is covered
            without them).
        keep: return only the ``keep`` candidates of largest value, largest first (their
            maximum is still ``M(theta)``; the ``(n, K)`` patterns of all ``O(n^2)``
            candidates are never held). None: every candidate, in generation order.

    Raises:
        ValueError: rank above ``LOWRANK_MAX_RANK``.
    """
    Xa = np.asarray(Xa, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ValueError(f"keep must be an int >= 1 or None, got {keep!r}")
    _, sv, Vt = np.linalg.svd(Xa, full_matrices=False)
    r = int(np.sum(sv > sv[0] * 1e-10)) if sv.size and sv[0] > 0 else 0
    if r > LOWRANK_MAX_RANK:
        raise ValueError(f"face_candidates needs data of rank <= {LOWRANK_MAX_RANK}, got {r}")
    B = Vt[:r].T  # (d_aug, r): u = B w, w unit in R^r
    Z = Xa @ B
    blocks: list[tuple[np.ndarray, np.ndarray | None]] = []
    if r == 1:
        blocks = [(np.array([[1.0, -1.0]]), None)]
    elif r == 2:
        blocks = [(_circle_candidates(Z, theta), None)]
    elif r == 3 and keep is not None:
        return _swept_faces(Xa, B, Z, theta, patterns, keep)
    elif r == 3:
        if patterns is not None:  # stationary points of the given cells (both signs)
            blocks += _both_signs(Z.T @ ((np.asarray(patterns) > 0.5) * theta[:, None]))
        # rays, arcs and the cells beside every arc of every row's plane (all cells)
        blocks += list(_plane_candidates(Z, theta))
    return _evaluate_faces(Xa, theta, [(B @ W, bound) for W, bound in blocks], keep)


SWEEP_CHUNK = 64  # planes swept at once by _swept_faces


def _sweep_planes(Z: np.ndarray, theta: np.ndarray, ks: np.ndarray):
    """The arrangement of the rows ``Z`` ``(n, 3)`` seen in the planes ``z_k^T w = 0`` of ``ks``
    by a sweep: in each plane the breakpoints (where a row's sign flips) sorted by angle, and the
    gradient ``sum_j theta_j z_j 1[z_j^T w > 0]`` on every arc after a breakpoint by cumulative
    sums of the flips (``O(n log n)`` per plane instead of ``n`` products per arc).

    Returns ``(Pk (c, 3, 2) plane bases, angles (c, 2n) sorted, G (c, 2n, 3) arc gradients,
    dead (c, n) rows zero in the plane, order (c, 2n))``: breakpoint ``i`` is where row
    ``order % n`` turns off (``order < n``) or on. The pattern of the first arc is read at the middle
    of the widest arc (at least ``pi / n`` from every breakpoint), so it is exact."""
    n = Z.shape[0]
    Pk = _plane_bases(Z[ks])  # (c, 3, 2)
    Zk = np.matmul(Z[None], Pk)  # (c, n, 2): the rows in each plane
    dead = np.linalg.norm(Zk, axis=2) <= 1e-300
    off = np.mod(np.arctan2(Zk[..., 0], -Zk[..., 1]), 2 * np.pi)  # row j turns off here
    ang = np.concatenate([off, np.mod(off + np.pi, 2 * np.pi)], axis=1)  # then on again
    flip = (
        np.concatenate([-np.ones(n), np.ones(n)])[None, :, None]
        * np.tile(theta[:, None] * Z, (2, 1))[None]
    )
    flip = flip * ~np.tile(dead, 2)[..., None]  # (c, 2n, 3)
    order = np.argsort(ang, axis=1, kind="stable")
    ang = np.take_along_axis(ang, order, axis=1)
    csum = np.cumsum(np.take_along_axis(flip, order[..., None], axis=1), axis=1)
    gaps = np.diff(np.concatenate([ang, ang[:, :1] + 2 * np.pi], axis=1), axis=1)
    widest = np.argmax(gaps, axis=1)  # arc after breakpoint `widest`
    rows = np.arange(len(ks))
    mid = ang[rows, widest] + gaps[rows, widest] / 2
    on = (np.einsum("cnt,ct->cn", Zk, np.stack([np.cos(mid), np.sin(mid)], axis=1)) > 0) & ~dead
    G0 = (on * theta[None, :]) @ Z  # (c, 3): the gradient on that arc
    G = G0[:, None, :] + csum - csum[rows, widest][:, None, :]
    return Pk, ang, G, dead, order


def _arc_ends(Z: np.ndarray, order: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The two rows bounding every arc of the swept planes (:func:`_sweep_planes`' ``order``
    ``(c, 2n)``), as ``(rows (c, 2n, 3), on (c, 2n), tol (c, 2n))`` for :func:`_near_cell`:
    the row at the arc's start (on after an "on" flip) and at its end (on before an "off"
    flip), with the rounding tolerance ``1e-9 ||z_j||``; shared by every side and sign."""
    n = Z.shape[0]
    nxt = np.roll(order, -1, axis=1)
    tol = 1e-9 * np.linalg.norm(Z, axis=1)
    return [(Z[rows], on, tol[rows]) for rows, on in ((order % n, order >= n), (nxt % n, nxt < n))]


def _near_cell(
    Z: np.ndarray,
    ends: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ks: np.ndarray,
    U: np.ndarray,
    side: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Which cell candidates ``U`` and ``-U`` ``(3, c, 2n)`` (beside the arcs of the planes
    ``ks``, on ``side`` of each plane) lie on the cell's side of the three planes known to bound
    it there: the plane's own and the rows flipping at the arc's two ends (``ends``,
    :func:`_arc_ends`; a necessary condition of lying in the closed cell, checked with a
    rounding tolerance; a candidate outside its cell adds nothing: the cell's maximum is then
    on its boundary, an arc or a ray). Returns the ``(c, 2n)`` masks of ``U`` and of ``-U``."""
    tol = 1e-9 * np.linalg.norm(Z[ks], axis=1)
    dots = side * np.einsum("cd,dci->ci", Z[ks], U)
    plus, minus = dots >= -tol[:, None], -dots >= -tol[:, None]
    for rows, on, tol_rows in ends:
        dots = np.einsum("cid,dci->ci", rows, U)
        dots = np.where(on, dots, -dots)
        plus &= dots >= -tol_rows
        minus &= -dots >= -tol_rows
    return plus, minus


def _swept_faces(
    Xa: np.ndarray,
    B: np.ndarray,
    Z: np.ndarray,
    theta: np.ndarray,
    patterns: np.ndarray | None,
    keep: int,
) -> FaceCandidates:
    """:func:`face_candidates` for rank 3 with ``keep``: the same faces, the rays and arcs valued
    by the sweep of :func:`_sweep_planes` (``O(1)`` each: on an arc ``f`` is the linear
    ``G^T u``; an arc's stationary point counts only where it lies on its arc, else that arc's
    maximum is at a ray), the cells beside every arc (and those of ``patterns``) evaluated
    (``n`` products each) in decreasing bound ``||G||`` only while that bound beats the
    ``keep``-th value so far (:func:`_evaluate_faces`' rule). The ``keep`` best are then
    re-evaluated exactly; ``rounding`` covers the sweep's cumulative sums and the candidates
    that their rounding may have ranked out of the ``keep`` (``4 (2n + 8) eps sum_j |theta_j|
    ||z_j||``, twice)."""
    n = Z.shape[0]
    scale = float(np.abs(theta) @ np.linalg.norm(Z, axis=1))
    err = 4.0 * (2 * n + 8) * np.finfo(float).eps * scale
    live = np.flatnonzero(np.linalg.norm(Z, axis=1) > 0)
    ex_u, ex_v, cell_u, cell_b = [], [], [], []
    for lo in range(0, live.size, SWEEP_CHUNK):
        ks = live[lo : lo + SWEEP_CHUNK]
        Pk, ang, G, dead, order = _sweep_planes(Z, theta, ks)
        W = np.stack([np.cos(ang), np.sin(ang)], axis=1)  # (c, 2, 2n)
        rays = np.matmul(Pk, W)  # (c, 3, 2n)
        ex_u.append(rays.transpose(1, 0, 2).reshape(3, -1))
        ex_v.append(np.abs(np.einsum("cid,cdi->ci", G, rays)).reshape(-1))
        # arcs: the in-plane gradient g, stationary points +-g/||g|| where on the arc
        g = np.matmul(G, Pk)  # (c, 2n, 2)
        gn = np.linalg.norm(g, axis=2)
        end = np.concatenate([ang[:, 1:], ang[:, :1] + 2 * np.pi], axis=1)
        for sign in (1.0, -1.0):
            phi = np.mod(np.arctan2(sign * g[..., 1], sign * g[..., 0]), 2 * np.pi)
            phi = np.where(phi < ang, phi + 2 * np.pi, phi)
            on_arc = (phi <= end) & (gn > 0)
            w = sign * g / np.where(gn > 0, gn, 1.0)[..., None]
            U = np.einsum("cdt,cit->dci", Pk, w)[:, on_arc]
            ex_u.append(U)
            ex_v.append(gn[on_arc])
        # the two cells beside every arc: the plane's own rows on one side (by z_j^T z_k)
        ends = _arc_ends(Z, order)
        side = (Z @ Z[ks].T).T  # (c, n)
        pos = ((dead & (side > 0)) * theta[None, :]) @ Z  # (c, 3)
        neg = ((dead & (side < 0)) * theta[None, :]) @ Z
        for extra, side in ((pos, 1.0), (neg, -1.0)):
            Gc = G + extra[:, None, :]
            b = np.linalg.norm(Gc, axis=2)
            U = (Gc / np.where(b > 0, b, 1.0)[..., None]).transpose(2, 0, 1)
            for sign, ok in zip((1.0, -1.0), _near_cell(Z, ends, ks, U, side)):
                ok &= b > 0
                cell_u.append(sign * U[:, ok])
                cell_b.append(b[ok])
    if patterns is not None:  # the cells of the given patterns
        ((U, b),) = _both_signs(Z.T @ ((np.asarray(patterns) > 0.5) * theta[:, None]))
        cell_u.append(U)
        cell_b.append(b)
    U_ex, v_ex = np.hstack(ex_u), np.concatenate(ex_v)
    best = np.argpartition(-v_ex, min(keep, v_ex.size) - 1)[:keep]
    U_top, v_top = U_ex[:, best], v_ex[best]
    U_c, b_c = np.hstack(cell_u), np.concatenate(cell_b)
    order = np.argsort(-b_c, kind="stable")
    for lo in range(0, order.size, 8192):
        idx = order[lo : lo + 8192]
        cutoff = -np.inf if v_top.size < keep else float(np.partition(v_top, -keep)[-keep])
        if b_c[idx[0]] <= cutoff:
            break
        Uc = U_c[:, idx]
        vals = np.abs(theta @ np.maximum(Z @ Uc, 0.0))
        U_all, v_all = np.hstack([U_top, Uc]), np.concatenate([v_top, vals])
        top = np.argpartition(-v_all, min(keep, v_all.size) - 1)[:keep]
        U_top, v_top = U_all[:, top], v_all[top]
    U = B @ U_top
    XU = Xa @ U
    values = np.abs(theta @ np.maximum(XU, 0.0))  # re-evaluated: attained
    order = np.argsort(-values, kind="stable")
    return FaceCandidates(U[:, order], values[order], XU[:, order] >= 0, rounding=2.0 * err)


def _evaluate_faces(
    Xa: np.ndarray,
    theta: np.ndarray,
    blocks: list[tuple[np.ndarray, np.ndarray | None]],
    keep: int | None,
) -> FaceCandidates:
    """Values (and patterns) of the candidate directions of ``blocks`` (zero columns dropped).

    Each block is ``(U, bound)``: ``bound`` None (evaluate every column: the rays) or, for the
    stationary point ``+-g/||g||`` of a linear piece (a cell, an arc), ``||g||``, its value where
    the point lies in its own piece. With ``keep``, only the ``keep`` best values are kept and
    the bounded candidates are evaluated in decreasing ``bound`` until no bound beats the
    ``keep``-th value so far: a skipped candidate either lies outside its piece (that piece's
    maximum is then on its boundary, another candidate) or has a value ``<=`` that cutoff, so the
    largest value is still ``M(theta)``; the others are the best of those evaluated."""
    dirs, values, pats = [], [], []

    def add(U: np.ndarray) -> None:
        nonlocal dirs, values
        for lo in range(0, U.shape[1], 8192):
            Uc = U[:, lo : lo + 8192]
            XU = Xa @ Uc
            dirs.append(Uc)
            values.append(np.abs(theta @ np.maximum(XU, 0.0)))
            if keep is None:
                pats.append(XU >= 0)
            elif sum(v.size for v in values) > 4 * keep:  # prune to the best `keep` so far
                U_all, v_all = np.hstack(dirs), np.concatenate(values)
                best = np.argpartition(-v_all, keep - 1)[:keep]
                dirs, values = [U_all[:, best]], [v_all[best]]

    def cutoff() -> float:
        v = np.concatenate(values) if values else np.zeros(0)
        return -np.inf if keep is None or v.size < keep else float(np.partition(v, -keep)[-keep])

    for U, bound in blocks:
        if bound is None:
            add(U[:, np.linalg.norm(U, axis=0) > 1e-300])
    bounded = [(U, b) for U, b in blocks if b is not None]
    if bounded:
        U = np.hstack([U for U, _ in bounded])
        bound = np.concatenate([b for _, b in bounded])
        order = np.argsort(-np.where(np.linalg.norm(U, axis=0) > 1e-300, bound, -1.0))
        order = order[bound[order] > 0]
        for lo in range(0, order.size, 8192):
            idx = order[lo : lo + 8192]
            if bound[idx[0]] <= cutoff():
                break
            add(U[:, idx])
    if not values:
        return FaceCandidates(
            np.zeros((Xa.shape[1], 0)), np.zeros(0), np.zeros((Xa.shape[0], 0), dtype=bool)
        )
    U, v = np.hstack(dirs), np.concatenate(values)
    if keep is None:
        return FaceCandidates(U, v, np.hstack(pats))
    order = np.argsort(-v, kind="stable")[:keep]
    U, v = U[:, order], v[order]
    return FaceCandidates(U, v, Xa @ U >= 0)


def _sdp_norm_bound(A: np.ndarray, steps: int = 30) -> float:
    """An upper bound on ``max_{||u|| <= 1} ||A u||_1`` (``A`` is ``(m, d)``): the square root of
    ``sum(w) lambda_max(A^T diag(1/w) A)`` for the best ``w > 0`` found by multiplicative steps
    (every ``w`` is valid: ``sigma^T A A^T sigma <= sum_k w_k`` whenever ``diag(w) >= A A^T``)."""
    if A.shape[0] == 0:
        return 0.0
    norms = np.linalg.norm(A, axis=1)
    A = A[norms > 0]
    if A.shape[0] == 0:
        return 0.0
    w = np.linalg.norm(A, axis=1)

    def value(w: np.ndarray) -> tuple[float, np.ndarray]:
        M = A.T @ (A / w[:, None])
        vals, vecs = np.linalg.eigh(M)
        return float(w.sum() * vals[-1]), vecs[:, -1]

    best, v = value(w)
    for _ in range(steps):
        # stationarity of sum(w) * lambda_max: w_k proportional to |a_k^T v| (top eigenvector)
        target = np.abs(A @ v) + 1e-12 * np.abs(A @ v).max()
        w_new = np.sqrt(w * target / target.sum() * w.sum())
        cand, v_new = value(w_new)
        if cand < best * (1 - 1e-6):
            best, w, v = cand, w_new, v_new
        else:
            break
    return float(np.sqrt(best * (1.0 + 1e-9)))


@dataclass(frozen=True)
class MipBound:
    """What :func:`max_violation_mip` certifies about ``M(theta)``.

    Attributes:
        upper: certified upper bound (SCIP's dual bound per sign, raised by its tolerances).
        lower: the best value attained by SCIP's primal solutions (``<= M``).
        status: SCIP's status per sign (``"optimal"``, ``"timelimit"``, ...).
        n_binaries: binaries per sign (samples whose ReLU was modelled exactly).
        time: seconds.
    """

    upper: float
    lower: float
    status: tuple[str, ...]
    n_binaries: tuple[int, ...]
    time: float


def _mip_one_sign(
    Xa: np.ndarray, coef: np.ndarray, time_limit: float, max_binaries: int | None
) -> tuple[float, float, str, int]:
    """``max_{||u|| <= 1} coef^T (Xa u)_+`` bounded by SCIP: ``h_k >= x_k^T u, h_k >= 0`` for
    ``coef_k < 0`` (exact at the optimum), and for ``coef_k > 0`` either the exact big-M model
    ``h_k <= x_k^T u + B_k (1 - z_k), h_k <= B_k z_k`` (``B_k = ||x_k||`` bounds ``|x_k^T u|``;
    the ``max_binaries`` largest ``coef_k B_k``) or the concave envelope ``h_k <= (x_k^T u +
    B_k) / 2`` (a relaxation). Returns ``(dual bound, primal value, status, binaries)``."""
    import pyscipopt

    d = Xa.shape[1]
    B = np.linalg.norm(Xa, axis=1)
    pos = np.flatnonzero((coef > 0) & (B > 0))
    exact = pos[np.argsort(-coef[pos] * B[pos], kind="stable")]
    if max_binaries is not None:
        exact = exact[: int(max_binaries)]
    exact_set = set(exact.tolist())
    model = pyscipopt.Model()
    model.hideOutput()
    model.setParam("limits/time", float(time_limit))
    u = [model.addVar(lb=-1.0, ub=1.0, name=f"u{i}") for i in range(d)]
    model.addCons(pyscipopt.quicksum(ui * ui for ui in u) <= 1.0)
    objective = []
    for k in np.flatnonzero((coef != 0) & (B > 0)):
        a = pyscipopt.quicksum(float(Xa[k, i]) * u[i] for i in range(d) if Xa[k, i] != 0)
        h = model.addVar(lb=0.0, ub=float(B[k]), name=f"h{k}")
        if coef[k] < 0:
            model.addCons(h >= a)
        elif k in exact_set:
            z = model.addVar(vtype="B", name=f"z{k}")
            model.addCons(h <= a + float(B[k]) * (1 - z))
            model.addCons(h <= float(B[k]) * z)
        else:
            model.addCons(2 * h <= a + float(B[k]))
        objective.append(float(coef[k]) * h)
    if not objective:
        return 0.0, 0.0, "trivial", 0
    model.setObjective(pyscipopt.quicksum(objective), "maximize")
    model.optimize()
    dual = float(model.getDualbound())
    primal = 0.0
    if model.getNSols() > 0:  # re-evaluate the primal u exactly
        best = model.getBestSol()
        uu = np.array([model.getSolVal(best, ui) for ui in u])
        uu = uu / max(1.0, float(np.linalg.norm(uu)))
        primal = float(coef @ np.maximum(Xa @ uu, 0.0))
    # SCIP's tolerances (feasibility 1e-6 on each row): raise the bound by what they can add
    slack = 1e-6 * float(np.abs(coef) @ (B + 1.0)) + 1e-9 * abs(dual)
    return dual + slack, primal, str(model.getStatus()), len(exact)


def max_violation_mip(
    Xa: np.ndarray,
    theta: np.ndarray,
    *,
    time_limit: float = 60.0,
    max_binaries: int | None = None,
) -> MipBound:
    """A certified upper bound on ``M(theta)`` by a mixed-integer program (SCIP, ``pyscipopt``:
    ``pip install robustbench-convex[mip]``), per sign of ``theta`` (:func:`_mip_one_sign`),
    each within ``time_limit / 2`` seconds: SCIP's dual bound at its time limit is still an
    upper bound. Exact when SCIP proves optimality with every positive-coefficient sample
    modelled exactly (``max_binaries`` None); looser, but faster, with fewer binaries.

    Raises:
        ImportError: pyscipopt is not installed (the message names the extra).
    """
    try:
        import pyscipopt  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "global_bound method='mip' needs SCIP's Python interface: "
            "pip install 'robustbench-convex[mip]' (or pip install pyscipopt); "
            "use method='relaxation' without it"
        ) from err
    start = time.perf_counter()
    Xa = np.asarray(Xa, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    runs = [_mip_one_sign(Xa, s * theta, time_limit / 2, max_binaries) for s in (1.0, -1.0)]
    return MipBound(
        upper=max(r[0] for r in runs),
        lower=max(r[1] for r in runs),
        status=tuple(r[2] for r in runs),
        n_binaries=tuple(r[3] for r in runs),
        time=time.perf_counter() - start,
    )


def max_violation_relaxed(Xa: np.ndarray, theta: np.ndarray, steps: int = 30) -> float:
    """A certified upper bound on ``M(theta)`` for any data (module docstring, "relaxation")."""
    Xa = np.asarray(Xa, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    linear = float(np.linalg.norm(Xa.T @ theta))
    parts = []
    for mask in (theta > 0, theta < 0):
        parts.append(_sdp_norm_bound(np.abs(theta[mask])[:, None] * Xa[mask], steps))
    return 0.5 * linear + 0.5 * max(parts)


def global_lower_bound(
    X: Any,
    y: Any,
    theta: Any,
    *,
    loss: Literal["squared", "hinge", "logistic"],
    beta: float,
    bias: bool = True,
    method: BoundMethod = "auto",
    M_lower: float | None = None,
    max_patterns: int = DEFAULT_MAX_ENUMERATED,
    patterns: np.ndarray | None = None,
    M_upper: float | None = None,
    mip_time_limit: float = 60.0,
) -> GlobalBound:
    """Certified lower bound on the objective of every two-layer ReLU network of any width.

    Args:
        X: ``(n, d)`` inputs (without the ones column).
        y: ``(n,)`` labels in {-1, +1}.
        theta: ``(n,)`` dual candidate, e.g. ``pricing.dual_vector`` at a restricted solution
            (clipped into the conjugate's domain first: the hinge and logistic domains need
            ``theta_k y_k`` in ``[-1, 0]``).
        loss, beta: the objective's loss (summed) and weight decay (``beta > 0``).
        bias: hidden biases (the ones column; its weight is penalized). No output bias.
        method: ``"enumeration"``, ``"relaxation"``, ``"mip"`` (the smaller of the relaxation
            and :func:`max_violation_mip` within ``mip_time_limit`` seconds; needs pyscipopt) or
            ``"auto"`` (enumeration when the pattern count bound of ``enumerate_patterns`` is at
            most ``max_patterns``, else relaxation).
        M_lower: a value ``|theta^T (Xa u)_+|`` known to be attained (e.g. the pricing's best),
            recorded for the report only.
        mip_time_limit: seconds of SCIP for ``method="mip"`` (both signs together).
        max_patterns: enumeration limit.
        patterns: every pattern of the augmented data, already enumerated (skips the
            enumeration; the caller vouches that it is complete).
        M_upper: an upper bound on ``M(theta)`` already certified by enumeration for this
            ``theta`` (e.g. by ``pricing.column_generation``'s exact oracle): used as is.

    Returns:
        :class:`GlobalBound`.
    """
    from robustbench_convex._checks import check_binary_labels, check_data_matrix
    from robustbench_convex.patterns import enumerate_patterns

    start = time.perf_counter()
    check_loss(loss)
    if method not in BOUND_METHODS:
        raise ValueError(f"method must be one of {BOUND_METHODS}, got {method!r}")
    beta = float(beta)
    if not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be finite and > 0 for this bound, got {beta!r}")
    X = check_data_matrix(X)
    y, _ = check_binary_labels(y, X.shape[0])
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    if theta.shape != (X.shape[0],) or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta must be a finite ({X.shape[0]},) vector, got shape {theta.shape}")
    tt, ty = torch.as_tensor(theta), torch.as_tensor(y)
    theta = _project_theta(loss, tt, ty).numpy()
    Xa = _augment(X, bias)
    note = ""
    n_patterns = None
    lower = float("nan") if M_lower is None else float(M_lower)
    chosen = method
    if M_upper is not None and method in ("auto", "enumeration"):
        value, t = scaled_dual_value(loss, theta, y, beta, float(M_upper))
        return GlobalBound(
            value=float(value),
            M_upper=float(M_upper),
            M_lower=float(lower),
            scale=float(t),
            method="enumeration",
            n_patterns=None if patterns is None else patterns.shape[1],
            time=time.perf_counter() - start,
            note="M certified by the pricing's exact oracle",
        )
    if patterns is not None and method in ("auto", "enumeration"):
        D, chosen = np.asarray(patterns, dtype=np.float64), "enumeration"
    elif method in ("auto", "enumeration") and np.linalg.matrix_rank(Xa) <= LOWRANK_MAX_RANK:
        D, chosen = None, "enumeration"  # face_candidates: every cell, no enumeration needed
    elif method in ("auto", "enumeration"):
        try:
            D = enumerate_patterns(Xa, max_patterns=max_patterns)
            chosen = "enumeration"
        except ValueError as err:
            if method == "enumeration":
                raise
            chosen = "relaxation"
            note = f"patterns not enumerable ({str(err).split(';')[0]})"
    if chosen == "enumeration":
        n_patterns = None if D is None else int(D.shape[1])
        known = lower if np.isfinite(lower) else 0.0
        upper, lower = max_violation_enumerated(Xa, theta, D, M_lower=known)
    else:
        upper = max_violation_relaxed(Xa, theta)
        if method == "mip":
            mip = max_violation_mip(Xa, theta, time_limit=mip_time_limit)
            chosen = "mip" if mip.upper < upper else "relaxation"
            note = f"SCIP {'/'.join(mip.status)} in {mip.time:.0f} s: M <= {mip.upper:.4g}"
            upper = min(upper, mip.upper)
            lower = max(lower, mip.lower) if np.isfinite(lower) else mip.lower
    value, t = scaled_dual_value(loss, theta, y, beta, upper)
    return GlobalBound(
        value=float(value),
        M_upper=float(upper),
        M_lower=float(lower),
        scale=float(t),
        method=chosen,
        n_patterns=n_patterns,
        time=time.perf_counter() - start,
        note=note,
    )


def scaled_dual_value(
    loss: str, theta: np.ndarray, y: np.ndarray, beta: float, M_upper: float
) -> tuple[float, float]:
    """``(max_t -L*(t theta), t)`` over ``t in [0, beta / M_upper]`` (and ``t <= 1`` for the hinge
    and logistic losses): the bound of the module docstring for a certified ``M_upper >=
    M(theta)``; ``theta`` must lie in the conjugate's domain (``duality._project_theta``)."""
    t_max = beta / M_upper if M_upper > 0 else np.inf
    if loss != "squared":
        t_max = min(1.0, t_max)
    elif not np.isfinite(t_max):
        t_max = 1e12  # theta's direction costs nothing: any scale is feasible
    tt, ty = torch.as_tensor(theta, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    t = _best_scale(loss, tt, ty, float(t_max))
    # 0.0 - 0.0 is +0.0: an empty bound (t = 0) reads 0, not -0
    return 0.0 - conjugate_loss_sum(loss, t * tt, ty), float(t)
