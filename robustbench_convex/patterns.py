"""Activation patterns D_i = diag(1[X h_i >= 0]) of the convex reformulation (MATH.md sections 2-3).

A pattern set is an ``(n, P)`` float64 array of 0/1 entries: column ``i`` is the diagonal of
``D_i``. Pass the *augmented* data (with the ones column) when the network has hidden biases:
``ConvexReLUProblem`` does this for you.

- :func:`sample_patterns`: Gaussian directions ``h ~ N(0, I)``; duplicates and the all-zero pattern
  are dropped, so the achieved count (``result.shape[1]``) may be below the request.
- :func:`class_aware_patterns`: Gaussian patterns split into one-class detectors (for the
  class-aware certified program (Rc) of MATH.md section 6).
- :func:`enumerate_patterns`: every distinct pattern of a generic direction (all open cells of the
  hyperplane arrangement {h : x_k^T h = 0}); an exact oracle for tiny problems only.
- :func:`gap_patterns`: hyperplanes ``x^T g = t`` placed in gaps of the projected data, so that
  every training point is at least ``eps * ||g||_1`` away: patterns that stay feasible under the
  stability constraints of the certified robust program (R) (MATH.md section 6).
- :func:`split_by_class`: the class-aware transform of any pattern set (one-class detectors).
- :func:`patterns_from_network`: the activation patterns of an existing ``TwoLayerReLU``.
- :func:`network_seeded_patterns`: train a quick SGD/Adam network (``baselines.train_sgd``) with
  the program's loss and beta and take its arrangement; :func:`network_blocks` maps the network
  into the program, which proves the seeded program's optimum is no worse than the network.

Named samplers live in :data:`PATTERN_SAMPLERS`; :func:`call_sampler` calls one, passing the
optional keywords ``eps`` (the l_inf radius of a robust program) and ``perturbable`` (mask of the
attacked coordinates of the augmented data) to samplers whose signature accepts them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from itertools import combinations, islice, product
from typing import Any

import numpy as np

__all__ = [
    "PATTERN_SAMPLERS",
    "call_sampler",
    "class_aware_patterns",
    "count_patterns_upper_bound",
    "enumerate_patterns",
    "gap_patterns",
    "network_blocks",
    "network_seeded_patterns",
    "patterns_from_network",
    "sample_patterns",
    "split_by_class",
    "unique_patterns",
]


def _check_matrix(X: np.ndarray, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def unique_patterns(patterns: np.ndarray, *, drop_zero: bool = True) -> np.ndarray:
    """Distinct columns of a 0/1 ``(n, P)`` array in order of first appearance (all-zero columns
    dropped unless ``drop_zero=False``)."""
    patterns = np.asarray(patterns, dtype=np.float64)
    if patterns.size == 0:
        return patterns.reshape(patterns.shape[0], 0)
    cols = patterns.T.astype(np.uint8)
    _, first = np.unique(cols, axis=0, return_index=True)
    keep = np.sort(first)
    if drop_zero:
        keep = keep[cols[keep].any(axis=1)]
    return np.ascontiguousarray(patterns[:, keep])


def sample_patterns(X: np.ndarray, n_patterns: int, seed: int = 0) -> np.ndarray:
    """Sample activation patterns from Gaussian directions.

    Args:
        X: data ``(n, d)`` (augmented with a ones column if the network has biases).
        n_patterns: number of directions ``h_i ~ N(0, I_d)`` to draw.
        seed: seed of the directions.

    Returns:
        ``(n, P)`` float64 0/1 array, ``P <= n_patterns``: duplicates and the all-zero pattern are
        dropped (the achieved count is ``P``; with few points many directions collide).
    """
    X = _check_matrix(X)
    if isinstance(n_patterns, bool) or not isinstance(n_patterns, (int, np.integer)):
        raise TypeError(f"n_patterns must be an int, got {type(n_patterns).__name__}")
    if n_patterns < 1:
        raise ValueError(f"n_patterns must be >= 1, got {n_patterns}")
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((X.shape[1], int(n_patterns)))
    return unique_patterns((X @ H >= 0).astype(np.float64))


def split_by_class(patterns: np.ndarray, y: np.ndarray, *, add_ones: bool = False) -> np.ndarray:
    """The class-aware transform of a pattern set (MATH.md section 6, (Rc)).

    Every column ``d`` becomes ``d * 1[y = +1]`` (zero on every negative: a detector of class +1,
    robustly silent on class -1 in the class-aware program) and ``d * 1[y = -1]``. With
    ``add_ones=True`` the all-active pattern (a linear block) is appended.

    Args:
        patterns: 0/1 array ``(n, P)``.
        y: labels ``(n,)`` in {-1, +1}.

    Returns:
        ``(n, P')`` float64 0/1 array, duplicates and all-zero columns dropped (``P' <= 2P + 1``).
    """
    patterns = np.asarray(patterns, dtype=np.float64)
    if patterns.ndim != 2:
        raise ValueError(f"patterns must be a 2-D (n, P) array, got shape {patterns.shape}")
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != patterns.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but patterns has {patterns.shape[0]} rows")
    pos = (y > 0).astype(np.float64)[:, None]
    blocks = [patterns * pos, patterns * (1.0 - pos)]
    if add_ones:
        blocks.append(np.ones((patterns.shape[0], 1)))
    return unique_patterns(np.hstack(blocks))


def class_aware_patterns(
    X: np.ndarray, y: np.ndarray, n_patterns: int, seed: int = 0, *, add_ones: bool = False
) -> np.ndarray:
    """Patterns for the class-aware certified program (Rc): each Gaussian pattern restricted to
    the positive examples (zero on every negative: a detector of class +1, robustly silent on
    class -1) and, separately, restricted to the negatives (see :func:`split_by_class`).

    ``ceil(n_patterns / 2)`` directions are drawn, so about ``n_patterns`` patterns come back
    (fewer after dropping duplicates and all-zero columns); ``add_ones=True`` appends the
    all-active pattern (one more column). Returns ``(n, P)`` float64 0/1.
    """
    X = _check_matrix(X)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows")
    base = sample_patterns(X, max(1, math.ceil(n_patterns / 2)), seed)
    return split_by_class(base, y, add_ones=add_ones)


def _infer_perturbable(X: np.ndarray, perturbable: Any) -> np.ndarray:
    if perturbable is None:
        mask = np.ones(X.shape[1], dtype=bool)
        if X.shape[1] > 1 and np.all(X[:, -1] == 1.0):
            mask[-1] = False  # the ones column appended for hidden biases
        return mask
    mask = np.asarray(perturbable, dtype=bool).reshape(-1)
    if mask.shape[0] != X.shape[1]:
        raise ValueError(f"perturbable must have {X.shape[1]} entries (one per column of X)")
    return mask


def gap_patterns(
    X: np.ndarray,
    y: np.ndarray | None,
    n_patterns: int,
    seed: int = 0,
    *,
    eps: float = 0.0,
    perturbable: np.ndarray | None = None,
    max_support: int | None = None,
    max_tries: int | None = None,
    add_ones: bool = False,
) -> np.ndarray:
    """Patterns of hyperplanes placed in gaps of the projected training data.

    For a random direction ``g`` (zero on the bias coordinate; its support size is drawn
    log-uniformly from 1 to ``max_support``, since sparse directions have small ``||g||_1``) the
    data are projected, ``p_k = x_k^T g``, and sorted. A gap between consecutive projections wider
    than ``2 eps ||g||_1`` admits the threshold ``t`` at its midpoint, and then every training
    point is at least ``eps ||g||_1`` away from the hyperplane: the pattern ``1[x^T g - t >= 0]``
    is stable on every l_inf ball of radius ``eps``, so the block ``v = (g, -t)`` satisfies the
    certified program's constraint ``(2 D - I) Xa v >= eps ||v||_1'`` strictly (the block is not
    forced to zero). Of the admissible gaps the most balanced split is taken. Directions without
    an admissible gap are redrawn, up to ``max_tries`` draws.

    Args:
        X: augmented data ``(n, d_aug)``: it needs a constant (bias) coordinate, which carries
            the threshold.
        y: labels (unused; accepted for the sampler protocol).
        n_patterns: number of patterns wanted.
        eps: l_inf radius (>= 0) in the units of ``X``; 0 accepts any gap.
        perturbable: ``(d_aug,)`` bool mask of attacked coordinates (default: every column but
            a trailing all-ones column).
        max_support: largest support of ``g`` (default: all perturbable coordinates).
        max_tries: directions drawn at most (default ``50 * n_patterns``).
        add_ones: append the all-active pattern (always stable: a linear block).

    Returns:
        ``(n, P)`` float64 0/1 array, ``P <= n_patterns`` (fewer when the data have few wide
        gaps: real data at large eps often admit only hyperplanes that cut off a few outliers).
    """
    X = _check_matrix(X)
    if isinstance(n_patterns, bool) or not isinstance(n_patterns, (int, np.integer)):
        raise TypeError(f"n_patterns must be an int, got {type(n_patterns).__name__}")
    if n_patterns < 1:
        raise ValueError(f"n_patterns must be >= 1, got {n_patterns}")
    eps = float(eps)
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    mask = _infer_perturbable(X, perturbable)
    fixed = np.flatnonzero(~mask)
    if not any(np.ptp(X[:, j]) == 0 and X[0, j] != 0 for j in fixed):
        raise ValueError(
            "gap_patterns places thresholds with the bias coordinate, but X has no constant "
            "non-perturbable column; use bias=True (ConvexReLUProblem appends it)"
        )
    free = np.flatnonzero(mask)
    if free.size == 0:
        raise ValueError("gap_patterns needs at least one perturbable coordinate")
    top = free.size if max_support is None else max(1, min(int(max_support), free.size))
    tries = 50 * int(n_patterns) if max_tries is None else int(max_tries)
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    found: list[np.ndarray] = []
    seen: set[bytes] = set()
    for _ in range(tries):
        if len(found) >= n_patterns:
            break
        k = int(np.clip(np.round(np.exp(rng.uniform(0.0, np.log(top)))), 1, top))
        support = rng.choice(free, size=k, replace=False)
        g = rng.standard_normal(k)
        proj = X[:, support] @ g
        order = np.sort(proj)
        need = 2.0 * eps * np.abs(g).sum()
        gaps = np.diff(order)
        valid = np.flatnonzero(gaps > max(need, 1e-12 * (1.0 + np.abs(order).max())))
        if valid.size == 0:
            continue
        balance = np.minimum(valid + 1, n - valid - 1)
        j = valid[np.argmax(balance)]
        t = 0.5 * (order[j] + order[j + 1])
        pattern = (proj - t >= 0).astype(np.float64)
        if rng.random() < 0.5:
            pattern = 1.0 - pattern  # the direction -g
        key = pattern.astype(np.uint8).tobytes()
        if key not in seen:
            seen.add(key)
            found.append(pattern)
    if add_ones:
        found.append(np.ones(n))
    if not found:
        return np.zeros((n, 0))
    return unique_patterns(np.column_stack(found))


def patterns_from_network(
    net: Any,
    X: Any,
    *,
    class_aware: bool = False,
    y: np.ndarray | None = None,
    add_ones: bool = False,
) -> np.ndarray:
    """The activation patterns of an existing one-hidden-layer network on data ``X``, to seed a
    convex program (``ConvexReLUProblem(..., patterns=...)``), e.g. with the arrangement of a
    network trained by ``train_pgd_at``.

    Args:
        net: a ``TwoLayerReLU`` (anything with ``to_numpy()`` giving ``U``, ``b``).
        X: inputs ``(n, d)`` *without* the bias column (the network's own input space).
        class_aware: apply :func:`split_by_class` (needs ``y``): the patterns for (Rc).
        y: labels ``(n,)`` in {-1, +1} (only with ``class_aware``).
        add_ones: append the all-active pattern.

    Returns:
        ``(n, P)`` float64 0/1 array: column ``j`` is ``1[u_j^T x_k + b_j >= 0]`` (duplicates and
        all-zero columns dropped, so ``P <= width``; more with ``class_aware``).
    """
    if not hasattr(net, "to_numpy"):
        raise TypeError(f"net must be a TwoLayerReLU (with to_numpy()), got {type(net).__name__}")
    weights = net.to_numpy()
    U, b = weights["U"], weights["b"]
    X = _check_matrix(X)
    if X.shape[1] != U.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features but the network has {U.shape[1]} inputs "
            "(pass the data without the bias column)"
        )
    pre = X @ U.T + (0.0 if b is None else b)
    D = (pre >= 0).astype(np.float64)
    if class_aware:
        if y is None:
            raise ValueError("class_aware=True needs the labels y")
        return split_by_class(D, y, add_ones=add_ones)
    if add_ones:
        D = np.hstack([D, np.ones((X.shape[0], 1))])
    return unique_patterns(D)


def network_blocks(net: Any, Xa: Any, D: Any) -> tuple[np.ndarray, np.ndarray]:
    """A network as a feasible point ``(V, W)`` of the convex program with patterns ``D``.

    Neuron ``j`` (augmented weights ``u_j = [w_j; b_j]``, output weight ``alpha_j``) goes to the
    block of its own pattern ``d_j = 1[Xa u_j >= 0]``: ``v_i += |alpha_j| u_j`` when
    ``alpha_j > 0``, ``w_i += |alpha_j| u_j`` when ``alpha_j < 0``. Then ``u_j`` lies in the cone
    ``(2 D_i - I) Xa u >= 0`` (so does a sum of such vectors), ``D_i Xa v_i`` reproduces the
    neurons' contribution ``relu(Xa u_j) alpha_j`` exactly, and by AM-GM and the triangle
    inequality ``beta ||v_i|| <= beta/2 sum_j (||u_j||^2 + alpha_j^2)``. Hence
    ``convex_objective(V, W) <= network_objective(net)`` and the program's optimum is no worse
    than the network (MATH.md section 8). The network must have no output bias (the programs'
    model class).

    Args:
        net: a ``TwoLayerReLU`` without output bias (``c`` None or 0).
        Xa: ``(n, d_aug)`` data, augmented with a ones column iff the network has hidden biases.
        D: ``(n, P)`` patterns of the program; every active neuron's pattern must be a column
            (true for ``D = patterns_from_network(net, X)``; a ValueError otherwise).

    Returns:
        ``(V, W)``, each ``(d_aug, P)``.
    """
    weights = net.to_numpy()
    U, b, alpha, c = weights["U"], weights["b"], weights["alpha"], weights["c"]
    if c not in (None, 0.0):
        raise ValueError("network_blocks needs a network without output bias (c = None or 0)")
    Ua = U if b is None else np.column_stack([U, b])
    Xa = _check_matrix(Xa, "Xa")
    D = np.asarray(D, dtype=np.float64)
    if Ua.shape[1] != Xa.shape[1]:
        raise ValueError(
            f"Xa has {Xa.shape[1]} columns but the network's augmented weights have "
            f"{Ua.shape[1]} (append the ones column iff the network has hidden biases)"
        )
    index = {col.tobytes(): i for i, col in enumerate(np.packbits(D > 0.5, axis=0).T)}
    V = np.zeros((Xa.shape[1], D.shape[1]))
    W = np.zeros_like(V)
    pats = np.packbits(Xa @ Ua.T >= 0, axis=0).T
    for j in range(Ua.shape[0]):
        if alpha[j] == 0 or not np.any(Xa @ Ua[j] >= 0):
            continue  # contributes nothing to the predictions; dropping it lowers the norm
        i = index.get(pats[j].tobytes())
        if i is None:
            raise ValueError(f"neuron {j}'s activation pattern is not a column of D")
        (V if alpha[j] > 0 else W)[:, i] += abs(alpha[j]) * Ua[j]
    return V, W


def network_seeded_patterns(
    X: Any,
    y: Any,
    *,
    loss: str = "squared",
    beta: float,
    width: int = 32,
    epochs: int = 300,
    lr: float = 1e-2,
    bias: bool = True,
    seed: int = 0,
    num_threads: int | None = 1,
) -> tuple[np.ndarray, Any]:
    """Train a quick Adam network on the program's own objective and return its arrangement.

    The network (``baselines.train_sgd``: full batch, ``width`` neurons, weight decay ``beta``,
    the same loss, no output bias) is a feasible point of the program over its patterns
    (:func:`network_blocks`), so that program's optimum is no worse than the network's objective.

    Returns:
        ``(patterns, net)``: ``(n, P)`` 0/1 patterns (``P <= width``) and the trained network.
    """
    from robustbench_convex.baselines import train_sgd

    net, _ = train_sgd(
        X,
        y,
        width=width,
        loss=loss,
        weight_decay=beta,
        epochs=epochs,
        lr=lr,
        seed=seed,
        bias=bias,
        output_bias=False,
        num_threads=num_threads,
    )
    # the arrangement computed as network_blocks computes it (Xa @ [U, b]^T), so that every
    # neuron's pattern is found there whatever the rounding of X @ U^T + b
    weights = net.to_numpy()
    X = _check_matrix(X)
    Ua = weights["U"] if weights["b"] is None else np.column_stack([weights["U"], weights["b"]])
    Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if weights["b"] is not None else X
    return unique_patterns((Xa @ Ua.T >= 0).astype(np.float64)), net


def count_patterns_upper_bound(n: int, rank: int) -> int:
    """Upper bound ``2 * sum_{k<r} C(n-1, k)`` on the number of patterns of ``n`` points of rank
    ``r`` (the count of regions of a central arrangement of n hyperplanes in general position)."""
    return 2 * sum(math.comb(n - 1, k) for k in range(rank))


def enumerate_patterns(
    X: np.ndarray,
    *,
    max_patterns: int = 100_000,
    max_candidates: int = 2_000_000,
    n_random: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """All distinct activation patterns of generic directions (every open cell of the arrangement).

    Every open cell of a central arrangement of rank ``r`` has a ray in its closure, and a ray is
    the intersection of ``r - 1`` independent hyperplanes; so for every ``(r-1)``-subset of rows we
    take the ray ``+-g`` orthogonal to them and perturb it into each of the ``2^(r-1)`` adjacent
    cells. Degenerate data (more than ``r - 1`` rows through a ray) are covered by a further
    random perturbation and by ``n_random`` random directions; for data in general position the
    result is exact (tests check the count against the closed formula).

    Args:
        X: data ``(n, d)`` (augmented with a ones column if the network has biases).
        max_patterns: refuse (ValueError) when the number of patterns could exceed this.
        max_candidates: refuse when the enumeration would try more candidate directions.

    Returns:
        ``(n, P)`` float64 0/1 array without duplicates and without the all-zero pattern.
    """
    X = _check_matrix(X)
    n = X.shape[0]
    # Work in the row space: rank-r coordinates.
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    r = int(np.sum(s > s[0] * 1e-10)) if s.size and s[0] > 0 else 0
    if r == 0:
        return np.zeros((n, 0))
    bound = count_patterns_upper_bound(n, r)
    n_candidates = math.comb(n, r - 1) * 2**r
    if bound > max_patterns or n_candidates > max_candidates:
        raise ValueError(
            f"enumerate_patterns: n={n} points of rank {r} can have up to {bound} patterns "
            f"({n_candidates} candidate directions); this exact enumeration is meant for tiny "
            f"problems (max_patterns={max_patterns}, max_candidates={max_candidates}). "
            "Use sample_patterns(X, n_patterns) instead."
        )
    Z = X @ Vt[:r].T  # (n, r), full column rank
    scale = np.abs(Z).max()
    Z = Z / scale
    rng = np.random.default_rng(seed)
    keys: list[np.ndarray] = []  # packed patterns of generic directions, in order

    def collect(Ht: np.ndarray) -> None:  # Ht: (N, r) directions as rows
        HZ = Ht @ Z.T  # (N, n)
        # keep only generic directions (no row on the boundary), as an open cell's pattern
        generic = np.abs(HZ).min(axis=1) > 1e-13
        keys.append(np.packbits(HZ[generic] >= 0, axis=1))

    if r == 1:
        collect(np.array([[1.0], [-1.0]]))
    else:
        signs = np.array(list(product((-1.0, 1.0), repeat=r - 1)))  # (2^(r-1), r-1)
        subsets = combinations(range(n), r - 1)
        chunk = max(1, 200_000 // (n + 2 * len(signs)))
        while True:
            block = np.array(list(islice(subsets, chunk)), dtype=np.intp).reshape(-1, r - 1)
            if block.shape[0] == 0:
                break
            rows = Z[block]  # (B, r-1, r)
            _, sv, vt = np.linalg.svd(rows)
            ok = sv[:, -1] >= 1e-10 * np.maximum(sv[:, 0], 1e-300)  # else dependent: no ray
            rows, g = rows[ok], vt[ok, -1, :]  # g orthogonal to the chosen rows
            if rows.shape[0] == 0:
                continue
            dual = np.linalg.pinv(rows)  # (B, r, r-1): rows @ dual = I
            # step small enough that no other row changes sign at +-g (unless it vanishes there)
            others = np.abs(g @ Z.T)  # (B, n)
            others = np.where(others > 1e-12, others, np.inf).min(axis=1)
            others = np.where(np.isfinite(others), others, 1.0)
            spread = np.abs(Z @ dual).sum(axis=2).max(axis=1)  # (B, n, r-1) -> (B,)
            step = 0.25 * others / np.maximum(1.0, spread)  # (B,)
            jitter = 1e-3 * step[:, None] * rng.standard_normal(g.shape)
            moves = np.einsum("brj,sj->bsr", dual, signs) * step[:, None, None]  # (B, S, r)
            for sgn_ray in (1.0, -1.0):
                H = sgn_ray * g[:, None, :] + moves + jitter[:, None, :]
                collect(H.reshape(-1, r))
    collect(rng.standard_normal((r, n_random)).T)
    packed = np.vstack(keys)
    distinct = list(dict.fromkeys(row.tobytes() for row in packed))  # first appearance order
    packed = np.frombuffer(b"".join(distinct), dtype=np.uint8).reshape(len(distinct), -1)
    patterns = np.unpackbits(packed, axis=1, count=n).T.astype(np.float64)
    return patterns[:, patterns.any(axis=0)]


PATTERN_SAMPLERS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": lambda X, y, n_patterns, seed: sample_patterns(X, n_patterns, seed),
    "class-aware": class_aware_patterns,
    "class-aware+ones": lambda X, y, n_patterns, seed: class_aware_patterns(
        X, y, n_patterns, seed, add_ones=True
    ),
    "gaps": gap_patterns,
    "gaps+ones": lambda X, y, n_patterns, seed, eps=0.0, perturbable=None: gap_patterns(
        X, y, n_patterns, seed, eps=eps, perturbable=perturbable, add_ones=True
    ),
    "all": lambda X, y, n_patterns, seed: enumerate_patterns(X, seed=seed),
}
"""Named pattern generators: ``fn(X_augmented, y, n_patterns, seed, **options) -> (n, P)`` 0/1
array. Optional keywords ``eps`` and ``perturbable`` are passed by :func:`call_sampler` to the
samplers that accept them ("gaps", "gaps+ones")."""


def call_sampler(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    n_patterns: int,
    seed: int = 0,
    **options: Any,
) -> np.ndarray:
    """Call ``PATTERN_SAMPLERS[name](X, y, n_patterns, seed, ...)`` passing those of ``options``
    (e.g. ``eps``, ``perturbable``) that the sampler's signature accepts; the others are ignored,
    so samplers registered with the plain four-argument signature keep working."""
    if name not in PATTERN_SAMPLERS:
        raise ValueError(f"unknown pattern sampler {name!r}; known: {sorted(PATTERN_SAMPLERS)}")
    fn = PATTERN_SAMPLERS[name]
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        params = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = {k: v for k, v in options.items() if takes_all or k in params}
    return fn(X, y, n_patterns, seed, **accepted)
