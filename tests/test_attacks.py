"""Tests of the shared attack module on hand-built networks whose worst case is known in closed
form, plus the base-class contract (validation, no mutation, modes, types)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

import attacks
from robustbench_convex.network import TwoLayerReLU


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------------- helpers
def linear_model(w, c=0.0, squeeze=False) -> nn.Module:
    """f(x) = w^T x + c as nn.Linear (output (N, 1)) or squeezed to (N,)."""
    w = torch.as_tensor(np.asarray(w, dtype=np.float64))
    lin = nn.Linear(len(w), 1, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(w.reshape(1, -1))
        lin.bias.fill_(c)
    if not squeeze:
        return lin

    class Squeezed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x):
            return self.lin(x).squeeze(1)

    return Squeezed()


def box_min_linear(g, lo, hi):
    return float(np.sum(np.minimum(g * lo, g * hi)))


def oracle_worst_margin(net: TwoLayerReLU, x, y, eps, lower, upper):
    """Independent oracle: enumerate all activation patterns, minimize the (then linear) margin
    over box intersected with the pattern's region by an LP, take the best feasible one."""
    W = net.to_numpy()
    U, b, alpha = W["U"], W["b"] if W["b"] is not None else np.zeros(len(W["alpha"])), W["alpha"]
    c = W["c"] or 0.0
    lo = np.maximum(lower, x - eps)
    hi = np.minimum(upper, x + eps)
    best = np.inf
    for s in itertools.product((0, 1), repeat=len(alpha)):
        s = np.asarray(s, dtype=float)
        sign = 2 * s - 1  # active: U x + b >= 0 ; inactive: U x + b <= 0
        A = -(sign[:, None] * U)
        rhs = sign * b
        g = y * (s * alpha) @ U
        const = y * ((s * alpha) @ b + c)
        res = linprog(g, A_ub=A, b_ub=rhs, bounds=np.column_stack([lo, hi]), method="highs")
        if res.status == 0:
            best = min(best, res.fun + const)
    return best


# ----------------------------------------------------------------------------------- linear models
@pytest.mark.parametrize("squeeze", [False, True])
def test_linear_linf_worst_case_fgsm_pgd_hit_margin_minus_eps_l1(squeeze):
    rng = np.random.default_rng(0)
    d, n, eps = 6, 20, 0.3
    w = rng.normal(size=d)
    model = linear_model(w, 0.2, squeeze)
    X = rng.normal(size=(n, d))
    y = np.where(rng.random(n) < 0.5, -1, 1)
    expected = y * (X @ w + 0.2) - eps * np.abs(w).sum()
    for atk in (attacks.FGSM(eps), attacks.PGD(eps, steps=10, restarts=1)):
        xa = atk(model, X, y)
        got = attacks.model_margins(model, xa, y)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_linear_l2_worst_case_is_margin_minus_eps_l2():
    rng = np.random.default_rng(1)
    d, n, eps = 5, 15, 0.7
    w = rng.normal(size=d)
    model = linear_model(w, -0.1)
    X = rng.normal(size=(n, d))
    y = np.where(rng.random(n) < 0.5, -1, 1)
    expected = y * (X @ w - 0.1) - eps * np.linalg.norm(w)
    got_f = attacks.model_margins(model, attacks.FGSM(eps, norm="2")(model, X, y), y)
    np.testing.assert_allclose(got_f, expected, atol=1e-9)
    # from x, normalized-gradient steps go straight to the optimum; from a random start the
    # radial projection only approaches it, but never passes it
    for random_start, atol in ((False, 1e-9), (True, 0.1)):
        xa = attacks.PGD(eps, steps=20, norm="2", random_start=random_start)(model, X, y)
        assert np.all(np.linalg.norm(xa - X, axis=1) <= eps * (1 + 1e-12))
        got_p = attacks.model_margins(model, xa, y)
        assert np.all(got_p >= expected - 1e-9)
        np.testing.assert_allclose(got_p, expected, atol=atol)


def test_linear_with_clipping_bounds_hits_box_minimum():
    rng = np.random.default_rng(2)
    d, n, eps = 7, 25, 0.25
    w = rng.normal(size=d)
    model = linear_model(w, 0.05)
    X = rng.uniform(0, 1, size=(n, d))
    y = np.where(rng.random(n) < 0.5, -1, 1)
    lo, hi = np.maximum(0, X - eps), np.minimum(1, X + eps)
    expected = np.array([box_min_linear(y[k] * w, lo[k], hi[k]) for k in range(n)]) + y * 0.05
    assert np.any(X - eps < 0) and np.any(X + eps > 1)  # the bounds do clip
    for atk in (attacks.FGSM(eps, lower=0, upper=1), attacks.PGD(eps, 10, lower=0, upper=1)):
        got = attacks.model_margins(model, atk(model, X, y), y)
        np.testing.assert_allclose(got, expected, atol=1e-12)


# ----------------------------------------------------------------------------------- exact
def test_exact_matches_closed_form_on_linear_regime_network():
    """Every neuron active on the threat set: f is linear there, worst case in closed form."""
    rng = np.random.default_rng(3)
    d, m, n, eps = 5, 4, 12, 0.1
    U = rng.normal(size=(m, d))
    b = np.full(m, 20.0)  # pre-activations >> 0 on [0,1]^d + eps
    alpha = rng.normal(size=m)
    net = TwoLayerReLU.from_numpy(U, alpha, b, 0.3)
    X = rng.uniform(0, 1, size=(n, d))
    y = np.where(rng.random(n) < 0.5, -1, 1)
    wl = alpha @ U
    expected = y * net.decision_function(X) - eps * np.abs(wl).sum()
    res = attacks.exact(net, X, y, eps)
    np.testing.assert_allclose(res.margin, expected, atol=1e-10)
    assert set(res.status) == {"stable"}
    np.testing.assert_allclose(attacks.stable_margin(net, X, y, eps), expected, atol=1e-10)
    np.testing.assert_allclose(attacks.lp_certify(net, X, y, eps).lower_bound, expected, atol=1e-5)
    assert np.array_equal(res.robust, expected > 0)
    pgd = attacks.model_margins(net, attacks.PGD(eps, 10)(net, X, y), y)
    np.testing.assert_allclose(pgd, expected, atol=1e-10)


@pytest.mark.parametrize("y", [1, -1])
def test_exact_absolute_value_network(y):
    """f(x) = |x_1| - 0.5 = relu(x_1) + relu(-x_1) - 0.5: y = +1 needs only LP constraints,
    y = -1 (maximizing |x_1|) needs the binary variables."""
    net = TwoLayerReLU.from_numpy(
        np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, 1.0]), np.zeros(2), -0.5
    )
    xs = np.array([-0.9, -0.3, -0.05, 0.0, 0.02, 0.2, 0.6])
    X = np.column_stack([xs, np.linspace(-1, 1, len(xs))])
    Y = np.full(len(xs), y)
    for eps in (0.1, 0.4):
        lo, hi = xs - eps, xs + eps
        if y == 1:  # min |t| over [lo, hi], minus 0.5
            expected = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(abs(lo), abs(hi))) - 0.5
        else:  # -(max |t| - 0.5)
            expected = 0.5 - np.maximum(abs(lo), abs(hi))
        res = attacks.exact(net, X, Y, eps)
        np.testing.assert_allclose(res.margin, expected, atol=1e-7)
        np.testing.assert_allclose(attacks.model_margins(net, res.x_adv, Y), expected, atol=1e-7)
        assert np.all(np.abs(res.x_adv - X) <= eps + 1e-12)
        if y == -1:
            assert np.all(res.n_binary[(lo < 0) & (hi > 0)] == 2)  # both neurons unstable
        else:
            assert np.all(res.n_binary == 0)
        assert np.all(res.lower_bound <= res.margin + 1e-9)
        assert np.array_equal(res.robust, expected > 1e-9)


def test_exact_matches_pattern_enumeration_oracle_with_bounds():
    rng = np.random.default_rng(4)
    d, m, n = 3, 4, 10
    net = TwoLayerReLU.from_numpy(
        rng.normal(size=(m, d)), rng.normal(size=m), rng.normal(size=m) * 0.5, 0.1
    )
    lower, upper = np.array([0.0, -1.0, 0.2]), np.array([1.0, 0.5, 0.9])
    X = rng.uniform(lower, upper, size=(n, d))
    y = np.where(rng.random(n) < 0.5, -1, 1)
    for eps in (0.05, 0.3, np.inf):
        res = attacks.exact(net, X, y, eps, lower, upper)
        oracle = np.array(
            [oracle_worst_margin(net, X[k], y[k], eps, lower, upper) for k in range(n)]
        )
        np.testing.assert_allclose(res.margin, oracle, atol=1e-6)
        assert np.all(res.x_adv >= lower) and np.all(res.x_adv <= upper)
        assert np.all(np.abs(res.x_adv - X) <= eps + 1e-12)
        lp = attacks.lp_certify(net, X, y, eps, lower, upper)
        assert np.all(lp.lower_bound <= oracle + 1e-7)
        dec = attacks.exact(net, X, y, eps, lower, upper, mode="decide")
        assert np.array_equal(dec.robust, oracle > 1e-7)
        assert dec.decided.all()


def test_exact_accepts_sequential_and_float32_and_tensor_inputs():
    rng = np.random.default_rng(5)
    seq = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1))
    X = rng.uniform(0, 1, size=(8, 4))
    y = np.where(seq(torch.as_tensor(X, dtype=torch.float32)).detach().numpy()[:, 0] > 0, 1, -1)
    res = attacks.exact(seq, torch.as_tensor(X), torch.as_tensor(y), 0.1, 0, 1)
    net = TwoLayerReLU.from_numpy(
        seq[0].weight.detach().double().numpy(),
        seq[2].weight.detach().double().numpy()[0],
        seq[0].bias.detach().double().numpy(),
        seq[2].bias.item(),
    )
    ref = attacks.exact(net, X, y, 0.1, 0, 1)
    np.testing.assert_allclose(res.milp_objective, ref.milp_objective, atol=1e-6)
    np.testing.assert_allclose(res.margin, ref.margin, atol=1e-5)  # float32 forward


def test_exact_rejects_unsupported_models_and_inputs():
    X, y = np.zeros((2, 3)), np.array([1, -1])
    with pytest.raises(TypeError, match="one-hidden-layer"):
        attacks.exact(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)), X, y, 0.1)
    with pytest.raises(ValueError, match="one output logit"):
        attacks.exact(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), X, y, 0.1)

    class Fake(nn.Module):  # has .hidden/.output but computes something else
        def __init__(self):
            super().__init__()
            self.hidden, self.output = nn.Linear(3, 4), nn.Linear(4, 1)

        def forward(self, x):
            return self.output(torch.tanh(self.hidden(x))).squeeze(1)

    with pytest.raises(ValueError, match="does not compute"):
        attacks.exact(
            Fake().double(), np.random.default_rng(0).normal(size=(5, 3)), np.ones(5, int), 0.1
        )
    net = TwoLayerReLU(3, 4)
    with pytest.raises(ValueError, match=r"\{-1, \+1\}"):
        attacks.exact(net, X, np.array([0, 1]), 0.1)
    with pytest.raises(ValueError, match="bounded"):
        attacks.exact(net, X, y, np.inf)
    with pytest.raises(ValueError, match="eps"):
        attacks.exact(net, X, y, -0.1)
    with pytest.raises(ValueError, match="outside"):
        attacks.exact(net, X + 2, y, 0.1, 0, 1)
    with pytest.raises(ValueError, match="mode"):
        attacks.exact(net, X, y, 0.1, mode="fast")


def test_exact_time_limit_reports_bounds_and_decided():
    rng = np.random.default_rng(6)
    d, m = 20, 40
    net = TwoLayerReLU.from_numpy(rng.normal(size=(m, d)), rng.normal(size=m), rng.normal(size=m))
    X = rng.uniform(0, 1, size=(2, d))
    y = np.where(net.decision_function(X) > 0, 1, -1)
    res = attacks.exact(net, X, y, 0.5, 0, 1, time_limit=1e-3)
    assert set(res.status) <= {"time_limit", "optimal"}
    assert np.all(res.lower_bound <= res.upper_bound + 1e-9)
    tl = res.status == "time_limit"
    assert np.all(np.isnan(res.margin[tl]))
    # undecided <=> bounds straddle 0
    straddle = (res.lower_bound <= 0) & (res.upper_bound > 0)
    assert np.array_equal(~res.decided, straddle)
    frame = res.to_frame()
    assert list(frame["status"]) == list(res.status) and len(frame) == 2


def test_exact_attack_object_breaks_exactly_the_non_robust_points():
    rng = np.random.default_rng(7)
    net = TwoLayerReLU.from_numpy(rng.normal(size=(6, 3)), rng.normal(size=6), rng.normal(size=6))
    X = rng.uniform(0, 1, size=(30, 3))
    y = np.where(net.decision_function(X) > 0, 1, -1)
    res = attacks.exact(net, X, y, 0.2, 0, 1)
    acc = attacks.robust_accuracy(net, X, y, attacks.ExactAttack(0.2, 0, 1))
    assert acc == pytest.approx(res.robust_accuracy)
    # no gradient attack can beat the exact worst case
    pgd = attacks.PGD(0.2, 30, restarts=3, lower=0, upper=1)
    assert attacks.robust_accuracy(net, X, y, pgd) >= acc


# ----------------------------------------------------------------------------------- base class
class Mixed(nn.Module):
    """Dropout + BatchNorm: eval mode matters; submodules can be in mixed modes."""

    def __init__(self):
        super().__init__()
        self.lin1 = nn.Linear(4, 8, dtype=torch.float64)
        self.bn = nn.BatchNorm1d(8, dtype=torch.float64)
        self.drop = nn.Dropout(0.5)
        self.lin2 = nn.Linear(8, 1, dtype=torch.float64)

    def forward(self, x):
        return self.lin2(self.drop(torch.relu(self.bn(self.lin1(x))))).squeeze(-1)


@pytest.mark.parametrize("attack", [attacks.FGSM(0.1), attacks.PGD(0.1, 5, restarts=2)])
def test_modes_grads_and_inputs_are_restored(attack):
    model = Mixed()
    model.train()
    model.drop.eval()  # mixed modes must come back as they were
    model.lin2.weight.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    X = torch.rand(10, 4, dtype=torch.float64)
    y = torch.tensor([1, -1] * 5)
    X0, y0 = X.clone(), y.clone()
    xa = attack(model, X, y)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # BN stats too
    assert torch.equal(X, X0) and torch.equal(y, y0)
    assert xa is not X and xa.dtype == X.dtype and xa.shape == X.shape
    # deterministic: eval mode (no dropout noise) and seeded starts
    assert torch.equal(xa, attack(model, X, y))


def test_types_round_trip_and_eps_zero_copy():
    model = linear_model([1.0, -2.0, 0.5])
    X = np.random.default_rng(0).uniform(size=(4, 3)).astype(np.float32)
    y = np.array([1, -1, 1, -1])
    out = attacks.PGD(0.1, 3)(model, X, y)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == X.shape
    Xt = torch.as_tensor(X)
    out_t = attacks.FGSM(0.1)(model.float(), Xt, torch.as_tensor(y))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    model = linear_model([1.0, -2.0, 0.5])
    Xd = X.astype(np.float64)
    for atk in (attacks.FGSM(0.0), attacks.PGD(0.0, 3)):
        z = atk(model, Xd, y)
        assert np.array_equal(z, Xd) and z is not Xd


def test_validation_errors_are_precise():
    model = linear_model([1.0, -1.0])
    X, y = np.zeros((3, 2)), np.array([1, -1, 1])
    with pytest.raises(ValueError, match="eps must be >= 0"):
        attacks.PGD(-1.0)
    with pytest.raises(ValueError, match="eps must be finite"):
        attacks.FGSM(float("nan"))
    with pytest.raises(TypeError, match="eps"):
        attacks.FGSM("0.1")
    with pytest.raises(ValueError, match="norm"):
        attacks.PGD(0.1, norm="1")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        attacks.PGD(0.1, 0)
    with pytest.raises(ValueError, match="lower must be <= upper"):
        attacks.FGSM(0.1, lower=1.0, upper=0.0)
    with pytest.raises(ValueError, match=r"2 \* y - 1"):
        attacks.FGSM(0.1)(model, X, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="shape"):
        attacks.FGSM(0.1)(model, X, np.array([1, -1]))
    with pytest.raises(ValueError, match="outside"):
        attacks.FGSM(0.1, lower=0.5, upper=1.0)(model, X, y)
    with pytest.raises(ValueError, match="NaN"):
        attacks.FGSM(0.1)(model, np.full((3, 2), np.nan), y)
    with pytest.raises(ValueError, match="single example"):
        attacks.FGSM(0.1)(model, np.zeros(2), y[:1])
    with pytest.raises(ValueError, match="broadcast"):
        attacks.FGSM(0.1, lower=np.zeros(3))(model, X, y)
    with pytest.raises(ValueError, match="class indices"):
        attacks.PGD(0.1, 2)(nn.Linear(2, 3).double(), X, np.array([0, 1, 3]))
    with pytest.raises(ValueError, match="logit"):
        attacks.FGSM(0.1)(nn.Linear(2, 1).double(), X.reshape(3, 1, 2), y)


def test_pgd_restarts_keep_the_worst_case_and_default_step_size():
    rng = np.random.default_rng(8)
    net = TwoLayerReLU.from_numpy(
        rng.normal(size=(16, 5)), rng.normal(size=16), rng.normal(size=16)
    )
    X = rng.uniform(0, 1, size=(40, 5))
    y = np.where(net.decision_function(X) > 0, 1, -1)
    assert attacks.PGD(0.2, 8).step_size == pytest.approx(2.5 * 0.2 / 8)
    m1 = attacks.model_margins(net, attacks.PGD(0.15, 5, restarts=1, seed=3)(net, X, y), y)
    m5 = attacks.model_margins(net, attacks.PGD(0.15, 5, restarts=5, seed=3)(net, X, y), y)
    assert np.all(m5 <= m1 + 1e-12)  # the first restart is the same run; later ones only improve
    clean = attacks.model_margins(net, X, y)
    assert np.all(m1 <= clean)  # best iterate: never worse than the clean point


def test_multiclass_two_logit_model_equals_binary_model():
    """[0, f(x)] with labels {0, 1} is the binary model f with labels {-1, +1}."""
    rng = np.random.default_rng(9)
    net = TwoLayerReLU.from_numpy(rng.normal(size=(8, 4)), rng.normal(size=8), rng.normal(size=8))

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            f = self.net(x)
            return torch.stack([torch.zeros_like(f), f], dim=1)

    X = rng.uniform(0, 1, size=(20, 4))
    y = np.where(rng.random(20) < 0.5, -1, 1)
    for norm in ("inf", "2"):
        a = attacks.PGD(0.2, 7, restarts=2, norm=norm, lower=0, upper=1, loss="margin")
        np.testing.assert_allclose(a(Two(), X, (y + 1) // 2), a(net, X, y), atol=1e-12)
    np.testing.assert_allclose(
        attacks.model_margins(Two(), X, (y + 1) // 2), attacks.model_margins(net, X, y)
    )


def test_multiclass_linear_pgd_sound_and_effective():
    rng = np.random.default_rng(10)
    K, d, n, eps = 3, 4, 30, 0.4
    W, c = rng.normal(size=(K, d)), rng.normal(size=K)
    lin = nn.Linear(d, K, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(W))
        lin.bias.copy_(torch.as_tensor(c))
    X = rng.normal(size=(n, d))
    y = np.argmax(X @ W.T + c, axis=1)
    # exact worst case of a linear multi-class model: min over k != y of the pairwise worst case
    worst = np.array(
        [
            min(
                (X[i] @ (W[y[i]] - W[k]) + c[y[i]] - c[k]) - eps * np.abs(W[y[i]] - W[k]).sum()
                for k in range(K)
                if k != y[i]
            )
            for i in range(n)
        ]
    )
    for loss in ("ce", "margin"):
        m = attacks.model_margins(lin, attacks.PGD(eps, 20, restarts=3, loss=loss)(lin, X, y), y)
        assert np.all(m >= worst - 1e-9)  # cannot beat the true worst case
        # and PGD finds every breakable point
        assert np.all((m <= 0)[worst < -1e-3])


# ----------------------------------------------------------------------------------- evaluation
def test_robust_accuracy_and_sweep():
    rng = np.random.default_rng(11)
    w = rng.normal(size=5)
    model = linear_model(w, 0.0)
    X = rng.normal(size=(50, 5))
    y = np.where(rng.random(50) < 0.8, np.sign(X @ w), -np.sign(X @ w)).astype(int)
    clean = y * (X @ w) > 0
    eps_grid = [0.0, 0.1, 0.5]
    for eps in eps_grid:
        expected = np.mean(clean & (y * (X @ w) - eps * np.abs(w).sum() > 0))
        acc, mask = attacks.robust_accuracy(model, X, y, attacks.FGSM(eps), return_mask=True)
        assert acc == pytest.approx(expected) and mask.shape == (50,)
        assert attacks.robust_accuracy(model, X, y, attacks.FGSM(eps), batch_size=7) == acc
    df = attacks.sweep(model, X, y, ["fgsm", "pgd"], eps_grid, return_masks=True)
    assert list(df.columns[:5]) == ["eps", "attack", "clean_acc", "robust_acc", "n"]
    assert len(df) == 6 and set(df["attack"]) == {"fgsm", "pgd"}
    assert np.allclose(df["clean_acc"], clean.mean())
    assert np.allclose(df.loc[df.eps == 0, "robust_acc"], clean.mean())
    for _, row in df.iterrows():
        expected = clean & ~(y * (X @ w) - row.eps * np.abs(w).sum() > 0)
        assert np.array_equal(row.success, expected)
    df2 = attacks.sweep(model, X, y, {"my": lambda e: attacks.PGD(e, 5)}, [0.2])
    assert list(df2["attack"]) == ["my"] and "success" not in df2


# ----------------------------------------------------------------------------------- sanity
def _small_net(seed=12, d=4, m=8, n=30):
    rng = np.random.default_rng(seed)
    net = TwoLayerReLU.from_numpy(
        rng.normal(size=(m, d)), rng.normal(size=m), rng.normal(size=m) * 0.3
    )
    X = rng.uniform(0, 1, size=(n, d))
    y = np.where(net.decision_function(X) > 0, 1, -1)
    y[:3] *= -1  # some clean errors
    return net, X, y


def test_sanity_checks_pass_on_a_healthy_network():
    net, X, y = _small_net()
    with warnings.catch_warnings():
        warnings.simplefilter("error", attacks.SoundnessWarning)
        df = attacks.sanity_checks(net, X, y, [0.05, 0.2], lower=0, upper=1, steps=10)
    assert list(df.columns) == ["check", "passed", "detail"]
    assert df["passed"].all(), df.to_string()
    assert "certified <= exact <= attacked" in set(df["check"])
    assert len(df) == 10


def test_sanity_checks_flag_gradient_masking():
    rng = np.random.default_rng(13)
    w = rng.normal(size=4)

    class Masked(nn.Module):  # saturated tanh: exactly zero input gradients in float64
        def __init__(self):
            super().__init__()
            self.lin = linear_model(w, 0.0)

        def forward(self, x):
            return torch.tanh(1e4 * self.lin(x)).squeeze(1)

    X = rng.uniform(0, 1, size=(30, 4))
    y = np.where(X @ w > 0, 1, -1)
    df = attacks.sanity_checks(Masked(), X, y, [0.05, 0.1], lower=0, upper=1, steps=10)
    by = dict(zip(df["check"], df["passed"]))
    assert not by["no zero or non-finite input gradients"]
    assert "certified <= exact <= attacked" not in by  # not applicable: left out, not "passed"


def test_sanity_checks_report_a_soundness_violation_loudly(monkeypatch):
    net, X, y = _small_net(14)
    import attacks.verify as ex_mod

    orig = ex_mod.lp_certify

    def broken(*args, **kwargs):
        res = orig(*args, **kwargs)
        res.lower_bound = res.lower_bound + 10.0  # an unsound "certificate"
        res.certified = res.lower_bound > 0
        return res

    monkeypatch.setattr(ex_mod, "lp_certify", broken)
    with pytest.warns(attacks.SoundnessWarning, match="certified <= exact <= attacked"):
        df = attacks.sanity_checks(net, X, y, [0.1], lower=0, upper=1, steps=10)
    row = df[df["check"] == "certified <= exact <= attacked"].iloc[0]
    assert not row["passed"] and "violations" in row["detail"]


def test_decide_mode_shortcuts_agree_with_margin_mode():
    net, X, y = _small_net(15, d=5, m=12, n=40)
    for eps in (0.05, 0.3):
        full = attacks.exact(net, X, y, eps, 0, 1, mode="margin")
        fast = attacks.exact(net, X, y, eps, 0, 1, mode="decide")
        none = attacks.exact(net, X, y, eps, 0, 1, mode="decide", attack=None)
        for res in (fast, none):
            assert np.array_equal(res.robust, full.robust) and res.decided.all()
            # every concrete point is in the threat set and its margin is the upper bound
            assert np.all(np.abs(res.x_adv - X) <= eps + 1e-12)
            np.testing.assert_allclose(
                attacks.model_margins(net, res.x_adv, y), res.upper_bound, atol=1e-12
            )
            assert np.all(res.lower_bound <= full.margin + 1e-6)
            assert np.all(res.upper_bound >= full.margin - 1e-6)
        clean_wrong = attacks.model_margins(net, X, y) <= 0
        # (all-stable rows get the closed form first, which is as cheap)
        assert np.all(np.isin(fast.status[clean_wrong], ["clean_error", "stable"]))
        assert "clean_error" in set(fast.status)
        assert np.all(np.isnan(fast.margin[fast.status == "clean_error"]))
    assert "attack_found" in set(fast.status)  # at eps = 0.3 PGD breaks points before any MILP
    assert "attack_found" not in set(none.status)


def test_sanity_checks_l2_and_sweep_with_exact():
    net, X, y = _small_net(16)
    df = attacks.sanity_checks(net, X, y, [0.1, 0.3], norm="2", lower=0, upper=1, steps=10)
    assert df["passed"].all(), df.to_string()
    assert "certified <= exact <= attacked" not in set(df["check"])  # L2: not applicable
    sw = attacks.sweep(net, X, y, ["pgd", "exact"], [0.0, 0.1], lower=0, upper=1)
    ex = sw[sw.attack == "exact"].set_index("eps")["robust_acc"]
    pg = sw[sw.attack == "pgd"].set_index("eps")["robust_acc"]
    assert ex[0.0] == pg[0.0] == sw["clean_acc"].iloc[0]
    assert ex[0.1] == pytest.approx(attacks.exact(net, X, y, 0.1, 0, 1).robust_accuracy)
    assert ex[0.1] <= pg[0.1]


def test_check_sandwich_holds_and_catches_each_kind_of_violation():
    import dataclasses

    net, X, y = _small_net(17)
    eps = 0.1
    cert = attacks.lp_certify(net, X, y, eps, 0, 1)
    ex = attacks.exact(net, X, y, eps, 0, 1, mode="margin")
    x_att = attacks.PGD(eps, steps=20, lower=0, upper=1, seed=0)(net, X, y)
    att_margin = attacks.model_margins(net, x_att, y)
    robust = (att_margin > 0) & (attacks.model_margins(net, X, y) > 0)
    ok = attacks.check_sandwich(cert, ex, robust, attacked_margin=att_margin)
    assert ok.ok and ok.violations == 0 and ok.n == len(y)
    assert ok.certified_acc <= ok.exact_acc <= ok.attacked_acc
    # an unsound certificate: certified lower bounds above the exact worst case
    bad_cert = dataclasses.replace(cert, lower_bound=ex.upper_bound + 1.0)
    bad = attacks.check_sandwich(bad_cert, ex, robust, attacked_margin=att_margin)
    assert bad.certified_above_exact == len(y) and not bad.ok
    assert any(m.startswith("SOUNDNESS") for m in bad.soundness_messages())
    # an attack that "breaks" points the verifier proved robust (mask-level comparison)
    broken = attacks.check_sandwich(cert, ex, np.zeros_like(robust))
    assert broken.exact_above_attacked == int(ex.robust.sum()) > 0
    with pytest.raises(ValueError, match="same"):
        attacks.check_sandwich(cert, ex, robust[:-1])
