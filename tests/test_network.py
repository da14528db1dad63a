"""TwoLayerReLU: shapes, a hand-computed value, numpy round trip, weight decay, bad input."""

import numpy as np
import pytest
import torch

from robustbench_convex import TwoLayerReLU


def hand_net() -> TwoLayerReLU:
    # f(x) = 2 relu(x1 - x2 + 0.5) - 3 relu(x2) + 0.25
    return TwoLayerReLU.from_numpy(
        U=[[1.0, -1.0], [0.0, 1.0]], alpha=[2.0, -3.0], b=[0.5, 0.0], c=0.25
    )


def test_hand_computed_value():
    net = hand_net()
    x = torch.tensor([[1.0, 2.0], [3.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    # row 0: relu(-0.5)=0, relu(2)=2 -> -6 + 0.25; row 1: relu(2.5)=2.5, relu(1)=1 -> 5-3+0.25
    expected = torch.tensor([-5.75, 2.25, 1.25], dtype=torch.float64)
    out = net(x)
    assert out.shape == (3,)
    torch.testing.assert_close(out, expected)
    np.testing.assert_allclose(net.decision_function(x.numpy()), expected.numpy())
    np.testing.assert_array_equal(net.predict(x.numpy()), [-1, 1, 1])


def test_single_row_and_dtype_cast():
    net = hand_net()
    assert net(torch.tensor([1.0, 2.0])).shape == ()
    assert net(torch.zeros(4, 2, dtype=torch.float32)).dtype == torch.float64


def test_numpy_round_trip_reproduces_network():
    rng = np.random.default_rng(0)
    U, b, alpha = rng.normal(size=(7, 5)), rng.normal(size=7), rng.normal(size=7)
    net = TwoLayerReLU.from_numpy(U, alpha, b, 0.3)
    weights = net.to_numpy()
    np.testing.assert_array_equal(weights["U"], U)
    np.testing.assert_array_equal(weights["b"], b)
    np.testing.assert_array_equal(weights["alpha"], alpha)
    assert weights["c"] == 0.3
    again = TwoLayerReLU.from_numpy(**weights)
    X = rng.normal(size=(20, 5))
    np.testing.assert_array_equal(net.decision_function(X), again.decision_function(X))
    # and the forward pass is the formula
    manual = np.maximum(X @ U.T + b, 0) @ alpha + 0.3
    np.testing.assert_allclose(net.decision_function(X), manual, rtol=1e-12)


def test_without_biases_and_width_zero():
    net = TwoLayerReLU.from_numpy(np.ones((2, 3)), [1.0, -1.0], b=None, c=None)
    w = net.to_numpy()
    assert w["b"] is None and w["c"] is None
    empty = TwoLayerReLU.from_numpy(np.zeros((0, 3)), np.zeros(0), b=None, c=None)
    np.testing.assert_array_equal(empty.decision_function(np.ones((4, 3))), np.zeros(4))
    assert empty.n_active() == 0 and empty.weight_decay() == 0.0


def test_weight_decay_and_active_count():
    net = hand_net()
    # 1/2 (||U||^2 + ||b||^2 + ||alpha||^2) = 1/2 (3 + 0.25 + 13); c is not penalized
    assert net.weight_decay() == pytest.approx(0.5 * (3 + 0.25 + 13))
    dead = TwoLayerReLU.from_numpy([[1.0, 0.0], [0.0, 1.0]], [1.0, 0.0], b=None)
    assert dead.n_active() == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"U": np.ones((2, 3)), "alpha": np.ones(3)}, "alpha must have shape"),
        ({"U": np.ones(3), "alpha": np.ones(3)}, "U must be a 2-D"),
        ({"U": np.ones((2, 3)), "alpha": np.ones(2), "b": np.ones(3)}, "b must have shape"),
        ({"U": np.full((2, 3), np.nan), "alpha": np.ones(2)}, "NaN"),
    ],
)
def test_from_numpy_rejects_bad_weights(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TwoLayerReLU.from_numpy(**kwargs)


def test_forward_rejects_wrong_shapes():
    net = hand_net()
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        net(torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        net(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="in_features"):
        TwoLayerReLU(0, 3)
    with pytest.raises(ValueError, match="width"):
        TwoLayerReLU(3, -1)


def test_generator_initialization_is_reproducible_and_has_linear_default_bounds():
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    a = TwoLayerReLU(9, 400, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.rand(2), expected)  # the global RNG was not touched
    b = TwoLayerReLU(9, 400, generator=torch.Generator().manual_seed(3), dtype=torch.float32)
    c = TwoLayerReLU(9, 400, generator=torch.Generator().manual_seed(4))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().double().numpy(), rtol=1e-6)
        assert not torch.equal(pa, pc)
    # nn.Linear's default: uniform on +-1/sqrt(fan_in) for weights and biases alike
    for param, fan_in in [
        (a.hidden.weight, 9),
        (a.hidden.bias, 9),
        (a.output.weight, 400),
        (a.output.bias, 400),
    ]:
        bound = 1 / np.sqrt(fan_in)
        values = param.detach().numpy().ravel()
        assert np.all(np.abs(values) <= bound)
        if values.size > 100:  # spread over the whole interval
            assert values.max() > 0.9 * bound and values.min() < -0.9 * bound
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        TwoLayerReLU(2, 3, generator=3)
