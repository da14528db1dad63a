"""Property tests (hypothesis) of the attack invariants on random small networks and bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_attacks import oracle_worst_margin

import attacks
from robustbench_convex.network import TwoLayerReLU


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@st.composite
def problems(draw, max_d=4, max_m=5):
    seed = draw(st.integers(0, 2**31 - 1))
    d = draw(st.integers(1, max_d))
    m = draw(st.integers(1, max_m))
    n = draw(st.integers(1, 6))
    rng = np.random.default_rng(seed)
    net = TwoLayerReLU.from_numpy(
        rng.normal(size=(m, d)), rng.normal(size=m), rng.normal(size=m), float(rng.normal())
    )
    lower = rng.uniform(-1, 0, size=d)
    width = rng.uniform(0.1, 2, size=d)
    width[rng.random(d) < 0.15] = 0.0  # some features fixed (lower == upper)
    upper = lower + width
    X = rng.uniform(lower, upper, size=(n, d))
    y = np.where(rng.random(n) < 0.5, -1, 1)
    eps = draw(st.sampled_from([0.0, 1e-3, 0.05, 0.3, 1.0, 5.0]))
    return net, X, y, lower, upper, eps


def _in_threat_model(xa, X, eps, norm, lower, upper):
    delta = xa - X
    size = np.abs(delta).max(axis=1) if norm == "inf" else np.linalg.norm(delta, axis=1)
    assert np.all(size <= eps * (1 + 1e-12) + 1e-15)
    assert np.all(xa >= lower) and np.all(xa <= upper)


@settings(max_examples=30, deadline=None)
@given(problems(), st.sampled_from(["inf", "2"]), st.integers(1, 4), st.booleans())
def test_gradient_attacks_respect_threat_model_and_inputs(problem, norm, steps, tensor_in):
    net, X, y, lower, upper, eps = problem
    X0, y0 = X.copy(), y.copy()
    for atk in (
        attacks.FGSM(eps, norm=norm, lower=lower, upper=upper),
        attacks.PGD(eps, steps, restarts=2, norm=norm, lower=lower, upper=upper, seed=1),
    ):
        if tensor_in:
            Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
            xa = atk(net, Xt, yt)
            assert isinstance(xa, torch.Tensor) and torch.equal(Xt, torch.as_tensor(X0))
            xa = xa.numpy()
        else:
            xa = atk(net, X, y)
            assert isinstance(xa, np.ndarray) and xa.dtype == X.dtype
        assert xa.shape == X.shape and np.all(np.isfinite(xa))
        assert np.array_equal(X, X0) and np.array_equal(y, y0)
        _in_threat_model(xa, X, eps, norm, lower, upper)
        if eps == 0:
            assert np.array_equal(xa, X)
    # best iterate: PGD never returns a point worse than the clean one
    xa = attacks.PGD(eps, steps, norm=norm, lower=lower, upper=upper)(net, X, y)
    assert np.all(attacks.model_margins(net, xa, y) <= attacks.model_margins(net, X, y))


@settings(max_examples=30, deadline=None)
@given(problems(max_d=3, max_m=4))
def test_sandwich_certified_exact_attacked_and_oracle(problem):
    net, X, y, lower, upper, eps = problem
    res = attacks.exact(net, X, y, eps, lower, upper)
    assert set(res.status) <= {"optimal", "stable"}
    oracle = np.array(
        [oracle_worst_margin(net, X[k], y[k], eps, lower, upper) for k in range(len(X))]
    )
    np.testing.assert_allclose(res.margin, oracle, atol=1e-6, rtol=1e-7)
    _in_threat_model(res.x_adv, X, eps, "inf", lower, upper)
    np.testing.assert_allclose(attacks.model_margins(net, res.x_adv, y), res.margin, atol=1e-12)
    tol = 1e-6 * (1 + np.abs(res.margin))
    lp = attacks.lp_certify(net, X, y, eps, lower, upper)
    assert np.all(lp.lower_bound <= res.margin + tol)
    assert np.all(res.lower_bound <= res.margin + tol)
    pgd = attacks.PGD(eps, 10, restarts=2, lower=lower, upper=upper)(net, X, y)
    assert np.all(res.margin <= attacks.model_margins(net, pgd, y) + tol)
    fgsm = attacks.FGSM(eps, lower=lower, upper=upper)(net, X, y)
    assert np.all(res.margin <= attacks.model_margins(net, fgsm, y) + tol)
    stable = attacks.stable_margin(net, X, y, eps, lower, upper)
    ok = ~np.isnan(stable)
    np.testing.assert_allclose(stable[ok], oracle[ok], atol=1e-9)
    assert np.array_equal(ok, res.status == "stable")
    # decide mode settles the same question, faster
    dec = attacks.exact(net, X, y, eps, lower, upper, mode="decide")
    clear = np.abs(oracle) > 1e-6
    assert np.array_equal(dec.robust[clear], (oracle > 0)[clear])
    assert dec.decided[clear].all()
    # robust accuracy is monotone in eps
    bigger = attacks.exact(net, X, y, 2 * eps + 0.1, lower, upper)
    assert np.all(bigger.margin <= res.margin + tol)
