"""Certified training baselines (IBP, CROWN-IBP): soundness of their margin bounds against the LP
relaxation and the exact MILP verifier (``attacks.lp_certify``, ``attacks.exact``), reduction to
standard training at eps 0, the registry entries and input validation. Small seeded problems
(seconds in all)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attacks
from robustbench_convex import margin_bounds, train_crown_ibp, train_ibp, train_sgd
from robustbench_convex.network import TwoLayerReLU

EPS = 0.15


def _xor(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """XOR with an l_inf margin in [-1, 1]^2: not linearly separable."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.25, 1.0, size=(n, 2)) * rng.choice([-1.0, 1.0], size=(n, 2))
    return X, np.sign(X[:, 0] * X[:, 1])


def _random_net(d: int, m: int, seed: int, output_bias: bool = False) -> TwoLayerReLU:
    gen = torch.Generator().manual_seed(seed)
    net = TwoLayerReLU(d, m, output_bias=output_bias, generator=gen)
    with torch.no_grad():  # larger output weights than the default init: more unstable neurons
        net.output.weight.mul_(3.0)
    return net


def _worst_and_best(net, X, y, eps, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Exact min and max of the margin ``y f(x')`` over the clipped ball (MILP, margin mode)."""
    worst = attacks.exact(net, X, y, eps, lo, hi, attack=None)
    best = attacks.exact(net, X, -y, eps, lo, hi, attack=None)
    assert np.all(np.isin(worst.status, ["optimal", "stable"]))
    assert np.all(np.isin(best.status, ["optimal", "stable"]))
    return worst.margin, -best.margin


@pytest.mark.parametrize("output_bias", [False, True])
@pytest.mark.parametrize("clipped", [False, True])
def test_bounds_sandwich_the_exact_margin_range_of_random_networks(output_bias, clipped):
    """IBP and CROWN lower bounds <= LP bound <= exact worst case, and the upper bounds >= the
    exact best case, at every point (random networks with many unstable neurons)."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(25, 3))
    y = np.where(rng.random(25) < 0.5, 1.0, -1.0)
    lo, hi = (-1.0, 1.0) if clipped else (None, None)
    net = _random_net(3, 7, seed=11, output_bias=output_bias)
    worst, best = _worst_and_best(net, X, y, 0.3, lo, hi)
    lp = attacks.lp_certify(net, X, y, 0.3, lo, hi).lower_bound
    tol = 1e-7
    for method in ("ibp", "crown", "best"):
        m_lo, m_hi = margin_bounds(net, X, y, 0.3, lo, hi, method=method)
        assert np.all(m_lo <= lp + tol), method
        assert np.all(m_lo <= worst + tol), method
        assert np.all(m_hi >= best - tol), method
    # "best" is the tighter of the two, and the relaxations are not trivially loose
    i_lo, _ = margin_bounds(net, X, y, 0.3, lo, hi, method="ibp")
    c_lo, _ = margin_bounds(net, X, y, 0.3, lo, hi, method="crown")
    b_lo, _ = margin_bounds(net, X, y, 0.3, lo, hi, method="best")
    np.testing.assert_allclose(b_lo, np.maximum(i_lo, c_lo))
    assert np.any(c_lo > i_lo + 1e-6)  # CROWN strictly tighter somewhere


def test_bounds_are_exact_without_unstable_neurons_and_at_eps_zero():
    X, y = _xor(20, 0)
    net = _random_net(2, 5, seed=2)
    clean = y * net.decision_function(X)
    for method in ("ibp", "crown"):
        m_lo, m_hi = margin_bounds(net, X, y, 0.0, method=method)
        np.testing.assert_allclose(m_lo, clean, atol=1e-12)
        np.testing.assert_allclose(m_hi, clean, atol=1e-12)
    # where every neuron is stable CROWN is the exact worst case (closed form of attacks)
    stable = attacks.stable_margin(net, X, y, 0.01)
    c_lo, _ = margin_bounds(net, X, y, 0.01, method="crown")
    ok = np.isfinite(stable)
    assert ok.sum() >= 10
    np.testing.assert_allclose(c_lo[ok], stable[ok], atol=1e-10)


@pytest.mark.parametrize("trainer", [train_ibp, train_crown_ibp])
def test_trained_networks_certificates_hold_against_the_milp(trainer):
    """The trained network's certified lower bound on the margin never exceeds the exact worst
    case, on every training point; certified training certifies most of them."""
    X, y = _xor(40, 1)
    net, rec = trainer(
        X, y, eps=EPS, lower=-1.0, upper=1.0, width=12, loss="hinge", weight_decay=1e-3,
        epochs=150, lr=3e-2, seed=0, num_threads=1,
    )  # fmt: skip
    assert rec.status == "completed" and rec.method in ("ibp", "crown-ibp")
    m_lo, _ = margin_bounds(net, X, y, EPS, -1.0, 1.0)
    worst = attacks.exact(net, X, y, EPS, -1.0, 1.0, attack=None)
    exact_margin = np.where(np.isfinite(worst.margin), worst.margin, worst.lower_bound)
    assert np.all(m_lo <= exact_margin + 1e-7)
    assert rec.certified_train_accuracy == pytest.approx(np.mean(m_lo > 0))
    assert rec.certified_train_accuracy <= np.mean(worst.robust) + 1e-12
    assert rec.certified_train_accuracy >= 0.8
    # the record's robust objective is the certified worst-case hinge loss plus weight decay
    expected = np.maximum(0.0, 1.0 - m_lo).sum() + 1e-3 * net.weight_decay()
    assert rec.robust_objective == pytest.approx(expected, rel=1e-9)
    assert rec.robust_objective >= rec.objective - 1e-9


def test_certified_training_beats_standard_training_on_certified_accuracy():
    X, y = _xor(40, 4)
    common = dict(
        width=12, loss="hinge", weight_decay=1e-3, epochs=150, lr=3e-2, seed=0, num_threads=1
    )
    sgd_net, _ = train_sgd(X, y, **common)
    _, rec = train_ibp(X, y, eps=EPS, lower=-1.0, upper=1.0, **common)
    sgd_cert = np.mean(margin_bounds(sgd_net, X, y, EPS, -1.0, 1.0)[0] > 0)
    assert rec.certified_train_accuracy > sgd_cert


@pytest.mark.parametrize("trainer", [train_ibp, train_crown_ibp])
@pytest.mark.parametrize("loss", ["logistic", "squared"])
def test_eps_zero_is_standard_training(trainer, loss):
    X, y = _xor(30, 2)
    common = dict(width=6, loss=loss, weight_decay=0.1, epochs=15, lr=1e-2, seed=5)
    ref, ref_rec = train_sgd(X, y, **common)
    for kwargs in ({"eps": 0.0}, {"eps": EPS, "kappa_start": 1.0, "kappa_end": 1.0}):
        net, rec = trainer(X, y, **kwargs, **common)
        for a, b in zip(net.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        assert rec.objective_history == pytest.approx(ref_rec.objective_history, rel=1e-10)
    assert rec.settings["eps"] == EPS and rec.settings["kappa_end"] == 1.0


def test_squared_loss_uses_both_ends_of_the_margin_interval():
    """For the squared loss a large margin is as bad as a small one: the certified robust
    objective must use the worse end of [lower, upper]."""
    X, y = _xor(20, 6)
    net, rec = train_ibp(X, y, eps=0.1, width=6, loss="squared", weight_decay=0.0, epochs=30)
    m_lo, m_hi = margin_bounds(net, X, y, 0.1)
    worst = np.maximum((m_lo - 1) ** 2, (m_hi - 1) ** 2) / 2
    assert rec.robust_objective == pytest.approx(worst.sum(), rel=1e-9)


def test_registry_methods_train_and_report_certified_accuracy():
    from robustbench_convex.data import load_dataset
    from robustbench_convex.methods import train_method, validate_params

    d = load_dataset("synthetic-xor", n_train=40, n_test=20)
    for key in ("ibp", "crown-ibp"):
        out = train_method(key, d, {"width": 6, "epochs": 10, "eps": 0.1}, 0)
        assert out.info["method"] == key and out.info["kind"] == "baseline"
        assert 0.0 <= out.info["certified_train_accuracy"] <= 1.0
        assert out.model.width == 6
    with pytest.raises(ValueError, match="unknown setting"):
        validate_params("ibp", {"crown_weight_end": 0.5})
    with pytest.raises(ValueError, match="unknown setting"):
        validate_params("ibp", {"early_stopping": 3})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": -0.1}, "eps must be finite and >= 0"),
        ({"eps": 0.1, "ramp_fraction": 1.5}, "ramp_fraction must be in"),
        ({"eps": 0.1, "warmup_fraction": 0.6, "ramp_fraction": 0.6}, "warmup_fraction \\+"),
        ({"eps": 0.1, "kappa_end": 2.0}, "kappa_end must be in"),
        ({"eps": 0.1, "lower": 0.0}, "the bounds do not contain the data"),
        ({"eps": 0.1, "width": 0}, "width must be >= 1"),
    ],
)
def test_bad_input_fails_before_training(kwargs, match):
    X, y = _xor(10, 0)
    for trainer in (train_ibp, train_crown_ibp):
        with pytest.raises(ValueError, match=match):
            trainer(X, y, **kwargs)
    with pytest.raises(ValueError, match="crown_weight_end must be"):
        train_crown_ibp(X, y, eps=0.1, crown_weight_end=-1.0)
    with pytest.raises(ValueError, match="binary labels"):
        train_ibp(X, y + 2, eps=0.1)


def test_margin_bounds_validates_its_arguments():
    X, y = _xor(10, 0)
    net = _random_net(2, 4, seed=0)
    with pytest.raises(ValueError, match="method must be"):
        margin_bounds(net, X, y, 0.1, method="lp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="features"):
        margin_bounds(net, np.hstack([X, X]), y, 0.1)
    with pytest.raises(TypeError, match="TwoLayerReLU"):
        margin_bounds(torch.nn.Linear(2, 1), X, y, 0.1)  # type: ignore[arg-type]


def test_public_trainers_show_their_keywords_and_refuse_others():
    """train_ibp / train_crown_ibp are one implementation (_train_certified) with one typed
    signature; each public name still shows its own keywords and refuses the other's."""
    import inspect

    ibp = inspect.signature(train_ibp).parameters
    crown = inspect.signature(train_crown_ibp).parameters
    assert list(ibp)[:3] == ["X", "y", "eps"] and ibp["eps"].kind is inspect.Parameter.KEYWORD_ONLY
    assert ibp["kappa_end"].default == 0.5 and ibp["width"].default == 64
    assert "crown_weight_start" not in ibp and crown["crown_weight_start"].default == 1.0
    assert set(crown) - set(ibp) == {"crown_weight_start", "crown_weight_end"}
    assert train_ibp.__name__ == "train_ibp" and "Gowal" in (train_ibp.__doc__ or "")
    X, y = _xor(10, 0)
    with pytest.raises(TypeError, match=r"train_ibp\(\) got an unexpected keyword .*crown_weight"):
        train_ibp(X, y, eps=0.1, crown_weight_end=0.5)
    with pytest.raises(TypeError, match=r"train_crown_ibp\(\) .*positional"):
        train_crown_ibp(X, y, 0.1)
